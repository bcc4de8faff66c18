#!/usr/bin/env bash
# GPU readiness in one run (under 8 minutes on one CUDA GPU): the tests marked `gpu`, training
# images/s in fp32 vs bf16 + channels_last (+ torch.compile), and the codec's speed; prints one
# JSON line and exits non-zero if a test failed or a part did not finish.
#
#   bash benchmarks/gpu_check.sh                 # on a machine with a CUDA GPU
#   bash benchmarks/gpu_check.sh --cpu-dry-run   # every part at tiny sizes on the CPU
#
# Python: $PYTHON, else the checkout's .venv, else `python`.
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE=cuda
SPEED_FLAGS=()
if [ "${1:-}" = "--cpu-dry-run" ]; then
    DEVICE=cpu
    SPEED_FLAGS=(--quick)
elif [ -n "${1:-}" ]; then
    echo "gpu_check: unknown argument ${1} (only --cpu-dry-run)" >&2
    exit 2
fi
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python; fi
fi
if [ "$DEVICE" = cuda ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is false for $PY); nothing was measured" >&2
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s)

# 1. the tests marked gpu (they skip themselves without CUDA: the dry run checks they load),
#    from the files that have any (other test files' imports need not load on a GPU box)
mapfile -t GPU_TESTS < <(grep -l "mark.gpu" tests/test_*.py)
timeout 150 "$PY" -m pytest -m gpu "${GPU_TESTS[@]}" -q -p no:cacheprovider \
    --junitxml="$WORK/gpu.xml" >"$WORK/pytest.log" 2>&1
TESTS_RC=$?
tail -n 3 "$WORK/pytest.log" >&2

# 2. training and codec speeds (one JSON line)
timeout 300 "$PY" benchmarks/gpu_speed.py --device "$DEVICE" "${SPEED_FLAGS[@]}" \
    >"$WORK/speed.log" 2>"$WORK/speed.err"
SPEED_RC=$?
if [ $SPEED_RC -ne 0 ]; then tail -n 5 "$WORK/speed.err" >&2; fi

"$PY" - "$WORK" "$TESTS_RC" "$SPEED_RC" "$(($(date +%s) - START))" "$DEVICE" <<'EOF'
import json, sys
import xml.etree.ElementTree as ET
work, tests_rc, speed_rc, seconds, device = sys.argv[1:]
result = {"device": device, "tests_rc": int(tests_rc), "speed_rc": int(speed_rc)}
try:
    suites = ET.parse(f"{work}/gpu.xml").getroot()
    suite = suites if suites.tag == "testsuite" else suites[0]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    result["tests"] = {"passed": counts["tests"] - counts["failures"] - counts["errors"]
                       - counts["skipped"], "failed": counts["failures"] + counts["errors"],
                       "skipped": counts["skipped"]}
except (OSError, ET.ParseError, IndexError):
    result["tests"] = None
lines = open(f"{work}/speed.log").read().strip().splitlines()
if lines:
    try:
        result.update(json.loads(lines[-1]))
    except json.JSONDecodeError:
        pass
result["check_seconds"] = int(seconds)
print(json.dumps(result))
EOF
# pytest exits 5 when every selected test was deselected/none collected: not a failure here
if { [ $TESTS_RC -ne 0 ] && [ $TESTS_RC -ne 5 ]; } || [ $SPEED_RC -ne 0 ]; then
    echo "gpu_check: FAILED (tests rc $TESTS_RC, speed rc $SPEED_RC)" >&2
    exit 1
fi
