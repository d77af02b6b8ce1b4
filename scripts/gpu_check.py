"""Everything issue 9 asks of a CUDA GPU, in one call of at most 9 minutes: run by scripts/gpu-check.sh.

    OUT=/tmp/gpu python3 scripts/gpu_check.py            # on the GPU machine (the device tool's $OUT)
    OUT=/tmp/gpu python3 scripts/gpu_check.py --tiny     # rehearsal on a CPU: tiny sizes, a few runs, seconds

Steps (each with its own time limit, skipped when the overall budget is spent; a failing step does
not stop the others): the environment; the cuda-marked tests; `gun bench` at the paper's setting
(DRN-D-22 GUN, 1024x2048, batch 1) in fp16 and bf16 with BN folded, channels-last and CUDA graphs
and the matmul roofline, an fp32 eager baseline and a torch.compile row; FPS against input size for
the EfficientNet-Lite0 GUN (plot); `gun annotate --device cuda`; the app worker's pipeline headless
(prefetch thread -> Segmenter on CUDA -> rendering at display size), model-alone FPS against
pipeline FPS. Writes $OUT/report.json, $OUT/report.md, $OUT/sweep.png and $OUT/log.txt.

Model: weights/gun_effnet_camvid.safetensors when it loads, else a random-weight checkpoint of the
same architecture (speed does not depend on the weights; the report says which).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = float(os.environ.get("GPU_CHECK_BUDGET", "520"))  # the whole script; gpu-check.sh kills it 20 s later
EFFNET = ROOT / "weights" / "gun_effnet_camvid.safetensors"
VIDEO = ROOT / "assets" / "vtest.avi"


class Runner:
    def __init__(self, out: Path, budget: float, skip: list[str]) -> None:
        self.out, self.deadline, self.skip = out, time.monotonic() + budget, set(skip)
        self.steps: list[dict[str, Any]] = []
        self.log = open(out / "log.txt", "w")  # noqa: SIM115 - open for the whole run

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, cmd: list[str], limit: float, json_out: Path | None = None) -> dict[str, Any]:
        step: dict[str, Any] = {"step": name, "command": " ".join(cmd)}
        if name in self.skip:
            step.update(status="skipped (--skip)")
            self.steps.append(step)
            return step
        limit = min(limit, self.left() - 5)
        if limit < 10:
            step.update(status="skipped (time budget spent)")
            self.steps.append(step)
            return step
        t0 = time.monotonic()
        self.log.write(f"\n===== {name}: {' '.join(cmd)}\n")
        self.log.flush()
        try:
            p = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=limit, env=_env())
            step.update(rc=p.returncode, status="ok" if p.returncode == 0 else "failed")
            output = p.stdout + p.stderr
        except subprocess.TimeoutExpired as e:
            step.update(rc=None, status=f"timed out after {limit:.0f} s")
            output = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace") \
                if isinstance(e.stdout, bytes) else str(e.stdout or "") + str(e.stderr or "")
        step["seconds"] = round(time.monotonic() - t0, 1)
        step["tail"] = output[-1500:]
        self.log.write(output)
        self.log.flush()
        if json_out is not None and json_out.exists():
            step["result"] = json.loads(json_out.read_text())
            json_out.unlink()
        print(f"{name}: {step['status']} ({step['seconds']} s)", flush=True)
        self.steps.append(step)
        return step


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def checkpoint(folder: Path) -> tuple[Path, str]:
    """The shipped EfficientNet-Lite0 GUN if it loads, else a random one of the same architecture."""
    from gun.nn.checkpoint import CheckpointError, CheckpointMeta, load_model, save_checkpoint

    try:
        load_model(EFFNET)
        return EFFNET, f"shipped {EFFNET.name}"
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        reason = str(e).splitlines()[0][:160]
    import torch

    from gun.data.labels import CAMVID_CLASSES, CAMVID_PALETTE
    from gun.nn.config import preset
    from gun.nn.model import build_model

    torch.manual_seed(0)
    config = preset("gun", encoder="efficientnet_lite0", num_classes=len(CAMVID_CLASSES), scales=(1.0, 1.0))
    model = build_model(config).eval()
    meta = CheckpointMeta(config, tuple(CAMVID_CLASSES), tuple(CAMVID_PALETTE), model.mean, model.std, preset="gun",
                          input_size=(360, 480), dataset="random (gpu check)", licence="random weights")
    path = folder / "gun_effnet_random.safetensors"
    save_checkpoint(path, model, meta)
    return path, f"random weights, same architecture as {EFFNET.name} (shipped file did not load: {reason})"


def worker(weights: str, device: str, frames: int) -> dict[str, Any]:
    """The app worker's pipeline without Qt: a Prefetcher thread decodes, the Segmenter runs on
    `device`, every frame is rendered side by side at display size. FPS of the model alone (the
    Segmenter's inference stage) against the whole pipeline (wall clock per frame)."""
    import statistics

    from gun.io.prefetch import Prefetcher
    from gun.io.sources import open_source
    from gun.render.annotate import VIEWS, render
    from gun.runtime.segmenter import Segmenter

    seg = Segmenter.from_checkpoint(weights, device=device, dtype="auto", backend="auto")
    stages: dict[str, list[float]] = {}
    wall: list[float] = []
    with open_source(VIDEO) as source:
        pre = Prefetcher(source).start()
        try:
            first = pre.get()
            assert first is not None, f"{VIDEO} gave no frames"
            for _ in range(3):  # warm-up: export/capture, autotuning
                seg(first[0].image)
            for _ in range(frames):
                t0 = time.perf_counter()
                item = pre.get()
                if item is None:
                    break
                frame, decode_ms = item
                result = seg(frame.image)
                t1 = time.perf_counter()
                render(frame.image, result, VIEWS["side-by-side"], seg.class_names, seg.palette)
                stages.setdefault("render", []).append((time.perf_counter() - t1) * 1e3)
                stages.setdefault("decode", []).append(decode_ms)
                for k, v in result.timings.items():
                    stages.setdefault(k, []).append(v)
                wall.append((time.perf_counter() - t0) * 1e3)
        finally:
            pre.stop()
    med = {k: statistics.median(v) for k, v in stages.items()}
    model_fps = 1000 / med["inference"]
    pipeline_fps = 1000 / statistics.median(wall)
    return {"segmenter": seg.description, "frames": len(wall), "frame_size": list(first[0].image.shape[:2]),
            "median_ms": med, "model_alone_fps": model_fps, "pipeline_fps": pipeline_fps, "pipeline_over_model": pipeline_fps / model_fps}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="rehearse on a CPU: tiny sizes, few runs")
    ap.add_argument("--skip", nargs="+", default=[], metavar="STEP", help="leave out these steps (e.g. cuda-tests, run beside training)")
    ap.add_argument("--worker", nargs=3, metavar=("WEIGHTS", "DEVICE", "FRAMES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))  # gun without an install (the GPU machine has only the checkout)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], int(args.worker[2]))))
        return 0
    out = Path(os.environ.get("OUT") or ROOT / "gpu-check-out")
    out.mkdir(parents=True, exist_ok=True)
    r = Runner(out, min(400, BUDGET_S) if args.tiny else BUDGET_S, args.skip)
    py = sys.executable
    gun = [py, "-m", "gun.cli"]
    dev = "cpu" if args.tiny else "cuda"
    paper = ["--preset", "gun", "--encoder", "drn_d_22", "--size", "128x256" if args.tiny else "1024x2048", "--device", dev]
    runs = ["--warmup", "1", "--runs", "3"] if args.tiny else ["--warmup", "20", "--runs", "100"]
    fast = ["--fold-bn", "--channels-last"] + ([] if args.tiny else ["--cuda-graphs"])
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    weights, weights_note = checkpoint(tmp)

    r.run("environment", ["sh", "-c", "nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm "
                          "--format=csv; lscpu | grep -E 'Model name|^CPU\\(s\\)'; grep -o -w -E 'amx_bf16|avx512_bf16' /proc/cpuinfo | sort -u; " + py + " -c 'import torch; print(torch.__version__, torch.version.cuda, "
                          "torch.cuda.is_available() and torch.cuda.get_device_name())'"], 30)
    r.run("cuda-tests", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda", "tests/test_infer.py", "tests/test_backends.py",
                         "tests/test_bench.py", "tests/test_distill.py"], 150)
    for dtype in ("float32", "bfloat16") if args.tiny else ("float16", "bfloat16"):  # fp16 is emulated (slow) on a CPU
        j = tmp / f"paper_{dtype}.json"
        r.run(f"bench-paper-{dtype}", [*gun, "bench", *paper, "--dtype", dtype, *fast, "--roofline", *runs, "--json", str(j)], 100, j)
    j = tmp / "paper_fp32.json"
    r.run("bench-paper-float32-eager", [*gun, "bench", *paper, "--dtype", "float32", "--roofline", "--warmup", "3", "--runs", "3" if args.tiny else "30",
                                        "--json", str(j)], 80, j)
    j = tmp / "sweep.json"
    sizes = ["64x96", "128x160"] if args.tiny else ["360x480", "720x960", "1024x2048"]
    r.run("bench-sizes-effnet", [*gun, "bench", "--checkpoint", str(weights), "--size", *sizes, "--device", dev, "--dtype",
                                 "auto", *fast, "--roofline", *runs, "--json", str(j), "--plot", str(out / "sweep.png")], 100, j)
    frames = "3" if args.tiny else "100"
    r.run("annotate-cuda", [*gun, "annotate", str(VIDEO), "--out", str(tmp / "annotate.mp4"), "--weights", str(weights), "--device", dev,
                            "--dtype", "float32" if args.tiny else "float16", "--frames", frames, "--view", "side-by-side", "--no-progress"], 90)
    step = r.run("worker-headless", [py, str(Path(__file__).resolve()), "--worker", str(weights), dev, "5" if args.tiny else "150"], 90)
    if step.get("rc") == 0:
        step["result"] = json.loads(step["tail"].strip().splitlines()[-1])
    j = tmp / "paper_cpu_bf16.json"  # the GPU machine's own CPU: the paper's setting against the bf16 floor
    r.run("bench-paper-cpu-bf16", [*gun, "bench", *paper[:-2], "--device", "cpu", "--dtype", "bfloat16", "--fold-bn", "--channels-last",
                                   "--roofline", "--warmup", "1" if args.tiny else "3", "--runs", "3" if args.tiny else "10", "--json", str(j)], 90, j)
    j = tmp / "paper_compile.json"
    if not args.tiny:  # inductor compiles for minutes on a small CPU; the rehearsal skips it
        r.run("bench-paper-compile", [*gun, "bench", *paper, "--dtype", "float16", "--compile", "--fold-bn", "--channels-last",
                                      "--warmup", "10", "--runs", "50", "--json", str(j)], 150, j)
    report = {"tiny_rehearsal": args.tiny, "weights": weights_note, "steps": r.steps}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(markdown(report))
    print((out / "report.md").read_text())
    return 0 if all(s["status"] in ("ok", "skipped (--skip)") for s in r.steps) else 1


def markdown(report: dict[str, Any]) -> str:
    lines = ["# GPU check" + (" (tiny CPU rehearsal: not figures)" if report["tiny_rehearsal"] else ""), "",
             f"Model for annotate/worker/sweep: {report['weights']}", "", "| step | status | seconds |", "|---|---|---:|"]
    lines += [f"| {s['step']} | {s['status']} | {s.get('seconds', '-')} |" for s in report["steps"]]
    lines += ["", "| setting | backend | dtype | size | decoder | median ms | FPS | x floor |", "|---|---|---|---|---|---:|---:|---:|"]
    for s in report["steps"]:
        results = s.get("result")
        if not results or "worker" in s["step"]:
            continue
        for rep in results.get("sweep", [results]):
            h, w = rep["size"]
            for b, per in rep["results"].items():
                for d, row in per.items():
                    floor = f"{row['multiple_of_floor']:.1f}" if "multiple_of_floor" in row else "-"
                    lines.append(f"| {s['step']} | {b} | {row['dtype']} | {h}x{w} | {d} | {row['ms_median']:.2f} | {row['fps']:.1f} | {floor} |")
            for b, ratio in (rep.get("ratio_gum_over_bilinear") or {}).items():
                lines.append(f"| {s['step']}: GUM / bilinear ({b}) | | | {h}x{w} | | {ratio:.3f} | | |")
    for s in report["steps"]:
        if "worker" in s["step"] and s.get("result"):
            w = s["result"]
            stages = json.dumps({k: round(v, 2) for k, v in w["median_ms"].items()})
            lines += ["", (f"Worker pipeline ({w['segmenter']}, {w['frames']} frames of {w['frame_size']}): model alone "
                           f"{w['model_alone_fps']:.1f} FPS, pipeline {w['pipeline_fps']:.1f} FPS ({w['pipeline_over_model']:.2f}x); "
                           f"median ms per stage {stages}")]
    device = next((s["tail"] for s in report["steps"] if s["step"] == "environment"), "")
    lines += ["", "Environment:", "```", device.strip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
