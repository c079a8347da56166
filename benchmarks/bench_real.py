"""Recognition on real photos: the ``gen-bench-real`` suite replayed through the live Session with a backend.

Prints JSON: multiple-choice accuracy per task (official and robust), proactive correctness, the grounding audit of
the open answers (every ungrounded claim listed), and perception cost per frame at 2 fps (wall and process CPU time
of the backend's ``ingest_frame``, over every frame of the suite, in a second pass after the replay) with the share
of the machine's two cores it takes; then the markdown rows for docs/BENCHMARKS.md. Usage:
python benchmarks/bench_real.py [--videos 12] [--seed 0] [--backend cascade] [--suite DIR] [--out DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.backends.registry import get_backend
from eval.bench import BenchConfig, run_bench
from eval.generator_real import RealGenConfig, generate_real
from streams.items import VideoFrame

FPS = 2.0
CORES = 2


def perception_cost(suite: Path, backend: str) -> dict[str, Any]:
    """Every video of the suite at 2 fps through one fresh context of the (already loaded) backend, frame by frame."""
    loaded = get_backend(backend)
    wall, cpu = [], []
    reported: dict[str, list[float]] = {"total_ms": [], "ocr_ms": [], "vision_ms": []}
    for video in sorted((suite / "videos").glob("*.mp4")):
        context = loaded.open_context()
        cap = cv2.VideoCapture(str(video))
        native = cap.get(cv2.CAP_PROP_FPS) or FPS
        n = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                t = n / native
                n += 1
                if abs(t * FPS - round(t * FPS)) > 1e-6:
                    continue
                image = np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                w0, c0 = time.perf_counter(), time.process_time()
                context.ingest_frame(VideoFrame(t=t, image=image))
                wall.append(time.perf_counter() - w0)
                cpu.append(time.process_time() - c0)
                observation = getattr(context, "last_observation", None)
                if observation is not None and getattr(observation, "t", None) == t:
                    for key, values in reported.items():
                        values.append(float(getattr(observation, key, 0.0)))
        finally:
            cap.release()
            context.close()

    def stats(values: list[float], scale: float) -> dict[str, float]:
        arr = np.asarray(values, dtype=float) * scale
        return {
            "mean": round(float(arr.mean()), 1),
            "p50": round(float(np.percentile(arr, 50)), 1),
            "p95": round(float(np.percentile(arr, 95)), 1),
            "max": round(float(arr.max()), 1),
        }

    cpu_per_frame = float(np.mean(cpu))
    return {
        "frames": len(wall),
        "wall_ms": stats(wall, 1000),
        "process_cpu_ms": stats(cpu, 1000),
        "observation_ms": {key: stats(values, 1) for key, values in reported.items() if values},
        "core_seconds_per_stream_second": round(cpu_per_frame * FPS, 3),
        "share_of_two_cores": round(cpu_per_frame * FPS / CORES, 3),
    }


def summary(report: dict[str, Any]) -> dict[str, Any]:
    scores = report["scores"]
    tasks = {
        code: {"items": b["total"], "official": b["official"], "robust": b["robust"]}
        for code, b in scores["tasks"].items()
    }
    choice = [b for code, b in scores["tasks"].items() if code != "PO"]
    items = sum(b["total"] for b in choice)
    official = sum(b["official_correct"] for b in choice)
    robust = sum(b["robust_correct"] for b in choice)
    po = scores["tasks"].get("PO")
    grounding = report.get("grounding", {})
    return {
        "mcq_items": items,
        "mcq_official": round(100 * official / items, 2) if items else None,
        "mcq_robust": round(100 * robust / items, 2) if items else None,
        "per_task": tasks,
        "proactive": {
            "items": po["total"],
            "official_correct": po["official_correct"],
            "robust_correct": po["robust_correct"],
        }
        if po
        else None,
        "open_answers": grounding.get("open_answers"),
        "claims": grounding.get("claims"),
        "ungrounded": grounding.get("ungrounded"),
        "unchecked": grounding.get("unchecked"),
        "ungrounded_by_kind": {k: v["ungrounded"] for k, v in grounding.get("by_kind", {}).items()},
        "ungrounded_claims": [
            {
                "t": c["time_s"],
                "question": c["question"],
                "claim": f"{c['kind']}: {c['value']}",
                "answer": c["response"],
            }
            for c in grounding.get("ungrounded_claims", [])
        ],
        "ttft_ms": report["ttft_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="cascade")
    parser.add_argument("--suite", type=Path, help="use (or write) the suite in this folder")
    parser.add_argument("--out", type=Path, help="keep the bench output (results, reports) in this folder")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        suite = args.suite or Path(tmp) / "suite"
        started = time.perf_counter()
        if not (suite / "scenes.json").is_file():
            generate_real(RealGenConfig(out=suite, videos=args.videos, seed=args.seed))
        gen_s = time.perf_counter() - started
        files = tuple(suite / f"questions_{k}.json" for k in ("real", "open", "proactive"))
        started = time.perf_counter()
        result = run_bench(
            BenchConfig(
                data=files, videos=suite, out=args.out or Path(tmp) / "out", backend=args.backend, progress=False
            )
        )
        bench_s = time.perf_counter() - started
        load = round(os.getloadavg()[0], 2)
        cost = perception_cost(suite, args.backend)
    out = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "load_average_1m_after_replay": load,
        "backend": args.backend,
        "videos": args.videos,
        "seed": args.seed,
        "generate_s": round(gen_s, 1),
        "bench_s": round(bench_s, 1),
        "replay_speed": result.report["meta"]["replay_speed"],
        **summary(result.report),
        "perception_per_frame": cost,
    }
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text)
    po = out["proactive"] or {"official_correct": 0, "items": 0}
    print(
        f"\n| G | real-photo suite: MCQ accuracy ≥ 85 % | **{out['mcq_official']} %** official, {out['mcq_robust']} % "
        f"robust ({out['mcq_items']} questions) |"
        f"\n| G | 0 ungrounded claims on ≥ 30 open questions | **{out['ungrounded']}** ungrounded of {out['claims']} "
        f"claims ({out['open_answers']} open answers) |"
        f"\n| G | proactive on real photos | {po['official_correct']}/{po['items']} official |"
        f"\n| G | perception per frame at 2 fps | {cost['process_cpu_ms']['mean']} ms CPU mean "
        f"(p95 {cost['process_cpu_ms']['p95']}), {100 * cost['share_of_two_cores']:.1f} % of two cores |"
    )


if __name__ == "__main__":
    main()
