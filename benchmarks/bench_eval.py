"""StreamingBench-style evaluator speed: generate a synthetic suite and replay it through a backend.

Prints JSON (wall time, replay speed in stream-seconds per wall-second, frames decoded vs a per-question re-cut,
TTFT, accuracy) and a markdown row. Usage:
python benchmarks/bench_eval.py [--videos 10] [--seconds 30] [--workers 1] [--backend cascade] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from eval.bench import BenchConfig, run_bench
from eval.generator import GenConfig, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", default="cascade")
    parser.add_argument("--proactive", choices=("poll", "events"), default="poll")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        written = generate(GenConfig(out=root / "suite", videos=args.videos, seed=args.seed, seconds=args.seconds))
        files = [p for p in written if not p.stem.endswith("_stream")]  # the typed-question files
        gen_s = time.perf_counter() - started
        started = time.perf_counter()
        result = run_bench(
            BenchConfig(
                data=tuple(files), videos=root / "suite", out=root / "out", backend=args.backend,
                workers=args.workers, proactive=args.proactive, progress=False,
            )
        )  # fmt: skip
        bench_s = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = result.report
    scores = report["scores"]
    out = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "backend": args.backend,
        "videos": args.videos,
        "seconds_per_video": args.seconds,
        "workers": args.workers,
        "proactive": args.proactive,
        "generate_s": round(gen_s, 1),
        "bench_s": round(bench_s, 1),
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # generation + replay, all threads
        "load_average_1m": round(os.getloadavg()[0], 2),
        "replay_speed": report["meta"]["replay_speed"],
        "frames_decoded": report["meta"]["frames_decoded"],
        "frames_decoded_recut": report["meta"]["frames_decoded_recut"],
        "decode_ratio_vs_recut": report["meta"]["decode_ratio_vs_recut"],
        "ttft_ms": report["ttft_ms"],
        "items": report["answered"],
        "official": {
            "overall": scores["overall"]["official"],
            **{c: b["official"] for c, b in scores["categories"].items()},
        },
        "robust": {"overall": scores["overall"]["robust"], **{c: b["robust"] for c, b in scores["categories"].items()}},
        "per_task_official": {code: b["official"] for code, b in scores["tasks"].items()},
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(
        f"\n| {args.videos} × {args.seconds:g} s | {args.workers} | {out['bench_s']} s | {out['replay_speed']} | "
        f"{out['decode_ratio_vs_recut']} | {out['ttft_ms']['p50']} / {out['ttft_ms']['p95']} ms | "
        f"{out['official']['overall']} % | {out['robust']['overall']} % |"
    )


if __name__ == "__main__":
    main()
