"""The reproduction report: `DIR/report.json` (written by `ganscope reproduce`) to one self-contained HTML page
(`DIR/index.html`, figures inlined as data URIs, no external request) and `DIR/REPORT.md`.

`ganscope report DIR` rebuilds both from the stored results without retraining; on a directory of papers it
renders each and writes an index. A missing figure is drawn as a visible note and returned in ``problems``
(warnings, exit 0; `--strict` makes them exit 2). Schema and page: docs/report.md.
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from pathlib import Path
from urllib.parse import quote

import yaml

from ganscope.errors import UsageError
from ganscope.io import json_safe, write_json, write_text
from ganscope.pagecheck import BrowserNotFound, check_page  # noqa: F401  (re-exported for smoke tests)

VERDICTS = ("agrees", "differs", "partly", "not compared")
VERDICT_TEXT = {"agrees": "ganscope agrees with the paper", "differs": "differs", "partly": "partly agrees",
                "not compared": "not compared"}
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml"}
STR, NUM, ANY = (str,), (int, float), (str, int, float, bool, type(None))
TOP = {"paper": (STR, True), "title": (STR, True), "citation": (STR, True), "mode": (STR, True),
       "command": (STR, True), "wall_s": (NUM, True), "created": (STR, False), "sections": ((list,), True)}
SECTION = {"id": (STR, True), "title": (STR, True), "text": (STR, False), "command": (STR, False),
           "config": ((dict,), False), "figures": ((list,), False), "tables": ((list,), False),
           "comparisons": ((list,), False)}
FIGURE = {"path": (STR, True), "caption": (STR, False)}
TABLE = {"caption": (STR, False), "columns": ((list,), True), "rows": ((list,), True)}
CELL = STR + NUM + (type(None),)
COMPARISON = {"quantity": (STR, True), "paper": (CELL, True), "measured": (CELL, True),
              "verdict": (STR, True), "note": (STR, False)}
COMPARISON_COLUMNS = ["quantity", "paper", "ganscope (measured)", "verdict"]
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


# ---------------------------------------------------------------- schema

def validate(report: dict) -> dict:
    """Check ``report`` against the report.json schema; a violation is a one-line UsageError naming the field,
    e.g. ``report.json: sections[1].comparisons[0].verdict: expected one of ...``."""
    _fields(report, TOP, "")
    if report["wall_s"] < 0 or not math.isfinite(report["wall_s"]):
        _fail("wall_s", f"expected seconds ≥ 0, got {report['wall_s']!r}")
    seen = set()
    for i, sec in enumerate(report["sections"]):
        _section(sec, f"sections[{i}]")
        if sec["id"] in seen:
            _fail(f"sections[{i}].id", f"duplicate section id {sec['id']!r}")
        seen.add(sec["id"])
    return report


def _fail(field, message):
    raise UsageError(f"report.json: {field}: {message}" if field else f"report.json: {message}")


def _fields(obj, spec, where):
    if not isinstance(obj, dict):
        _fail(where, f"expected an object, got {type(obj).__name__}")
    at = f"{where}." if where else ""
    unknown = sorted(set(obj) - set(spec))
    if unknown:
        _fail(at + unknown[0], f"unknown field (allowed: {', '.join(spec)})")
    for key, (types, required) in spec.items():
        if key not in obj:
            if required:
                _fail(at + key, "missing")
        elif not isinstance(obj[key], types) or (isinstance(obj[key], bool) and bool not in types):
            names = " or ".join(dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in types))
            _fail(at + key, f"expected {names}, got {_TYPE_NAMES.get(type(obj[key]), type(obj[key]).__name__)}")


_TYPE_NAMES = {str: "string", int: "number", float: "number", list: "list", dict: "object", type(None): "null",
               bool: "boolean"}


def _section(sec, where):
    _fields(sec, SECTION, where)
    if not ID_RE.fullmatch(sec["id"]):
        _fail(f"{where}.id", f"expected letters, digits, '_', '-', '.', got {sec['id']!r}")
    for j, fig in enumerate(sec.get("figures", [])):
        _figure(fig, f"{where}.figures[{j}]")
    for j, tab in enumerate(sec.get("tables", [])):
        _table(tab, f"{where}.tables[{j}]")
    for j, comp in enumerate(sec.get("comparisons", [])):
        _fields(comp, COMPARISON, f"{where}.comparisons[{j}]")
        if comp["verdict"] not in VERDICTS:
            _fail(f"{where}.comparisons[{j}].verdict",
                  f"expected one of {', '.join(VERDICTS)}, got {comp['verdict']!r}")


def _figure(fig, where):
    _fields(fig, FIGURE, where)
    path = fig["path"]
    if os.path.isabs(path) or ".." in Path(path).parts or not path.strip():
        _fail(f"{where}.path", f"expected a path relative to the report directory, got {path!r}")
    if Path(path).suffix.lower() not in IMAGE_TYPES:
        _fail(f"{where}.path", f"expected a {', '.join(IMAGE_TYPES)} file, got {path!r}")


def _table(tab, where):
    _fields(tab, TABLE, where)
    cols = tab["columns"]
    if not cols or not all(isinstance(c, str) for c in cols):
        _fail(f"{where}.columns", "expected a non-empty list of strings")
    for k, row in enumerate(tab["rows"]):
        if not isinstance(row, list) or len(row) != len(cols):
            _fail(f"{where}.rows[{k}]", f"expected a list of {len(cols)} cells (one per column)")
        bad = next((c for c in row if not isinstance(c, ANY)), None)
        if bad is not None:
            _fail(f"{where}.rows[{k}]", f"cells are strings, numbers, booleans or null, got {type(bad).__name__}")


def write(directory, report: dict) -> Path:
    """Validate ``report`` (after ``io.json_safe``) and only then write ``directory/report.json`` atomically:
    an invalid report raises UsageError and leaves any old report.json as it was."""
    return write_json(Path(directory) / "report.json", validate(json_safe(report)))


def load(directory) -> dict:
    """Read and validate ``directory/report.json``."""
    path = Path(directory) / "report.json"
    if not path.is_file():
        raise UsageError(f"{directory}: no report.json (write one with `ganscope reproduce PAPER --out DIR`)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid JSON ({err})") from None
    return validate(report)


# ---------------------------------------------------------------- builders (the pieces of the schema above)

def section(id, title, text="", command=None, config=None, figures=(), tables=(), comparisons=()) -> dict:
    """One entry of ``sections`` (SECTION); ``command`` and ``config`` only when given."""
    out = {"id": id, "title": title, "text": text, "figures": list(figures), "tables": list(tables),
           "comparisons": list(comparisons)}
    if command:
        out["command"] = command
    if config is not None:
        out["config"] = config
    return out


def compare(quantity, paper, measured, ok, note="") -> dict:
    """One paper-vs-ganscope row (COMPARISON); ``ok`` True/False/None gives the verdict agrees/differs/not compared."""
    verdict = {True: "agrees", False: "differs", None: "not compared"}[None if ok is None else bool(ok)]
    row = {"quantity": quantity, "paper": paper, "measured": measured, "verdict": verdict}
    if note:
        row["note"] = note
    return row


def figure(directory, path, caption) -> dict:
    """A figure (FIGURE): ``path`` stored relative to the report's ``directory``, where report.json lies."""
    return {"path": str(Path(path).resolve().relative_to(Path(directory).resolve())), "caption": caption}


def table(caption, columns, rows) -> dict:
    """A table (TABLE): one list of cells per row."""
    return {"caption": caption, "columns": list(columns), "rows": [list(r) for r in rows]}


# ---------------------------------------------------------------- formatting

def fmt_cell(value) -> str:
    """A table cell: null → "—", floats to 4 significant digits, integers exact."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def verdict_counts(report: dict) -> dict:
    counts = dict.fromkeys(VERDICTS, 0)
    for sec in report["sections"]:
        for comp in sec.get("comparisons", []):
            counts[comp["verdict"]] += 1
    return counts


def verdict_sentence(comp: dict) -> str:
    note = comp.get("note")
    return VERDICT_TEXT[comp["verdict"]] + (f": {note}" if note else "")


def _counts_text(counts) -> str:
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no comparisons"


def _is_num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------- HTML

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --zebra: #f6f8fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.55;
  font: 16px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font-size: 1.9rem; margin: 0 0 .3rem; line-height: 1.25; }
h2 { font-size: 1.45rem; margin: 2.6rem 0 .8rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
p code, li code, td code { background: var(--zebra); padding: .1em .3em; border-radius: 4px; }
pre { background: var(--zebra); border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem;
  overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.summary { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; background: #fbfcfd; }
.summary dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1.2rem; margin: .8rem 0 0; }
.summary dt { color: var(--muted); } .summary dd { margin: 0; }
.cite { color: var(--muted); margin: 0; }
nav ol { margin: .4rem 0 0; padding-left: 1.4rem; }
.table-wrap { overflow-x: auto; margin: .6rem 0 1.2rem; }
table { border-collapse: collapse; width: 100%; font-size: .93rem; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 .4rem; }
th, td { border: 1px solid var(--line); padding: .4rem .6rem; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1rem 0 1.6rem; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; border: 1px solid var(--line); }
.zoom { position: absolute; opacity: 0; width: 1px; height: 1px; }
.zoom + label { display: block; cursor: zoom-in; }
.zoom:focus-visible + label img { outline: 2px solid var(--accent); }
.zoom:checked + label { position: fixed; inset: 0; z-index: 10; background: rgba(255, 255, 255, .97);
  cursor: zoom-out; padding: 1vh 1vw; }
.zoom:checked + label img { width: 100%; height: 100%; max-width: none; object-fit: contain; border: 0; }
.zoom-hint { font-size: .8rem; }
figcaption { color: var(--muted); font-size: .92rem; margin-top: .4rem; text-align: center; }
.missing { border: 2px dashed #cf222e; color: #cf222e; padding: 1.5rem; text-align: center; background: #fff5f5; }
.badge { display: inline-block; border-radius: 999px; padding: .05rem .6rem; font-size: .82rem; font-weight: 600;
  white-space: nowrap; border: 1px solid transparent; }
.v-agrees { background: #dafbe1; color: #116329; border-color: #4ac26b; }
.v-differs { background: #ffebe9; color: #a40e26; border-color: #ff8182; }
.v-partly { background: #fff8c5; color: #7d4e00; border-color: #d4a72c; }
.v-not-compared { background: #eef1f4; color: #59636e; border-color: #d1d9e0; }
.badges .badge { margin-right: .35rem; }
details { margin: .8rem 0; } summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
"""


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape, then `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _esc(text))


def text_html(text: str) -> str:
    """Markdown-light: blank-line paragraphs, `code`, and paragraphs whose lines all start with '- ' as lists."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if lines and all(ln.startswith("- ") for ln in lines):
            out.append("<ul>" + "".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines) + "</ul>")
        elif lines:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(out)


def _badge(verdict: str, label=None) -> str:
    return f'<span class="badge v-{verdict.replace(" ", "-")}">{_esc(label or verdict)}</span>'


def _badges(counts) -> str:
    if not any(counts.values()):
        return "no comparisons"
    return '<span class="badges">' + "".join(_badge(v, f"{n} {v}") for v, n in counts.items() if n) + "</span>"


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            f"style-src 'unsafe-inline'\">\n"
            f'<link rel="icon" href="data:,">\n<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n'
            f"<body>\n<main>\n{body}\n<footer>Generated by ganscope from report.json "
            f"(rebuild: <code>ganscope report DIR</code>).</footer>\n</main>\n</body>\n</html>\n")


def _table_html(columns, rows, caption=None, raw=False) -> str:
    """A table; cells are escaped unless ``raw`` (pre-built HTML)."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_td(c, raw) for c in row) + "</tr>\n" for row in rows)
    cap = f"<caption>{_inline(caption)}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}</tbody></table></div>")


def _td(cell, raw) -> str:
    if raw:
        return f"<td>{cell}</td>"
    return f'<td class="num">{_esc(fmt_cell(cell))}</td>' if _is_num(cell) else f"<td>{_inline(fmt_cell(cell))}</td>"


def _figure_html(directory: Path, fig: dict, problems: list) -> str:
    path, caption = fig["path"], fig.get("caption", "")
    cap = f"<figcaption>{_inline(caption)}</figcaption>" if caption else ""
    file = directory / path
    if not file.is_file():
        problems.append(f"missing figure: {path}")
        return f'<figure><div class="missing">missing figure: {_esc(path)}</div>{cap}</figure>'
    data = base64.b64encode(file.read_bytes()).decode("ascii")
    mime = IMAGE_TYPES[file.suffix.lower()]
    return _zoomable(f'<img src="data:{mime};base64,{data}" alt="{_esc(caption or path)}">', caption, path)


def _zoomable(img: str, caption: str, path: str) -> str:
    """A figure that enlarges to the window when clicked and shrinks back on a second click: a hidden checkbox
    and its label, CSS only (the page's content-security policy allows no script; browsers block navigating to a
    data: URI, so a link to the image would not open)."""
    key = "zoom-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)
    hint = '<span class="zoom-hint">(click the figure to enlarge)</span>'
    cap = f"<figcaption>{_inline(caption)} {hint}</figcaption>" if caption else f"<figcaption>{hint}</figcaption>"
    return (f'<figure><input type="checkbox" class="zoom" id="{_esc(key)}" aria-label="enlarge figure">'
            f'<label for="{_esc(key)}">{img}</label>{cap}</figure>')


def _comparisons_html(comps) -> str:
    rows = [[_inline(c["quantity"]), _inline(fmt_cell(c["paper"])), _inline(fmt_cell(c["measured"])),
             f"{_badge(c['verdict'])} {_inline(verdict_sentence(c))}"] for c in comps]
    return _table_html(COMPARISON_COLUMNS, rows, raw=True)


def _config_text(config) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip()


def _section_html(directory, n, sec, problems) -> str:
    parts = [f'<section id="{_esc(sec["id"])}">', f"<h2>{n}. {_esc(sec['title'])}</h2>"]
    if sec.get("text"):
        parts.append(text_html(sec["text"]))
    parts += [_figure_html(directory, fig, problems) for fig in sec.get("figures", [])]
    parts += [_table_html(t["columns"], t["rows"], t.get("caption")) for t in sec.get("tables", [])]
    if sec.get("comparisons"):
        parts += ["<h3>Paper vs ganscope</h3>", _comparisons_html(sec["comparisons"])]
    if "config" in sec:
        parts.append(f"<details><summary>Config (YAML)</summary><pre><code>{_esc(_config_text(sec['config']))}"
                     "</code></pre></details>")
    if sec.get("command"):
        parts += ["<h3>Regenerate this section</h3>", f"<pre><code>{_esc(sec['command'])}</code></pre>"]
    return "\n".join(parts + ["</section>"])


def _summary_html(report, counts, problems) -> str:
    rows = [("paper", f"<code>{_esc(report['paper'])}</code>"), ("mode", _esc(report["mode"])),
            ("wall time", _esc(fmt_duration(report["wall_s"]))),
            ("verdicts", _badges(counts))]
    if report.get("created"):
        rows.insert(3, ("created", _esc(report["created"])))
    if problems:
        rows.append(("problems", f'<span class="badge v-differs">{len(problems)}</span> '
                                 + _esc("; ".join(problems))))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<div class="summary"><h1>{_esc(report["title"])}</h1><p class="cite">{_esc(report["citation"])}</p>'
            f"<dl>{dl}</dl><h3>Regenerate everything</h3><pre><code>{_esc(report['command'])}</code></pre></div>")


def _toc_html(report) -> str:
    items = "".join(f'<li><a href="#{_esc(s["id"])}">{_esc(s["title"])}</a> '
                    f"{_badges(verdict_counts({'sections': [s]})) if s.get('comparisons') else ''}</li>"
                    for s in report["sections"])
    return f"<nav><h3>Contents</h3><ol>{items}</ol></nav>"


def render_html(directory, report) -> tuple[str, list]:
    """The page and its problems (missing figures)."""
    directory, problems = Path(directory), []
    sections = [_section_html(directory, i, s, problems) for i, s in enumerate(report["sections"], 1)]
    head = _summary_html(report, verdict_counts(report), problems)
    body = "\n".join([head, _toc_html(report), *sections])
    return _page(f"{report['title']} · ganscope reproduction", body), problems


# ---------------------------------------------------------------- Markdown

def _md_cell(value) -> str:
    return fmt_cell(value).replace("|", "\\|").replace("\n", " ")


def md_table(columns, rows) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |",
             "|" + "".join("---:|" if rows and all(_is_num(r[i]) or r[i] is None for r in rows) else "---|"
                           for i in range(len(columns)))]
    return "\n".join(lines + ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows])


def _section_md(directory, n, sec) -> list[str]:
    out = [f"## {n}. {sec['title']}", ""]
    if sec.get("text"):
        out += [sec["text"].strip(), ""]
    for fig in sec.get("figures", []):
        cap = fig.get("caption", "")
        if (Path(directory) / fig["path"]).is_file():
            alt = re.sub(r"([\[\]])", r"\\\1", cap or fig["path"])
            out += [f"![{alt}]({quote(fig['path'])})", ""]
        else:
            out += [f"**missing figure:** `{fig['path']}`", ""]
        out += [f"*{cap}*", ""] if cap else []
    for tab in sec.get("tables", []):
        out += [f"**{tab['caption']}**", ""] if tab.get("caption") else []
        out += [md_table(tab["columns"], tab["rows"]), ""]
    if sec.get("comparisons"):
        rows = [[c["quantity"], c["paper"], c["measured"], f"**{c['verdict']}** — {verdict_sentence(c)}"]
                for c in sec["comparisons"]]
        out += ["### Paper vs ganscope", "", md_table(COMPARISON_COLUMNS, rows), ""]
    if "config" in sec:
        out += ["<details><summary>Config (YAML)</summary>", "", "```yaml", _config_text(sec["config"]), "```", "",
                "</details>", ""]
    if sec.get("command"):
        out += ["Regenerate this section:", "", "```sh", sec["command"], "```", ""]
    return out


def render_markdown(directory, report) -> str:
    counts = verdict_counts(report)
    out = [f"# {report['title']}", "", f"*{report['citation']}*", "",
           f"- **paper:** `{report['paper']}`", f"- **mode:** {report['mode']}",
           f"- **wall time:** {fmt_duration(report['wall_s'])}"]
    out += [f"- **created:** {report['created']}"] if report.get("created") else []
    out += [f"- **verdicts:** {_counts_text(counts)}", "", "Regenerate everything:", "", "```sh",
            report["command"], "```", ""]
    for i, sec in enumerate(report["sections"], 1):
        out += _section_md(directory, i, sec)
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- entry points

def render(directory) -> dict:
    """Write ``directory/index.html`` and ``directory/REPORT.md`` from ``directory/report.json``.

    Returns {"html": path, "markdown": path, "problems": [...]} (problems: missing figures).
    """
    directory = Path(directory)
    report = load(directory)
    page, problems = render_html(directory, report)
    return {"html": write_text(directory / "index.html", page),
            "markdown": write_text(directory / "REPORT.md", render_markdown(directory, report)),
            "problems": problems}


def write_index(root, paper_dirs) -> dict:
    """ROOT/index.html and ROOT/REPORT.md: one row per paper directory, linking its page, with verdicts and time."""
    root, rows, problems = Path(root), [], []
    for d in map(Path, paper_dirs):
        report = load(d)
        link = os.path.relpath(d / "index.html", root).replace(os.sep, "/")
        if not (d / "index.html").is_file():
            problems.append(f"no page yet: {link} (run `ganscope report {d}`)")
        rows.append((report, link, verdict_counts(report)))
    total = sum(r["wall_s"] for r, _, _ in rows)
    totals = {v: sum(c[v] for _, _, c in rows) for v in VERDICTS}
    return {"html": write_text(root / "index.html", _index_html(rows, total, totals)),
            "markdown": write_text(root / "REPORT.md", _index_md(rows, total, totals)),
            "problems": problems}


def _index_html(rows, total, totals) -> str:
    table = [[f'<a href="{_esc(quote(link))}">{_esc(r["title"])}</a><br><code>{_esc(r["paper"])}</code>',
              _esc(r["citation"]), _esc(r["mode"]), _esc(fmt_duration(r["wall_s"])), _badges(c)]
             for r, link, c in rows]
    body = (f'<div class="summary"><h1>ganscope reproductions</h1><p class="cite">{len(rows)} papers, '
            f"{_esc(fmt_duration(total))} of section time in all (sections can run side by side)</p><dl><dt>verdicts</dt><dd>{_badges(totals)}</dd></dl></div>\n"
            + _table_html(["paper", "citation", "mode", "wall time", "verdicts"], table, raw=True))
    return _page("ganscope reproductions", body)


def _index_md(rows, total, totals) -> str:
    table = [[f"[{r['title']}]({quote(link)}) (`{r['paper']}`)", r["citation"], r["mode"],
              fmt_duration(r["wall_s"]), _counts_text(c)] for r, link, c in rows]
    return "\n".join(["# ganscope reproductions", "", f"{len(rows)} papers, {fmt_duration(total)} of section time in all (sections can run side by side); "
                      f"verdicts: {_counts_text(totals)}.", "",
                      md_table(["paper", "citation", "mode", "wall time", "verdicts"], table), ""])


def build(path) -> dict:
    """Render ``path`` if it holds report.json, else every subdirectory that does, plus the index.

    Returns {"pages": [html paths], "index": html path or None, "problems": [...]}.
    """
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory")
    if (path / "report.json").exists():
        done = render(path)
        return {"pages": [done["html"]], "index": None, "problems": done["problems"]}
    papers = sorted(d for d in path.iterdir() if (d / "report.json").is_file())
    if not papers:
        raise UsageError(f"{path}: no report.json here or in its subdirectories "
                         "(write one with `ganscope reproduce PAPER --out DIR`)")
    done = [render(d) for d in papers]
    problems = [f"{d.name}/{p}" for d, r in zip(papers, done) for p in r["problems"]]
    index = write_index(path, papers)
    return {"pages": [r["html"] for r in done], "index": index["html"], "problems": problems + index["problems"]}
