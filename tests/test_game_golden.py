"""The 2-D engine's results pinned: every tensor a run's state holds (both nets, the EMA, both optimizers'
states, the random streams) after a few game steps of tiny toy2d runs, one per branch of ``Game.step`` (fused /
unfused / lazy / separate penalty, ensembles, per-member values, simgd, consensus, instance noise, clipping, bf16,
fp16), against the states recorded in ``golden/engine_states.pt`` (generated from main 60da2bd, before the
per-step overhead was trimmed, issue 15; HEAD gave the same bits on the recording machine).

The random streams (integer generator states) must match byte for byte. The floating tensors must match within
``RTOL`` of each tensor's largest magnitude: the same torch build gives different last bits on different CPUs
(measured on one host, AVX-512 vs AVX2 vs no vector kernels, ``ATEN_CPU_CAPABILITY``: at most 3.5e-6 of a
tensor's scale over the 14 runs; CI's hosts differ from the recording one), while a change to the algorithm
moves the states by orders of magnitude more (``test_a_small_change_fails`` is the negative control).

After a torch upgrade regenerate the file from a commit known to be right: ``PYTHONPATH=$PWD python
tests/test_game_golden.py``.
"""
import hashlib
import sys
from pathlib import Path

import pytest
import torch

from ganscope.config import resolve
from ganscope.train import Run

GOLDEN = Path(__file__).parent / "golden" / "engine_states.pt"
RTOL = 1e-4
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


def state(run) -> dict:
    """The run's floating tensors (in order) and a SHA-256 (first 16 hex) of its integer ones."""
    game = run.game
    parts = [game.gen.net.state_dict(), game.disc.net.state_dict(), game.gen.opt.state_dict(),
             game.disc.opt.state_dict(), game.ema.state_dict() if game.ema is not None else {},
             run.task.streams.state()]
    floats, h = [], hashlib.sha256()
    for t in _tensors(parts):
        t = t.detach().cpu()
        if t.is_floating_point():
            floats.append(t.clone())
        else:
            h.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return {"floats": floats, "ints": h.hexdigest()[:16]}


def trained(name, steps=STEPS, extra=()) -> Run:
    method, overrides = CASES[name]
    run = Run(resolve({"method": method, **SMALL}, [*overrides, *extra]), "/nonexistent")
    for i in range(steps):
        run.game.step(i)
    return run


def assert_matches(got: dict, want: dict) -> None:
    """``got`` equals ``want``: the integers exactly, each floating tensor within RTOL of its largest magnitude."""
    assert got["ints"] == want["ints"], "random streams differ"
    assert len(got["floats"]) == len(want["floats"]), "a different number of floating tensors"
    for i, (a, b) in enumerate(zip(got["floats"], want["floats"])):
        scale = b.abs().max().item() if b.numel() else 0.0
        torch.testing.assert_close(a, b, rtol=0.0, atol=RTOL * scale, msg=lambda m, i=i: f"tensor {i}: {m}")


@pytest.fixture(scope="module")
def golden():
    return torch.load(GOLDEN, weights_only=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_results_are_pinned(name, golden):
    assert_matches(state(trained(name)), golden[name])


def test_a_small_change_fails(golden):
    """Negative control: the discriminator's step size 0.1 % larger moves the states past the tolerance."""
    lr = resolve({"method": "r1", **SMALL}, []).optim.d.lr
    with pytest.raises(AssertionError, match="^tensor "):
        assert_matches(state(trained("r1", extra=(f"optim.d.lr={lr * 1.001!r}",))), golden["r1"])


if __name__ == "__main__":
    torch.set_num_threads(1)
    GOLDEN.parent.mkdir(exist_ok=True)
    torch.save({case: state(trained(case)) for case in CASES}, GOLDEN)
    print(f"wrote {GOLDEN}", file=sys.stdout)
