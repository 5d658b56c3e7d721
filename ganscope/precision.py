"""Mixed precision of the engine's forward passes, and the fp16 loss scale.

* ``fp32``: nothing changes.
* ``bf16``: the networks' forward passes run under ``torch.autocast(dtype=bfloat16)``; their outputs are cast
  back to float32 before any loss, and the penalties' inner gradients (R1, R2, WGAN-GP, consensus) and their
  norms are float32 (``penalties.input_grad_sq``). No loss scale: bf16 has float32's exponent range.
* ``fp16``: autocast with float16 plus a dynamic loss scale S (the scheme of ``torch.amp.GradScaler``, written
  out because the engine takes its gradients with ``torch.autograd.grad``): the loss is multiplied by S, the
  parameter gradients divided by S; a step whose gradients hold an inf or NaN is skipped and S halves; after
  ``growth_interval`` good steps in a row S doubles. A penalty's inner gradient is taken of the scaled output
  and unscaled before its norm (``grad_scale``). The skip decision reads the gradients' finiteness back to the
  host once per optimizer step (as GradScaler does). The scale's state is in the checkpoint.
"""
from __future__ import annotations

import torch

from .errors import UsageError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The forward passes' autocast and, for fp16, the loss scale (see the module doc)."""

    def __init__(self, name: str = "fp32", device_type: str = "cpu", init_scale: float = 2.0 ** 16,
                 growth_interval: int = 2000):
        if name not in PRECISIONS:
            raise UsageError(f"train.precision: unknown precision {name!r}; allowed: {', '.join(PRECISIONS)}")
        self.name, self.device_type, self.dtype = name, device_type, PRECISIONS[name]
        self.active = self.dtype is not None
        self.scaled = name == "fp16"
        self.scale = float(init_scale) if self.scaled else 1.0
        self.growth_interval, self.good = growth_interval, 0

    def autocast(self):
        """The autocast context of a forward pass (disabled for fp32)."""
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.active)

    def forward(self, net, x):
        """``net(x)`` under autocast, its output as float32 (fp32: just ``net(x)``)."""
        if not self.active:
            return net(x)
        with self.autocast():
            out = net(x)
        return out.float()

    @property
    def grad_scale(self):
        """S for a penalty's inner gradient (fp16), else None."""
        return self.scale if self.scaled else None

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.scale if self.scaled else loss

    def unscale(self, grads) -> tuple[tuple, bool]:
        """(grads / S, whether every gradient is finite); without a scale (grads, True) and no host read."""
        if not self.scaled:
            return tuple(grads), True
        grads = tuple(g / self.scale for g in grads)
        ok = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        return grads, ok

    def update(self, ok: bool):
        """After a step: S halves on a skipped step, doubles after ``growth_interval`` good steps in a row."""
        if not self.scaled:
            return
        if not ok:
            self.scale, self.good = self.scale / 2, 0
            return
        self.good += 1
        if self.good == self.growth_interval:
            self.scale, self.good = self.scale * 2, 0

    def state_dict(self) -> dict:
        return {"scale": float(self.scale), "good": int(self.good)}

    def load_state_dict(self, state: dict | None):
        if state is not None:
            self.scale, self.good = float(state["scale"]), int(state["good"])
