#!/usr/bin/env bash
# Issue 9's CUDA checks in one call of at most 9 minutes; report in $OUT (report.json, report.md,
# sweep.png, log.txt). On the device machine (only the checkout travels; its python3 has torch with
# CUDA, Python 3.12):   bash scripts/gpu-check.sh
# Rehearsal on a CPU (tiny sizes, about a minute):   OUT=/tmp/gpu-check bash scripts/gpu-check.sh --tiny
set -u
cd "$(dirname "$0")/.."
export OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
PY="$(command -v python3 || command -v python)"
export GPU_CHECK_BUDGET="${GPU_CHECK_BUDGET:-520}"
timeout -k 10 "$(( ${GPU_CHECK_BUDGET%.*} + 20 ))" "$PY" scripts/gpu_check.py "$@"
