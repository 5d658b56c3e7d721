"""The doctor: the monitor's page for one checkpoint of a user's own nets (``ganscope doctor``, docs/monitor.md)."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

from ganscope import rundir
from ganscope.errors import UsageError
from ganscope.monitor.watch import Monitor, isolated_rng


def load_factory(spec: str, what: str):
    """The callable named by ``MODULE:NAME`` or ``path/file.py:NAME`` (UsageError naming ``what``)."""
    if not isinstance(spec, str) or spec.count(":") < 1 or not spec.rsplit(":", 1)[1]:
        raise UsageError(f"{what}: expected MODULE:FACTORY or FILE.py:FACTORY, got {spec!r}")
    target, name = spec.rsplit(":", 1)
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise UsageError(f"{what}: no such file {target}")
            mod_name = f"_ganscope_user_{abs(hash(str(path.resolve())))}"
            loader = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[mod_name] = module
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure in the user's module is bad input
        raise UsageError(f"{what}: cannot import {target}: {type(err).__name__}: {_first_line(err)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UsageError(f"{what}: {target} has no callable {name!r}")
    return factory


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def build_net(spec: str, what: str) -> nn.Module:
    factory = load_factory(spec, what)
    try:
        with isolated_rng(0):
            net = factory()
    except Exception as err:  # noqa: BLE001
        raise UsageError(f"{what}: {spec}() failed: {type(err).__name__}: {_first_line(err)}") from None
    if not isinstance(net, nn.Module):
        raise UsageError(f"{what}: {spec}() returned {type(net).__name__}, not an nn.Module")
    return net


def load_weights(net: nn.Module, state, key: str, path, what: str) -> None:
    if key not in state:
        keys = ", ".join(sorted(map(str, state))[:12])
        raise UsageError(f"--keys: {path} has no key {key!r} for the {what}; its keys: {keys}")
    try:
        net.load_state_dict(state[key])
    except Exception as err:  # noqa: BLE001 - shape mismatch, missing or unexpected parameters
        raise UsageError(f"--checkpoint: the {what} does not fit {path}[{key!r}]: {_first_line(err)}") from None


def doctor(generator: str, critic: str, checkpoint, data: str, out, *, keys=("generator", "critic"),
           loss: str = "nonsaturating", penalty=None, latent: int | None = None, metrics=None, batch: int = 256,
           samples: int = 1000, probe_iterations: int = 200, seed: int = 0, verbose: bool = True) -> dict:
    """The monitor's page for one training point: build the user's nets from their factories (``MODULE:NAME`` or
    ``FILE.py:NAME``, called without arguments), load ``checkpoint`` (``torch.load(..., weights_only=True)``, a
    dict holding the state dicts under ``keys``), draw ``data`` (a ganscope data source: an image data set or
    folder, or a 2-D data set name) and write diagnostics, sample metrics, the spectrum and the probe to ``out``.
    ``latent``: the latent size (default: the generator's ``latent_dim`` attribute, else its first layer's
    in_features). Returns the summary."""
    gen, critic_net = build_net(generator, "--generator"), build_net(critic, "--critic")
    path = Path(checkpoint)
    if not path.is_file():
        raise UsageError(f"--checkpoint: no such file {checkpoint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise UsageError(f"--checkpoint: {checkpoint} does not load with weights_only=True: "
                         f"{_first_line(err)}") from None
    if not isinstance(state, dict):
        raise UsageError(f"--checkpoint: {checkpoint} holds a {type(state).__name__}, expected a dict of state dicts")
    load_weights(gen, state, keys[0], path, "generator")
    load_weights(critic_net, state, keys[1], path, "critic")
    latent = latent or _latent_size(gen)
    real, reference, kind = _doctor_data(data, samples, seed)
    if metrics is None:
        metrics = ("diagnostics", "fid" if kind == "images" else "modes", "spectrum", "probe")
        metrics = tuple(m for m in metrics if not (m == "modes" and reference is None and kind != "points2d"))
    step = int(state.get("step", 0)) if isinstance(state.get("step", 0), (int, float)) else 0
    with rundir.removed_on_failure(out):
        try:
            mon = Monitor(out, gen, critic_net, real, latent, loss=loss, penalty=penalty, every=10**9,
                          metrics=metrics, reference=reference, batch=batch, samples=samples,
                          probe_iterations=probe_iterations, seed=seed, start=step, verbose=verbose)
            mon.speed, mon._last = {}, step + 1  # one point: no interval, no speeds
            mon._evaluate(step + 1, final=True)
        except RuntimeError as err:  # a latent size or an input shape the nets do not accept
            raise UsageError(f"--data: the nets fail on {data} with latents of size {latent}: "
                             f"{_first_line(err)}") from None
        return mon.close()


def _latent_size(gen: nn.Module) -> int:
    size = getattr(gen, "latent_dim", None)
    if isinstance(size, int) and size > 0:
        return size
    first = next((m for m in gen.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d))), None)
    if isinstance(first, nn.Linear):
        return first.in_features
    raise UsageError("--latent: the generator has no latent_dim attribute and does not start with a Linear layer; "
                     "pass --latent N")


def _doctor_data(data: str, n: int, seed: int):
    """(real samples, reference, kind) of a data source: an image data set or folder, or a 2-D data set."""
    from ganscope.data.images import is_image_data
    from ganscope.data.toy2d import DATASETS

    name = data.split(":", 1)[0] if isinstance(data, str) else data
    if isinstance(data, str) and name in DATASETS:
        real = DATASETS[name].sample(n, torch.Generator().manual_seed(seed))
        return real, (name if DATASETS[name].centres is not None else None), "points2d"
    if isinstance(data, str) and (is_image_data(data) or data.startswith("folder:") or Path(data).is_dir()):
        from ganscope.metrics.images import images_from_source

        return images_from_source(data if is_image_data(data) or data.startswith("folder:") else f"folder:{data}",
                                  n, seed), data, "images"
    raise UsageError(f"--data: {data!r} is neither an image data set (digits, fashion-mnist, mnist5k; :train or "
                     f":test; folder:PATH) nor a 2-D data set ({', '.join(DATASETS)})")

