"""The installable package: the wheel ships every config, sweep spec and asset, and works from an empty directory
with nothing but the wheel's files on the path; no module resolves a path outside the package."""
import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ganscope

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ganscope"
DATA_DIRS = ("configs", "assets", "lab/static")  # package data: the shipped YAML (configs/, configs/sweeps/), assets/
# and the lab's page (lab/static/)


def data_files() -> list[str]:
    """Every shipped data file of the source tree, as a path inside the wheel (ganscope/configs/toy2d.yaml, ...)."""
    files = [p for d in DATA_DIRS for p in (PACKAGE / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(str(p.relative_to(ROOT).as_posix()) for p in files)


def _modern_setuptools() -> bool:
    """setuptools >= 70.1 builds wheels by itself (bdist_wheel without the `wheel` package)."""
    try:
        import setuptools
    except ImportError:
        return False
    return tuple(int(x) for x in re.findall(r"\d+", setuptools.__version__)[:2]) >= (70, 1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel --no-deps` of a copy of the source (no build/ or egg-info of earlier builds can leak in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "ganscope", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Without build isolation when this environment's setuptools can build (offline, fast); else pip fetches it.
    flags = ["--no-build-isolation", "--no-index"] if _modern_setuptools() else []
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *flags, "-w", str(tmp / "dist"),
                          str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    (built,) = (tmp / "dist").glob("ganscope-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel unpacked (what pip install puts in site-packages) and a runner of `python -m ganscope` that sees
    only it, from an empty working directory."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    empty = tmp_path_factory.mktemp("empty")
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}

    def run(*args, module=True):
        cmd = [sys.executable, "-m", "ganscope", *args] if module else [sys.executable, *args]
        return subprocess.run(cmd, cwd=empty, env=env, capture_output=True, text=True, timeout=120)

    return site, empty, run


def test_wheel_ships_every_config_spec_and_asset(wheel):
    expected = data_files()
    assert {"ganscope/configs/toy2d.yaml", "ganscope/configs/sweeps/toy2d_methods.yaml",
            "ganscope/assets/fmnist_cnn.pt", "ganscope/lab/static/index.html", "ganscope/lab/static/lab.js",
            "ganscope/lab/static/lab.css"} <= set(expected)  # the source tree has them where the package reads
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        missing = [p for p in expected if p not in names]
        assert not missing, f"not in the wheel: {missing}"
        assert all(zf.read(p) == (ROOT / p).read_bytes() for p in expected)
    assert wheel.name == f"ganscope-{ganscope.__version__}-py3-none-any.whl"  # one version: ganscope.__version__


def test_installed_package_works_from_an_empty_directory(installed):
    site, empty, run = installed
    where = run("-c", "import ganscope, ganscope.shipped as s; from ganscope.reproduce.common import config_of; "
                "print(ganscope.__file__, s.configs()[0], config_of('mode_collapse').data.name)", module=False)
    assert where.returncode == 0, where.stderr
    *paths, data = where.stdout.split()  # the reproductions' configs too (the issue: a "failed" section)
    assert all(Path(p).is_relative_to(site) for p in paths) and data == "25gaussians"  # the wheel's copy
    version = run("--version")
    assert version.returncode == 0 and version.stdout == f"ganscope {ganscope.__version__}\n"
    listing = run("train", "--list")
    assert listing.returncode == 0, listing.stderr
    listed = {line.split()[0] for line in listing.stdout.splitlines() if line.startswith("  ")}
    shipped = {Path(p).stem for p in data_files() if p.endswith(".yaml")}
    assert shipped <= listed and {"toy2d", "mode_collapse", "toy2d_methods"} <= shipped
    dry = run("sweep", "toy2d_methods", "--dry-run", "--out", "X")
    assert dry.returncode == 0, dry.stderr
    assert "9 runs (0 done), 3 jobs to train" in dry.stdout
    missing = run("sweep", "nope", "--dry-run", "--out", "X")
    assert missing.returncode == 2 and "shipped: rp_fashion, toy2d_methods" in missing.stderr
    assert sorted(os.listdir(empty)) == []  # a dry run writes nothing


def test_installed_lab_starts_from_an_empty_directory(installed):
    """`ganscope lab` from the wheel's files: it says where it listens (127.0.0.1), serves the page, its assets and
    the API, stops on Ctrl-C, and writes nothing."""
    import signal
    import urllib.request

    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    site, empty, run = installed
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganscope", "lab", "--no-browser", "--port", "0"], cwd=empty,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"ganscope lab on (http://127\.0\.0\.1:\d+/) \(bound to 127\.0\.0\.1: this machine only\)",
                          line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        url = match.group(1)
        for path in ("", "static/lab.js", "static/lab.css", "api/options", "api/dirac?reg=r1"):
            with urllib.request.urlopen(url + path, timeout=60) as res:
                assert res.status == 200 and res.headers["content-security-policy"].startswith("default-src 'none'")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert sorted(os.listdir(empty)) == []


# ---- nothing in the package resolves a path outside itself ------------------------------------------------------
def _docstrings(tree) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))]
    return {id(n.body[0].value) for n in nodes
            if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _hops(node) -> int | None:
    """How many directories up from ``__file__`` an expression goes (``Path(__file__).resolve().parent.parent``: 2,
    ``.parents[1]``: 2, ``os.path.dirname(os.path.dirname(__file__))``: 2); None if it is not built on __file__."""
    if isinstance(node, ast.Name):
        return 0 if node.id == "__file__" else None
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = _hops(node.value)
        return None if inner is None else inner + 1
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
        inner, index = _hops(node.value.value), node.slice
        if inner is not None and isinstance(index, ast.Constant) and isinstance(index.value, int):
            return inner + index.value + 1
        return None
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("resolve", "absolute") and isinstance(func, ast.Attribute):
            return _hops(func.value)
        if name in ("Path", "PurePath", "abspath", "realpath", "dirname") and len(node.args) == 1:
            inner = _hops(node.args[0])
            return None if inner is None else inner + (name == "dirname")
    return None


REPO_PATH = re.compile(r"(?<![\w/.])(\.\.?/)*configs/")  # "configs/x.yaml", f"... configs/{name}.yaml" as a path


def outside_paths(source: str, module: str) -> list[str]:
    """Places in ``source`` (the module at ``module``, e.g. "ganscope/metrics/x.py") that reach outside the package:
    a ``__file__``-relative path above ``ganscope/``, a repository path ``configs/...`` in a string, or a
    ``... / "configs"`` join anywhere but ganscope/shipped.py (the one owner of the shipped configs)."""
    tree, depth = ast.parse(source), len(Path(module).parts)  # __file__ up `depth` directories: the repository
    docs, found, seen = _docstrings(tree), [], set()
    for node in ast.walk(tree):
        hops = None if id(node) in seen else _hops(node)
        if hops:
            seen.update(id(n) for n in ast.walk(node))  # report the outermost expression only
            if hops >= depth:
                found.append(f"{module}:{node.lineno}: {ast.unparse(node)} is outside the package")
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            seen.update(id(v) for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs | seen:
            text = node.value
        else:
            text = ""
        if REPO_PATH.search(text):
            found.append(f"{module}:{node.lineno}: {text!r} names a repository path")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and module != "ganscope/shipped.py":
            if any(isinstance(s, ast.Constant) and s.value == "configs" for s in (node.left, node.right)):
                found.append(f"{module}:{node.lineno}: {ast.unparse(node)} bypasses ganscope.shipped")
    return found


def test_no_module_resolves_a_path_outside_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        found += outside_paths(path.read_text(encoding="utf-8"), module)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("module, source, bad", [
    ("ganscope/presets.py", 'CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"', True),
    ("ganscope/metrics/extractors.py", 'ASSETS = Path(__file__).resolve().parent.parent / "assets"', False),
    ("ganscope/metrics/extractors.py", 'ROOT = Path(__file__).resolve().parents[2]', True),
    ("ganscope/metrics/extractors.py", 'HERE = Path(__file__).parents[1] / "assets"', False),
    ("ganscope/x.py", 'ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))', True),
    ("ganscope/x.py", 'HERE = os.path.dirname(__file__)', False),
    ("ganscope/reproduce/common.py", 'cmd = f"ganscope train configs/{name}.yaml --out {out}"', True),
    ("ganscope/reproduce/common.py", 'cfg = load_yaml("configs/mode_collapse.yaml")', True),
    ("ganscope/reproduce/common.py", 'spec = Path("./configs/sweeps") / name', True),
    ("ganscope/reproduce/common.py", 'cmd = f"ganscope train {name} --out {out}"', False),
    ("ganscope/reproduce/common.py", '"""Reads ganscope/configs/NAME.yaml and configs/ of the repo."""', False),
    ("ganscope/reproduce/common.py", 'msg = "the shipped ganscope/configs/toy2d.yaml"', False),
    ("ganscope/sweep.py", 'spec = root / "configs" / name', True),
    ("ganscope/shipped.py", 'root = files("ganscope") / "configs"', False),
    ("ganscope/sweep.py", 'configs = {}; configs.setdefault("a", [])', False),
])
def test_outside_path_check_can_fail(module, source, bad):
    assert bool(outside_paths(source, module)) == bad
