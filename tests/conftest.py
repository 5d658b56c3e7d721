"""Test-wide settings: one torch thread (the tests use tiny nets; this also keeps subprocesses from
oversubscribing the 2-core CI machine), and ``@pytest.mark.cuda`` tests skipped where torch finds no CUDA GPU
(CI has none: they are skipped there, never failed)."""
import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Skip the ``cuda``-marked tests without CUDA, saying why."""
    if torch.cuda.is_available():
        return
    reason = f"needs a CUDA GPU; torch {torch.__version__} finds none (CUDA build: {torch.version.cuda or 'no'})"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


def short_run(tmp_path, name, overrides, steps=6, extra=()):
    """Train a tiny run in this process (evaluations every 3 steps, a log line every step, no plots): the
    ``Run`` and its metrics.jsonl rows. Tests import it with ``from conftest import short_run``."""
    import json

    from ganscope.config import resolve
    from ganscope.train import Run, prepare

    cfg = resolve({}, [*overrides, f"train.steps={steps}", "train.eval_every=3", "train.log_every=1",
                       "train.plots=false", *extra])
    prepare(cfg)
    run = Run(cfg, tmp_path / name)
    run.out.mkdir()
    run.train(progress=False)
    return run, [json.loads(ln) for ln in (run.out / "metrics.jsonl").read_text().splitlines()]
