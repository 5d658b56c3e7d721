"""ganscope.progress: plain lines in a log file (every 10 % or 30 s, and at the end), a tqdm bar on a terminal."""
import io
import subprocess
import sys

from ganscope.progress import Progress, hms


class Clock:
    def __init__(self, step=0.0):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


class TTY(io.StringIO):
    def isatty(self):
        return True


def test_a_line_every_ten_percent_with_rate_eta_and_metric():
    out = io.StringIO()
    bar = Progress(100, desc="train", stream=out, clock=Clock(0.01))
    for i in range(100):
        bar.update(1)
        if i == 49:
            bar.set_postfix_str("w1=0.0412")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10, lines
    assert lines[0].startswith("train: 10/100 steps (10 %), ") and "steps/s" in lines[0] and "ETA" in lines[0]
    assert "; w1=0.0412" in lines[5] and "; w1" not in lines[4]  # set after the 50th step
    assert lines[-1].startswith("train: 100/100 steps (100 %)") and "ETA 0:00:00" in lines[-1]


def test_a_line_every_30_s_when_slow_and_the_metric_after_the_last_step():
    out = io.StringIO()
    bar = Progress(1000, stream=out, unit="probe", clock=Clock(31.0))
    for _ in range(3):
        bar.update(1)
    bar.set_postfix_str("acc=1")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[0].startswith("1/1000 probes") and "s/probe" in lines[0]
    assert lines[-1].startswith("3/1000 probes") and lines[-1].endswith("; acc=1")


def test_rate_counts_only_this_session_and_tick_waits_for_every_s():
    out = io.StringIO()
    clock = Clock(0.0)
    bar = Progress(10, initial=5, unit="run", desc="sweep", stream=out, clock=clock, fraction=0)
    bar.tick()
    assert out.getvalue() == ""
    clock.t = 10.0
    bar.update(1)  # 1 run in 10 s since the start (the 5 earlier runs are not part of the rate)
    assert out.getvalue().splitlines()[-1] == "sweep: 6/10 runs (60 %), 10 s/run, 0:00:10 elapsed, ETA 0:00:40"
    clock.t = 45.0
    bar.tick()
    assert len(out.getvalue().splitlines()) == 2 and "0:00:45 elapsed" in out.getvalue().splitlines()[-1]


def test_disabled_prints_nothing_and_a_terminal_gets_a_bar():
    out = io.StringIO()
    bar = Progress(10, stream=out, enabled=False)
    bar.update(10)
    bar.close()
    assert out.getvalue() == ""
    tty = TTY()
    bar = Progress(10, stream=tty, desc="train")
    assert bar._bar is not None
    bar.update(10)
    bar.close()
    assert "10/10" in tty.getvalue() and "ETA" not in tty.getvalue()
    assert hms(3725) == "1:02:05"


def test_training_into_a_log_file_prints_progress_lines(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ganscope", "train", "toy2d", "train.steps=20", "train.eval_every=20",
                          "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("train: ")]
    assert lines[0].startswith("train: 2/20 steps (10 %)") and lines[-1].startswith("train: 20/20 steps (100 %)")
    assert lines[-1].split("; ")[-1].startswith("w1=")
