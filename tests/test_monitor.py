"""ganscope.Monitor: a user's own loop gives bit-identical weights, optimizer states, gradients and RNG streams with
and without it; its run directory renders as a page (and passes the browser check); its inputs (real as callable,
tensor or DataLoader; latent as callable or int); mode statistics for a 2-D mixture, FID for images; the readings'
rules on both sides; the Lightning callback."""
import math
import re
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ganscope import Monitor
from ganscope import monitor as M
from ganscope.cli import main
from ganscope.data.toy2d import get_dataset
from ganscope.errors import UsageError
from ganscope.io import read_jsonl
from ganscope.pagecheck import check_page, find_browser

F = nn.functional.softplus
RING = get_dataset("8gaussians")


# ---- two hand-written loops -----------------------------------------------------------------------------------
def nets_2d():
    g = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    d = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1), nn.Flatten(0))
    return g, d


def real_2d(n):  # the user's sampler draws from the global RNG
    return RING.centres[torch.randint(len(RING.centres), (n,))] + 0.05 * torch.randn(n, 2)


def nets_images():
    g = nn.Sequential(nn.Linear(8, 16 * 4 * 4), nn.Unflatten(1, (16, 4, 4)), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.ConvTranspose2d(16, 1, 4, 2, 1), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 4 * 4, 1),
                      nn.Flatten(0))
    return g, d


def digits():
    from ganscope.data.images import load_images

    return load_images("digits", split="train").x[:400]


def run_loop(kind, steps, make_monitor=None, device="cpu"):
    """A plain non-saturating loop (Adam for G, SGD with momentum for D); returns everything it leaves behind."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    if kind == "2d":
        g, d = nets_2d()
        sample, latent = real_2d, 3
    else:
        g, d = nets_images()
        x = digits()
        sample, latent = (lambda n: x[torch.randint(len(x), (n,))]), 8
    g, d = g.to(device), d.to(device)
    og = torch.optim.Adam(g.parameters(), 1e-3, betas=(0.5, 0.9))
    od = torch.optim.SGD(d.parameters(), 1e-2, momentum=0.9)
    mon = make_monitor(g, d) if make_monitor else None
    for step in range(steps):
        x, z = sample(32).to(device), torch.randn(32, latent, device=device)
        loss_d = F(-d(x)).mean() + F(d(g(z).detach())).mean()
        od.zero_grad()
        loss_d.backward()
        od.step()
        loss_g = F(-d(g(torch.randn(32, latent, device=device)))).mean()
        og.zero_grad()
        loss_g.backward()
        og.step()
        np.random.rand()
        random.random()
        if mon:
            mon.step(step)
    summary = mon.close() if mon else None
    state = {"g": g.state_dict(), "d": d.state_dict(), "og": og.state_dict(), "od": od.state_dict(),
             "grads": [p.grad for p in (*g.parameters(), *d.parameters())], "modes": (g.training, d.training),
             "torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if device != "cpu" else None,
             "numpy": np.random.get_state()[1], "python": random.getstate()}
    return state, summary


def same(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_same_checks_can_fail():
    assert not same({"a": torch.zeros(2)}, {"a": torch.tensor([0.0, 1e-30])})
    assert not same([torch.zeros(1)], [torch.zeros(1, dtype=torch.float64)])


@pytest.fixture(scope="module")
def run_2d(tmp_path_factory):
    out = tmp_path_factory.mktemp("mon") / "run2d"
    make = lambda g, d: Monitor(out, g, d, real=real_2d, latent=3, every=4, batch=32, samples=64,  # noqa: E731
                                metrics=("diagnostics", "modes", "spectrum", "probe"), reference="8gaussians",
                                spectrum_at=(8,), probe_at=(8, 12), probe_iterations=5, spectrum_batch=8,
                                spectrum_k=3, verbose=False)
    return out, run_loop("2d", 12, make), run_loop("2d", 12)


@pytest.fixture(scope="module")
def run_images(tmp_path_factory):
    out = tmp_path_factory.mktemp("mon") / "runimg"
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(digits()), batch_size=50, shuffle=True)
    make = lambda g, d: Monitor(out, g, d, real=loader, latent=lambda n: torch.randn(n, 8), every=3,  # noqa: E731
                                batch=32, samples=100, metrics=("diagnostics", "fid"), verbose=False)
    return out, run_loop("images", 6, make), run_loop("images", 6)


@pytest.mark.parametrize("which", ["run_2d", "run_images"])
def test_the_loop_is_bit_identical_with_and_without_the_monitor(which, request):
    _, (watched, summary), (bare, _) = request.getfixturevalue(which)
    assert summary["evaluations"] >= 2
    for key in bare:
        assert same(watched[key], bare[key]), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_loop_is_bit_identical_on_cuda(tmp_path):
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    make = lambda g, d: Monitor(tmp_path, g, d, real=real_2d, latent=3, every=4, batch=32, samples=64,  # noqa: E731
                                metrics=("diagnostics", "modes", "spectrum", "probe"), reference="8gaussians",
                                probe_iterations=5, spectrum_batch=8, spectrum_k=3, plots=False, verbose=False)
    watched, _ = run_loop("2d", 12, make, device="cuda")
    bare, _ = run_loop("2d", 12, device="cuda")
    for key in bare:
        assert same(watched[key], bare[key]), key


def test_2d_mixture_gives_mode_statistics_spectrum_probe_and_speeds(run_2d):
    out, (_, summary), _ = run_2d
    rows = read_jsonl(out / "metrics.jsonl")
    regular = [r for r in rows if "grad_sq_real" in r]
    assert [r["step"] for r in regular] == [4, 8, 12]
    assert all(0 <= r["modes_covered"] <= 8 and 0 <= r["hq_fraction"] <= 1 and r["w1"] > 0 for r in regular)
    assert [r["step"] for r in rows if "spectrum_max_real_part" in r] == [8]
    assert [r["step"] for r in rows if "probe_accuracy" in r] == [8, 12]
    assert all(r["speed_g"] > 0 and r["speed_d"] > 0 for r in regular)
    names = {r["diagnostic"] for r in summary["readings"]}
    assert {"grad_sq_real", "grad_sq_fake", "d_gap", "speed_g", "speed_d", "modes_covered", "spectrum",
            "probe"} <= names
    assert all(r["verdict"] in ("good", "neutral", "warning", "bad", "unknown") and r["text"]
               for r in summary["readings"])
    log = (out / "monitor.log").read_text().splitlines()
    assert len(log) == 3 and all("evaluation" in ln and " s" in ln for ln in log)


def test_image_run_gives_fid_and_samples(run_images):
    out, (_, summary), _ = run_images
    rows = [r for r in read_jsonl(out / "metrics.jsonl") if "fid" in r]
    assert [r["step"] for r in rows] == [3, 6]
    assert all(r["fid"] > 0 and 0 <= r["precision"] <= 1 and 0 <= r["coverage"] <= 1 for r in rows)
    assert summary["final"]["fid"] == rows[-1]["fid"]
    assert (out / "plots" / "samples.png").is_file() and (out / "plots" / "quality.png").is_file()


def test_the_run_dir_renders_through_ganscope_report(run_2d, capsys):
    out = run_2d[0]
    (out / "index.html").unlink()
    assert main(["report", str(out), "--strict"]) == 0
    html = (out / "index.html").read_text()
    assert "Readings" in html and "Jacobian spectrum" in html and "Frozen-generator probe" in html
    assert html.count("data:image/png;base64") >= 5


@pytest.mark.skipif(find_browser() is None, reason="no Chromium on PATH (apt-get install chromium)")
@pytest.mark.parametrize("which", ["run_2d", "run_images"])
def test_the_page_passes_the_browser_check(which, request):
    assert check_page(request.getfixturevalue(which)[0] / "index.html") == []


def test_speed_is_the_distance_from_the_previous_evaluation_per_step(tmp_path):
    g, d = nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    mon = Monitor(tmp_path, g, d, real=torch.randn(64, 2), latent=2, every=5, plots=False, verbose=False)
    before = [p.detach().clone() for p in g.parameters()]
    for step in range(5):
        with torch.no_grad():
            for p in g.parameters():
                p.add_(0.01 * (step + 1))
        mon.step(step)
    dist = math.sqrt(sum(float((p.detach() - b).pow(2).sum()) for p, b in zip(g.parameters(), before)))
    row = read_jsonl(tmp_path / "metrics.jsonl")[0]
    assert row["step"] == 5 and row["speed_g"] == pytest.approx(dist / 5, rel=1e-6) and row["speed_d"] == 0
    mon.close()


# ---- inputs ---------------------------------------------------------------------------------------------------
def test_real_and_latent_in_every_form():
    x = torch.arange(200.0).reshape(100, 2)
    pool = M.draw_real(x, 10, seed=3)
    assert pool.shape == (10, 2) and len({tuple(r) for r in pool.tolist()}) == 10  # a subset, no repeats
    assert set(map(tuple, pool.tolist())) <= set(map(tuple, x.tolist()))
    assert torch.equal(M.draw_real(x, 10, 3), pool) and not torch.equal(M.draw_real(x, 10, 4), pool)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(100)), batch_size=7)
    assert torch.equal(M.draw_real(loader, 20, 0), x[:20])  # (x, y) batches: x; unshuffled: the first ones
    g = torch.Generator().manual_seed(5)
    shuffled = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=7, shuffle=True, generator=g)
    before = g.get_state()
    assert M.draw_real(shuffled, 20, 0).shape == (20, 2) and torch.equal(g.get_state(), before)  # the user's stream
    calls = []
    assert torch.equal(M.draw_real(lambda n: calls.append(n) or x[:3], 7, 0), torch.cat([x[:3]] * 3)[:7])
    assert calls == [7, 7, 7]
    state = torch.get_rng_state()
    a = M.draw_latent(lambda n: torch.randn(n, 4), 5, seed=1)
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(a, M.draw_latent(lambda n: torch.randn(n, 4), 5, 1))
    assert torch.equal(M.draw_latent(4, 5, 1), torch.randn(5, 4, generator=torch.Generator().manual_seed(1)))
    for bad, match in ((lambda: M.draw_real("x", 5, 0), "real: expected a callable"),
                       (lambda: M.draw_latent(0, 5, 0), "latent: expected"),
                       (lambda: M.draw_real(lambda n: 3, 5, 0), "real: must give tensors")):
        with pytest.raises(UsageError, match=match):
            bad()


@pytest.mark.parametrize("kwargs,match", [
    ({"critic": nn.Linear(2, 1)}, r"critic: .*\(8, 1\).*squeeze"),
    ({"metrics": ("fid",)}, "metrics: 'fid' needs images"),
    ({"metrics": ("loss",)}, "metrics: unknown metric 'loss'"),
    ({"loss": "bce"}, "loss: unknown loss 'bce'"),
    ({"every": 0}, "every: must be an integer >= 1"),
    ({"penalty": ("r1", -1.0)}, "penalty: 'r1' needs a finite weight"),
    ({"generator": nn.Linear(2, 3)}, "generator: returns samples of shape"),
    ({"reference": "swissroll", "metrics": ("modes",)}, "reference: 'swissroll' has no modes"),
    ({"real": torch.rand(64, 1, 8, 8) * 2 - 1, "generator": nn.Sequential(nn.Linear(2, 64), nn.Unflatten(1, (1, 8, 8))),
      "critic": nn.Sequential(nn.Flatten(), nn.Linear(64, 1), nn.Flatten(0)), "metrics": ("fid",),
      "reference": "no-such-set"}, "source: 'no-such-set' is neither an image data set"),
])
def test_bad_input_is_one_line(kwargs, match, tmp_path):
    args = {"generator": nn.Linear(2, 2), "critic": nn.Sequential(nn.Linear(2, 1), nn.Flatten(0)),
            "real": torch.randn(64, 2), "latent": 2, **kwargs}
    with pytest.raises(UsageError, match=match) as err:
        Monitor(tmp_path / "m", verbose=False, **args)
    assert "\n" not in str(err.value)


def test_a_training_run_directory_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(UsageError, match="out: .* holds a ganscope training run"):
        Monitor(tmp_path, nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1), nn.Flatten(0)), real=torch.randn(8, 2),
                latent=2, verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_a_huge_interval_evaluates_only_at_close(tmp_path):
    g, d = nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    mon = Monitor(tmp_path, g, d, real=torch.randn(64, 2), latent=2, every=10**9, plots=False, verbose=False)
    for step in range(50):
        mon.step(step)
    assert not read_jsonl(tmp_path / "metrics.jsonl")
    summary = mon.close()
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [50] and summary["steps"] == 50
    assert mon.close() is summary


# ---- readings: each rule on both sides ----------------------------------------------------------------------------
RISING, FALLING, FLAT = [1, 2, 5, 20, 50, 100], [100, 50, 20, 5, 2, 1], [1.0, 1.2, 0.9, 1.1, 1.0, 1.05]


@pytest.mark.parametrize("fn,values,verdict,words", [
    (lambda v: M.read_grad("grad_sq_real", v), RISING, "bad", "grows without bound"),
    (lambda v: M.read_grad("grad_sq_real", v), FALLING, "good", "decays towards 0"),
    (lambda v: M.read_grad("grad_sq_fake", v), FLAT, "neutral", "stays at about one level"),
    (lambda v: M.read_grad("grad_sq_fake", v), [1, 2], "unknown", "too few evaluations"),
    (lambda v: M.read_grad("grad_sq_real", v), [1, math.nan, 2], "bad", "non-finite"),
    (lambda v: M.read_speed("speed_g", v), RISING, "bad", "speed up"),
    (lambda v: M.read_speed("speed_d", v), FALLING, "good", "slow down"),
    (lambda v: M.read_speed("speed_d", v), FLAT, "neutral", "steady speed"),
    (lambda v: M.read_gap(v, "nonsaturating"), [5, 6, 7], "warning", "separates real from generated"),
    (lambda v: M.read_gap(v, "nonsaturating"), [2, 0.2, -0.1], "good", "barely tells"),
    (lambda v: M.read_gap(v, "nonsaturating"), [1, 2, 1.5], "neutral", "moderately"),
    (lambda v: M.read_gap(v, "wgan"), [4, 3, 1], "good", "fell"),
    (lambda v: M.read_gap(v, "wgan"), [1, 2, 3], "warning", "grew"),
    (lambda v: M.read_gap(v, "wgan"), [1, 1.1, 1.0], "neutral", "flat"),
    (M.read_fid, [100, 40, 30, 60], "bad", "rose to ×2"),
    (M.read_fid, [100, 60, 45, 40], "good", "fell to ×0.4"),
    (M.read_fid, [100, 90, 95, 85], "neutral", "about flat"),
    (lambda v: M.read_modes(v, 8), [8, 8, 5], "bad", "after covering 8: mode collapse"),
    (lambda v: M.read_modes(v, 8), [0, 2, 1], "warning", "never covered three quarters"),
    (lambda v: M.read_modes(v, 8), [6, 8, 7], "warning", "dropped 1"),
    (lambda v: M.read_modes(v, 8), [3, 6, 8], "good", "covers 8 of 8"),
])
def test_each_reading_rule_on_both_sides(fn, values, verdict, words):
    r = fn([float(v) for v in values])
    assert r["verdict"] == verdict and words in r["text"], r


@pytest.mark.parametrize("eigs,verdict,words", [
    ([[0.3, 0.0], [-1.0, 0.0]], "bad", "repels"),
    ([[0.0, 0.5], [0.0, -0.5]], "warning", "rotate"),
    ([[-0.2, 0.5], [-0.2, -0.5]], "good", "every leading eigenvalue has Re λ < 0"),
    ([[0.0, 0.0], [-1.0, 0.0]], "neutral", "flat direction"),
])
def test_the_spectrum_reading(eigs, verdict, words):
    r = M.read_spectrum({"eigenvalues": eigs, "max_real_part": eigs[0][0]})
    assert r["verdict"] == verdict and words in r["text"]


def test_the_spectrum_reading_of_the_dirac_gan():
    from ganscope.analysis.spectrum import spectrum_of_dirac

    plain, r1 = spectrum_of_dirac("standard", "none", h=0.1), spectrum_of_dirac("standard", "r1", gamma=1.0, h=0.1)
    assert M.read_spectrum(plain)["verdict"] == "warning" and M.read_spectrum(r1)["verdict"] == "good"


@pytest.mark.parametrize("acc,start,end,verdict", [(0.99, 1.0, 0.01, "warning"), (0.99, 1.0, 0.5, "good"),
                                                   (0.6, 1.0, 0.01, "good")])
def test_the_probe_reading(acc, start, end, verdict):
    curves = {"accuracy": [acc] * 20, "grad_norm_original": [start] * 10 + [end] * 10}
    assert M.read_probe(M.probe_summary(curves))["verdict"] == verdict


def test_the_monitor_leaves_a_model_in_eval_mode_in_eval_mode(tmp_path):
    g, d = nets_2d()
    g.eval()
    mon = Monitor(tmp_path, g, d, real=real_2d, latent=3, every=1, metrics=("diagnostics", "modes"),
                  plots=False, verbose=False)
    mon.step(0)
    mon.close()
    assert not g.training and d.training


# ---- PyTorch Lightning ------------------------------------------------------------------------------------------------
def test_the_lightning_callback(tmp_path):
    L = pytest.importorskip("lightning.pytorch", reason="lightning is not installed (pip install ganscope[lightning])")

    class GAN(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False
            self.generator, self.critic = nets_2d()

        def training_step(self, batch, batch_idx):
            og, od = self.optimizers()
            (x,) = batch
            z = torch.randn(len(x), 3)
            loss_d = F(-self.critic(x)).mean() + F(self.critic(self.generator(z).detach())).mean()
            od.zero_grad()
            self.manual_backward(loss_d)
            od.step()
            loss_g = F(-self.critic(self.generator(z))).mean()
            og.zero_grad()
            self.manual_backward(loss_g)
            og.step()

        def configure_optimizers(self):
            return (torch.optim.Adam(self.generator.parameters(), 1e-3),
                    torch.optim.Adam(self.critic.parameters(), 1e-3))

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(real_2d(320))
    cb = M.lightning_callback(tmp_path / "mon", real=real_2d, latent=3, every=4, metrics=("diagnostics", "modes"),
                              reference="8gaussians", plots=False, verbose=False)
    trainer = L.Trainer(max_epochs=1, callbacks=[cb], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        default_root_dir=tmp_path)
    trainer.fit(GAN(), torch.utils.data.DataLoader(data, batch_size=32))
    rows = read_jsonl(tmp_path / "mon" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [4, 8] + [10] and "modes_covered" in rows[0]
    assert (tmp_path / "mon" / "index.html").is_file()


# ---- docs/monitor.md's loop runs as written, shortened ----------------------------------------------------------------
DOC = Path(__file__).resolve().parents[1] / "docs" / "monitor.md"
SHORTER = {"steps, every = 5000, 500": "steps, every = 4, 2",  # the spectrum of 0.7M parameters and a 200-iteration
           '"fid", "probe", "spectrum")': '"fid")',          # probe take minutes on a CPU (tested above on 2-D);
           'reference="fashion-mnist:test")': 'reference="fashion-mnist:test", samples=200, plots=False)'}  # pages: above


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
def test_the_docs_loop_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    for old, new in SHORTER.items():
        assert old in code, old
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANSCOPE_CACHE", str(tmp_path / "cache"))
    ns = {}
    exec(compile(code, str(DOC), "exec"), ns)
    summary = ns["summary"]
    assert summary["steps"] == 4 and summary["evaluations"] == 2 and summary["final"]["fid"] > 0
    assert (tmp_path / "runs" / "fmnist" / "index.html").is_file()
