"""train.compile: the plain forward passes (no double backward through them) run through torch.compile'd nets,
the penalties and consensus differentiate the eager ones; compiled and eager steps agree. The equality test uses
the ``aot_eager`` backend (the graph capture and AOT autograd, without inductor's minutes of code generation on
a loaded 2-core machine); `ganscope train ... train.compile=true` uses inductor."""
import dataclasses

import pytest
import torch

from ganscope.config import resolve
from ganscope.game import Game
from ganscope.train import Run
from tests.test_game_phases import small


def steps(values, overrides, backend=None, n=3):
    run = Run(resolve(values, overrides), "/nonexistent")
    if backend:
        g = run.game
        rules = dataclasses.replace(g.rules, compile=True, compile_backend=backend)
        run.game = Game(rules, g.gen, g.disc, run.task, run.task.member_values)
        assert run.game.plain_disc is not g.disc.net and run.game.plain_gen is not g.gen.net
    for i in range(n):
        run.game.step(i)
    return run


@pytest.mark.parametrize("values,overrides", [
    (small("r1"), []),  # fused R1: the penalised batch eager, the other batch and the generator step compiled
    (small("r1"), ["noise.sigma=0.1", "penalty.every=2"]),  # lazy, unfused: the loss compiled, R1 eager
    (small("wgan-gp"), ["game.n_d=2"]),
    (small("consensus"), []),  # everything eager but the critic step's generator forward
    (small("r1"), ["train.precision=bf16"]),
    (small("r1"), ["train.precision=fp16"]),  # the loss scale's skips and the compiled passes
])
def test_compiled_and_eager_steps_agree(values, overrides):
    eager = steps(values, overrides)
    compiled = steps(values, overrides, backend="aot_eager")
    for net in ("gen", "disc"):
        for a, b in zip(getattr(eager.game, net).net.parameters(), getattr(compiled.game, net).net.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(torch.isfinite(p).all() for p in compiled.game.disc.net.parameters())


def test_compile_flag_builds_compiled_plain_nets():
    run = Run(resolve(small("r1"), ["train.compile=true"]), "/nonexistent")
    assert run.game.rules.compile and run.game.rules.compile_backend == "inductor"
    assert isinstance(run.game.plain_disc, torch._dynamo.eval_frame.OptimizedModule)
    assert run.game.plain_disc._orig_mod is run.game.disc.net  # the same parameters
    plain = Run(resolve(small("r1"), []), "/nonexistent")
    assert plain.game.plain_disc is plain.game.disc.net
