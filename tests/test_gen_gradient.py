"""The generator's gradient norm (ganscope.analysis.gen_gradient) against closed forms."""
import math

import torch
from torch import nn

from ganscope.analysis.gen_gradient import generator_grad_norm


class Affine(nn.Module):
    """G(z) = a·z + b in one dimension (one event axis of size 1)."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a)), nn.Parameter(torch.tensor(b))

    def forward(self, z):
        return self.a * z + self.b


class Linear(nn.Module):
    """K linear critics D_k(x) = w_k·x + c_k: logits (K, B) (K = 1 and ``single``: (B,))."""

    def __init__(self, w, c, single=False):
        super().__init__()
        self.w, self.c, self.single = torch.tensor(w), torch.tensor(c), single

    def forward(self, x):
        t = self.w[:, None] * x[:, 0][None] + self.c[:, None]
        return t[0] if self.single else t


def closed_form(a, b, w, c, z):
    """‖∇_(a,b) (1/K) Σ_k mean_i softplus(−t_ki)‖, t_ki = w_k(a z_i + b) + c_k: ∂/∂a = −mean σ(−t) w z, ∂/∂b = −mean σ(−t) w."""
    ga = gb = 0.0
    for wk, ck in zip(w, c):
        for zi in z:
            s = 1 / (1 + math.exp(wk * (a * zi + b) + ck))  # σ(−t)
            ga -= s * wk * zi / (len(w) * len(z))
            gb -= s * wk / (len(w) * len(z))
    return math.hypot(ga, gb)


def test_single_linear_critic_matches_the_closed_form():
    z = torch.tensor([[-1.0], [0.5], [2.0]])
    got = generator_grad_norm(Affine(0.7, -0.2), Linear([1.5], [0.3], single=True), z)
    assert abs(got - closed_form(0.7, -0.2, [1.5], [0.3], z[:, 0].tolist())) < 1e-6


def test_k_critics_average_their_losses():
    z = torch.tensor([[-1.0], [0.5], [2.0], [0.1]])
    w, c = [1.5, -0.5, 3.0], [0.3, 0.0, -1.0]
    got = generator_grad_norm(Affine(0.7, -0.2), Linear(w, c), z)
    assert abs(got - closed_form(0.7, -0.2, w, c, z[:, 0].tolist())) < 1e-6
    # not the sum: K = 3 critics give a third of the summed gradient
    assert got < 0.5 * sum(closed_form(0.7, -0.2, [wk], [ck], z[:, 0].tolist()) for wk, ck in zip(w, c))


def test_dirac_gan_generator_gradient():
    """Dirac-GAN: G = θ, D(x) = ψx; the non-saturating L_G = softplus(−ψθ), dL/dθ = −ψ σ(−ψθ)."""
    theta, psi = 0.4, 2.0
    gen = Affine(0.0, theta)
    got = generator_grad_norm(gen, Linear([psi], [0.0], single=True), torch.zeros(5, 1))
    assert abs(got - psi / (1 + math.exp(psi * theta))) < 1e-6  # |∂/∂a| = 0 since z = 0


def test_leaves_parameters_buffers_and_grads_as_they_were():
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    gen.requires_grad_(False)
    stats = gen[1].running_mean.clone()
    critic = Linear([1.0], [0.0], single=True)
    norm = generator_grad_norm(gen, critic, torch.randn(16, 3))
    assert norm > 0 and math.isfinite(norm)
    assert torch.equal(gen[1].running_mean, stats)
    assert all(not p.requires_grad and p.grad is None for p in gen.parameters())
    assert generator_grad_norm(gen, critic, torch.randn(16, 3), "minimax") > 0  # another loss by name


def test_stored_rp_run_gives_one_norm_per_kept_checkpoint(tmp_path):
    from ganscope import rundir, train
    from ganscope.analysis.gen_gradient import run_gradient_norms
    from ganscope.shipped import find_config

    out = tmp_path / "rp"
    tiny = ["data.name=digits", "net=dcgan", "method=nonsaturating", "rp.k=3", "rp.view_width=4", "train.steps=4",
            "train.eval_every=2", "checkpoint.keep=[2,4]", "model.g_width=8", "model.d_width=8",
            "data.batch_size=16", "data.eval_samples=20", "train.plots=false", "game.ema=0"]
    assert train.start(find_config("images"), tiny, out) == 0
    rows = run_gradient_norms(out, n=16)
    assert [r["step"] for r in rows] == [2, 4]
    run = rundir.open_run(out, 4)
    z = torch.randn(16, run.cfg.model.latent_dim, generator=torch.Generator().manual_seed(9_100_003))
    assert rows[1]["grad_norm_g"] == generator_grad_norm(run.gen, run.disc, z)  # the same latents, bit for bit
    assert run.disc.discs.d_width == 4 and all(r["grad_norm_g"] > 0 for r in rows)
