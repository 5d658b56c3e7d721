"""A sweep's results: per configuration, mean and 95 % CI over seeds, success rate; ``results.csv`` and ``.md``."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ganscope.errors import UsageError
from ganscope.io import read_jsonl, write_text
from ganscope.sweep.jobs import _fmt
from ganscope.sweep.state import read_state


def mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of the Student-t 95 % confidence interval (NaN with fewer than 2 values)."""
    import numpy as np
    from scipy import stats

    x = np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    if x.size < 2:
        return float(x[0]), math.nan
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def wilson_ci(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score 95 % interval of a proportion k/n (Wilson 1927): centre (k + z²/2)/(n + z²), half-width
    z·sqrt(k(n − k)/n + z²/4)/(n + z²). (nan, nan) for n = 0."""
    if n == 0:
        return math.nan, math.nan
    centre, half = (k + z * z / 2) / (n + z * z), z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return max(0.0, centre - half), min(1.0, centre + half)


def succeeded(run_dir, final: dict, success) -> bool:
    """Every condition of ``success`` (one mapping or a list): its metric beyond the threshold in ``final`` and
    in each of the last ``hold`` logged evaluations."""
    conditions = success if isinstance(success, list) else [success]
    rows = read_jsonl(Path(run_dir) / "metrics.jsonl")
    return all(_holds(run_dir, final, rows, c) for c in conditions)


def _holds(run_dir, final: dict, rows: list[dict], condition: dict) -> bool:
    """A metric of ``final`` or of the logged evaluations (the diagnostics, such as grad_sq_real, are logged
    only) beyond the threshold at the end and in each of the last ``hold`` evaluations."""
    metric = condition["metric"]
    history = [r[metric] for r in rows if metric in r][-condition["hold"]:]
    if metric not in final and not history:
        logged = sorted({k for r in rows for k in r} - {"step"})
        raise UsageError(f"success.metric: {metric!r} is not a final or logged metric of {run_dir}; "
                         f"allowed: {', '.join(sorted(set(final) | set(logged)))}")
    values = history + ([final[metric]] if metric in final else [])
    if "below" in condition:
        ok = [v is not None and v < condition["below"] for v in values]
    else:
        ok = [v is not None and v > condition["above"] for v in values]
    return len(history) == condition["hold"] and all(ok)


def aggregate(out) -> list[dict]:
    """One row per configuration: runs, done, failed, success rate, and ``M_mean``/``M_ci95`` for every final
    numeric metric M over the done seeds; written to ``results.csv`` and ``results.md``."""
    out = Path(out)
    state = read_state(out)
    configs: dict[str, list[dict]] = {}
    for rec in state["runs"]:
        configs.setdefault(rec["config"], []).append(rec)
    rows = [_row(out, cid, recs, state.get("keys", []), state.get("success")) for cid, recs in configs.items()]
    _write_csv(out / "results.csv", rows)
    write_text(out / "results.md", markdown(rows, state.get("keys", []), bool(state.get("success"))))
    return rows


def _row(out: Path, config_id: str, recs: list[dict], keys: list[str], success) -> dict:
    row = {"config": config_id, **{k: recs[0]["overrides"].get(k) for k in keys}, "runs": len(recs)}
    done = [r for r in recs if (out / "runs" / r["name"] / "summary.json").is_file()]
    finals = [json.loads((out / "runs" / r["name"] / "summary.json").read_text())["final"] for r in done]
    failed = sum(r["status"] == "failed" for r in recs if r not in done)
    row.update(done=len(done), failed=failed)
    if success:
        wins = sum(succeeded(out / "runs" / r["name"], f, success) for r, f in zip(done, finals))
        row["success"] = wins / (len(done) + failed) if done or failed else math.nan
    for metric in _numeric_keys(finals):
        row[f"{metric}_mean"], row[f"{metric}_ci95"] = mean_ci([f.get(metric) for f in finals])
    return row


def _numeric_keys(finals: list[dict]) -> list[str]:
    keys = []
    for final in finals:
        keys += [k for k, v in final.items() if k not in keys and (v is None or isinstance(v, (int, float)))]
    return [k for k in keys if any(isinstance(f.get(k), (int, float)) for f in finals)]


def _write_csv(path: Path, rows: list[dict]):
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()})
    write_text(path, buf.getvalue())


def markdown(rows: list[dict], keys: list[str], with_success: bool) -> str:
    """The results table: one row per configuration, metrics as mean ± 95 % CI."""
    metrics = []
    for row in rows:
        metrics += [k[:-5] for k in row if k.endswith("_mean") and k[:-5] not in metrics]
    head = ["config", *keys, "done/runs", "failed", *(["success"] if with_success else []), *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["config"], *(_fmt(row[k]) for k in keys), f"{row['done']}/{row['runs']}", str(row["failed"])]
        cells += [_pct(row["success"])] if with_success else []
        cells += [_pm(row.get(f"{m}_mean"), row.get(f"{m}_ci95")) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nmetrics: mean ± half-width of the Student-t 95 % confidence interval over seeds\n"


def _pct(x) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.0f} %"


def _pm(mean, half) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.4g}" if half is None or math.isnan(half) else f"{mean:.4g} ± {half:.2g}"
