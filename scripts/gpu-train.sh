#!/usr/bin/env bash
# Train the shipped pair, the GUN and its bilinear twin (same recipe, same budget), side by side on
# one lent GPU in a single call of at most 9 minutes, then evaluate both on CamVid val (all three
# decoders), run the trimap and write fp16 releases. Everything comes back under $OUT (<= 8 files).
#
# Here, first:   python scripts/pack_camvid.py --src ../shared/data/camvid --out .gpu-pack   (~22 MiB)
# On the GPU:    device run, carry [".gpu-pack"], command "bash scripts/gpu-train.sh", timeout_s 590
# Rehearsal on the CPU (tiny, a minute or two):
#                OUT=/tmp/gpu-rehearsal EPOCHS=1 MAX_STEPS=2 VAL_EVERY=0 LIMIT=3 DEVICE=cpu PRECISION=fp32 WORKERS=1 bash scripts/gpu-train.sh
# Then here:     cp $OUT/gun.safetensors weights/gun_effnet_camvid.safetensors (and the twin), and the
#                figures of $OUT/report.json into the README.
#
# Knobs (environment): EPOCHS (default 150), TRAIN_MINUTES (hard stop for training, default 7),
# EXTRA (more `gun train` flags for both runs, e.g. "--input-scale 1.5 --crop 448 576"), MAX_STEPS,
# LIMIT (val images), DEVICE, PRECISION, WORKERS.
set -euo pipefail
cd "$(dirname "$0")/.."
PACK=${PACK:-.gpu-pack}
OUT=${OUT:?set OUT to the folder that comes back}
EPOCHS=${EPOCHS:-150}
TRAIN_MINUTES=${TRAIN_MINUTES:-7}
DEVICE=${DEVICE:-cuda}
PRECISION=${PRECISION:-bf16}
WORKERS=${WORKERS:-6}
VAL_EVERY=${VAL_EVERY:-10}
EXTRA=${EXTRA:-}
RUNS=${RUNS_DIR:-/tmp/gun-runs}
export PYTHONUNBUFFERED=1 PYTHONPATH=.
mkdir -p "$OUT" "$RUNS"
LOG="$OUT/log.txt"
[ -d "$PACK/train" ] || { echo "gpu-train: no $PACK/train: run scripts/pack_camvid.py here and carry $PACK" | tee -a "$LOG"; exit 2; }
{ date; nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } >> "$LOG" 2>&1

common=(--encoder efficientnet_lite0 --scales 1 1 --dataset camvid --data-root "$PACK" --epochs "$EPOCHS" --batch-size 8
        --lr 0.01 --nesterov --schedule poly --crop 288 384 --workers "$WORKERS" --val-every "$VAL_EVERY" --class-weights sqrt-median-freq
        --encoder-weights "$PACK/efficientnet_lite0_imagenet_fp16.pth" --precision "$PRECISION" --no-progress)
[ -n "${MAX_STEPS:-}" ] && common+=(--max-steps "$MAX_STEPS")
# shellcheck disable=SC2206
common+=($EXTRA)

# both runs at once on the one GPU; a hard stop keeps the call inside its limit (each epoch
# leaves last.safetensors and best.safetensors behind, so a stopped run still has its best model)
for model in gun bilinear; do
    timeout "$((TRAIN_MINUTES * 60))" python3 -m gun.cli train --preset "$model" "${common[@]}" --out "$RUNS/$model" > "$RUNS/$model.log" 2>&1 &
done
wait || true
for model in gun bilinear; do { echo "== $model"; tail -n 30 "$RUNS/$model.log"; } >> "$LOG"; done

limit=()
[ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
for model in gun bilinear; do
    ckpt="$RUNS/$model/best.safetensors"
    [ -f "$ckpt" ] || ckpt="$RUNS/$model/last.safetensors"
    decoder=$([ "$model" = gun ] && echo all || echo bilinear)
    python3 -m gun.cli eval --checkpoint "$ckpt" --dataset camvid --data-root "$PACK" --split val --decoder "$decoder" \
        --device "$DEVICE" --no-progress --json "$RUNS/$model-eval.json" "${limit[@]}" >> "$LOG" 2>&1
    python3 -m gun.cli release "$ckpt" --out "$OUT/$model.safetensors" --metrics "$RUNS/$model-eval.json" >> "$LOG" 2>&1
done
python3 -m gun.cli trimap --checkpoint "$OUT/gun.safetensors" --checkpoint2 "$OUT/bilinear.safetensors" --dataset camvid \
    --data-root "$PACK" --split val --device "$DEVICE" --no-progress --out "$OUT/trimap.png" --json "$RUNS/trimap.json" "${limit[@]}" >> "$LOG" 2>&1
python3 - "$RUNS" "$OUT/report.json" <<'PY'
import json, sys
from pathlib import Path
runs, out = Path(sys.argv[1]), Path(sys.argv[2])
read = lambda p: json.loads(p.read_text()) if p.is_file() else None
report = {m: {"eval": read(runs / f"{m}-eval.json"), "history": (read(runs / m / "history.json") or {}).get("history")} for m in ("gun", "bilinear")}
report["trimap"] = read(runs / "trimap.json")
for m in ("gun", "bilinear"):  # confusion matrices make the file large and are rebuilt by gun eval
    for r in ((report[m]["eval"] or {}).get("decoders") or {}).values():
        r.pop("confusion", None)
    (report[m]["eval"] or {}).pop("confusion", None)
out.write_text(json.dumps(report, indent=1))
print("wrote", out)
PY
date >> "$LOG"
ls -la "$OUT"
