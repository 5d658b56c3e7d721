"""The monitor: ganscope's diagnostics for a user's own training loop, and the doctor for a user's checkpoint.

``Monitor(out, generator, critic, real, latent, ...)`` watches a loop it does not own::

    mon = Monitor("runs/mine", G, D, real=sample_real, latent=64, loss="nonsaturating", every=500,
                  metrics=("diagnostics", "fid", "probe", "spectrum"), reference="fashion-mnist:test")
    for step in range(steps):
        ...                      # the user's own updates
        mon.step(step)           # a modulo and a comparison, except every `every` steps
    mon.close()                  # summary.json, plots/, report.json + index.html (`ganscope report DIR`)

At an evaluation (after update ``step`` when ``(step + 1) % every == 0``, logged at step + 1 = updates done) it
measures, on a fixed batch drawn once at construction: the convergence diagnostics of
``ganscope.metrics.dynamics`` (E‖∇ₓD‖² on real and generated data, the mean logits, the losses on that batch,
and each player's parameter speed ‖θ_now − θ_prev‖ / n, θ_prev the snapshot at the previous evaluation n steps
earlier), FID/KID/PRDC for images (``metrics.images``), W1 and mode statistics for 2-D points
(``metrics.toy2d``), and at chosen steps the Jacobian's leading eigenvalues (``analysis.diagnostics``) and the
frozen-generator probe (``analysis.probe``). Each evaluation's cost goes to stderr and ``OUT/monitor.log``.

Guarantees (tests/test_monitor.py): the user's models, optimizers, gradients and RNG streams are never changed.
Every evaluation runs with the global RNGs (torch CPU and CUDA, numpy, Python) saved and restored; buffers
(BatchNorm statistics) are restored after each forward pass on the user's modules; sample metrics, the probe
and the spectrum work on deep copies; no ``.grad`` is written (input gradients by ``torch.autograd.grad``).

Each diagnostic gets one plain-language reading (:func:`readings`), whose rule is stated in docs/monitor.md.
The doctor (:func:`doctor`, ``ganscope doctor``) imports a user's factories, loads a checkpoint with
``weights_only=True`` and writes the same page for that one point.
"""
from ganscope.monitor.callback import lightning_callback
from ganscope.monitor.diagnose import build_net, doctor, load_factory
from ganscope.monitor.page import write_outputs
from ganscope.monitor.readings import (DECAY, EIG_RTOL, FID_FALL, FID_RISE, GAP_HIGH, GAP_LOW, GROW, PROBE_ACC,
                                       PROBE_FALL, probe_summary, read_fid, read_gap, read_grad, read_modes,
                                       read_probe, read_speed, read_spectrum, readings, trend)
from ganscope.monitor.watch import METRICS, Monitor, draw_latent, draw_real, fresh_copy, isolated_rng, parse_penalty

__all__ = ["DECAY", "EIG_RTOL", "FID_FALL", "FID_RISE", "GAP_HIGH", "GAP_LOW", "GROW", "METRICS", "Monitor",
           "PROBE_ACC", "PROBE_FALL", "build_net", "doctor", "draw_latent", "draw_real", "fresh_copy", "isolated_rng",
           "lightning_callback", "load_factory", "parse_penalty", "probe_summary", "read_fid", "read_gap", "read_grad",
           "read_modes", "read_probe", "read_speed", "read_spectrum", "readings", "trend", "write_outputs"]
