"""Benchmark: achieved FLOP/s of ganscope's image steps against the CPU's fp32 matmul ceiling (reported only).

(k) The FLOPs of one step are counted by :class:`FlopCount`, a ``TorchDispatchMode`` that sees every aten op
    below autograd (forward, backward and the double backward of R1 alike) and counts, as 2 × multiply-adds:

    * ``mm(a, b)``, ``addmm(c, a, b)``: 2·m·k·n; ``bmm``, ``baddbmm``: 2·b·m·k·n (the added term is not counted);
    * ``convolution`` / ``_convolution`` (input x, weight w, output y, batch N): 2·N·|y spatial|·|w| for a
      convolution, 2·N·|x spatial|·|w| for a transposed one, where |w| = C_out·(C_in/groups)·k_h·k_w already
      holds the groups;
    * ``convolution_backward``: that forward count once for each of grad_input and grad_weight that its
      ``output_mask`` asks for (grad_bias, a sum, is not counted).

    ``torch.utils.flop_counter.FlopCounterMode`` is not used: its module hooks break under
    ``autograd.grad(..., inputs=)`` (R1's input gradient), and it counts a grouped convolution's weight gradient
    ``groups`` times (issue 15). ``tests/test_bench.py`` checks this counter against closed forms.
    The steps: ganscope's image R1 D+G step (GAN_stability's ResNet, 32 px RGB, batch 64, dense R1, as
    ``bench/images.py`` (a) builds it) and the RP-GAN grouped D+G step (K = 12, 64 px, as (d)); each step's
    FLOPs counted once (after a warm-up step), its time the median of interleaved blocks at 1 and 2 threads.
    The ceiling: a 2048 × 2048 × 2048 fp32 ``torch.mm`` (blocks of two) at the same thread count, its blocks
    interleaved with the steps' blocks. On $BENCH_DEVICE (else CUDA where found), as ``bench/images.py``.
    Rows: achieved FLOP/s / ceiling (``ratio``), with the GFLOP per step, ms per step, the GFLOP/s of both and
    the FLOPs per op kind in ``detail``, and (CPU) ``time_by_op``: each op kind's ms per step and GFLOP/s, timed
    by :class:`OpTimes` over separate untimed steps (every other op as "other"): what bounds the achieved rate.
    Verdict "reported" (no target).
Run: .venv/bin/python bench/flops.py [--quick]
"""
from __future__ import annotations

import collections
import math
import sys
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from _harness import bench_device, interleaved, ms, repeat, row, thread_counts, threads

aten = torch.ops.aten
SGEMM_N = 2048
DEVICE = bench_device()


# ---- counting --------------------------------------------------------------------------------------------------------
def _numel(shape) -> int:
    return math.prod(int(s) for s in shape)


def _mm(a, b) -> int:
    return 2 * a.shape[0] * a.shape[1] * b.shape[1]


def _bmm(a, b) -> int:
    return 2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]


def conv_flops(x_shape, w_shape, y_shape, transposed: bool) -> int:
    """2 × multiply-adds of a (transposed) convolution: 2·N·|spatial|·|w|, the spatial extent of the output (of the
    input when transposed); |w| = C_out·(C_in/groups)·k for a convolution, C_in·(C_out/groups)·k transposed."""
    spatial = x_shape[2:] if transposed else y_shape[2:]
    return 2 * int(x_shape[0]) * _numel(spatial) * _numel(w_shape)


def _conv(args, out) -> int:
    x, w, transposed = args[0], args[1], bool(args[6])
    return conv_flops(x.shape, w.shape, out.shape, transposed)


def _conv_backward(args, out) -> int:
    """convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
    output_padding, groups, output_mask): the forward's count per gradient asked for (input, weight)."""
    grad_out, x, w, transposed, mask = args[0], args[1], args[2], bool(args[7]), args[10]
    return conv_flops(x.shape, w.shape, grad_out.shape, transposed) * (int(bool(mask[0])) + int(bool(mask[1])))


RULES = {
    aten.mm: lambda args, out: _mm(args[0], args[1]),
    aten.addmm: lambda args, out: _mm(args[1], args[2]),
    aten.bmm: lambda args, out: _bmm(args[0], args[1]),
    aten.baddbmm: lambda args, out: _bmm(args[1], args[2]),
    aten.convolution: _conv,
    aten._convolution: _conv,
    aten.convolution_backward: _conv_backward,
}


class FlopCount(TorchDispatchMode):
    """Counts the FLOPs of the ops in ``RULES`` run inside it (module doc): ``total``, ``by_op`` {name: FLOPs}.
    Ops an op runs inside its own kernel are not seen twice (the mode is off while an op runs)."""

    def __init__(self):
        super().__init__()
        self.by_op = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        rule = RULES.get(func.overloadpacket)
        if rule is not None:
            self.by_op[func.overloadpacket.__name__] += rule(args, out)
        return out

    @property
    def total(self) -> int:
        return sum(self.by_op.values())


class OpTimes(TorchDispatchMode):
    """Wall seconds per op kind of the ops run inside it (``seconds``): the kinds of ``RULES`` by name, every other
    op (element-wise, pooling, reductions, the optimizers' updates) as "other". CPU only (CUDA ops are async)."""

    def __init__(self):
        super().__init__()
        self.seconds = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        t0 = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__ if func.overloadpacket in RULES else "other"
        self.seconds[name] += time.perf_counter() - t0
        return out


def op_breakdown(step, counter: FlopCount, steps: int = 3) -> dict:
    """ms per step and GFLOP/s of each op kind over ``steps`` calls of ``step()`` (what bounds the achieved rate)."""
    with OpTimes() as times:
        for _ in range(steps):
            step()
    out = {}
    for name, seconds in sorted(times.seconds.items()):
        flops = counter.by_op.get(name, 0)
        out[name] = {"ms": round(seconds / steps * 1e3, 1),
                     "gflops_per_s": round(flops / (seconds / steps) / 1e9, 1) if flops else None}
    return out


def count(step) -> FlopCount:
    """The FLOPs of one call of ``step()``."""
    with FlopCount() as counter:
        step()
    return counter


# ---- the ceiling and the steps ---------------------------------------------------------------------------------------
def sgemm_block(n: int = SGEMM_N, calls: int = 2):
    """A block of ``calls`` n × n × n fp32 ``torch.mm`` on the bench device (2n³ FLOPs each), and its FLOPs."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(DEVICE) for _ in range(2))
    out = torch.empty(n, n, device=DEVICE)

    def block():
        for _ in range(calls):
            torch.mm(a, b, out=out)
    return block, 2 * n ** 3 * calls


def r1_step():
    """ganscope's image R1 D+G step of ``bench/images.py`` (a): ResNet, 32 px RGB, batch 64, dense R1."""
    from images import BATCH, ganscope_step, image_config, pool, r1_nets

    cfg = image_config(**{"net": "resnet", "method": "r1", "data.batch_size": BATCH, "data.image_size": 32})
    gen, disc = r1_nets(cfg, 32, 3)
    return ganscope_step(cfg, gen, disc, pool(3, 32))


def rp_step(k: int = 12, size: int = 64):
    """ganscope's RP-GAN grouped D+G step of ``bench/images.py`` (d): K discriminators, 64 px RGB, batch 64."""
    from images import ganscope_step, pool, rp_setup

    cfg, gen, disc = rp_setup(k, size)
    return ganscope_step(cfg, gen, disc, pool(3, size))


def flops_rows(quick: bool) -> list[dict]:
    """Per thread count: each step's FLOPs counted once, then the steps' blocks and the sgemm block interleaved
    (``_harness.interleaved``: a varying load hits the ceiling and the steps alike); medians."""
    steps_per_block, repeats, n = (1, 1, 1024) if quick else (3, 5, SGEMM_N)
    cases = {"image R1 D+G step 32px RGB": r1_step}
    if not quick:
        cases["RP-GAN grouped D+G step K=12 64px"] = rp_step
    rows = []
    for t in thread_counts(quick):
        with threads(t):
            sgemm, sgemm_flops = sgemm_block(n)
            blocks, counted, by_op = {"sgemm": sgemm}, {}, {}
            for name, build in cases.items():
                step = build()
                step()  # warm-up: the optimizers' state, oneDNN's kernel choice
                counted[name] = count(step)
                if DEVICE.type == "cpu":
                    by_op[name] = op_breakdown(step, counted[name], steps_per_block)
                blocks[name] = repeat(step, steps_per_block)
            res = interleaved(blocks, repeats)
        ceiling = sgemm_flops / res["sgemm"] / 1e9
        rows.append(_reported(row(f"fp32 matmul ceiling t{t}", f"GFLOP/s of a {n}^3 fp32 mm", ceiling, None,
                                  threads=t, device=str(DEVICE))))
        for name, counter in counted.items():
            seconds = res[name] / steps_per_block
            achieved = counter.total / seconds / 1e9
            rows.append(_reported(row(
                f"FLOP/s {name} t{t}", "achieved FLOP/s / fp32 matmul ceiling", achieved / ceiling, None,
                threads=t, device=str(DEVICE), gflop_per_step=round(counter.total / 1e9, 3), step_ms=ms(seconds),
                achieved_gflops=round(achieved, 1), ceiling_gflops=round(ceiling, 1),
                gflop_by_op={k: round(v / 1e9, 3) for k, v in sorted(counter.by_op.items())},
                time_by_op=by_op.get(name))))
    return rows


def _reported(r: dict) -> dict:
    """A row with no target: verdict "reported"."""
    return {**r, "verdict": "reported"}


def main(quick: bool = False) -> list[dict]:
    return flops_rows(quick)


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main("--quick" in sys.argv[1:]))
