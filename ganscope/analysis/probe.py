"""The frozen-generator gradient probe (Arjovsky & Bottou 2017, §2, Figures 1–3; docs/references.md §A4).

For each kept generator checkpoint of a run, the generator G is frozen and a **fresh** discriminator D (the
run's critic architecture, new initialisation) is trained from scratch, alone, for N iterations with the
minimax / cross-entropy loss on logits t = D(x) (high on real):

    L_D = E_x softplus(−D(x)) + E_z softplus(D(G(z)))            (= −E log σ(D(x)) − E log(1 − σ(D(G(z)))))

At every iteration, on the current batch and *before* D's update on it, the probe records

* ``d_loss``: L_D above, ``accuracy``: the fraction of the 2B inputs D classifies right (real: t > 0), and
  ``rejected``: the fraction of the B generated inputs D rejects (t ≤ 0);
* ``grad_norm_original``: ‖∇_θ E_z log(1 − σ(D(G_θ(z))))‖₂ = ‖∇_θ E_z[−softplus(D(G_θ(z)))]‖₂, the original
  (saturating) cost, which Theorem 2.4 bounds by M·ε/(1 − ε) when ‖D − D*‖ < ε (→ 0 as D → D*, Cor. 2.1);
* ``grad_norm_minus_log_d``: ‖∇_θ E_z[−log σ(D(G_θ(z)))]‖₂ = ‖∇_θ E_z softplus(−D(G_θ(z)))‖₂, the −log D cost,
  whose updates Theorem 2.6 says become unstable (Cauchy-like) as D improves;

the norm over all of G's parameters, which are never updated. D may also be K discriminators at once,
returning (K, B) logits (RP-GAN's views, Neyshabur et al. 2017): each D_k is trained on its own L_D (their sum
is minimised), the metrics are means over the K, and G's costs are the means (1/K) Σ_k over them, the
generator's objective in RP-GAN. With instance noise of standard deviation σ
(§3.3, Thm 3.2), N(0, σ²I) is added independently to real and generated inputs of D, both for training D and
for the gradients (accuracy is then measured on the noisy inputs D sees). Probe seed k (k = 0..K−1) fixes D's
initialisation and three random streams (data, latents, noise; see :func:`probe_streams`); seed k uses the
same streams at every checkpoint and with or without noise (common random numbers). Curves are raw
per-iteration values (the paper plots running averages); the plot shows the median over seeds and its
inter-quartile band.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganscope import rundir
from ganscope.tasks import task_class
from ganscope.data.toy2d import get_dataset
from ganscope.errors import UsageError
from ganscope.io import json_safe as to_jsonable
from ganscope.io import write_json
from ganscope.nets.mlp import MLP, Logit
from ganscope.noise import add_noise
from ganscope.objectives import check_logits

METRICS = ("d_loss", "accuracy", "rejected", "grad_norm_original", "grad_norm_minus_log_d")
TITLES = {"d_loss": "D loss (cross-entropy)", "accuracy": "D accuracy", "rejected": "generated samples rejected",
          "grad_norm_original": "‖∇θ‖, original cost E log(1−D(G(z)))",
          "grad_norm_minus_log_d": "‖∇θ‖, −log D cost E[−log D(G(z))]"}
LOG_SCALE = ("d_loss", "grad_norm_original", "grad_norm_minus_log_d")
SEED_OFFSET = 7_000_003  # probe seed k: torch seeds SEED_OFFSET + 4k + {0,1,2,3}, apart from the run's own seeds
DEFAULTS = {"steps": 1000, "sigma": 0.1, "seeds": 3, "member": 0, "lr": 1e-4, "betas": (0.5, 0.999)}


# ---- the run's networks (a stored run opened by ganscope.rundir) ----------------------------------------------
def fresh_discriminator(model_cfg, seed: int) -> Logit:
    """A new critic of the run's architecture, ``MLP(2, 1, d_depth, d_width, activation)`` with PyTorch's default
    initialisation drawn under ``torch.manual_seed(seed)``; the global RNG state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Logit(MLP(2, 1, model_cfg.d_depth, model_cfg.d_width, model_cfg.activation))


def probe_parts(run, member: int, views: int = 1, view_width: int = 0):
    """(frozen generator, ``sample_real(n, generator)``, ``fresh(seed)`` -> a new discriminator) of a stored 2-D
    or image run (``ganscope.rundir.StoredRun``). For images the fresh D is the run's net's full-view
    discriminator (also for an RP-GAN run), or with ``views`` = K > 1 K discriminators on K random projections
    seeded by ``seed`` (``nets.rp.RPDiscriminator``, per-view width ``view_width``, 0: its default), and G is put
    in eval mode (BatchNorm uses its running statistics)."""
    cfg = run.cfg
    if task_class(cfg.data.name).gives_images:
        return _image_parts(run, views, view_width)
    if views != 1:
        raise UsageError(f"--views: random-projection discriminators need an image run, not {cfg.data.name!r}")
    gen = run.gen.member(member)
    return gen, get_dataset(cfg.data.name).sample, lambda seed: fresh_discriminator(cfg.model, seed)


def _image_parts(run, views: int = 1, view_width: int = 0):
    from ganscope.data.images import load_images
    from ganscope.nets.conv import image_nets
    from ganscope.nets.rp import run_rp_discriminator

    cfg = run.cfg
    x = load_images(cfg.data.name, split="train", image_size=cfg.data.image_size or None,
                    skip_bad=cfg.data.skip_bad).x

    def fresh(seed):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if views > 1:
                return run_rp_discriminator(cfg, views, x.shape[1], x.shape[-1], seed, view_width)
            return image_nets(cfg, x.shape[-1], x.shape[1])[1]

    x = x.to(_device_of(run.gen))
    return (run.gen.eval(), lambda n, g: x[torch.randint(len(x), (n,), generator=g, device=g.device).to(x.device)],
            fresh)


def _device_of(net: nn.Module) -> torch.device:
    """Where ``net``'s parameters are: the probe runs there."""
    return next(net.parameters()).device


def probe_streams(seed: int, device="cpu") -> dict[str, torch.Generator]:
    """The random streams of probe seed ``seed`` on ``device``: ``data`` (real batches), ``latent`` (z), ``noise``
    (instance noise: real then fake, each iteration); D's initialisation uses seed ``SEED_OFFSET + 4·seed``."""
    base = init_seed(seed)
    return {name: torch.Generator(device).manual_seed(base + i)
            for i, name in enumerate(("data", "latent", "noise"), 1)}


def init_seed(seed: int) -> int:
    """The torch seed of probe seed ``seed``'s fresh discriminator."""
    return SEED_OFFSET + 4 * seed


# ---- one probe: a frozen G, a D trained alone -------------------------------------------------------------
def _iteration(gen, disc, opt, sample_real, latent_dim, batch, sigma, streams, record=True) -> dict[str, float]:
    """Record the metrics on a fresh batch (if ``record``), then take one Adam step of D on it (G untouched).

    D sees a detached copy ``a`` of its noisy fake input; G's gradients are then the chain rule
    ∇_θ (1/K) Σ_k E_z c(D_k(a(z))) = (∂G/∂θ)ᵀ ∂_a [Σ_{k,i} w_ki t_ki], w_ki = c'(t_ki)/(KB) held constant: one
    backward through D and one vector-Jacobian product through G per cost, with c'(t) = −σ(t) for
    c(t) = log(1 − σ(t)) = −softplus(t) and c'(t) = −σ(−t) for c(t) = −log σ(t) (K = 1 for a single D).
    """
    real = sample_real(batch, streams["data"])
    z = torch.randn(batch, latent_dim, generator=streams["latent"], device=streams["latent"].device)
    fake = gen(z)
    real_in, fake_in = add_noise(real, sigma, streams["noise"]), add_noise(fake, sigma, streams["noise"])
    a = fake_in.detach().requires_grad_(True)
    t_real, t_fake = disc(real_in), disc(a)
    _check_logits(t_real, batch)
    _check_logits(t_fake, batch)
    per_d = F.softplus(-t_real).mean(-1) + F.softplus(t_fake).mean(-1)  # L_D of each discriminator: () or (K,)
    d_params = list(disc.parameters())
    d_grads = torch.autograd.grad(per_d.sum(), d_params, retain_graph=record)
    for p, g in zip(d_params, d_grads):
        p.grad = g
    if not record:
        opt.step()
        return {}
    t = t_fake.detach()

    def through_d(weights):  # ∂_a Σ w·t: the cost's gradient at G's output
        return torch.autograd.grad((weights * t_fake).sum(), a, retain_graph=True)[0]

    out = {
        "d_loss": float(per_d.detach().mean()),
        "accuracy": int((t_real > 0).sum() + (t <= 0).sum()) / (2 * t.numel()),
        "rejected": int((t <= 0).sum()) / t.numel(),
        "grad_norm_original": _vjp_norm(fake, gen, through_d(-torch.sigmoid(t) / t.numel())),  # E log(1 − σ(t))
        "grad_norm_minus_log_d": _vjp_norm(fake, gen, through_d(-torch.sigmoid(-t) / t.numel())),  # E[−log σ(t)]
    }
    opt.step()
    return out


def _check_logits(t, batch: int):
    """One logit per sample, shape (B,), or per discriminator and sample, (K, B): (B, 1) is refused
    (``objectives.check_logits``), never averaged over."""
    check_logits("critic", t)
    if t.dim() not in (1, 2) or t.shape[-1] != batch:
        raise UsageError(f"critic: must return one logit per sample, shape ({batch},) or (K, {batch}), got "
                         f"{tuple(t.shape)}")


def _vjp_norm(fake, gen, upstream) -> float:
    """‖(∂ fake/∂θ)ᵀ upstream‖₂ over all of G's parameters θ."""
    grads = torch.autograd.grad(fake, list(gen.parameters()), grad_outputs=upstream, retain_graph=True)
    return float(torch.linalg.vector_norm(torch.stack([g.double().norm() for g in grads])))


def probe_generator(gen: nn.Module, disc: nn.Module, sample_real, latent_dim: int, *, iterations: int,
                    batch_size: int, sigma: float = 0.0, seed: int = 0, lr: float = DEFAULTS["lr"],
                    betas=DEFAULTS["betas"], record_every: int = 1) -> dict[str, np.ndarray]:
    """Train ``disc`` (in place) against a frozen copy of ``gen`` for ``iterations`` Adam steps; return each metric
    of the module docstring as an array over the recorded iterations, and ``iteration`` (their indices, from 0).
    ``gen`` itself is never modified.

    ``sample_real(n, generator)`` draws real points; ``seed`` selects :func:`probe_streams`, on the device of
    ``gen`` (``disc`` must be there too). ``record_every`` m > 1 records every m-th iteration and every one of the
    last tenth; D's training, its random streams and the recorded values are the same for any m.
    """
    gen = copy.deepcopy(gen).requires_grad_(True)
    streams = probe_streams(seed, _device_of(gen))
    opt = torch.optim.Adam(disc.parameters(), lr=lr, betas=tuple(betas))
    tail = iterations - max(1, iterations // 10)
    recorded = [i for i in range(iterations) if i % record_every == 0 or i >= tail]
    rows = [_iteration(gen, disc, opt, sample_real, latent_dim, batch_size, sigma, streams, i in recorded)
            for i in range(iterations)]
    rows = [r for r in rows if r]
    return {"iteration": np.array(recorded), **{k: np.array([r[k] for r in rows], dtype=np.float64) for k in METRICS}}


# ---- a whole run --------------------------------------------------------------------------------------------
def _check(steps, sigma, seeds, member, lr, ensemble, views=1, view_width=0):
    def integer(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not integer(steps) or steps < 1:
        raise UsageError(f"--steps: discriminator iterations must be an integer >= 1, got {steps!r}")
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not math.isfinite(sigma) or sigma < 0:
        raise UsageError(f"--sigma: instance-noise σ must be a finite number >= 0, got {sigma!r}")
    if not integer(seeds) or seeds < 1:
        raise UsageError(f"--seeds: must be an integer >= 1, got {seeds!r}")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise UsageError(f"--lr: must be a finite number > 0, got {lr!r}")
    if not integer(views) or views < 1:
        raise UsageError(f"--views: the fresh discriminator's random-projection views must be an integer >= 1 "
                         f"(1: the full-view discriminator), got {views!r}")
    if not integer(view_width) or view_width < 0:
        raise UsageError(f"--view-width: channels of each view's widest layer must be an integer >= 0 (0: the "
                         f"default width), got {view_width!r}")
    if not integer(member) or not 0 <= member < ensemble:
        raise UsageError(f"--member: the run has {ensemble} generator member(s) (0..{ensemble - 1}), got {member!r}")


def noise_settings(sigma: float) -> dict[str, float]:
    """{"none": 0} plus {"sigma=S": S} when σ > 0."""
    return {"none": 0.0, **({f"sigma={sigma:g}": float(sigma)} if sigma > 0 else {})}


def spread(per_seed: list[dict]) -> dict:
    """Median and 25/75 % quantiles over seeds, per metric and iteration."""
    stacked = {k: np.stack([s[k] for s in per_seed]) for k in METRICS}
    return {name: {k: np.quantile(v, q, axis=0) for k, v in stacked.items()}
            for name, q in (("median", 0.5), ("q25", 0.25), ("q75", 0.75))}


def summarise(median: dict, per_seed: list[dict]) -> dict:
    """Start (iteration 0) and end (mean over the last tenth) of each median curve; for the gradient norms also
    the peak, log10(end/start), log10(end/peak) (a fresh D's input gradient first grows, so the decay of
    Cor. 2.1 shows from the peak on), and the jitter: the median over seeds of the standard deviation of the
    iteration-to-iteration change of log10‖∇‖ over the second half (≈ 0 for a smooth curve; large for noisy
    updates, Thm 2.6)."""
    out = {}
    for k in METRICS:
        v = median[k]
        row = {"start": float(v[0]), "end": float(np.mean(v[-max(1, len(v) // 10):]))}
        if k.startswith("grad_norm"):
            row["peak"] = float(np.max(v))
            with np.errstate(divide="ignore", invalid="ignore"):
                row["log10_change"] = float(np.log10(row["end"] / row["start"]))
                row["log10_from_peak"] = float(np.log10(row["end"] / row["peak"]))
                row["log10_jitter"] = float(np.median([_jitter(s[k]) for s in per_seed]))
        out[k] = row
    return out


def _jitter(curve: np.ndarray) -> float:
    half = np.log10(curve[len(curve) // 2:])
    return float(np.std(np.diff(half))) if len(half) > 1 else 0.0


def probe_checkpoint(run, *, steps, sigma, seeds, member, lr, betas, progress=None, views=1, view_width=0) -> dict:
    """Every noise setting × seed for one stored checkpoint (``ganscope.rundir.StoredRun``): {setting: {"sigma",
    "seeds", "median", "q25", "q75", "summary"}}; ``views``, ``view_width``: as ``probe_parts``."""
    cfg = run.cfg
    gen, sample_real, fresh = probe_parts(run, member, views, view_width)
    result = {}
    for name, s in noise_settings(sigma).items():
        per_seed = []
        for k in range(seeds):
            disc = fresh(init_seed(k)).to(_device_of(gen))  # initialised on the CPU: the same D everywhere
            per_seed.append(probe_generator(gen, disc, sample_real, cfg.model.latent_dim, iterations=steps,
                                            batch_size=cfg.data.batch_size, sigma=s, seed=k, lr=lr, betas=betas))
            if progress is not None:
                progress.update(1)
        stats = spread(per_seed)
        result[name] = {"sigma": s, "seeds": per_seed, **stats, "summary": summarise(stats["median"], per_seed)}
    return result


def probe_run(run_dir, steps: int = DEFAULTS["steps"], sigma: float = DEFAULTS["sigma"],
              seeds: int = DEFAULTS["seeds"], member: int = DEFAULTS["member"], lr: float = DEFAULTS["lr"],
              betas=DEFAULTS["betas"], checkpoints=None, progress: bool = False, device=None, views: int = 1,
              view_width: int = 0) -> dict:
    """The frozen-generator probe of every kept checkpoint of ``run_dir`` (module docstring).

    ``steps`` discriminator iterations, instance noise ``sigma`` (0: the noise-free setting only), ``seeds``
    fresh discriminators per checkpoint and setting, generator ``member`` of an ensemble run, Adam ``lr`` and
    ``betas``; ``checkpoints`` optionally restricts to those generator steps. Returns
    ``{"run", "data", "loss", "member", "iterations", "sigma", "seeds", "lr", "betas", "batch_size",
    "checkpoints": {generator_step: {setting: {"sigma", "seeds": [{metric: array}], "median", "q25", "q75":
    {metric: array}, "summary"}}}}`` with settings "none" and "sigma=S". ``device``: where the nets and the
    probe's random streams live (None: the CPU). ``views`` K > 1: the fresh discriminator is K discriminators on
    K random projections (RP-GAN's, per-view width ``view_width``; image runs only), the metrics means over them.
    """
    cfg = rundir.load_config(run_dir)
    _check(steps, sigma, seeds, member, lr, cfg.ensemble, views, view_width)
    runs = [rundir.open_run(run_dir, path=p, device=device) for p in rundir.stored_checkpoints(run_dir)]
    if checkpoints is not None:
        runs = [r for r in runs if r.step in set(checkpoints)]
        if not runs:
            raise UsageError(f"checkpoints: none of {list(checkpoints)} is a kept step of {run_dir}")
    from ganscope.progress import Progress

    bar = Progress(len(runs) * len(noise_settings(sigma)) * seeds, unit="probe", desc="probe", enabled=progress)
    try:
        per_step = {r.step: probe_checkpoint(r, steps=steps, sigma=float(sigma), seeds=seeds, member=member,
                                             lr=float(lr), betas=betas, progress=bar, views=views,
                                             view_width=view_width)
                    for r in runs}
    finally:
        bar.close()
    return {"run": str(run_dir), "data": cfg.data.name, "loss": cfg.loss, "method": cfg.method, "member": member,
            "iterations": steps, "sigma": float(sigma), "seeds": seeds, "lr": float(lr), "betas": list(betas),
            "views": views, "view_width": view_width,
            "batch_size": cfg.data.batch_size, "checkpoints": per_step}


# ---- figure and files ----------------------------------------------------------------------------------------
def plot_probe(result: dict):
    """Arjovsky & Bottou's Figures 1–3 as one grid: columns D loss, accuracy, ‖∇‖ original cost, ‖∇‖ −log D cost;
    rows without / with instance noise; one curve per checkpoint (median over seeds, inter-quartile band).
    Takes :func:`probe_run`'s result or the same read back from ``probe.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(result["checkpoints"], key=int)
    settings = list(result["checkpoints"][steps[0]])
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(steps)))
    fig, axes = plt.subplots(len(settings), len(METRICS), figsize=(3.6 * len(METRICS), 2.9 * len(settings)),
                             squeeze=False)
    for row, setting in enumerate(settings):
        for col, metric in enumerate(METRICS):
            ax = axes[row, col]
            for colour, step in zip(colours, steps):
                _curve(ax, result["checkpoints"][step][setting], metric, colour, f"G step {step}")
            if metric in LOG_SCALE:
                ax.set_yscale("log")
            ax.set_title(f"{TITLES[metric]}\n{_row_label(setting)}", fontsize=8)
            ax.set_xlabel("discriminator iterations", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    views = f", {result['views']} random-projection views" if result.get("views", 1) > 1 else ""
    fig.suptitle(f"frozen-generator probe: {result['run']} ({result['data']}{views}, member {result['member']}, "
                 f"{result['seeds']} seed(s), Adam lr {result['lr']:g})", fontsize=9)
    fig.tight_layout()
    return fig


def _curve(ax, entry, metric, colour, label):
    median, q25, q75 = (np.asarray(entry[k][metric], dtype=float) for k in ("median", "q25", "q75"))  # null: NaN
    x = np.arange(len(median))
    ax.plot(x, median, color=colour, lw=1, label=label)
    ax.fill_between(x, q25, q75, color=colour, alpha=0.25, lw=0)


def _row_label(setting: str) -> str:
    return "no noise" if setting == "none" else f"instance noise {setting.replace('sigma', 'σ')}"


def run_probe(run_dir, out, **kwargs) -> dict:
    """:func:`probe_run`, then ``out/probe.json`` and ``out/probe.png``, each written atomically."""
    if out is None or str(out) == "":
        raise UsageError("--out: give the output directory")
    result = probe_run(run_dir, **kwargs)
    out = Path(out)
    from ganscope import plots

    plots.save(plot_probe(result), out / "probe.png")
    write_json(out / "probe.json", to_jsonable(result))
    return result
