"""scripts/device_check.sh without a GPU: every GPU part says it is skipped, the report is written, exit 0."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path: on a GPU machine the script runs for minutes")
def test_the_device_check_skips_its_gpu_parts_on_a_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path), "DEVICE_CHECK_CPU": "0"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = (tmp_path / "device_check.md").read_text()
    assert "GPU: none (torch.cuda.is_available() is False)" in report
    for part in ("## 1. CUDA-marked tests", "## 2. precision and compilation", "## 3. R1 image run",
                 "## 4. image benchmark"):
        after = report.split(part, 1)[1].split("\n## ", 1)[0]
        assert "skipped: no CUDA GPU" in after, part
    assert "every part that ran passed" in report and "result:" not in report  # nothing ran
    assert report == done.stdout  # what it prints is what it writes
