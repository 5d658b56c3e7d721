"""The 2-D engine's results pinned bit for bit: a SHA-256 of every tensor a run's state holds (both nets, the EMA,
both optimizers' states, the random streams) after a few game steps of tiny toy2d runs, one per branch of
``Game.step`` (fused / unfused / lazy / separate penalty, ensembles, per-member values, simgd, consensus,
instance noise, clipping, bf16, fp16). The digests were generated from main (60da2bd) before the per-step
overhead was trimmed (issue 15): a change that moves a single bit of a CPU result fails here.

The digests hold for this torch build on this CPU (kernels may differ elsewhere); after a torch upgrade
regenerate them from a commit known to be right: ``PYTHONPATH=$PWD OMP_NUM_THREADS=1 python
tests/test_game_golden.py`` prints the table.
"""
import hashlib
import sys

import pytest
import torch

from ganscope.config import resolve
from ganscope.train import Run

STEPS = 25
SMALL = {"model": {"g_width": 16, "d_width": 16, "g_depth": 2, "d_depth": 2}, "data": {"batch_size": 32},
         "game": {"ema": 0.9}}
CASES = {
    "r1": ("r1", ()),
    "r1-unfused-noise": ("r1", ("noise.sigma=0.05",)),
    "r1-lazy-separate": ("r1", ("penalty.every=4", "penalty.phase=separate")),
    "r1-ensemble4": ("r1", ("ensemble=4", "members.penalty.weight=[1.0,5.0,10.0,20.0]",
                            "members.optim.d.lr=[1.0e-4,3.0e-4,1.0e-3,2.0e-4]")),
    "r1-simgd": ("r1", ("game.scheme=simgd",)),
    "r2-adam": ("r2", ("optim.g.name=adam", "optim.d.name=adam", "optim.g.lr=1.0e-3", "optim.d.lr=1.0e-3")),
    "wgan-gp": ("wgan-gp", ()),
    "wgan-gp-ensemble4": ("wgan-gp", ("ensemble=4", "members.optim.g.lr=[1.0e-4,3.0e-4,1.0e-3,2.0e-4]")),
    "wgan-clip": ("wgan-clip", ()),
    "noise-draws": ("noise", ("noise.draws=3", "data.finite=16", "game.scheme=simgd")),
    "consensus": ("consensus", ()),
    "lsgan-gfirst": ("lsgan", ("game.order=g-first", "game.n_g=2")),
    "r1-bf16": ("r1", ("train.precision=bf16",)),
    "ns-fp16": ("nonsaturating", ("train.precision=fp16",)),
}
GOLDEN = {
    'r1': '5df8f5891163ad65',
    'r1-unfused-noise': 'b3b1ae08bc3e84d5',
    'r1-lazy-separate': '42f64958eba84c00',
    'r1-ensemble4': '58ab4245c2344661',
    'r1-simgd': 'd7730f3da0a1334c',
    'r2-adam': '076ede4cbe0bbd6b',
    'wgan-gp': 'aa34573d495711f7',
    'wgan-gp-ensemble4': '8f8700d7caedaac3',
    'wgan-clip': 'a3842c52d966a7c7',
    'noise-draws': 'ec5066c5362c296b',
    'consensus': '1ed7a1d8ca7d9dc7',
    'lsgan-gfirst': 'b146399ab70f7b53',
    'r1-bf16': 'd4bd497388b0b5cb',
    'ns-fp16': 'db2af68a5a815130',
}


def _tensors(obj):
    """Every tensor in a nested state (dicts in key order, lists in order)."""
    if torch.is_tensor(obj):
        yield obj
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _tensors(obj[k])
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def digest(run) -> str:
    """SHA-256 of the bytes of the nets, the EMA, both optimizers' states and the streams (the first 16 hex)."""
    game = run.game
    state = [game.gen.net.state_dict(), game.disc.net.state_dict(), game.gen.opt.state_dict(),
             game.disc.opt.state_dict(), game.ema.state_dict() if game.ema is not None else {},
             run.task.streams.state()]
    h = hashlib.sha256()
    for t in _tensors(state):
        h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def trained(name, steps=STEPS) -> Run:
    method, overrides = CASES[name]
    run = Run(resolve({"method": method, **SMALL}, list(overrides)), "/nonexistent")
    for i in range(steps):
        run.game.step(i)
    return run


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_results_are_pinned_bit_for_bit(name):
    assert digest(trained(name)) == GOLDEN[name]


if __name__ == "__main__":
    torch.set_num_threads(1)
    for case in CASES:
        print(f"    {case!r}: {digest(trained(case))!r},", file=sys.stdout)
