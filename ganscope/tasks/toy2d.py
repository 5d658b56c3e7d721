"""The 2-D task (ganscope.tasks protocol). ``Toy2DTask`` trains E independent 2-D GANs as one batched model: member i is initialised under
``torch.manual_seed(seed + i)`` and draws its data, latents, noise and interpolation weights from its own
generator seeded ``seed + i``, so it equals the single run with that seed (an ensemble of one).

On ``cfg.device``: the nets are initialised on the CPU (the same weights on every device) and moved there;
the training streams are generators on the device, so data, latents and noise are drawn there. The held-out
set, the evaluation latents and a finite game's sample are drawn on the CPU (the same on every device); the
latents and the finite sample then move to the device.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganscope import equilibrium
from ganscope.data.toy2d import get_dataset
from ganscope.device import resolve as resolve_device
from ganscope.game import MemberValues
from ganscope.metrics.toy2d import evaluate, w1
from ganscope.nets.mlp import MLP, EnsembleMLP, Logit  # Logit: re-exported by ganscope.tasks
from ganscope.rng import Streams
from ganscope.tasks.kinds import Toy2DKind

EVAL_SEED_OFFSET = 1_000_003  # held-out data and evaluation latents never touch the training streams
FINITE_SEED_OFFSET = 2_000_003  # the fixed sample of a finite game
DIAGNOSTIC_SAMPLES = 256  # samples per member of the fixed diagnostic batch (at most data.eval_samples)
MEMBER_FIELDS = {"penalty.weight": "penalty_weight", "noise.sigma": "noise_sigma", "optim.g.lr": "lr_g",
                 "optim.d.lr": "lr_d"}  # config.MEMBER_KEYS -> the fields of game.MemberValues


def member_values(members: dict, device="cpu") -> MemberValues:
    """The typed per-member values of a validated config's ``members`` ({dotted key: E floats}), on ``device``."""
    return MemberValues(**{MEMBER_FIELDS[k]: torch.tensor(v, dtype=torch.float32, device=device)
                           for k, v in members.items()})


class Toy2DTask(Toy2DKind):
    event_dims = 1
    progress_key = "w1"
    snapshot_samples = 500

    def __init__(self, cfg):
        self.cfg, m = cfg, cfg.model
        self.device = resolve_device(cfg.device)
        self.dataset = get_dataset(cfg.data.name)
        self.seeds = [cfg.seed + i for i in range(cfg.ensemble)]
        gens, discs = [], []
        for seed in self.seeds:
            torch.manual_seed(seed)
            gens.append(MLP(m.latent_dim, 2, m.g_depth, m.g_width, m.activation))
            discs.append(MLP(2, 1, m.d_depth, m.d_width, m.activation))
        self.gen = EnsembleMLP.from_members(gens).to(self.device)
        self.disc = Logit(EnsembleMLP.from_members(discs)).to(self.device)
        self.streams = Streams(self.seeds, device=self.device)
        self.member_values = member_values(cfg.members, self.device)
        self._heldout = None
        self.finite = self._finite_game(cfg.data.finite) if cfg.data.finite else None
        self.r0 = self._start_at_equilibrium(cfg.game.perturb) if cfg.game.start == "equilibrium" else None

    @property
    def size(self) -> int:
        return len(self.seeds)

    @property
    def centres(self):
        return self.dataset.centres

    @staticmethod
    def g_loss_total(g_loss):
        """Independent members: the sum, so that each receives exactly its own gradient."""
        return g_loss.sum()

    def _finite_game(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(X, Z): N data points and N latents per member, drawn once, apart from the training streams.

        Every step then sees the whole of both, so the game is deterministic (up to instance noise and WGAN-GP's
        interpolation) and has an exact equilibrium: G(z_i) on the data points, a critic flat on them
        (docs/reproduce.md, "the convergence protocol")."""
        streams = Streams([s + FINITE_SEED_OFFSET for s in self.seeds])
        x = torch.stack([self.dataset.sample(n, g) for g in streams.generators])
        return x.to(self.device), streams.randn((self.size, n, self.cfg.model.latent_dim)).to(self.device)

    def _start_at_equilibrium(self, eps: float) -> list[float]:
        """``game.start: equilibrium`` (ganscope.equilibrium.start): the game's data become the fitted
        generator's points, D = 0, G perturbed; returns each member's distance r(0) = W1(G(Z), X) (D = 0)."""
        x, z = self.finite
        self.finite = (equilibrium.start(self.gen, self.disc, x, z, eps, self.seeds), z)
        return self._w1_finite(self.gen)

    def real(self) -> torch.Tensor:
        """(E, B, 2): one batch per member from its own stream (the whole fixed sample in a finite game)."""
        if self.finite is not None:
            return self.finite[0]
        batch, generators = self.cfg.data.batch_size, self.streams.generators
        if len(generators) == 1:
            return self.dataset.sample(batch, generators[0]).unsqueeze(0)
        return torch.stack([self.dataset.sample(batch, g) for g in generators])

    def latent(self, n=None) -> torch.Tensor:
        if self.finite is not None and n is None:
            return self.finite[1]
        return self.streams.randn((self.size, n or self.cfg.data.batch_size, self.cfg.model.latent_dim))

    # ---- evaluation ----------------------------------------------------------------------------------
    def _eval_streams(self):
        return Streams([s + EVAL_SEED_OFFSET for s in self.seeds])

    def heldout(self) -> torch.Tensor:
        """Fixed held-out real samples per member (E, n, 2), independent of the training stream."""
        if self._heldout is None:
            n = self.cfg.data.eval_samples
            self._heldout = torch.stack([self.dataset.sample(n, g) for g in self._eval_streams().generators])
        return self._heldout

    def eval_latents(self, n=None) -> torch.Tensor:
        """Fixed evaluation latents (E, n, latent_dim) on the run's device, independent of the training stream
        (drawn on the CPU: the same on every device)."""
        z = self._eval_streams().randn((self.size, n or self.cfg.data.eval_samples, self.cfg.model.latent_dim))
        return z.to(self.device)

    @torch.no_grad()
    def samples(self, gen: nn.Module, n=None) -> torch.Tensor:
        """Generated samples (E, n, 2) on the CPU from fixed evaluation latents (the same at every evaluation)."""
        return gen(self.eval_latents(n)).cpu()

    def diagnostic_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(real (E, n, 2), z (E, n, latent_dim)): the first n = min(256, data.eval_samples) held-out samples
        and evaluation latents of each member, the same at every call; no training stream is touched. In a
        finite game: its whole sample and latents, where the equilibrium is (G(z_i) on the data, a flat critic)."""
        if self.finite is not None:
            return self.finite
        n = min(DIAGNOSTIC_SAMPLES, self.cfg.data.eval_samples)
        return self.heldout()[:, :n].to(self.device), self.eval_latents()[:, :n]

    def evaluate(self, gen: nn.Module) -> list[dict]:
        """Metrics per member: W1 to held-out data, and for the mixtures modes / HQ fraction / mode KL; in a
        finite game also ``w1_finite``, the exact W1 between G's N points and the N data points (0 at the
        equilibrium)."""
        fake, real = self.samples(gen), self.heldout()
        out = [evaluate(self.dataset, fake[i].numpy(), real[i].numpy()) for i in range(self.size)]
        if self.finite is not None:
            for m, d in zip(out, self._w1_finite(gen)):
                m["w1_finite"] = d
        return out

    @torch.no_grad()
    def _w1_finite(self, gen: nn.Module) -> list[float]:
        """Per member, the exact W1 between G's N points G(Z) and the finite game's N data points."""
        x, z = self.finite
        g = gen(z).cpu().numpy()
        return [w1(g[i], x[i].cpu().numpy()) for i in range(self.size)]

    def plot_samples(self, snapshots: dict[int, np.ndarray], path, member=0):
        from ganscope import plots

        real = self.heldout()[member].numpy()
        return plots.save(plots.samples_through_training(real, {k: v[member] for k, v in snapshots.items()},
                                                         self.cfg.data.name), path)
