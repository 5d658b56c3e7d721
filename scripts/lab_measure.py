"""Measure the lab in headless Chromium and take its screenshots (docs/lab.md, "Measured"):

    OMP_NUM_THREADS=1 python scripts/lab_measure.py --out docs/figures [--seconds 10]

Starts the lab on a free port of 127.0.0.1, opens it with Playwright driving the system's chromium, and reports
(as one JSON object) while streaming one run and then two side by side: the frames per second the page received,
the engine's steps per second (the step counter's advance over wall time), and control→effect latencies: a Dirac
control change until the page has drawn the server's answer, and pause / a learning-rate change / step until the
first frame that shows it. Screenshots of both panes go to OUT/lab_dirac.png and OUT/lab_train.png.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from ganscope.lab.app import create_app
from ganscope.lab.server import running

LINK = "?loss=standard&reg=r1&gamma=0.3&scheme=altgd&h=0.1"
WAIT_FRAME_JS = """async ([slot, what, lr]) => {
  const r = window.lab.runs[slot], t0 = performance.now(), n0 = r.frames;
  const tests = {pause: (f) => f.playing === false, play: (f) => f.playing === true,
                 lr: (f) => f.settings.lr_g === lr, step: (f) => r.frames > n0};
  const act = {pause: () => r.control("pause"), play: () => r.control("play"),
               lr: () => r.control("set", {lr_g: lr}), step: () => r.control("step")};
  await act[what]();
  while (!(r.frames > n0 && tests[what](r.frame))) await new Promise((res) => setTimeout(res, 2));
  return performance.now() - t0;
}"""
REPEATS = 5  # each latency is measured this many times: median and max


def _latencies(page, slot, actions) -> dict:
    """Control → the first frame that shows it, in ms (median, max over REPEATS), for each action."""
    out = {}
    for what in actions:
        values = []
        for i in range(REPEATS):
            values.append(page.evaluate(WAIT_FRAME_JS, [slot, what, 4e-4 + 1e-4 * (i % 2)]))
            if what == "pause":
                page.evaluate(WAIT_FRAME_JS, [slot, "play", 0])
        out[what] = {"median": round(statistics.median(values), 1), "max": round(max(values), 1)}
    return out


def _stream_rates(page, slots, seconds) -> dict:
    """Frames/s received and engine steps/s of each run over ``seconds`` of playing."""
    start = page.evaluate("(s) => s.map((k) => [window.lab.runs[k].frames, window.lab.runs[k].frame.step])", slots)
    t0 = time.perf_counter()
    time.sleep(seconds)
    end = page.evaluate("(s) => s.map((k) => [window.lab.runs[k].frames, window.lab.runs[k].frame.step])", slots)
    dt = time.perf_counter() - t0
    return {k: {"frames_per_s": round((e[0] - s[0]) / dt, 2), "steps_per_s": round((e[1] - s[1]) / dt, 1)}
            for k, s, e in zip(slots, start, end)}


def measure(out: Path, seconds: float = 10.0, browser_path: str | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    from ganscope.pagecheck import find_browser

    out.mkdir(parents=True, exist_ok=True)
    result = {"load_average_before": [round(x, 1) for x in os.getloadavg()]}
    with running(create_app(cap=4, idle_s=30.0)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path or find_browser(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1320, "height": 1500})
        page.goto(url + LINK)
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function("() => window.lab.runs.A.frames > 0 && document.body.dataset.diracSeq")
        for value in ("0.5", "1", "2", "0.1", "0.3", "0.7", "1.5", "0.3"):  # Dirac: control → drawn answer
            seq = page.evaluate("() => window.lab.dirac_seq()")
            page.fill("#d-gamma", value)
            page.wait_for_function("(s) => Number(document.body.dataset.diracSeq) > s", arg=seq)
        lat = page.evaluate("() => window.lab.stats.diracLatency")[1:]
        result["dirac_latency_ms"] = {"median": round(statistics.median(lat), 1), "max": round(max(lat), 1)}
        page.click("#d-play")
        page.wait_for_function("() => !window.lab.dirac_playing()")
        page.locator("#pane-dirac").screenshot(path=str(out / "lab_dirac.png"))
        page.click("#t-play")
        page.wait_for_function("() => window.lab.runs.A.frame.step > 20")
        result["one_run"] = _stream_rates(page, ["A"], seconds)
        result["latency_ms_one_run"] = _latencies(page, "A", ("lr", "pause"))
        page.check("#t-compare")
        page.wait_for_function("() => window.lab.runs.B.frames > 0")
        page.click("#t-play")
        page.wait_for_function("() => window.lab.runs.B.frame.step > 20")
        result["two_runs"] = _stream_rates(page, ["A", "B"], seconds)
        result["latency_ms_two_runs"] = _latencies(page, "A", ("lr", "pause"))
        page.click("#t-pause")
        page.wait_for_function("() => !window.lab.runs.A.frame.playing")
        result["latency_ms_step_paused"] = _latencies(page, "A", ("step",))["step"]
        page.wait_for_function("() => !window.lab.runs.B.frame.playing")
        page.locator("#pane-train").screenshot(path=str(out / "lab_train.png"))
        browser.close()
    result["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lab_measure.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures", help="where the screenshots go")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of streaming per measurement")
    args = parser.parse_args(argv)
    print(json.dumps(measure(Path(args.out), args.seconds), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
