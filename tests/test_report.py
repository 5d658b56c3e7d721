"""The reproduction report: schema, HTML/Markdown rendering, `ganscope report`, and the page in a real browser."""
import base64
import copy
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from ganscope import cli, report
from ganscope.errors import UsageError
from ganscope.pagecheck import check_page, find_browser, load_page, static_problems

needs_browser = pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome binary on PATH (Debian: "
                                   "apt-get install chromium; `make venv` does it as root; or set GANSCOPE_CHROMIUM)")

REPORT = {
    "paper": "mescheder2018", "title": "Which Training Methods for GANs do actually Converge? <em>&</em>",
    "citation": "Mescheder, Geiger, Nowozin. ICML 2018.", "mode": "quick",
    "command": "ganscope reproduce mescheder2018 --quick --out DIR", "wall_s": 123.4,
    "created": "2026-11-23T12:00:00Z",
    "sections": [
        {"id": "dirac", "title": "The Dirac-GAN",
         "text": "Plain GAN training spirals out; `r1` pulls it in.\n\nSecond <paragraph> with a | pipe.",
         "command": "ganscope dirac --all --out DIR/dirac", "config": {"h": 0.1, "methods": ["none", "r1"]},
         "figures": [{"path": "dirac/phase.png", "caption": "Phase portrait"}],
         "tables": [{"caption": "Spectral radii", "columns": ["method", "rho", "steps"],
                     "rows": [["none", 1.004987562, 1000], ["r1", 0.98765432, None], ["clip", 2.5e-7, 12]]}],
         "comparisons": [
             {"quantity": "SimGD, unregularised", "paper": "does not converge", "measured": "diverges (ρ=1.005)",
              "verdict": "agrees"},
             {"quantity": "R1, γ = 0.3", "paper": "converges", "measured": "converges", "verdict": "agrees"}]},
        {"id": "toy2d", "title": "Mixture of Gaussians",
         "text": "- eight modes\n- 2-D MLPs",
         "figures": [{"path": "toy2d/samples.png", "caption": "Samples [after 1k steps]"}],
         "comparisons": [
             {"quantity": "modes covered", "paper": 8, "measured": 7, "verdict": "partly", "note": "one mode short"},
             {"quantity": "W1", "paper": "small", "measured": 0.0312345, "verdict": "differs", "note": "quick mode"},
             {"quantity": "FID", "paper": 30.1, "measured": None, "verdict": "not compared",
              "note": "no Inception weights offline"}]},
    ],
}
N_COMPARISONS = 5


def png(path, size, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, colour)
    img.paste((255, 255, 255), (5, 5, size[0] // 2, size[1] // 2))
    img.save(path)


def make_report(directory, rep=REPORT, figures=True):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(rep))
    if figures:
        png(directory / "dirac/phase.png", (64, 48), (30, 90, 200))
        png(directory / "toy2d/samples.png", (40, 40), (200, 60, 30))
    return directory


def run_cli(argv, monkeypatch):
    """`ganscope ...` through cli.main."""
    return cli.main(argv)


def data_images(page):
    return re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)


# ---------------------------------------------------------------- rendering

def test_render_html_self_contained(tmp_path):
    done = report.render(make_report(tmp_path))
    assert done["problems"] == []
    page = done["html"].read_text()
    assert "<em>" not in page and "&lt;em&gt;&amp;&lt;/em&gt;" in page  # escaped
    assert "&lt;paragraph&gt;" in page and "<code>r1</code>" in page
    assert static_problems(page) == []
    sizes = [Image.open(io.BytesIO(base64.b64decode(d))).size for d in data_images(page)]
    assert sizes == [(64, 48), (40, 40)]
    assert not re.search(r'(src|href)="(https?:|//)', page)
    for needle in ("ganscope agrees with the paper", "partly agrees: one mode short", "differs: quick mode",
                   "not compared: no Inception weights offline", "2 min 03 s", "2 agrees", "1 differs",
                   "<details><summary>Config (YAML)</summary>", "<pre><code>ganscope dirac --all --out DIR/dirac",
                   "ganscope reproduce mescheder2018 --quick --out DIR", '<td class="num">1.005</td>',
                   '<td class="num">2.5e-07</td>', '<td class="num">1000</td>', "<td>—</td>", "<li>eight modes</li>"):
        assert needle in page, needle


def test_markdown(tmp_path):
    md = report.render(make_report(tmp_path))["markdown"].read_text()
    rows = [ln for ln in md.splitlines() if re.match(r"\| .* \| \*\*(agrees|differs|partly|not compared)\*\*", ln)]
    assert len(rows) == N_COMPARISONS
    assert "![Phase portrait](dirac/phase.png)" in md and r"![Samples \[after 1k steps\]](toy2d/samples.png)" in md
    assert "| none | 1.005 | 1000 |" in md and "| r1 | 0.9877 | — |" in md
    assert "|---|---:|---:|" in md
    assert "```yaml\nh: 0.1\nmethods:\n- none\n- r1\n```" in md


def test_fmt_cell():
    assert [report.fmt_cell(v) for v in (None, 1.23456789, 123456.7, 42, True, "x", 1e-9)] == \
        ["—", "1.235", "1.235e+05", "42", "yes", "x", "1e-09"]


def test_rebuild_is_idempotent(tmp_path):
    make_report(tmp_path)
    first = report.render(tmp_path)
    before = first["html"].read_bytes(), first["markdown"].read_bytes()
    again = report.render(tmp_path)
    assert (again["html"].read_bytes(), again["markdown"].read_bytes()) == before


def test_missing_figure(tmp_path, monkeypatch, capsys):
    make_report(tmp_path)
    (tmp_path / "toy2d/samples.png").unlink()
    done = report.render(tmp_path)
    assert done["problems"] == ["missing figure: toy2d/samples.png"]
    assert "missing figure: toy2d/samples.png" in done["html"].read_text()
    assert "**missing figure:** `toy2d/samples.png`" in done["markdown"].read_text()
    assert run_cli(["report", str(tmp_path)], monkeypatch) == 0
    assert "warning: missing figure: toy2d/samples.png" in capsys.readouterr().err
    assert run_cli(["report", str(tmp_path), "--strict"], monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --strict: 1 problem(s)")


def test_cli_without_report_json(tmp_path, monkeypatch, capsys):
    assert run_cli(["report", str(tmp_path)], monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no report.json here or in its subdirectories" in err
    with pytest.raises(UsageError, match="no such directory"):
        report.build(tmp_path / "nope")
    with pytest.raises(UsageError, match="no report.json"):
        report.render(tmp_path)
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        report.render(tmp_path)


def test_index_of_papers(tmp_path, monkeypatch, capsys):
    other = copy.deepcopy(REPORT)
    other.update(paper="arjovsky2017", title="Towards Principled Methods", wall_s=4000.0)
    other["sections"] = [{"id": "jsd", "title": "JSD saturates",
                          "comparisons": [{"quantity": "JSD", "paper": "log 2", "measured": 0.6931,
                                           "verdict": "agrees"}]}]
    make_report(tmp_path / "mescheder2018")
    make_report(tmp_path / "arjovsky2017", other, figures=False)
    assert run_cli(["report", str(tmp_path)], monkeypatch) == 0
    assert "wrote" in capsys.readouterr().out
    index = (tmp_path / "index.html").read_text()
    assert '<a href="arjovsky2017/index.html">' in index and '<a href="mescheder2018/index.html">' in index
    assert "3 agrees" in index and "1 h 08 min" in index  # totals: 2 + 1 agree; 4123.4 s
    md = (tmp_path / "REPORT.md").read_text()
    assert "[Towards Principled Methods](arjovsky2017/index.html)" in md and "1 agrees" in md
    assert (tmp_path / "arjovsky2017/index.html").is_file() and (tmp_path / "mescheder2018/REPORT.md").is_file()


# ---------------------------------------------------------------- schema

def _bad(path, value):
    rep = copy.deepcopy(REPORT)
    *keys, last = path
    obj = rep
    for k in keys:
        obj = obj[k]
    if value is KeyError:
        del obj[last]
    else:
        obj[last] = value
    return rep


@pytest.mark.parametrize("path, value, message", [
    (("paper",), KeyError, "report.json: paper: missing"),
    (("wall_s",), "fast", "report.json: wall_s: expected number, got string"),
    (("wall_s",), True, "report.json: wall_s: expected number, got boolean"),
    (("wall_s",), -1, "report.json: wall_s: expected seconds ≥ 0"),
    (("sections",), {}, "report.json: sections: expected list, got object"),
    (("extra",), 1, "report.json: extra: unknown field"),
    (("sections", 0, "id"), "two words", "sections[0].id: expected letters"),
    (("sections", 1, "id"), "dirac", "sections[1].id: duplicate section id 'dirac'"),
    (("sections", 0, "figure"), [], "sections[0].figure: unknown field"),
    (("sections", 0, "figures", 0, "path"), "/abs/x.png", "sections[0].figures[0].path: expected a path relative"),
    (("sections", 0, "figures", 0, "path"), "../x.png", "sections[0].figures[0].path: expected a path relative"),
    (("sections", 0, "figures", 0, "path"), "x.pdf", "sections[0].figures[0].path: expected a .png, .jpg"),
    (("sections", 0, "tables", 0, "rows", 1), [1], "sections[0].tables[0].rows[1]: expected a list of 3 cells"),
    (("sections", 0, "tables", 0, "rows", 1), [1, 2, [3]], "sections[0].tables[0].rows[1]: cells are strings"),
    (("sections", 0, "tables", 0, "columns"), [], "sections[0].tables[0].columns: expected a non-empty list"),
    (("sections", 1, "comparisons", 0, "verdict"), "yes", "sections[1].comparisons[0].verdict: expected one of "
                                                          "agrees, differs, partly, not compared, got 'yes'"),
    (("sections", 1, "comparisons", 0, "quantity"), KeyError,
     "report.json: sections[1].comparisons[0].quantity: missing"),
])
def test_validate_rejects(path, value, message):
    with pytest.raises(UsageError) as err:
        report.validate(_bad(path, value))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_validate_accepts_minimal():
    report.validate({**{k: REPORT[k] for k in ("paper", "title", "citation", "mode", "command", "wall_s")},
                     "sections": [{"id": "a", "title": "A"}]})


def test_write_validates_before_writing(tmp_path):
    assert report.write(tmp_path, REPORT) == tmp_path / "report.json"
    before = (tmp_path / "report.json").read_bytes()
    assert report.load(tmp_path) == REPORT
    with pytest.raises(UsageError, match=r"^report.json: sections\[1\].comparisons\[0\].verdict: expected one of"):
        report.write(tmp_path, _bad(("sections", 1, "comparisons", 0, "verdict"), "yes"))
    assert (tmp_path / "report.json").read_bytes() == before  # the old report intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary left behind
    fresh = tmp_path / "fresh"
    with pytest.raises(UsageError, match="wall_s: missing"):
        report.write(fresh, _bad(("wall_s",), KeyError))
    assert not fresh.exists()  # refused before anything, even the directory, is made


def test_write_stores_numpy_values_as_json(tmp_path):
    rep = _bad(("wall_s",), np.float64(2.5))
    rep["sections"][1]["comparisons"][1]["measured"] = np.float32(np.nan)
    report.write(tmp_path, rep)
    stored = json.loads((tmp_path / "report.json").read_text())
    assert stored["wall_s"] == 2.5 and stored["sections"][1]["comparisons"][1]["measured"] is None


def test_builders_make_valid_pieces(tmp_path):
    fig = report.figure(tmp_path, tmp_path / "a" / "b.png", "caption")
    assert fig == {"path": "a/b.png", "caption": "caption"}
    sec = report.section("s1", "S", "text", command="ganscope train toy2d --out DIR", config={"k": 1},
                         figures=[fig], tables=[report.table("t", ("x", "y"), [(1, None)])],
                         comparisons=[report.compare("q", 1, 2, True), report.compare("r", "a", "b", False, "n"),
                                      report.compare("s", "a", None, None)])
    assert [c["verdict"] for c in sec["comparisons"]] == ["agrees", "differs", "not compared"]
    assert sec["tables"][0]["rows"] == [[1, None]] and sec["comparisons"][1]["note"] == "n"
    assert "command" not in report.section("s2", "S2") and "config" not in report.section("s2", "S2")
    top = {k: REPORT[k] for k in ("paper", "title", "citation", "mode", "command", "wall_s")}
    report.validate({**top, "sections": [sec]})
    from ganscope.reproduce import common

    assert common.section is report.section and common.compare is report.compare and common.table is report.table
    assert common.figure(common.Context(tmp_path), tmp_path / "a" / "b.png", "caption") == fig
    with pytest.raises(ValueError):
        report.figure(tmp_path / "a", tmp_path / "b.png", "outside the report directory")


# ---------------------------------------------------------------- the browser check

BROKEN = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head><body>
<p>text</p><img src="nothere.png" alt="a missing file"><img src="data:image/png;base64,iVBORw0KGgo=" alt="truncated">
<script>undefinedFunction();</script></body></html>"""


def test_static_check_flags_broken_page():
    problems = static_problems(BROKEN)
    assert any("external resource: <img src='nothere.png'>" in p for p in problems)
    assert any("does not decode" in p for p in problems)


@needs_browser
def test_page_in_browser(tmp_path):
    done = report.render(make_report(tmp_path / "mescheder2018"))
    shot = tmp_path / "shot.png"
    state = load_page(done["html"], screenshot=shot)  # check_page = static_problems + this load's problems
    assert static_problems(done["html"].read_text()) == [] and state["problems"] == []
    assert state["title"] == REPORT["title"] + " · ganscope reproduction"
    assert REPORT["title"] in state["text"] and "Mixture of Gaussians" in state["text"]  # escaped text shows as typed
    assert [(i["width"], i["height"]) for i in state["images"]] == [(64, 48), (40, 40)]
    with Image.open(shot) as img:
        assert img.width >= 1000 and len(np.unique(np.asarray(img.convert("L")))) > 10  # something was drawn
    index = report.build(tmp_path)["index"]
    assert check_page(index) == []


@needs_browser
def test_browser_check_can_fail(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(BROKEN)
    problems = check_page(page)
    assert any(p.startswith("JavaScript error: ReferenceError") for p in problems), problems
    assert any("image did not render: 'a missing file'" in p for p in problems), problems
    assert any("image did not render: 'truncated'" in p for p in problems), problems
    assert any("request besides the page itself" in p and "nothere.png" in p for p in problems), problems


def test_html_figures_enlarge_and_commands_wrap(tmp_path):
    page = report.render(make_report(tmp_path))["html"].read_text()
    boxes = re.findall(r'<input type="checkbox" class="zoom" id="([^"]+)"[^>]*><label for="([^"]+)"><img src="data:',
                       page)
    assert len(boxes) == 2 and all(a == b for a, b in boxes) and len({a for a, _ in boxes}) == 2
    assert ".zoom:checked + label { position: fixed;" in page and "object-fit: contain" in page
    assert "white-space: pre-wrap; overflow-wrap: anywhere;" in page and "white-space: pre;" not in page
    assert "default-src 'none'; img-src data:; style-src 'unsafe-inline'" in page and "<script" not in page
    assert static_problems(page) == []
