#!/usr/bin/env bash
# Train GUNs and their bilinear twins (same recipe, same wall-clock budget) side by side on one lent
# GPU, from ImageNet, then evaluate each on CamVid val (every decoder), run the trimap of each
# GUN/twin pair and write fp16 releases. Results land in $OUT; the small files go into one tarball.
#
# Here, first:   python scripts/pack_camvid.py --src ../shared/data/camvid --out .gpu-pack   (~22 MiB)
# On the GPU:    bash scripts/gpu-session.sh (this script, then scripts/gpu-check.sh, in one call)
# Rehearsal on the CPU (about 4 minutes; three of the default runs: all seven at once run a 24 GiB,
# 2-core machine out of memory):
#                S="--input-scale 1.5 --crop 448 576 --offset-far 0.2 --lovasz 1.0"
#                RUNS="gun15_pin|gun|$S; bilinear15_pin|bilinear|$S; gun15_pin_pool4|gun|$S --guidance-pool 4 --guidance-channels 16" \
#                OUT=/tmp/gpu-rehearsal MINUTES=3 EPOCHS=1 MAX_STEPS=2 LIMIT=3 DEVICE=cpu PRECISION=fp32 WORKERS=1 bash scripts/gpu-train.sh
# Then here:     cp $OUT/gun.safetensors weights/gun_effnet_camvid.safetensors (and the twin), and
#                re-measure with `gun eval` on the real (PNG) val frames.
#
# Knobs (environment):
#   RUNS      runs, ';'-separated, each "name|preset|extra gun-train flags"; a GUN run "gunX" is
#             paired with the twin "bilinearX" for the trimap. Default: the shipped recipe's pair at 1.5x
#             input scale, the pair with the offsets pinned where no label changes and the
#             Lovasz IoU loss (--offset-far 0.2 --lovasz 1.0: README, ablation), a pair at 2x
#             (for thin classes), and that pinned GUN with the cheap pooled guidance module (issue 9).
#   MINUTES   wall-clock training budget per run (--minutes: the schedule is fitted to it), default 5
#   EPOCHS    the most epochs (default 200); MAX_STEPS, LIMIT (val images), DEVICE, PRECISION, WORKERS
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=${PACK:-.gpu-pack}
OUT=${OUT:?set OUT to the folder that comes back}
MINUTES=${MINUTES:-5}
EPOCHS=${EPOCHS:-200}
DEVICE=${DEVICE:-cuda}
PRECISION=${PRECISION:-bf16}
WORKERS=${WORKERS:-2}
VAL_EVERY=${VAL_EVERY:-10}
SCALED="--input-scale 1.5 --crop 448 576"
DOUBLE="--input-scale 2 --crop 576 768"
# --offset-far is a no-op for a twin: giving the twin the GUN's whole flag set keeps the recipes equal
PINNED="--offset-far 0.2 --lovasz 1.0"
# the guide averaged over 4x4 cells, 16 channels: the GUM within 5% of bilinear on a CPU (README Speed);
# its twin is bilinear15_pin (the guidance flags mean nothing to a twin, and gun train refuses them there)
POOLED="--guidance-pool 4 --guidance-channels 16"
RUNS=${RUNS:-"gun15|gun|$SCALED; bilinear15|bilinear|$SCALED; gun15_pin|gun|$SCALED $PINNED; bilinear15_pin|bilinear|$SCALED $PINNED; gun20|gun|$DOUBLE; bilinear20|bilinear|$DOUBLE; gun15_pin_pool4|gun|$SCALED $PINNED $POOLED"}
WORK=${WORK:-/tmp/gun-runs}
export PYTHONUNBUFFERED=1 PYTHONPATH=.
mkdir -p "$OUT" "$WORK"
LOG="$WORK/log.txt"
[ -d "$PACK/train" ] || { echo "gpu-train: no $PACK/train: run scripts/pack_camvid.py here and carry $PACK" | tee -a "$LOG"; exit 2; }
{ date; nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } >> "$LOG" 2>&1

common=(--encoder efficientnet_lite0 --scales 1 1 --dataset camvid --data-root "$PACK" --epochs "$EPOCHS" --minutes "$MINUTES"
        --batch-size 8 --lr 0.01 --nesterov --schedule poly --crop 288 384 --workers "$WORKERS" --val-every "$VAL_EVERY" --save-every "${SAVE_EVERY:-10}"
        --class-weights sqrt-median-freq --encoder-weights "$PACK/efficientnet_lite0_imagenet_fp16.pth" --precision "$PRECISION" --no-progress)
[ -n "${MAX_STEPS:-}" ] && common+=(--max-steps "$MAX_STEPS")

names=()
IFS=';' read -ra specs <<< "$RUNS"
for spec in "${specs[@]}"; do
    IFS='|' read -r name preset extra <<< "$spec"
    name=$(echo "$name" | tr -d ' ')
    names+=("$name")
    # later flags win (argparse), so a run's extra flags override the common recipe; the hard stop
    # only guards the call's limit: --minutes has already fitted the schedule inside it
    # shellcheck disable=SC2086
    timeout "$(python3 -c "print(int($MINUTES * 60 + 90))")" python3 -m gun.cli train --preset "$preset" "${common[@]}" $extra \
        --out "$WORK/$name" > "$WORK/$name.log" 2>&1 &
done
wait
for name in "${names[@]}"; do { echo "== $name"; tail -n 12 "$WORK/$name.log"; } >> "$LOG"; done

limit=()
[ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
for name in "${names[@]}"; do
    (
        # the end of the schedule, not the best validation epoch: val is what we report, so it must
        # not also pick the model
        ckpt="$WORK/$name/last.safetensors"
        decoder=$(case "$name" in gun*) echo all;; *) echo bilinear;; esac)
        python3 -m gun.cli eval --checkpoint "$ckpt" --dataset camvid --data-root "$PACK" --split val --decoder "$decoder" \
            --device "$DEVICE" --no-progress --json "$WORK/$name-eval.json" "${limit[@]}" > "$WORK/$name-eval.log" 2>&1
        python3 -m gun.cli release "$ckpt" --out "$OUT/$name.safetensors" --metrics "$WORK/$name-eval.json" >> "$WORK/$name-eval.log" 2>&1
    ) &
done
wait
for name in "${names[@]}"; do
    twin="bilinear${name#gun}"
    [ -f "$OUT/$twin.safetensors" ] || twin="${twin%_*}"  # gun15_pin_pool4 -> bilinear15_pin
    case "$name" in gun*) [ -f "$OUT/$twin.safetensors" ] || continue;; *) continue;; esac
    python3 -m gun.cli trimap --checkpoint "$OUT/$name.safetensors" --checkpoint2 "$OUT/$twin.safetensors" --dataset camvid \
        --data-root "$PACK" --split val --device "$DEVICE" --no-progress --out "$WORK/trimap-$name.png" --json "$WORK/trimap-$name.json" \
        "${limit[@]}" > "$WORK/trimap-$name.log" 2>&1 &
done
wait
for name in "${names[@]}"; do cp "$WORK/$name/history.json" "$WORK/$name-history.json" 2>/dev/null; done
cat "$WORK"/*-eval.log "$WORK"/trimap-*.log >> "$LOG" 2>/dev/null
date >> "$LOG"
ls -la "$OUT" | tee -a "$LOG"
