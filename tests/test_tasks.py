"""What each task declares it supports (tasks/kinds.py), read cheaply by config validation, and the typed
inputs of the game: GameRules from a config, MemberValues from an ensemble's members."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganscope import config
from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.game import Game, GameRules, MemberValues, Player
from ganscope.train import Run

ROOT = Path(__file__).resolve().parent.parent


# ---- what each task supports -----------------------------------------------------------------------------
def test_config_validation_imports_no_torch():
    code = ("import sys; from ganscope.config import resolve; resolve({}, ['data.name=digits', 'net=dcgan']); "
            "resolve({}, ['data.name=fortunes', 'net=charcnn']); from ganscope.tasks import task_class; "
            "assert task_class('8gaussians').groupable_in_sweeps; assert 'torch' not in sys.modules, 'torch'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr


def test_each_task_declares_its_capabilities_and_its_class_carries_them():
    from ganscope.data.images import IMAGE_DATASETS
    from ganscope.data.toy2d import DATASETS
    from ganscope.nets.conv import IMAGE_NETS
    from ganscope.tasks import TASK_KINDS, task_class
    from ganscope.tasks.images import ImageTask
    from ganscope.tasks.text import TextTask
    from ganscope.tasks.toy2d import Toy2DTask

    assert [k.load() for k in TASK_KINDS] == [Toy2DTask, ImageTask, TextTask]
    for kind in TASK_KINDS:
        impl = kind.load()
        assert issubclass(impl, kind) and impl.kind == kind.kind
    assert task_class("8gaussians").sources == tuple(DATASETS) and task_class("digits").sources == IMAGE_DATASETS
    assert task_class("digits").nets == IMAGE_NETS
    table = {name: (k.kind, k.supports_ensemble, k.supports_rp, k.groupable_in_sweeps, k.gives_images)
             for name in ("swissroll", "fashion-mnist:test", "folder:/x", "fortunes", "text:/a:b")
             for k in [task_class(name)]}
    assert table == {"swissroll": ("toy2d", True, False, True, False),
                     "fashion-mnist:test": ("images", False, True, False, True),
                     "folder:/x": ("images", False, True, False, True),
                     "fortunes": ("text", False, False, False, False),
                     "text:/a:b": ("text", False, False, False, False)}


@pytest.mark.parametrize("overrides,match", [
    (["data.name=digits", "net=dcgan", "ensemble=2"], r"^ensemble: images runs do not run as ensembles"),
    (["data.name=fortunes", "net=charcnn", "rp.k=2"], r"^rp.k: random projections are not defined for text"),
    (["data.name=8gaussians", "net=dcgan"], r"^net: '8gaussians' is toy2d data; allowed nets: mlp$"),
])
def test_validation_follows_the_declared_capabilities(overrides, match):
    with pytest.raises(UsageError, match=match):
        resolve({}, overrides)


# ---- the game's inputs ---------------------------------------------------------------------------------------
def test_game_rules_are_read_from_the_config_in_one_place():
    cfg = resolve({"method": "wgan-gp"}, ["game.ema=0.5", "game.clip=0.1", "penalty.every=4", "noise.sigma=0.2",
                                           "noise.schedule=linear", "noise.end=0.1", "train.steps=300"])
    rules = GameRules.from_config(cfg)
    assert (rules.loss, rules.scheme, rules.n_d, rules.n_g, rules.wgan_warmup) == ("wgan", "altgd", 5, 1, False)
    assert (rules.clip, rules.consensus, rules.ema) == (0.1, 0.0, 0.5)
    assert (rules.penalty, rules.penalty_weight, rules.penalty_every) == ("wgan-gp", 10.0, 4)
    assert (rules.noise.sigma, rules.noise.kind, rules.noise.end, rules.noise.steps) == (0.2, "linear", 0.1, 300)
    assert GameRules.from_config(resolve({}, ["noise.steps=7"])).noise.steps == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.n_d = 2


def test_game_holds_rules_not_the_config_and_a_config_reads_as_its_rules():
    cfg = resolve({"method": "consensus"}, ["model.g_width=8", "model.d_width=8"])
    run = Run(cfg, "/nonexistent")
    assert run.game.rules == GameRules.from_config(cfg) and not hasattr(run.game, "cfg")
    again = Game(cfg, run.game.gen, run.game.disc, run.task)
    assert again.rules == run.game.rules and again.weight == cfg.penalty.weight and again.members.noise_sigma is None


def test_member_values_are_typed_tensors_built_by_the_task():
    from ganscope.tasks.toy2d import MEMBER_FIELDS, member_values

    assert set(MEMBER_FIELDS) == set(config.MEMBER_KEYS)
    assert sorted(MEMBER_FIELDS.values()) == sorted(f.name for f in dataclasses.fields(MemberValues))
    cfg = resolve({}, ["ensemble=3", "members.penalty.weight=[1, 2, 3]", "members.optim.d.lr=[1e-4, 2e-4, 3e-4]"])
    values = Run(cfg, "/nonexistent").task.member_values
    assert isinstance(values, MemberValues) and values.noise_sigma is None and values.lr_g is None
    assert torch.equal(values.penalty_weight, torch.tensor([1.0, 2.0, 3.0]))
    assert values.lr_d.dtype == torch.float32 and values.lr_d.shape == (3,)
    assert member_values({}) == MemberValues()
    single = Run(resolve({}, ["data.name=digits", "net=dcgan", "model.g_width=8", "model.d_width=8"]), "/x")
    assert single.task.member_values == MemberValues()


def test_game_takes_per_member_values_over_the_rules():
    run = Run(resolve({"method": "noise"}, ["ensemble=2", "model.g_width=8", "model.d_width=8"]), "/nonexistent")
    gen, disc = run.game.gen, run.game.disc
    members = MemberValues(penalty_weight=torch.tensor([3.0, 4.0]), noise_sigma=torch.tensor([0.2, 0.4]))
    game = Game(GameRules(penalty="r1", penalty_weight=9.0, noise=run.game.rules.noise), gen, disc, run.task,
                members)
    assert torch.equal(game.weight, members.penalty_weight)
    torch.testing.assert_close(game._sigma(0), torch.tensor([0.2, 0.4]))  # σ(step) / noise.sigma = 1 (constant)
    plain = Game(GameRules(penalty="r1", penalty_weight=9.0), Player(gen.net, gen.opt), disc, run.task)
    assert plain.weight == 9.0 and plain._sigma(0) == 0.0


# ---- the finite game (data.finite) -------------------------------------------------------------------------------
def _finite_task(seed=0, ensemble=2, n=16):
    from ganscope.tasks.toy2d import Toy2DTask

    return Toy2DTask(resolve({"data": {"name": "circle", "finite": n}, "seed": seed, "ensemble": ensemble},
                             ["model.g_width=8", "model.d_width=8"]))


def test_a_finite_game_sees_the_same_whole_sample_every_step():
    task = _finite_task()
    x, z = task.real(), task.latent()
    assert x.shape == (2, 16, 2) and z.shape == (2, 16, 2)
    assert torch.equal(task.real(), x) and torch.equal(task.latent(), z)
    assert task.latent(5).shape == (2, 5, 2)  # an explicit size still draws from the stream
    single = _finite_task(seed=1, ensemble=1)  # member 1 is the single run with seed 1
    assert torch.equal(single.real()[0], x[1]) and torch.equal(single.latent()[0], z[1])
    assert not torch.equal(x[0], x[1])
    real, latents = task.diagnostic_batch()  # the diagnostics measure at the finite game's own points
    assert torch.equal(real, x) and torch.equal(latents, z)


def test_w1_finite_is_zero_at_the_data_and_the_exact_w1_otherwise():
    from torch import nn

    from ganscope.metrics.toy2d import w1

    task = _finite_task()
    x, z = task.finite

    class OnTheData(nn.Module):
        def forward(self, latent):
            return x if latent.shape[1] == x.shape[1] else torch.zeros(latent.shape[:-1] + (2,))

    assert [m["w1_finite"] for m in task.evaluate(OnTheData())] == [0.0, 0.0]
    metrics = task.evaluate(task.gen)
    with torch.no_grad():
        g = task.gen(z)
    assert [m["w1_finite"] for m in metrics] == [w1(g[i].numpy(), x[i].numpy()) for i in range(2)]
    assert all(m["w1_finite"] > 0.1 for m in metrics)


def test_finite_is_refused_outside_2d():
    with pytest.raises(UsageError, match=r"^data.finite: a fixed finite sample is for 2-D data"):
        resolve({"data": {"name": "digits", "finite": 8}, "net": "dcgan"})


# ---- the fixed diagnostic batch (docs/diagnostics.md, "In the engine") ----------------------------------------
def test_toy2d_diagnostic_batch_is_held_out_data_and_eval_latents_per_member():
    task = Run(resolve({}, ["ensemble=2", "model.g_width=8", "model.d_width=8", "data.eval_samples=300"]),
               "/nonexistent").task
    streams = [s.clone() for s in task.streams.state()]
    real, z = task.diagnostic_batch()
    assert task.event_dims == 1 and real.shape == (2, 256, 2) and z.shape == (2, 256, 2)  # 256 of 300
    assert torch.equal(real, task.heldout()[:, :256]) and torch.equal(z, task.eval_latents()[:, :256])
    assert not torch.equal(real[0], real[1])  # each member its own held-out stream
    small = Run(resolve({}, ["model.g_width=8", "model.d_width=8", "data.eval_samples=50"]), "/x").task
    assert small.diagnostic_batch()[0].shape == (1, 50, 2)
    again = task.diagnostic_batch()
    assert torch.equal(real, again[0]) and torch.equal(z, again[1])
    assert all(torch.equal(a, b) for a, b in zip(streams, task.streams.state()))  # no training draw


def test_text_diagnostic_batch_is_one_hot_held_out_lines():
    task = Run(resolve({}, ["data.name=fortunes", "net=charcnn", "model.g_width=8", "model.d_width=8",
                            "data.seq_len=8", "data.eval_samples=40"]), "/nonexistent").task
    real, z = task.diagnostic_batch()
    assert task.event_dims == 2 and real.shape == (40, len(task.vocab), 8) and z.shape == (
        40, task.cfg.model.latent_dim)
    ids = real.argmax(1)
    assert torch.equal(real.sum(1), torch.ones(40, 8))  # one-hot
    held = {tuple(r) for r in task.data.heldout.tolist()}
    assert all(tuple(r) in held for r in ids.tolist())
    assert torch.equal(z, task.eval_latents(40))


def test_only_the_2d_task_supports_the_spectrum_during_training():
    from ganscope.tasks import TASK_KINDS

    assert {k.kind: k.supports_spectrum for k in TASK_KINDS} == {"toy2d": True, "images": False, "text": False}
