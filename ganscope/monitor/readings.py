"""One plain-language reading per diagnostic, by fixed rules on the logged series (docs/monitor.md, "Readings";
each rule tested on both sides in tests/test_monitor.py)."""
from __future__ import annotations

import math

import numpy as np

# ---- the readings' thresholds (docs/monitor.md, "Readings") ----
GROW, DECAY = 10.0, 0.1  # late/early ratio of a series: "grows without bound" / "decays towards 0"
GAP_HIGH, GAP_LOW = 4.0, 0.5  # mean logit gap d_real − d_fake: confident separation / near D* = ½
FID_RISE, FID_FALL = 1.5, 0.5  # FID: rose to 1.5× its best / fell to half its first value
PROBE_ACC, PROBE_FALL = 0.95, 0.1  # probe: accuracy of the fresh critic / fall of the saturating gradient
EIG_RTOL = 1e-6  # |Re λ| below this × max(1, max |λ|) counts as 0


def probe_summary(curves: dict) -> dict:
    """accuracy (last tenth's mean), the saturating cost's gradient norm at the start and the end (first and last
    tenth's means) and their ratio ``grad_fall`` (end / start)."""
    def part(key, last):
        v = np.asarray(curves[key], dtype=float)
        m = max(1, len(v) // 10)
        return float(np.mean(v[-m:] if last else v[:m]))

    g0, g1 = part("grad_norm_original", False), part("grad_norm_original", True)
    return {"accuracy": part("accuracy", True), "grad_start": g0, "grad_end": g1,
            "grad_fall": g1 / g0 if g0 > 0 else math.nan}



# ---- readings -------------------------------------------------------------------------------------------------------
def series(rows, key):
    pts = [(r["step"], r[key]) for r in rows if key in r]
    return [s for s, _ in pts], [math.nan if v is None else float(v) for _, v in pts]


def trend(values) -> float:
    """late / early: the mean of the last third of the values over the mean of the first third (⌈n/3⌉ each)."""
    m = math.ceil(len(values) / 3)
    early, late = float(np.mean(values[:m])), float(np.mean(values[-m:]))
    return late / early if early > 0 else (math.inf if late > 0 else 1.0)


def _reading(key, verdict, text, value=None) -> dict:
    return {"diagnostic": key, "verdict": verdict, "value": value, "text": text}


def _checked(key, values, least=3):
    if any(not math.isfinite(v) for v in values):
        return _reading(key, "bad", "non-finite values: the training diverged")
    if len(values) < least:
        return _reading(key, "unknown", f"too few evaluations ({len(values)} < {least}) for a reading")
    return None


def _by_trend(key, values, grows: str, decays: str, steady: str) -> dict:
    """A reading by ``trend``: bad at ≥ GROW, good at ≤ DECAY, neutral between; ``{r}`` in each text is the
    trend (×r)."""
    pre = _checked(key, values)
    if pre:
        return pre
    r = trend(values)
    verdict, text = ("bad", grows) if r >= GROW else ("good", decays) if r <= DECAY else ("neutral", steady)
    return _reading(key, verdict, text.format(r=f"{r:.3g}"), r)


def read_grad(key, values) -> dict:
    """E‖∇ₓD‖² on real (R1) or generated (R2) data, by its trend (late / early, ``trend``)."""
    on, reg = ("real", "R1") if key.endswith("real") else ("generated", "R2")
    return _by_trend(
        key, values,
        f"the critic's gradient on {on} data grows without bound (×{{r}} from the first to the last third): the "
        f"pair is not approaching an equilibrium; zero-centred penalties ({reg}, Mescheder et al. 2018) exist for "
        "this",
        f"the critic's gradient on {on} data decays towards 0 (×{{r}}), as at an equilibrium whose critic is flat "
        "on the data; a critic that stopped learning is flat too, so read it with the speeds and a sample metric",
        f"the critic's gradient on {on} data stays at about one level (×{{r}}): neither flattening towards an "
        "equilibrium nor blowing up")


def read_gap(values, loss: str) -> dict:
    """d_gap = E D(x) − E D(G(z)): its late level (logit losses) or its trend (wgan: a W1 estimate)."""
    pre = _checked("d_gap", values, least=1)
    if pre:
        return pre
    m = math.ceil(len(values) / 3)
    gap = float(np.mean(values[-m:]))
    if loss == "wgan":
        early = float(np.mean(values[:m]))
        rel = (gap - early) / max(abs(early), 1e-12)
        if len(values) < 3:
            return _reading("d_gap", "unknown", f"too few evaluations ({len(values)} < 3) for a reading")
        if rel <= -0.5:
            return _reading("d_gap", "good", f"the critic's gap, an estimate of W1 for a near-optimal 1-Lipschitz "
                            f"critic, fell by {-rel:.0%}: the distributions approach each other", gap)
        if rel >= 1.0:
            return _reading("d_gap", "warning", f"the critic's gap (a W1 estimate) grew by {rel:.0%}: the "
                            "distributions move apart, or the critic is not kept Lipschitz (penalty, clipping)", gap)
        return _reading("d_gap", "neutral", f"the critic's gap (a W1 estimate) is about flat ({rel:+.0%})", gap)
    if gap > GAP_HIGH:
        return _reading("d_gap", "warning", f"the critic separates real from generated samples confidently (mean "
                        f"logit gap {gap:.3g} > {GAP_HIGH:g}): the generator is far behind; under the saturating "
                        "(minimax) loss its gradient vanishes (Arjovsky & Bottou 2017)", gap)
    if abs(gap) < GAP_LOW:
        return _reading("d_gap", "good", f"the critic barely tells real from generated samples (mean logit gap "
                        f"{gap:.3g}, |gap| < {GAP_LOW:g}), as near an equilibrium where D* = ½", gap)
    return _reading("d_gap", "neutral", f"the critic tells real from generated samples apart moderately (mean "
                    f"logit gap {gap:.3g})", gap)


def read_speed(key, values) -> dict:
    """A player's parameter speed, by its trend."""
    who = "generator" if key.endswith("g") else "critic"
    return _by_trend(
        key, values,
        f"the {who}'s parameters speed up (×{{r}}): the iterates run away (divergence)",
        f"the {who}'s parameters slow down (×{{r}}): the iterates settle",
        f"the {who}'s parameters move at a steady speed (×{{r}}): with mini-batch noise and a constant step the "
        "iterates wander around an equilibrium at a floor, or circle it; a smaller step tells the two apart")


def read_fid(values) -> dict:
    """FID: its largest rise above its best so far, and its last value against its first."""
    pre = _checked("fid", values, least=2)
    if pre:
        return pre
    best, rise = math.inf, 1.0
    for v in values:
        if 0 < best < math.inf:
            rise = max(rise, v / best)
        best = min(best, v)
    fall = values[-1] / values[0] if values[0] > 0 else 1.0
    if rise >= FID_RISE:
        return _reading("fid", "bad", f"FID rose to ×{rise:.3g} of its best: the samples got worse after "
                        "improving (mode collapse or divergence)", rise)
    if fall <= FID_FALL:
        return _reading("fid", "good", f"FID fell to ×{fall:.3g} of its first value: the samples improve", fall)
    return _reading("fid", "neutral", f"FID is about flat (last / first ×{fall:.3g})", fall)


def read_modes(values, n_modes: int) -> dict:
    """Modes covered: ``metrics.toy2d.mode_collapse`` on the history."""
    from ganscope.metrics.toy2d import mode_collapse

    pre = _checked("modes_covered", values, least=1)
    if pre:
        return pre
    c = mode_collapse([int(v) for v in values], n_modes)
    final = int(values[-1])
    if c["mode_collapse"] and c["peak_modes"] >= 0.75 * n_modes:
        return _reading("modes_covered", "bad", f"the generator covers {final} of {n_modes} modes (fewer than "
                        f"three quarters) after covering {c['peak_modes']}: mode collapse", final)
    if c["mode_collapse"]:
        return _reading("modes_covered", "warning", f"the generator covers only {final} of {n_modes} modes and never "
                        "covered three quarters: it has not found the mixture's modes yet, or collapsed early", final)
    if c["modes_dropped"]:
        return _reading("modes_covered", "warning", f"the generator dropped {c['modes_dropped']} of the "
                        f"{c['peak_modes']} modes it had covered (now {final} of {n_modes})", final)
    return _reading("modes_covered", "good", f"the generator covers {final} of {n_modes} modes", final)


def read_spectrum(result: dict) -> dict:
    """The Jacobian's leading eigenvalues: sign of the largest real part (|Re λ| ≤ EIG_RTOL·max(1, max|λ|) is 0)."""
    lam = np.array([complex(a, b) for a, b in result["eigenvalues"]])
    tol = EIG_RTOL * max(1.0, float(np.abs(lam).max(initial=0.0)))
    re = float(result["max_real_part"])
    im = float(np.abs(lam.imag[np.abs(lam.real - re) <= tol]).max(initial=0.0))
    if re > tol:
        return _reading("spectrum", "bad", f"an eigenvalue of the game's Jacobian has Re λ = {re:.3g} > 0: the "
                        "training point repels the dynamics (locally unstable)", re)
    if re >= -tol and im > tol:
        return _reading("spectrum", "warning", f"the leading eigenvalues sit on the imaginary axis (Re λ ≈ 0, |Im λ| "
                        f"= {im:.3g}): the dynamics rotate around the point instead of approaching it, as the "
                        "unregularised Dirac-GAN; a zero-centred penalty or consensus moves them left", re)
    if re >= -tol:
        return _reading("spectrum", "neutral", f"the largest real part is 0 (Re λ = {re:.3g}): a flat direction, "
                        "no local verdict from the linearisation", re)
    return _reading("spectrum", "good", f"every leading eigenvalue has Re λ < 0 (largest {re:.3g}): locally "
                    "convergent in continuous time (Mescheder et al. 2018 §2.1)", re)


def read_probe(summary: dict) -> dict:
    """The frozen-generator probe: the fresh critic's accuracy and the fall of the saturating cost's gradient."""
    acc, fall = summary["accuracy"], summary["grad_fall"]
    if acc >= PROBE_ACC and fall <= PROBE_FALL:
        return _reading("probe", "warning", f"a fresh critic trained against the frozen generator reaches accuracy "
                        f"{acc:.3g} and the saturating cost's gradient falls ×{fall:.3g}: the minimax loss would "
                        "starve the generator here (Arjovsky & Bottou 2017, Thm 2.4); the non-saturating loss or "
                        "instance noise avoid it", fall)
    return _reading("probe", "good", f"against a fresh critic (accuracy {acc:.3g}) the saturating cost's gradient "
                    f"does not vanish (×{fall:.3g})", fall)


def readings(rows, loss: str = "nonsaturating", n_modes: int | None = None, spectra=None, probes=None) -> list:
    """One reading per diagnostic present in ``rows`` (metrics.jsonl rows): {"diagnostic", "verdict" (good,
    neutral, warning, bad, unknown), "value", "text"}; the spectrum and the probe at their last step."""
    out = []
    for key in ("grad_sq_real", "grad_sq_fake"):
        if any(key in r for r in rows):
            out.append(read_grad(key, series(rows, key)[1]))
    if any("d_gap" in r for r in rows):
        out.append(read_gap(series(rows, "d_gap")[1], loss))
    for key in ("speed_g", "speed_d"):
        if any(key in r for r in rows):
            out.append(read_speed(key, series(rows, key)[1]))
    if any("fid" in r for r in rows):
        out.append(read_fid(series(rows, "fid")[1]))
    if n_modes and any("modes_covered" in r for r in rows):
        out.append(read_modes(series(rows, "modes_covered")[1], n_modes))
    if spectra:
        out.append(read_spectrum(spectra[max(spectra)]))
    if probes:
        out.append(read_probe(probe_summary(probes[max(probes)])))
    return out

