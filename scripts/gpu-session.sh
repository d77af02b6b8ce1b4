#!/usr/bin/env bash
# Everything a lent GPU is for, in ONE device call of at most ~9.5 minutes (the lease is 15 minutes,
# start-up included): the CUDA tests (beside training: they check results, not speed), the training
# of scripts/gpu-train.sh, then, on a quiet GPU, the timings of scripts/gpu-check.sh in the time left.
#
# Here, first:   python scripts/pack_camvid.py --src ../shared/data/camvid --out .gpu-pack
# Device call:   run(carry [".gpu-pack"], command "bash scripts/gpu-session.sh", timeout_s 590)
# Rehearsal:     RUNS=... (one pair: see scripts/gpu-train.sh) OUT=/tmp/gpu-session MINUTES=3 EPOCHS=3 MAX_STEPS=2 LIMIT=3 \
#                DISTILL_EPOCHS=1 LOOSE_EPOCHS=1 DISTILL_LIMIT=2 DEVICE=cpu PRECISION=fp32 WORKERS=1 SESSION_SECONDS=900 CHECK_FLAGS=--tiny bash scripts/gpu-session.sh
#
# Comes back in $OUT (at most 8 files): one fp16 checkpoint per training run (a GUN's after its guidance
# module's distillation, when that finished), and results.tar.gz
# (logs, eval/trimap/history JSON, trimap plots, the GPU check's report.json/report.md/sweep.png).
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
OUT=${OUT:?set OUT to the folder that comes back}
SESSION_SECONDS=${SESSION_SECONDS:-565}  # the whole script, inside the call's timeout_s of 590
export WORK=${WORK:-/tmp/gun-runs} PYTHONUNBUFFERED=1
export DEADLINE=$(( START + SESSION_SECONDS - 25 ))  # gpu-train.sh fits its distillation and trimaps before it
mkdir -p "$OUT" "$WORK/check"

python3 -m pytest -q -p no:cacheprovider -m cuda tests/test_infer.py tests/test_backends.py tests/test_bench.py tests/test_distill.py \
    > "$WORK/cuda-tests.log" 2>&1 &
bash scripts/gpu-train.sh
wait
tail -n 3 "$WORK/cuda-tests.log"

left=$(( SESSION_SECONDS - ($(date +%s) - START) - 15 ))
echo "gpu-session: ${left} s left for the GPU check"
if [ "$left" -gt 60 ]; then
    # the paper setting on a CPU is measured on the CPU machines (and was on an H200 host: README)
    # shellcheck disable=SC2086
    OUT="$WORK/check" GPU_CHECK_BUDGET="$left" bash scripts/gpu-check.sh --skip cuda-tests bench-paper-cpu-bf16 ${CHECK_FLAGS:-}
fi
tar czf "$OUT/results.tar.gz" -C "$WORK" --exclude='*/train_state.pt' --exclude='*.safetensors' --exclude='*.mp4' --exclude='*.onnx' .
ls -la "$OUT"
echo "gpu-session: done in $(( $(date +%s) - START )) s"
