"""``DIR/sweep.json``: the state of every run of a sweep, rewritten atomically after each job."""
from __future__ import annotations

import json
from pathlib import Path

from ganscope import rundir
from ganscope.errors import UsageError
from ganscope.io import json_safe, write_json
from ganscope.sweep.jobs import Job, RunSpec, single_job
from ganscope.sweep.spec import Spec


class SweepState:
    """``DIR/sweep.json``: every run's overrides, status (done/failed/running/pending), error, wall time."""

    def __init__(self, out, spec: Spec, runs: list[RunSpec]):
        self.out, self.spec, self.runs = Path(out), spec, {r.name: r for r in runs}
        previous = read_state(self.out).get("runs", []) if (self.out / "sweep.json").exists() else []
        old = {r["name"]: r for r in previous}
        self.records = {r.name: self._record(r, old.get(r.name, {})) for r in runs}
        self.rows: list[dict] = []  # the results tables' rows (``results.aggregate``) once the sweep has run

    def _record(self, run: RunSpec, old: dict) -> dict:
        status = "done" if self.done(run.name) else ("failed" if old.get("status") == "failed" else "pending")
        return {"name": run.name, "config": run.config_id, "overrides": run.overrides, "seed": run.seed,
                "status": status, "error": old.get("error") if status != "done" else None,
                "wall_s": old.get("wall_s"), "job": old.get("job"), "attempts": old.get("attempts", 0)}

    def done(self, name: str) -> bool:
        return rundir.is_done(self.out / "runs" / name)

    def counts(self) -> dict:
        out = dict.fromkeys(("done", "running", "failed", "pending"), 0)
        for rec in self.records.values():
            out[rec["status"]] += 1
        return out

    def save(self):
        write_json(self.out / "sweep.json", json_safe({
            "format": "ganscope-sweep-1", "spec": self.spec.raw, "base_file": self.spec.base_file,
            "keys": self.spec.keys, "success": self.spec.success, "counts": self.counts(),
            "runs": list(self.records.values())}))

    def started(self, job: Job):
        for name in job.runs:
            self.records[name].update(status="running", error=None, job=job.name)
            self.records[name]["attempts"] += 1
        self.save()

    def finished(self, job: Job, outcome: dict) -> list[Job]:
        """Record a job's outcome; a diverged ensemble comes back as single-run jobs to retry."""
        from ganscope.train import EXIT_DIVERGED

        retry = job.is_ensemble and outcome.get("rc") == EXIT_DIVERGED
        for name in job.runs:
            ok = outcome.get("rc") == 0 and self.done(name)
            error = None if ok else (outcome.get("error") or f"exit {outcome.get('rc')}")
            status = "done" if ok else ("pending" if retry else "failed")
            self.records[name].update(status=status, error=error, wall_s=outcome.get("wall_s"))
        self.save()
        return [single_job(self.runs[name]) for name in job.runs] if retry else []

    def interrupted(self, jobs):
        for job in jobs:
            for name in job.runs:
                self.records[name].update(status="pending", error="interrupted")
        self.save()


def read_state(out: Path) -> dict:
    path = Path(out) / "sweep.json"
    if not path.is_file():
        raise UsageError(f"sweep: {out} is not a sweep directory (no sweep.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UsageError(f"sweep: {path} is not valid JSON") from None
