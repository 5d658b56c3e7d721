"""The PyTorch Lightning callback around the Monitor (``pip install ganscope[lightning]``, docs/monitor.md)."""
from __future__ import annotations

from torch import nn

from ganscope.errors import UsageError
from ganscope.monitor.watch import Monitor


def lightning_callback(out, real, latent, *, generator: str = "generator", critic: str = "critic", **kwargs):
    """A ``lightning.pytorch.Callback`` running a :class:`Monitor` on a GAN LightningModule (manual optimisation):
    the nets are the module's attributes ``generator`` and ``critic``; ``mon.step`` after every training batch
    (step = ``trainer.global_step`` counts optimizer steps: with two optimizers per batch it advances by 2, so
    the callback counts batches itself), ``close()`` when training ends. ``kwargs`` go to the Monitor."""
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError:
            raise UsageError("lightning_callback: needs lightning (pip install ganscope[lightning])") from None

    class MonitorCallback(Callback):
        def __init__(self):
            self.monitor, self.batches = None, 0

        def on_train_start(self, trainer, pl_module):
            nets = []
            for name in (generator, critic):
                net = getattr(pl_module, name, None)
                if not isinstance(net, nn.Module):
                    raise UsageError(f"lightning_callback: the LightningModule has no nn.Module attribute {name!r}")
                nets.append(net)
            self.monitor = Monitor(out, nets[0], nets[1], real, latent, **kwargs)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.monitor.step(self.batches)
            self.batches += 1

        def on_train_end(self, trainer, pl_module):
            self.monitor.close()

    return MonitorCallback()
