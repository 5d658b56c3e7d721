#!/usr/bin/env bash
# The device check (issue 13; docs/scale.md, "The device check"): on a machine with one CUDA GPU, in well under
# 10 minutes, run
#   1. the CUDA-marked tests                         (pytest -m cuda)
#   2. the precision / compilation equivalence tests (pytest -k "$EQUIV")
#   3. a short R1 image run (r1_resnet64 at 64×64), killed with SIGKILL after a checkpoint and resumed, against
#      the same run uninterrupted (every tensor of the final checkpoint and the final metrics compared)
#   4. the image benchmark on the GPU                (bench/run.py images --json, beside the report)
# and write every figure to ONE report file. Without a CUDA GPU each part says it is skipped and the script
# exits 0 within seconds (CI, laptops); DEVICE_CHECK_CPU=1 rehearses parts 3 and 4 on the CPU at toy size.
#
#   scripts/device_check.sh [REPORT]   # default: $OUT/device_check.md if $OUT is set, else ./device_check.md
#
# Environment: PYTHON (default python3), DEVICE_CHECK_CPU=1 (rehearsal), DEVICE_CHECK_WHEELS=DIR (first
# `pip install --no-deps DIR/*.whl`: the GPU machine reaches no registry; fill DIR here beforehand, e.g.
# `pip download --no-deps --only-binary=:all: --python-version 3.12 -d wheels pot submitit mlxtend`).
# Exit status: 0 when every part that ran passed (skipped parts count as passed), 1 otherwise.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REPORT=${1:-${OUT:-.}/device_check.md}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")
EQUIV=${EQUIV:-"precision or compile or bf16 or fp16 or autocast"}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$(dirname "$REPORT")"
: >"$REPORT"
failed=0

say() { echo "$*" | tee -a "$REPORT"; }
section() { say ""; say "## $1"; }
elapsed() { echo $(( $(date +%s) - $1 )); }
mark() {  # mark NAME RC SECONDS: one result line (rc 5 = pytest found no test: not a failure)
  local verdict=passed
  [ "$2" -eq 5 ] && verdict="no tests selected"
  [ "$2" -ne 0 ] && [ "$2" -ne 5 ] && { verdict="FAILED (exit $2)"; failed=1; }
  say "result: $1 $verdict in $3 s"
}

say "# ganscope device check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ -n "${DEVICE_CHECK_WHEELS:-}" ]; then
  "$PY" -m pip install -q --no-deps "$DEVICE_CHECK_WHEELS"/*.whl 2>&1 | tail -3 | tee -a "$REPORT"
fi
section "machine"
"$PY" - "$WORK/has_cuda" <<'EOF' 2>&1 | tee -a "$REPORT"
import platform, sys, torch
open(sys.argv[1], "w").write(str(int(torch.cuda.is_available())))
print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA build {torch.version.cuda}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}, "
          f"{torch.cuda.device_count()} visible")
else:
    print("GPU: none (torch.cuda.is_available() is False)")
EOF
HAS_CUDA=$(cat "$WORK/has_cuda" 2>/dev/null || echo 0)
REHEARSE=${DEVICE_CHECK_CPU:-0}
skip() { say "skipped: no CUDA GPU ($1)"; }

# ---- 1, 2: tests --------------------------------------------------------------------------------------------------
section "1. CUDA-marked tests (pytest -m cuda)"
if [ "$HAS_CUDA" = 1 ]; then
  t=$(date +%s); timeout 240 "$PY" -m pytest -m cuda -q -p no:cacheprovider tests 2>&1 | tail -15 | tee -a "$REPORT"
  mark "pytest -m cuda" "${PIPESTATUS[0]}" "$(elapsed "$t")"
else skip "CI runs them and skips them there"; fi

section "2. precision and compilation equivalence tests (pytest -k \"$EQUIV\")"
if [ "$HAS_CUDA" = 1 ]; then
  t=$(date +%s); timeout 240 "$PY" -m pytest -k "$EQUIV" -q -p no:cacheprovider tests 2>&1 | tail -15 | tee -a "$REPORT"
  mark "equivalence tests" "${PIPESTATUS[0]}" "$(elapsed "$t")"
else skip "their CPU versions run in the ordinary suite"; fi

# ---- 3: an R1 image run, killed and resumed -----------------------------------------------------------------------
section "3. R1 image run (r1_resnet64), SIGKILL after a checkpoint, resume, compare"
if [ "$HAS_CUDA" = 1 ] || [ "$REHEARSE" = 1 ]; then
  t=$(date +%s)
  "$PY" - "$WORK/images" <<'EOF'  # a folder of 256 images: no data set needs to be on the machine
import sys
from pathlib import Path
import numpy as np
from PIL import Image
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:64, 0:64]
for i in range(256):  # soft discs of random colour, centre and radius
    cy, cx, r = rng.uniform(16, 48, 2).tolist() + [rng.uniform(6, 20)]
    disc = 1 / (1 + np.exp(np.hypot(yy - cy, xx - cx) - r))
    img = 255 * disc[..., None] * rng.uniform(0.2, 1, 3)
    Image.fromarray(img.astype(np.uint8)).save(out / f"{i:03d}.png")
EOF
  EXTRA="train.deterministic=true"  # a resumed CUDA run equals the uninterrupted one only with it
  [ "$HAS_CUDA" = 1 ] && EXTRA="device=cuda $EXTRA"
  if [ "$HAS_CUDA" = 1 ]; then SIZE="train.steps=200 checkpoint.every=50 train.eval_every=100"
  else SIZE="model.g_width=32 model.d_width=32 data.batch_size=16 train.steps=20 checkpoint.every=5 train.eval_every=10"; fi
fi
if [ "$HAS_CUDA" = 1 ] || [ "$REHEARSE" = 1 ]; then
  ARGS="r1_resnet64 data.name=folder:$WORK/images data.eval_samples=256 train.log_every=10 train.plots=false $SIZE $EXTRA"
  say "config: $ARGS"
  # shellcheck disable=SC2086
  t_a=$(date +%s); "$PY" -m ganscope train $ARGS --out "$WORK/a" >"$WORK/a.log" 2>&1; rc_a=$?; t_a=$(elapsed "$t_a")
  # shellcheck disable=SC2086
  "$PY" -m ganscope train $ARGS --out "$WORK/b" >"$WORK/b.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do [ -e "$WORK/b/checkpoints/last.pt" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null && killed=yes || killed="no (it had ended)"
  wait "$pid" 2>/dev/null
  "$PY" -m ganscope train --resume "$WORK/b" >>"$WORK/b.log" 2>&1; rc_b=$?
  say "uninterrupted exit $rc_a ($t_a s with start-up and evaluations); killed: $killed; resumed exit $rc_b"
  [ "$killed" = yes ] || { say "the run ended before the kill: no resume was tested"; failed=1; }
  "$PY" - "$WORK/a" "$WORK/b" <<'EOF' 2>&1 | tee -a "$REPORT"
import json, sys
from pathlib import Path
import torch
a, b = (Path(p) for p in sys.argv[1:])
from ganscope.rundir import last_checkpoint, state_tensors
ca, cb = (state_tensors(torch.load(last_checkpoint(p), map_location="cpu", weights_only=True)) for p in (a, b))
worst = max((float((ca[k].double() - cb[k].double()).abs().max()) if ca[k].is_floating_point() and ca[k].numel()
             else float(not torch.equal(ca[k], cb[k])) for k in ca if k in cb), default=float("nan"))
same = ca.keys() == cb.keys() and all(torch.equal(ca[k], cb[k]) for k in ca)
fa, fb = (json.loads((p / "summary.json").read_text())["final"] for p in (a, b))
print(f"checkpoint tensors: {len(ca)}, bit-identical: {same}, largest difference {worst:.3g}")
print(f"final metrics equal: {fa == fb} (uninterrupted {fa.get('fid')}, resumed {fb.get('fid')} FID)")
sys.exit(0 if same and fa == fb else 1)
EOF
  mark "kill/resume" "${PIPESTATUS[0]}" "$(elapsed "$t")"
elif [ "$HAS_CUDA" != 1 ] && [ "$REHEARSE" != 1 ]; then skip "DEVICE_CHECK_CPU=1 rehearses it on the CPU"; fi

# ---- 4: the image benchmark -------------------------------------------------------------------------------------
section "4. image benchmark (bench/run.py)"
if [ "$HAS_CUDA" = 1 ]; then
  t=$(date +%s); timeout 300 "$PY" bench/run.py images --json "$(dirname "$REPORT")/bench.json" 2>&1 | tail -60 \
    | tee -a "$REPORT"
  mark "bench/run.py images (rows also in bench.json beside the report)" "${PIPESTATUS[0]}" "$(elapsed "$t")"
else skip "on a CPU the same ratios come from python bench/run.py (minutes)"; fi

section "summary"
if [ $failed = 0 ]; then say "every part that ran passed"; rm -rf "$WORK"
else say "SOME PARTS FAILED; work files (run directories, logs) in $WORK"; fi
exit $failed
