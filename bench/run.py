"""Run every benchmark under bench/ in turn (each prints its own ratios/timings)."""
import runpy
import sys
from pathlib import Path

for path in sorted(Path(__file__).parent.glob("*.py")):
    if path.name != "run.py" and (len(sys.argv) < 2 or path.stem in sys.argv[1:]):
        print(f"== {path.stem}")
        runpy.run_path(str(path), run_name="__main__")
