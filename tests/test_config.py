"""The config surface: YAML keys given twice, non-finite floats, integers in float notation, unknown data
sources: one line each, exit status 2 through the command line."""
import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from ganscope import config
from ganscope.config import Config, load_yaml, resolve
from ganscope.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent


def leaf_fields(cls=Config, prefix=""):
    """(dotted key, type, default) of every scalar field of the config."""
    for f in dataclasses.fields(cls):
        kind = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(kind):
            yield from leaf_fields(kind, f"{prefix}{f.name}.")
        elif f.default is not dataclasses.MISSING:
            yield f"{prefix}{f.name}", kind, f.default


FLOATS = [k for k, kind, _ in leaf_fields() if kind is float]
INTS = [(k, d) for k, kind, d in leaf_fields() if kind is int]


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(*args):
    return subprocess.run([sys.executable, "-m", "ganscope", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


# ---- keys given twice ------------------------------------------------------------------------------
@pytest.mark.parametrize("text,key,line", [
    ("seed: 1\nseed: 2\n", "seed", 2),
    ("train:\n  steps: 10\n  log_every: 2\n  steps: 20\n", "steps", 4),
    ("sweep:\n  - {data: 1, data: 2}\n", "data", 2),
])
def test_a_key_given_twice_is_refused_with_key_and_line(tmp_path, text, key, line):
    with pytest.raises(UsageError) as err:
        load_yaml(write(tmp_path, text))
    msg = str(err.value)
    assert f"'{key}' given twice" in msg and f"line {line}" in msg and "\n" not in msg


def test_distinct_keys_and_yaml_merge_keys_still_load(tmp_path):
    data = load_yaml(write(tmp_path, "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\ntrain:\n  steps: 5\n"))
    assert data == {"base": {"x": 1, "y": 2}, "other": {"x": 3, "y": 2}, "train": {"steps": 5}}


def test_sweep_specs_refuse_a_key_given_twice(tmp_path):
    from ganscope.sweep import load_spec

    with pytest.raises(UsageError, match=r"^spec: .*'seeds' given twice \(again at line 2\)"):
        load_spec(write(tmp_path, "seeds: [0]\nseeds: [1]\n", "s.yaml"))


def test_an_override_naming_a_key_twice_is_refused():
    with pytest.raises(UsageError, match="given twice"):
        resolve({}, ["members={penalty.weight: [1], penalty.weight: [2]}"])


# ---- floats must be finite ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", FLOATS)
@pytest.mark.parametrize("value", ["nan", ".nan", "inf", "-.inf", "1e999"])
def test_every_float_field_must_be_finite(key, value):
    with pytest.raises(UsageError, match=rf"^{key}: must be finite, got "):
        resolve({}, [f"{key}={value}"])


@pytest.mark.parametrize("override,field", [
    ("members.penalty.weight=[1, nan]", "members.penalty.weight"), ("optim.d.betas=[0.5, nan]", "optim.d.betas")])
def test_list_floats_must_be_finite(override, field):
    with pytest.raises(UsageError, match=rf"^{field}: must be finite"):
        resolve({}, ["ensemble=2", override])


def test_floats_still_accept_numbers_without_a_dot():
    cfg = resolve({}, ["optim.d.lr=3e-4", "game.ema=9e-1", "optim.g.betas=[5e-1, 0.99]"])
    assert (cfg.optim.d.lr, cfg.game.ema, cfg.optim.g.betas) == (3e-4, 0.9, [0.5, 0.99])


# ---- integers in float notation ----------------------------------------------------------------------
@pytest.mark.parametrize("key,default", INTS)
def test_every_int_field_accepts_an_integer_in_float_notation(key, default):
    for text in (f"{default}e0", f"{default:.3e}", f"{default}.0"):  # a string to YAML 1.1, a float, a float
        cfg = resolve({}, [f"{key}={text}"])
        value = config.flatten(config.to_dict(cfg))[key]
        assert value == default and type(value) is int, text


@pytest.mark.parametrize("key,default", INTS)
def test_every_int_field_refuses_a_non_integer(key, default):
    for text in (f"{default}.5e0", f"{default}.5"):
        with pytest.raises(UsageError, match=rf"^{key}: must be an integer, got {default}\.5$"):
            resolve({}, [f"{key}={text}"])


def test_train_steps_1e3_is_1000_and_kept_steps_too():
    cfg = resolve({}, ["train.steps=1e3", "checkpoint.keep=[0, 5e2, 1e3]"])
    assert cfg.train.steps == 1000 and cfg.checkpoint.keep == [0, 500, 1000]
    assert all(type(k) is int for k in cfg.checkpoint.keep)
    with pytest.raises(UsageError, match=r"^checkpoint.keep: must be an integer"):
        resolve({}, ["checkpoint.keep=[2.55e1]"])


# ---- data sources --------------------------------------------------------------------------------------
def test_an_unknown_data_source_lists_every_source():
    from ganscope.data.images import IMAGE_DATASETS
    from ganscope.data.text import TEXT_DATA
    from ganscope.data.toy2d import DATASETS

    with pytest.raises(UsageError) as err:
        resolve({}, ["data.name=nope"])
    msg = str(err.value)
    assert msg.startswith("data.name: unknown data source 'nope'; allowed: ") and "\n" not in msg
    for name in (*DATASETS, *IMAGE_DATASETS, *TEXT_DATA, "folder:PATH", "text:PATH"):
        assert name in msg
    for bad in ("8gaussians:train", "", "nope:digits"):
        with pytest.raises(UsageError, match="unknown data source"):
            resolve({}, [f"data.name={bad}"])


# ---- through the command line --------------------------------------------------------------------------
@pytest.mark.parametrize("text,overrides,start", [
    ("seed: 1\ntrain:\n  steps: 3\n  steps: 4\n", [], "config: "),
    ("seed: 1\n", ["optim.d.lr=nan"], "optim.d.lr: must be finite"),
    ("seed: 1\n", ["data.name=nope"], "data.name: unknown data source 'nope'; allowed: 2-D: "),
    ("seed: 1\n", ["train.steps=1.5e0"], "train.steps: must be an integer"),
])
def test_bad_config_one_line_exit_2(tmp_path, text, overrides, start):
    res = cli("train", write(tmp_path, text), *overrides, "--out", tmp_path / "run")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and start in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "run").exists()


def test_members_need_a_batch_of_two():
    """(E, 1) logits are refused by the objectives (as a critic's (B, 1)): the config says so before training."""
    with pytest.raises(UsageError, match=r"^data.batch_size: an ensemble or RP-GAN run needs a batch of at least 2"):
        resolve({}, ["ensemble=2", "data.batch_size=1"])
    assert resolve({}, ["data.batch_size=1"]).data.batch_size == 1
