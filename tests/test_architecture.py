"""The map of the house holds: every import of the package goes to the same or a lower layer of
docs/architecture.md, and no chain of imports leads back to where it started (lazy imports included)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ganscope"


def layers() -> list[list[str]]:
    """The ``layers`` block of docs/architecture.md, lowest layer first: each line ``name: prefix prefix ...``."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```layers\n(.*?)```", text, re.S).group(1)
    rows = [line.split(":", 1)[1].split() for line in block.strip().splitlines()]
    return rows[::-1]  # the document lists the top layer first


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _known(name: str) -> str | None:
    while name not in MODULES:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


def imports(module: str) -> set[str]:
    """The package modules that ``module`` imports anywhere in its body (``from ganscope import x`` is x)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(head + ([node.module] if node.module else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found |= {_known(n) for n in names if n.startswith("ganscope")}
    return found - {None, module, "ganscope"}


def layer_of(module: str, rows) -> int:
    best = max(((len(p), i) for i, row in enumerate(rows) for p in row if module == p or module.startswith(p + ".")),
               default=None)
    assert best is not None, f"{module} is in no layer of docs/architecture.md"
    return best[1]


def test_every_module_has_a_layer_and_imports_only_downward():
    rows = layers()
    upward = [f"{m} ({layer_of(m, rows)}) imports {t} ({layer_of(t, rows)})"
              for m in sorted(MODULES) for t in sorted(imports(m)) if layer_of(t, rows) > layer_of(m, rows)]
    assert not upward, "imports into a higher layer:\n" + "\n".join(upward)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = {m: imports(m) for m in MODULES}
    # a package's __init__ that re-exports its submodules is not a cycle with them
    graph = {m: {t for t in ts if not (m.startswith(t + ".") and MODULES[t].name == "__init__.py")}
             for m, ts in graph.items()}
    assert not cycles(graph), f"import cycles: {cycles(graph)}"


def test_the_checks_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    rows = [["ganscope.errors"], ["ganscope.train"]]
    assert layer_of("ganscope.errors", rows) < layer_of("ganscope.train", rows)


def test_every_module_but_the_root_matches_a_prefix_of_its_own():
    """The root ``ganscope`` is the facade layer (it re-exports ``Monitor``) and its prefix matches every module's
    name: each other module must match a longer prefix, so that a new module is never placed by that fallback."""
    prefixes = [p for row in layers() for p in row if p != "ganscope"]
    stray = sorted(m for m in MODULES if m != "ganscope"
                   and not any(m == p or m.startswith(p + ".") for p in prefixes))
    assert not stray, f"modules in no layer of docs/architecture.md: {stray}"
