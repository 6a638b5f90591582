#!/usr/bin/env bash
# The GPU check for a CUDA host (issue 12): on a fresh CUDA 12 or 13 machine, install gpuad
# with the matching extra into a venv, then run the demo, the GPU tests, a quick bench on
# `cuda` and the ptxas report, in under 8 minutes, with every output in one folder.
#
#   bash bench/gpu_check.sh              # run it (from anywhere; it works in the repo root)
#   bash bench/gpu_check.sh --dry-run    # print the detected CUDA version and every command
#
# Options:
#   --dry-run        print the plan (CUDA version and where it came from, every command with
#                    its timeout); install nothing, run nothing, write nothing
#   --cuda 12|13     use this CUDA major version instead of detecting it
#   --out DIR        outputs (default gpu_check_out/<UTC timestamp>)
#   --venv DIR       the virtual environment (default gpu_check_out/venv, reused when present)
#   --python PY      the interpreter that creates the venv (default python3)
#   --skip-install   use the venv as it is
# GPU_CHECK_BUDGET_S (default 450) caps the whole run: each step gets its own timeout, cut
# to what is left of the budget, and a step with under 5 s left is skipped. A failed step
# does not stop the others; the exit status is 1 when any step failed, timed out or was
# skipped, 2 for bad options. The outputs: <step>.log for each step, bench.json,
# pytest.xml, ptx/, pip-freeze.txt and summary.txt.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRY=0
CUDA=""
OUT=""
VENV=""
PY=python3
SKIP_INSTALL=0
BUDGET_S=${GPU_CHECK_BUDGET_S:-450}
MIN_STEP_S=5
KILL_GRACE_S=5
BASE_ARCHS="sm_80,sm_90"
PYTEST_MARKERS="cuda or cudasim"

die() { echo "gpu_check: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY=1 ;;
    --cuda) need "$@"; CUDA=$2; shift ;;
    --cuda=*) CUDA=${1#*=} ;;
    --out) need "$@"; OUT=$2; shift ;;
    --venv) need "$@"; VENV=$2; shift ;;
    --python) need "$@"; PY=$2; shift ;;
    --skip-install) SKIP_INSTALL=1 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
case $CUDA in ""|12|13) ;; *) die "--cuda must be 12 or 13, not '$CUDA'" ;; esac
[[ $BUDGET_S =~ ^[0-9]+$ ]] || die "GPU_CHECK_BUDGET_S must be whole seconds, not '$BUDGET_S'"

OUT=${OUT:-$ROOT/gpu_check_out/$(date -u +%Y%m%d-%H%M%SZ)}
VENV=${VENV:-$ROOT/gpu_check_out/venv}

# ---------------------------------------------------------------------------------------
# the CUDA major version: the driver's (nvidia-smi), else the toolkit's (nvcc), else 12
# ---------------------------------------------------------------------------------------
version=""
source_=""
HOST_ARCH=""
if command -v nvidia-smi >/dev/null 2>&1; then
  version=$(timeout 20 nvidia-smi 2>/dev/null | grep -o 'CUDA Version: *[0-9][0-9.]*' \
            | head -n1 | grep -o '[0-9][0-9.]*$')
  [ -n "$version" ] && source_="nvidia-smi: the driver supports CUDA $version"
  cc=$(timeout 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null \
       | head -n1 | tr -d ' .')
  [[ $cc =~ ^[0-9]+$ ]] && HOST_ARCH="sm_$cc"
fi
if [ -z "$version" ] && command -v nvcc >/dev/null 2>&1; then
  version=$(timeout 20 nvcc --version 2>/dev/null | grep -o 'release [0-9][0-9.]*' \
            | head -n1 | grep -o '[0-9][0-9.]*$')
  [ -n "$version" ] && source_="nvcc: CUDA toolkit $version"
fi
if [ -n "$CUDA" ]; then
  CUDA_SOURCE="--cuda $CUDA${source_:+ (detected: $source_)}"
elif [ -z "$version" ]; then
  CUDA=12
  CUDA_SOURCE="fallback: neither nvidia-smi nor nvcc reports a CUDA version; assuming CUDA 12 (pass --cuda 13 on a CUDA 13 host)"
else
  major=${version%%.*}
  if [ "$major" -ge 13 ]; then
    CUDA=13
    CUDA_SOURCE=$source_
    [ "$major" -gt 13 ] && CUDA_SOURCE="$source_; newer than 13: using the cuda13 extra"
  elif [ "$major" -eq 12 ]; then
    CUDA=12
    CUDA_SOURCE=$source_
  else
    CUDA=12
    CUDA_SOURCE="$source_; older than 12: gpuad's extras need CUDA 12 or 13, trying cuda12"
  fi
fi
EXTRA="cuda$CUDA"
# What to install. pyproject's `test` extra includes gpuad[cudasim], whose numba-cuda[cu12]
# cannot be resolved together with the cuda13 extra's numba-cuda[cu13] (cuda-bindings <13
# against ==13.*): on CUDA 13 the test extra's other requirements are installed instead
# (numba-cuda[cu13] brings the simulator and NVRTC itself).
if [ "$CUDA" = 13 ]; then
  TEST_REQS=$(sed -n 's/^test *= *\[\(.*\)\]/\1/p' "$ROOT/pyproject.toml" | grep -o '"[^"]*"' \
              | grep -v '^"gpuad\[' | tr '\n' ' ')
  TARGET="\".[$EXTRA]\" ${TEST_REQS% }"
else
  TARGET="\".[$EXTRA,test]\""
fi
ARCHS=$BASE_ARCHS
case ",$ARCHS," in *",$HOST_ARCH,"*) ;; *) [ -n "$HOST_ARCH" ] && ARCHS="$ARCHS,$HOST_ARCH" ;; esac

# ---------------------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------------------
q() { printf '%q' "$1"; }
P="$(q "$VENV/bin/python")"
PIP="$P -m pip"
INSTALL="{ [ -x $P ] || $(q "$PY") -m venv $(q "$VENV"); } && $PIP install -q --upgrade pip \
&& { $PIP install -e $TARGET \"jax[$EXTRA]\" tqdm \
|| { echo 'gpu_check: retrying without JAX (the bench then reports it missing)'; \
$PIP install -e $TARGET; }; } && $PIP freeze > $(q "$OUT/pip-freeze.txt")"
PYTEST="GPUAD_DEVICE=cuda GPUAD_PYTEST_DEADLINE_S=@DEADLINE@ $P -m pytest -q -m \"$PYTEST_MARKERS\" \
-p bench.pytest_deadline -p no:cacheprovider -rfE --durations=10 --junitxml $(q "$OUT/pytest.xml")"
BENCH="$P -m bench --quick --device cuda --json $(q "$OUT/bench.json") --no-progress --no-first-call"
PTXAS="$P -m gpuad.ptx --ptx --arch $ARCHS --out $(q "$OUT/ptx") --report"
GPUAD="$(q "$VENV/bin/gpuad")"

FAILED=0
SUMMARY=()

record() {  # name status seconds
  SUMMARY+=("$(printf '%-12s %-34s %5ss  %s' "$1" "$2" "$3" "$1.log")")
  echo "gpu_check: [$1] $2 (${3}s)"
}

run_step() {  # name timeout_s command
  local name=$1 cap=$2 cmd=$3 left limit t0 rc status
  if [ "$DRY" = 1 ]; then
    printf 'step %-12s timeout %3ss: %s\n' "$name" "$cap" "${cmd//@DEADLINE@/$((cap - 20))}"
    return 0
  fi
  # the budget counts from the script's start; a step killed at its timeout gets
  # KILL_GRACE_S more to exit, which the budget reserves
  left=$((BUDGET_S - SECONDS - KILL_GRACE_S))
  limit=$((cap < left ? cap : left))
  if [ "$limit" -lt "$MIN_STEP_S" ]; then
    echo "skipped: $((BUDGET_S - SECONDS))s of the ${BUDGET_S}s budget left" > "$OUT/$name.log"
    record "$name" "skipped (out of time)" 0
    FAILED=1
    return 0
  fi
  # pytest stops itself 20 s before the hard timeout, so its summary and JUnit file survive
  local deadline=$((limit > 30 ? limit - 20 : limit * 2 / 3))
  cmd=${cmd//@DEADLINE@/$deadline}
  echo "gpu_check: [$name] timeout ${limit}s: $cmd"
  t0=$SECONDS
  (cd "$ROOT" && timeout -k "$KILL_GRACE_S" "$limit" bash -c "$cmd") > "$OUT/$name.log" 2>&1
  rc=$?
  case $rc in
    0) status="ok" ;;
    124|137) status="timed out after ${limit}s" ;;
    *) status="failed (exit $rc)" ;;
  esac
  [ "$rc" = 0 ] || FAILED=1
  record "$name" "$status" $((SECONDS - t0))
}

if [ "$DRY" = 1 ]; then
  echo "gpu_check: dry run: nothing is installed, run or written"
else
  mkdir -p "$OUT" || die "cannot create $OUT"
  case $OUT in "$ROOT/gpu_check_out/"*) printf '*\n' > "$ROOT/gpu_check_out/.gitignore" ;; esac
fi
echo "gpu_check: CUDA $CUDA ($CUDA_SOURCE) -> extra $EXTRA"
echo "gpu_check: ptx archs $ARCHS${HOST_ARCH:+ (this GPU: $HOST_ARCH)}"
echo "gpu_check: outputs $OUT; venv $VENV; budget ${BUDGET_S}s"

run_step host 20 "nvidia-smi && nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv"
if [ "$SKIP_INSTALL" = 1 ]; then
  echo "step install      skipped (--skip-install): using $VENV as it is"
else
  run_step install 240 "$INSTALL"
fi
run_step info 30 "$GPUAD info"
run_step demo 60 "$GPUAD demo --device cuda"
run_step pytest 120 "$PYTEST"
run_step bench 120 "$BENCH"
run_step ptxas-report 90 "$PTXAS"

[ "$DRY" = 1 ] && exit 0
{
  echo "gpu_check $(date -u '+%Y-%m-%d %H:%M:%S') UTC, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "CUDA $CUDA ($CUDA_SOURCE) -> extra $EXTRA; ptx archs $ARCHS"
  echo "wall ${SECONDS}s of a ${BUDGET_S}s budget"
  printf '%s\n' "${SUMMARY[@]}"
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $FAILED
