"""The lab in a real headless Chromium (Playwright for Python driving the system's chromium; no browser download):
the Dirac pane shows what `ganscope dirac --json` prints for the settings in its URL, before and after controls
move; bad input shows the server's message; a training starts, streams, W1 falls, and it pauses; no console
error and no request leaves the server. Skipped, with the reason, where Playwright or Chromium is missing."""
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from ganscope.pagecheck import find_browser

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                               "(pip install playwright; it drives the system's chromium, no browser download)")
BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome on PATH (Debian: apt-get install "
                                "chromium; or set GANSCOPE_CHROMIUM): the lab's browser tests need one")

from ganscope.cli import main  # noqa: E402
from ganscope.lab import dirac_api  # noqa: E402
from ganscope.lab.app import create_app  # noqa: E402
from ganscope.lab.server import running  # noqa: E402

START = "?loss=standard&reg=r1&gamma=0.3&scheme=altgd&h=0.1"  # the example link
TIMEOUT_MS = 90_000
STEPS = 100  # the training criterion of tests/test_lab_training.py: W1 below half its start by step STEPS
FACTOR = 0.5


@pytest.fixture(scope="module")
def lab_page():
    with running(create_app(cap=4, idle_s=10.0)) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=BROWSER, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1320, "height": 1500})
        problems, requests = [], []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
                if m.type == "error" and not expected_refusal(m) else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: requests.append(r.url))
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url + START)
        page.wait_for_selector("body[data-ready='1']")
        yield page, url, problems, requests
        browser.close()


BAD_GAMMA = "gamma=-1"  # the one bad input the tests type


def expected_refusal(message) -> bool:
    """Chromium logs every 4xx answer as a console error: the 400 for the test's own bad γ is expected."""
    return "status of 400" in message.text and BAD_GAMMA in (message.location.get("url") or "")


def cli(capsys, args) -> dict:
    capsys.readouterr()
    assert main(["dirac", *args]) == 0
    return json.loads(capsys.readouterr().out)


def shown(page) -> dict:
    return page.evaluate("""() => Object.fromEntries(["d-eigs", "d-upd", "d-rho", "d-maxstep", "d-local", "d-traj"]
        .map((id) => [id, {text: document.getElementById(id).textContent,
                           value: JSON.parse(document.getElementById(id).dataset.value)}]))""")


def numbers_in(text) -> list[float]:
    """The numbers a cell shows ("+0.9063-0.4227i, ..." or "0.984886"), in order."""
    import re

    return [float(x) for x in re.findall(r"[+-]?\d+\.\d+", text)]


def same_to_shown_digits(text, values, digits):
    """The cell's text shows ``values`` rounded to ``digits`` decimals (JavaScript rounds half up, Python half to
    even: the shown digits may differ in the last place by the rounding of an exact half)."""
    if values is None:
        return text == "undefined"
    flat = [v for pair in values for v in pair] if isinstance(values, list) else [values]
    shown = numbers_in(text)
    return len(shown) == len(flat) and all(abs(s - v) <= 0.5001 * 10 ** -digits for s, v in zip(shown, flat))


def check_against_cli(page, capsys):
    query = dict(parse_qsl(urlsplit(page.url).query))
    expected = cli(capsys, dirac_api.cli_command(dirac_api.parse(query)))
    got = shown(page)
    assert got["d-eigs"]["value"] == expected["eigenvalues"]
    assert got["d-upd"]["value"] == expected["update_eigenvalues"]
    assert got["d-rho"]["value"] == expected["spectral_radius"]
    assert got["d-maxstep"]["value"] == expected["max_step"]
    assert got["d-local"]["text"] == expected["local_verdict"] and got["d-traj"]["text"] == expected["trajectory_verdict"]
    assert same_to_shown_digits(got["d-eigs"]["text"], expected["eigenvalues"], 4), got["d-eigs"]
    assert same_to_shown_digits(got["d-upd"]["text"], expected["update_eigenvalues"], 4), got["d-upd"]
    assert same_to_shown_digits(got["d-rho"]["text"], expected["spectral_radius"], 6), got["d-rho"]
    return query, expected


def change(page, action):
    """Do ``action`` on the page and wait until the Dirac pane has drawn the server's new answer."""
    seq = int(page.evaluate("() => document.body.dataset.diracSeq || '0'"))
    action()
    page.wait_for_function("(seq) => Number(document.body.dataset.diracSeq || 0) > seq && "
                           "Number(document.body.dataset.diracSeq) === window.lab.dirac_seq()", arg=seq)


def test_dirac_pane_shows_what_the_cli_prints(lab_page, capsys):
    page, url, problems, requests = lab_page
    page.wait_for_function("() => document.body.dataset.diracSeq !== undefined")
    query, expected = check_against_cli(page, capsys)
    assert (query["loss"], query["reg"], query["gamma"], query["scheme"]) == ("minimax", "r1", "0.3", "altgd")
    assert expected["local_verdict"] == "converges" and page.input_value("#d-gamma") == "0.3"
    change(page, lambda: page.select_option("#d-reg", "consensus"))
    query, expected = check_against_cli(page, capsys)
    assert query["reg"] == "consensus" and float(query["gamma"]) == 1.0  # the regulariser's default parameter
    change(page, lambda: page.select_option("#d-scheme", "simgd"))
    change(page, lambda: page.fill("#d-h", "0.5"))
    query, _ = check_against_cli(page, capsys)
    assert query["scheme"] == "simgd" and query["h"] == "0.5" and "n_d" not in query
    change(page, lambda: page.select_option("#d-reg", "none"))
    _, expected = check_against_cli(page, capsys)
    assert expected["local_verdict"] == "diverges"  # plain SimGD spirals out (Mescheder et al. 2018, §2.2)
    page.select_option("#d-scheme", "altgd")
    change(page, lambda: page.fill("#d-n_d", "3"))
    query, _ = check_against_cli(page, capsys)
    assert query["n_d"] == "3" and query["order"] == "g-first"
    page.select_option("#d-reg", "r1")
    page.fill("#d-gamma", "-1")
    page.wait_for_selector("#d-error:not([hidden])")
    assert page.text_content("#d-error").startswith("gamma: must be a finite number")
    change(page, lambda: page.fill("#d-gamma", "0.7"))
    assert page.is_hidden("#d-error")
    check_against_cli(page, capsys)
    page.click("#d-play")
    page.wait_for_function("() => !window.lab.dirac_playing()")  # the animation reaches the last iterate
    assert not problems, problems


def test_training_pane_streams_and_w1_falls(lab_page):
    page, url, problems, requests = lab_page
    page.wait_for_function("() => window.lab.runs.A.frames > 0")
    page.fill("#t-lr_g", "0.001")
    page.fill("#t-lr_d", "0.001")
    page.dispatch_event("#t-lr_d", "change")
    page.wait_for_function("() => window.lab.runs.A.frame.settings.lr_d === 0.001")
    page.click("#t-play")
    page.wait_for_function(f"() => window.lab.runs.A.history.some((r) => r.step >= {STEPS})")
    page.click("#t-pause")
    page.wait_for_function("() => window.lab.runs.A.frame.playing === false")
    history = page.evaluate("() => window.lab.runs.A.history")
    assert history[0]["step"] == 0 and history[-1]["step"] >= STEPS
    assert history[-1]["w1"] < FACTOR * history[0]["w1"], [(r["step"], r["w1"]) for r in history]
    stats = page.text_content("#run-A .stats")
    assert stats.startswith(f"step {history[-1]['step']}") and "W1" in stats
    page.check("#t-compare")  # a second run beside the first
    page.wait_for_function("() => window.lab.runs.B.frames > 0 && !document.getElementById('run-B').hidden")
    assert page.evaluate("() => window.lab.runs.B.frame.settings.preset") == "nonsaturating"
    page.uncheck("#t-compare")
    page.wait_for_function("() => window.lab.runs.B.id === null")
    assert not problems, problems


def test_no_console_error_and_no_request_leaves_the_server(lab_page):
    page, url, problems, requests = lab_page
    assert not problems, problems
    assert requests and all(r.startswith(url) or r.startswith("data:") for r in requests), requests
