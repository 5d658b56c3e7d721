"""The metric sinks (ganscope.loggers): grouped TensorBoard tags, image grids, histograms, hyper-parameters with
the final metrics, the offline W&B logger; metrics.jsonl keeps its keys."""
import json
import os

import pytest
import torch

from conftest import short_run
from ganscope import loggers
from ganscope.config import resolve
from ganscope.errors import UsageError

SMALL = ["model.g_width=16", "model.d_width=16", "data.batch_size=32", "data.eval_samples=100"]
TINY_IMAGES = ["data.name=digits", "net=dcgan", "model.g_width=8", "model.d_width=8", "model.latent_dim=8",
               "data.batch_size=16", "data.eval_samples=64"]


def train(tmp_path, name, overrides, steps=6):
    return short_run(tmp_path, name, overrides, steps, extra=["train.plot_every=3"])


def events(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"images": 0, "histograms": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_tags_are_grouped_and_jsonl_keys_unchanged(tmp_path):
    run, rows = train(tmp_path, "tb", ["train.histograms=true", *SMALL])
    acc = events(run.out / "tb")
    tags = set(acc.Tags()["scalars"])
    assert {"train/d_loss", "train/g_loss", "eval/w1", "train/wall_s", "diag/grad_sq_real", "diag/speed_d"} <= tags
    assert all(t.split("/")[0] in loggers.GROUPS for t in tags)  # nothing ungrouped
    assert [e.step for e in acc.Scalars("eval/w1")] == [3, 6]
    assert [e.step for e in acc.Scalars("train/d_loss")] == list(range(1, 7))
    hist = set(acc.Tags()["histograms"])
    assert {f"hist/gen/{n}" for n, _ in run.game.gen.net.named_parameters()} <= hist
    assert any(t.startswith("hist/disc/") for t in hist)
    keys = set().union(*rows)  # metrics.jsonl: the values' own keys, as before
    assert {"step", "d_loss", "g_loss", "w1", "wall_s", "grad_sq_real"} <= keys and not any("/" in k for k in keys)
    final = events(run.out / "tb" / "hparams")  # the hyper-parameters with the final metrics
    assert "final/w1" in final.Tags()["scalars"]
    assert final.Scalars("final/w1")[0].value == pytest.approx(json.loads((run.out / "summary.json").read_text())
                                                              ["final"]["w1"], rel=1e-6)


def test_no_histograms_by_default(tmp_path):
    run, _ = train(tmp_path, "nohist", SMALL, steps=3)
    assert events(run.out / "tb").Tags()["histograms"] == []


def test_image_runs_log_sample_grids(tmp_path):
    from ganscope.imageio import grid_array

    run, _ = train(tmp_path, "img", [*TINY_IMAGES, "method=nonsaturating"], steps=3)
    acc = events(run.out / "tb")
    assert "eval/samples" in acc.Tags()["images"]
    shots = acc.Images("eval/samples")
    assert [s.step for s in shots] == [0, 3]
    grid = grid_array(run.snapshots[3])
    assert (shots[-1].height, shots[-1].width) == grid.shape[:2]


def test_logger_list_is_checked():
    assert resolve({}, []).logger == ["jsonl", "tensorboard"]
    assert resolve({}, ["logger=[tensorboard]"]).logger == ["jsonl", "tensorboard"]  # jsonl is always on
    assert resolve({}, ["logger=[wandb, jsonl, wandb]"]).logger == ["jsonl", "wandb"]
    with pytest.raises(UsageError, match=r"^logger: unknown logger 'mlflow'; allowed: jsonl, tensorboard, wandb"):
        resolve({}, ["logger=[jsonl, mlflow]"])


def test_jsonl_only_writes_no_event_files(tmp_path):
    run, rows = train(tmp_path, "plain", ["logger=[jsonl]", *SMALL], steps=3)
    assert rows and not (run.out / "tb").exists()


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the optional W&B logger: pip install 'ganscope[wandb]'")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))
    run, rows = train(tmp_path, "wb", ["logger=[jsonl, wandb]", *SMALL], steps=3)
    runs = list((run.out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert rows and not (run.out / "tb").exists()

