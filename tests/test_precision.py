"""Mixed precision (ganscope.precision) in the engine: bf16 / fp16 one-step gradients agree with fp32 within a
stated two-sided tolerance for every penalty, the penalties' inner gradients are float32, fp16's loss scale
skips a step with non-finite gradients and lives in the checkpoint, and the untested combinations are refused."""
import pytest
import torch

from ganscope import penalties as P
from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.precision import Precision
from ganscope.train import Run
from tests.test_game_phases import first_critic_grads, small

CASES = {"r1": small("r1"), "r2": small("r1", penalty={"name": "r2", "weight": 1.0}),
         "wgan-gp": small("wgan-gp"), "gp0": small("r1", penalty={"name": "gp0", "weight": 1.0}),
         "consensus": small("consensus")}
# relative error ‖g − g_fp32‖ / ‖g_fp32‖ of the critic's first-step gradient: above the lower bound (autocast
# really ran: bf16 keeps 8 significant bits, fp16 11) and below the upper one (measured: bf16 0.004–0.012,
# fp16 0.0005–0.0007 on these nets)
TOLERANCE = {"bf16": (1e-4, 5e-2), "fp16": (1e-5, 5e-3)}


def rel_error(got, want):
    num = sum((a - b).pow(2).sum() for a, b in zip(got, want)).sqrt()
    return float(num / sum(b.pow(2).sum() for b in want).sqrt())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("penalty", list(CASES))
def test_mixed_precision_gradients_agree_with_fp32(penalty, precision):
    if precision == "fp16" and penalty == "consensus":
        pytest.skip("refused: see test_untested_combinations_are_refused")
    want, _, _ = first_critic_grads(resolve(CASES[penalty], []), True)
    got, _, run = first_critic_grads(resolve(CASES[penalty], [f"train.precision={precision}"]), True, 2.0 ** 10)
    low, high = TOLERANCE[precision]
    assert low < rel_error(got, want) < high
    assert all(g.dtype == torch.float32 for g in got)


@pytest.mark.parametrize("penalty", ["r1", "wgan-gp"])  # the fused path and a penalty's own forward
def test_inner_gradient_and_its_norm_are_float32(monkeypatch, penalty):
    seen = []
    inner = P.input_grad_sq

    def spy(out, x, event_dims=None, grad_scale=None):
        (g,) = torch.autograd.grad(out.sum(), x, retain_graph=True)
        sq = inner(out, x, event_dims, grad_scale)
        seen.append((out.dtype, g.dtype, sq.dtype, torch.is_autocast_enabled("cpu")))
        return sq

    monkeypatch.setattr(P, "input_grad_sq", spy)
    first_critic_grads(resolve(CASES[penalty], ["train.precision=bf16"]), True)
    assert seen and all(s[:3] == (torch.float32,) * 3 for s in seen)
    assert not any(s[3] for s in seen)  # the norm is taken outside autocast


def test_scaled_inner_gradient_is_unscaled_before_the_norm():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    critic = lambda x: net(x).squeeze(-1)  # noqa: E731
    x = torch.randn(16, 2)
    plain = P.r1(critic, x, 10.0)
    torch.testing.assert_close(P.r1(critic, x, 10.0, grad_scale=1024.0), plain, rtol=1e-6, atol=0)
    torch.testing.assert_close(P.wgan_gp(critic, x, x.flip(0), generator=torch.Generator().manual_seed(0),
                                         grad_scale=1024.0),
                               P.wgan_gp(critic, x, x.flip(0), generator=torch.Generator().manual_seed(0)),
                               rtol=1e-6, atol=0)


def test_loss_scale_skips_a_non_finite_step_halves_and_grows():
    run = Run(resolve(small("r1"), ["train.precision=fp16"]), "/nonexistent")
    game = run.game
    game.precision.scale = 1e38  # the scaled gradients overflow
    before = [p.detach().clone() for p in game.disc.params]
    game._critic_step(0)
    assert all(torch.equal(a, b) for a, b in zip(before, game.disc.params))  # the step was skipped
    assert game.precision.scale == 5e37 and game.precision.good == 0
    game.precision.scale = 2.0 ** 10
    game._critic_step(1)
    assert any(not torch.equal(a, b) for a, b in zip(before, game.disc.params))
    assert game.precision.good == 1
    scale = Precision("fp16", growth_interval=2)
    scale.update(True), scale.update(True)
    assert scale.scale == 2.0 ** 17 and scale.good == 0
    fp32 = Precision("fp32")
    grads = (torch.tensor([float("inf")]),)
    assert fp32.unscale(grads) == (grads, True) and fp32.grad_scale is None and fp32.scale_loss(grads[0]) is grads[0]


def test_loss_scale_is_in_the_checkpoint():
    cfg = resolve(small("r1"), ["train.precision=fp16"])
    run = Run(cfg, "/nonexistent")
    run.game.precision.scale, run.game.precision.good = 512.0, 7
    state = run.game.state_dict()
    assert state["precision"] == {"scale": 512.0, "good": 7}
    other = Run(cfg, "/nonexistent")
    other.game.load_state_dict(state)
    assert (other.game.precision.scale, other.game.precision.good) == (512.0, 7)
    other.game.load_state_dict({"d_steps": 0, "ema": None})  # a checkpoint from before precision
    assert other.game.precision.scale == 512.0


def test_untested_combinations_are_refused():
    with pytest.raises(UsageError, match=r"^train.precision: fp16 with game.consensus is not supported"):
        resolve(small("consensus"), ["train.precision=fp16"])
    with pytest.raises(UsageError, match=r"^train.precision: fp16 needs game.scheme altgd"):
        resolve(small("r1"), ["train.precision=fp16", "game.scheme=simgd"])
    with pytest.raises(UsageError, match=r"^train.precision"):
        resolve(small("r1"), ["train.precision=fp8"])
    with pytest.raises(UsageError, match=r"^train.precision: unknown precision"):
        Precision("int8")


def test_fp16_skipped_steps_do_not_trip_the_guard_but_a_loss_that_is_never_finite_does(tmp_path):
    """An fp16 step skipped for an overflow of the loss scale (R1's inner gradient of the scaled output) leaves
    no NaN in the non-finite record; a scale that halves below MIN_LOSS_SCALE stops with NonFiniteLoss."""
    from ganscope.game import MIN_LOSS_SCALE, NonFiniteLoss

    run = Run(resolve(small("r1"), ["train.precision=fp16"]), "/nonexistent")
    game = run.game
    game.precision.scale = 1e38  # every scaled gradient overflows: this critic step is skipped
    game.step(0)  # the critic's and the generator's steps both overflow and are skipped
    assert game.precision.scale == 2.5e37 and not game._sums
    game.precision.scale = 2.0 ** 10
    game.step(1)
    assert torch.isfinite(game._sums["penalty"]).all()
    game.check_finite()  # nothing non-finite was recorded
    game.precision.scale = 1e38
    for p in game.disc.params:  # a critic whose outputs are NaN at every scale
        p.data.fill_(float("nan"))
    with pytest.raises(NonFiniteLoss, match=r"^d_loss, penalty: the fp16 gradients are not finite at any loss "
                                            r"scale \(the scale fell to .*\) at generator step 2$"):
        for _ in range(200):
            game._critic_step(2)
    assert game.precision.scale < MIN_LOSS_SCALE
