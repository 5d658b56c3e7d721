"""train.ensemble_step: compiled (ganscope.func_step): each player's losses and gradients from one compiled
torch.func function, the draws, order and updates the eager game's. The equality tests compile with the
``aot_eager`` backend (graph capture and AOT autograd without inductor's code generation, seconds instead of
tens of seconds on 2 cores); `ganscope train ... train.ensemble_step=compiled` uses inductor (docs/engine.md gives
its measured agreement)."""
import dataclasses
import subprocess
import sys

import pytest
import torch

from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.game import Game, Player
from ganscope.train import Run


@pytest.fixture(autouse=True)
def no_silent_fallback():
    """Past torch.compile's recompile limit a function runs uncompiled without a word: fail instead (each static
    signature has its own code object, func_step._fresh, so the limit is never reached here)."""
    with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
        yield


def small(method, **over):
    base = {"method": method, "model": {"g_width": 16, "d_width": 16, "g_depth": 1, "d_depth": 2},
            "data": {"batch_size": 32}, "train": {"diagnostics": False, "plots": False}}
    return base | over


def build(values, overrides=(), compiled=False):
    run = Run(resolve(values, list(overrides)), "/nonexistent")
    if compiled:  # the same run with the compiled step on the aot_eager backend
        g = run.game
        rules = dataclasses.replace(g.rules, ensemble_step="compiled", compile_backend="aot_eager")
        run.game = Game(rules, g.gen, g.disc, run.task, run.task.member_values)
        assert run.game.func is not None
    return run


def train(run, steps, start=0):
    stats = [run.game.step(i) for i in range(start, start + steps)]
    run.step = start + steps
    return run, stats


def parameters(run):
    return [*run.game.gen.net.parameters(), *run.game.disc.net.parameters()]


MEMBERS = ("members.penalty.weight=[1.0,5.0,20.0]", "members.optim.d.lr=[1.0e-4,3.0e-4,1.0e-3]")
CASES = [  # every loss, every penalty (dense, lazy, its own step), clipping, n_d > 1, altgd and simgd
    ("wgan-clip", ("game.n_d=2", "game.clip=0.05", "game.ema=0.9")),
    ("minimax", ("penalty.name=r1", "penalty.weight=5")),
    ("r1", MEMBERS),  # per-member γ and critic learning rates
    ("r1", ("penalty.every=2", "penalty.phase=separate")),  # stylegan2-ada's Dreg: its own step
    ("lsgan", ("penalty.name=r2", "penalty.weight=2", "game.order=g-first")),
    ("wgan-gp", ("game.n_d=2",)),
    ("wgan-gp", ("loss=hinge", "penalty.name=gp0", "penalty.weight=5", "penalty.every=2", "game.n_d=1")),  # lazy
    ("r1", ("game.scheme=simgd", "data.finite=16")),  # the finite game (the convergence matrix's setting)
    ("wgan-gp", ("game.scheme=simgd", "game.n_d=1")),
    ("lsgan", ("game.scheme=simgd", "penalty.name=r2", "penalty.weight=2")),  # R2 keeps D(G(z))'s graph to G
]


@pytest.mark.parametrize("method,overrides", CASES)
def test_compiled_step_equals_the_eager_step(method, overrides):
    values = small(method, ensemble=3, seed=2)
    eager, e_stats = train(build(values, overrides), 4)
    compiled, c_stats = train(build(values, overrides, compiled=True), 4)
    start = build(values, overrides)
    for a, b, s in zip(parameters(eager), parameters(compiled), parameters(start)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert max((a - s).abs().max() for a, s in zip(parameters(eager), parameters(start))) > 1e-4  # it trained
    for e, c in zip(e_stats, c_stats):
        assert list(c) == list(e)  # the same losses in the same order (the guard names the first bad one)
        for k in e:
            torch.testing.assert_close(c[k], e[k], rtol=1e-5, atol=1e-6)
    assert compiled.game.d_steps == eager.game.d_steps
    if compiled.game.ema is not None:
        torch.testing.assert_close(compiled.game.ema.weights[0], eager.game.ema.weights[0], rtol=1e-5, atol=1e-6)


def test_member_equals_the_single_compiled_run():
    """Member i of a compiled ensemble (per-member γ and lr) equals the compiled single run with seed 2 + i."""
    ens, _ = train(build(small("r1", ensemble=3, seed=2), MEMBERS, compiled=True), 4)
    for i in range(3):
        single_over = [o.split("=")[0].replace("members.", "") + "=" + o.split("[")[1].rstrip("]").split(",")[i]
                       for o in MEMBERS]
        single, _ = train(build(small("r1", seed=2 + i), single_over, compiled=True), 4)
        got, want = ens.game.gen.net.member(i).state_dict(), single.game.gen.net.member(0).state_dict()
        for k in want:
            torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
        start = build(small("r1", seed=2 + i), single_over).game.gen.net.member(0).state_dict()
        assert any((start[k] - want[k]).abs().max() > 1e-4 for k in want)


@pytest.mark.parametrize("method,overrides", [
    ("wgan-gp", ("loss=hinge", "penalty.name=gp0", "penalty.weight=5", "penalty.every=2", "game.n_d=1",
                 "game.ema=0.9")),  # the critic-step clock of a lazy penalty, the streams' position (ε), the EMA
    ("r1", ("penalty.every=2", "penalty.phase=separate")),
])
def test_resumed_compiled_run_is_bit_identical(tmp_path, method, overrides):
    values, k = small(method, ensemble=3, seed=2), 5
    whole, _ = train(build(values, overrides, compiled=True), 2 * k)
    first, _ = train(build(values, overrides, compiled=True), k)
    first.save(tmp_path / "last.pt")
    second = build(values, overrides, compiled=True)
    second.load(tmp_path / "last.pt")
    assert second.step == k
    second, _ = train(second, k, start=k)
    a, b = whole.state_dict(), second.state_dict()
    for net in ("generator", "discriminator"):
        for name, t in a[net].items():
            assert torch.equal(t, b[net][name]), (net, name)
    for opt in ("opt_g", "opt_d"):
        for i, st in a[opt]["state"].items():
            for name, t in st.items():
                assert torch.equal(t, b[opt]["state"][i][name]), (opt, i, name)
    assert a["game"]["d_steps"] == b["game"]["d_steps"] == 2 * k * whole.game.rules.n_d
    if a["game"]["ema"] is not None:
        assert all(torch.equal(t, b["game"]["ema"][n]) for n, t in a["game"]["ema"].items())
    assert all(torch.equal(s, t) for s, t in zip(a["rng"]["streams"], b["rng"]["streams"]))


@pytest.mark.parametrize("overrides,words", [
    (("game.consensus=1",), "game.consensus"),
    (("noise.sigma=0.1",), "instance noise"),
    (("ensemble=2", "members.noise.sigma=[0.0,0.1]"), "instance noise"),
    (("train.precision=bf16",), "train.precision bf16"),
    (("train.compile=true",), "train.compile"),
    (("data.name=digits", "net=dcgan"), "net dcgan"),
])
def test_unsupported_settings_are_refused_in_one_line(overrides, words):
    with pytest.raises(UsageError, match=f"train.ensemble_step: compiled does not support {words}"):
        resolve(small("r1"), ["train.ensemble_step=compiled", *overrides])


def test_the_game_refuses_torchrun_and_what_it_cannot_compute():
    run = build(small("r1"))
    g = run.game
    rules = dataclasses.replace(g.rules, ensemble_step="compiled")
    parallel = Player(g.gen.net, g.gen.opt, reduce=lambda grads: grads)
    with pytest.raises(UsageError, match="train.ensemble_step: compiled runs in a single process"):
        Game(rules, parallel, g.disc, run.task, run.task.member_values)
    with pytest.raises(UsageError, match="does not support game.consensus"):
        Game(dataclasses.replace(rules, consensus=1.0), g.gen, g.disc, run.task, run.task.member_values)
    assert g.func is None  # the default, eager


def test_the_command_line_refuses_with_exit_status_2(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ganscope", "train", "toy2d", "train.ensemble_step=compiled",
                          "game.consensus=1", "--out", str(tmp_path / "r")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "train.ensemble_step" in res.stderr
    assert not (tmp_path / "r").exists()


def test_narrow_maps_as_sums_of_products_equal_the_batched_matmul():
    """EnsembleMLP.narrow (set on the compiled step's templates): the same outputs and input gradients."""
    from ganscope.nets.mlp import EnsembleMLP

    torch.manual_seed(0)
    net, x = EnsembleMLP(3, 2, 1, depth=2, width=8), torch.randn(3, 5, 2, requires_grad=True)
    want = net(x)
    (g_want,) = torch.autograd.grad(want.sum(), x)
    net.narrow = 4
    got = net(x)
    (g_got,) = torch.autograd.grad(got.sum(), x)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g_got, g_want, rtol=1e-6, atol=1e-6)
    assert EnsembleMLP.narrow == 0  # the eager nets keep one baddbmm per map
