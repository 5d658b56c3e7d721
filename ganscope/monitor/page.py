"""What a closed Monitor writes: summary.json, plots/*.png, spectrum.json, probe.json and report.json with its page
(``ganscope.report``'s schema, so that ``ganscope report DIR`` renders it)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ganscope import report as R
from ganscope import rundir
from ganscope.io import json_safe, read_jsonl, write_json
from ganscope.monitor.readings import readings, series

DIAG_KEYS = ("grad_sq_real", "grad_sq_fake", "d_real", "d_fake", "d_gap", "d_loss", "g_loss", "speed_g", "speed_d")
QUALITY_KEYS = ("fid", "kid", "precision", "recall", "density", "coverage", "w1", "modes_covered", "hq_fraction",
                "mode_kl")
SNAPSHOTS = 6  # sample snapshots on the page


def write_outputs(mon) -> dict:
    """summary.json, plots/*.png, spectrum.json/probe.json, report.json and its page for a closed monitor."""
    out = Path(mon.out)
    rows = read_jsonl(rundir.metrics_path(out)) if rundir.metrics_path(out).is_file() else []
    n_modes = None
    if mon.kind == "points2d" and mon.reference is not None:
        from ganscope.data.toy2d import get_dataset

        n_modes = len(get_dataset(mon.reference).centres)
    reads = readings(rows, mon.loss, n_modes, mon.spectra, mon.probes)
    final = {}
    for r in rows:
        final.update({k: v for k, v in r.items() if k not in ("monitor_s", "wall_s")})
    summary = {"steps": mon._last, "evaluations": len(mon.costs), "final": final, "readings": reads,
               "monitor_s": float(sum(mon.costs)), "train_s": mon._train_s, "settings": settings(mon)}
    write_json(rundir.summary_path(out), json_safe(summary))
    if mon.spectra:
        write_json(out / "spectrum.json", json_safe({str(k): v for k, v in mon.spectra.items()}))
    if mon.probes:
        write_json(out / "probe.json", json_safe({str(k): v for k, v in mon.probes.items()}))
    figs = _figures(mon, rows, reads) if mon.plots else {}
    R.write(out, page(out, summary, figs))
    R.render(out)
    return summary


def _figures(mon, rows, reads) -> dict:
    """plots/diagnostics.png, quality.png, samples.png, spectrum.png, probe.png (those that have data)."""
    from ganscope import plots

    figs, pdir = {}, rundir.plots_dir(mon.out)
    if rows:
        diag = [k for k in DIAG_KEYS if any(k in r for r in rows)]
        if diag:
            figs["diagnostics"] = plots.save(curves(rows, diag, reads), pdir / "diagnostics.png")
        quality = [k for k in QUALITY_KEYS if any(k in r for r in rows)]
        if quality:
            figs["quality"] = plots.save(curves(rows, quality, reads), pdir / "quality.png")
    if mon.snapshots:
        figs["samples"] = plots.save(samples_figure(mon), pdir / "samples.png")
    if mon.spectra:
        figs["spectrum"] = plots.save(spectrum_figure(mon.spectra), pdir / "spectrum.png")
    if mon.probes:
        figs["probe"] = plots.save(probe_figure(mon.probes), pdir / "probe.png")
    return figs


def settings(mon) -> dict:
    ref = mon.reference
    return {"loss": mon.loss, "penalty": list(mon.penalty), "every": mon.every, "metrics": list(mon.metrics),
            "reference": ref if ref is None or isinstance(ref, str) else f"tensor {tuple(ref.shape)}",
            "batch": mon.batch, "samples": mon.samples, "seed": mon.seed, "start": mon.start, "kind": mon.kind,
            "spectrum_at": sorted(mon.spectrum_at) if mon.spectrum_at else "last",
            "probe_at": sorted(mon.probe_at) if mon.probe_at else "last", "spectrum_k": mon.spectrum_k,
            "spectrum_batch": mon.spectrum_batch, "probe_iterations": mon.probe_iterations}


VERDICT_COLOURS = {"good": "tab:green", "neutral": "0.35", "warning": "tab:orange", "bad": "tab:red",
                   "unknown": "0.5"}


def curves(rows, keys, reads=()):
    """One panel per key against the step; a panel whose key has a reading takes its verdict's colour."""
    from ganscope import plots

    verdict = {r["diagnostic"]: r["verdict"] for r in reads}
    ncols = min(len(keys), 3)
    nrows = -(-len(keys) // ncols)
    fig, axes = plots.plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        steps, values = series(rows, key)
        colour = VERDICT_COLOURS.get(verdict.get(key), "tab:blue")
        ax.plot(steps, values, "o-", ms=3, lw=1, color=colour)
        if plots.spans_decades(values):
            ax.set_yscale("log")
        ax.set_title(key + (f" ({verdict[key]})" if key in verdict else ""), fontsize=9, color=colour)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def _pick(steps, n=SNAPSHOTS):
    steps = sorted(steps)
    return steps if len(steps) <= n else [steps[round(i * (len(steps) - 1) / (n - 1))] for i in range(n)]


def samples_figure(mon):
    from ganscope import plots

    snaps = {s: mon.snapshots[s] for s in _pick(mon.snapshots)}
    if mon.kind == "images":
        return plots.image_snapshots(snaps, "generated samples (eval mode, fixed latents)")
    return plots.samples_through_training(mon.real[:1000].numpy(), snaps, "generated (orange) over real (grey)")


def spectrum_figure(spectra):
    from ganscope import plots

    steps = _pick(spectra, 4)
    fig, axes = plots.plt.subplots(1, len(steps), figsize=(3.6 * len(steps), 3.2), squeeze=False)
    for ax, s in zip(axes[0], steps):
        lam = np.array([complex(a, b) for a, b in spectra[s]["eigenvalues"]])
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.scatter(lam.real, lam.imag, s=16)
        ax.set(xlabel="Re λ", ylabel="Im λ", title=f"step {s}: max Re λ = {spectra[s]['max_real_part']:.3g}")
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def probe_figure(probes):
    from ganscope import plots
    from ganscope.analysis.probe import METRICS as PM, TITLES

    fig, axes = plots.plt.subplots(1, len(PM), figsize=(3.4 * len(PM), 2.8), squeeze=False)
    for ax, key in zip(axes[0], PM):
        for s in _pick(probes, 4):
            ax.plot(probes[s][key], lw=1, label=f"step {s}")
        if key != "accuracy" and plots.spans_decades(np.concatenate([probes[s][key] for s in probes])):
            ax.set_yscale("log")
        ax.set_title(TITLES[key], fontsize=8)
        ax.set_xlabel("fresh critic iteration", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def page(out, summary, figs) -> dict:
    """The report.json of a monitor run (ganscope.report's schema)."""
    out = Path(out)
    fig = lambda key, caption: [R.figure(out, figs[key], caption)] if key in figs else []  # noqa: E731
    reads = summary["readings"]
    rows = [[r["diagnostic"], r["value"], r["verdict"], r["text"]] for r in reads]
    sections = [R.section("readings", "Readings", text=READINGS_TEXT,
                          tables=[R.table("one reading per diagnostic (rules: docs/monitor.md)",
                                          ["diagnostic", "value", "verdict", "reading"], rows)] if rows else [])]
    sections.append(R.section("diagnostics", "Convergence diagnostics", text=DIAG_TEXT,
                              figures=fig("diagnostics", "the diagnostics at each evaluation; the title's colour is "
                                                         "the reading's verdict")))
    if "quality" in figs or "samples" in figs:
        sections.append(R.section("samples", "Sample quality", text=QUALITY_TEXT,
                                  figures=fig("quality", "sample metrics at each evaluation")
                                  + fig("samples", "samples at evaluations")))
    if "spectrum" in figs:
        sections.append(R.section("spectrum", "Jacobian spectrum", text=SPECTRUM_TEXT,
                                  figures=fig("spectrum", "leading eigenvalues of the game's Jacobian")))
    if "probe" in figs:
        sections.append(R.section("probe", "Frozen-generator probe", text=PROBE_TEXT,
                                  figures=fig("probe", "a fresh critic trained against the frozen generator")))
    sections.append(R.section("settings", "Settings", text=f"{summary['evaluations']} evaluations over "
                              f"{summary['steps']} steps; the monitor took {summary['monitor_s']:.3g} s, the "
                              f"loop {summary['train_s']:.3g} s between evaluations.", config=summary["settings"]))
    return {"paper": "monitor", "title": f"ganscope monitor: {out.name}",
            "citation": "diagnostics of a training loop watched by ganscope.Monitor (docs/monitor.md)",
            "mode": "monitor", "command": f"ganscope report {out}", "wall_s": float(summary["train_s"]
                                                                                   + summary["monitor_s"]),
            "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sections": sections}


READINGS_TEXT = ("Each diagnostic gets one reading by a fixed rule stated in docs/monitor.md (trends compare the "
                 "mean of the last third of the evaluations with the first third). good: as at an equilibrium; "
                 "neutral: no sign either way; warning: a known failure is near; bad: a known failure is there.")
DIAG_TEXT = ("Mescheder et al. 2018 judge convergence by the iterates approaching an equilibrium, where the critic "
             "is flat on the data (`grad_sq_real` = E‖∇ₓD(x)‖² → 0, `grad_sq_fake` on generated samples), its "
             "logits are 0 (`d_real`, `d_fake`, `d_gap`) and nothing moves (`speed_g`, `speed_d`: ‖θ_now − "
             "θ_prev‖ / n over the n steps since the previous evaluation). `d_loss`, `g_loss`: the objective on the "
             "fixed batch, without penalty.")
QUALITY_TEXT = ("Images: FID, KID and precision/recall/density/coverage in the features of ganscope's shipped "
                "Fashion-MNIST classifier (docs/images_metrics.md; comparable only with that extractor). 2-D "
                "points: exact W1 to the real samples and, against a ganscope mixture, modes covered.")
SPECTRUM_TEXT = ("The k eigenvalues of largest real part of the Jacobian of the gradient field v = (−∇θ L_G, "
                 "−∇ψ L_D) on a fixed batch (Mescheder et al. 2018 §2.1): locally convergent in continuous time iff "
                 "every Re λ < 0.")
PROBE_TEXT = ("Arjovsky & Bottou 2017 §2: the generator frozen, a fresh critic (the same architecture, new "
              "initialisation) trained alone; as it nears optimality the saturating cost's generator gradient "
              "vanishes (Thm 2.4) and the −log D cost's becomes unstable (Thm 2.6).")

