"""Silero VAD speed: milliseconds per 512-sample (32 ms) window, one stream, one thread.

Usage: python benchmarks/bench_vad.py [--windows 2000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from engine.vad import SileroVadModel
from streams import synth
from streams.items import CHUNK_SAMPLES

TARGET_MS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2000, help="windows to time (default 2000)")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    if args.windows < 1:
        parser.error("--windows must be at least 1")

    speech = synth.speak("what colour is the car on the screen, and how many people are sitting at the table")
    audio = synth.place(len(speech) / 16000 + 2.0, [(1.0, speech)]) + synth.noise(len(speech) / 16000 + 2.0, 0.003)
    windows = audio[: len(audio) // CHUNK_SAMPLES * CHUNK_SAMPLES].reshape(-1, CHUNK_SAMPLES)
    started = time.perf_counter()
    model = SileroVadModel.load()
    load_ms = (time.perf_counter() - started) * 1000
    detector = model.detector()
    for window in windows[:50]:
        detector.probability(window)
    detector.reset()
    times = []
    for i in range(args.windows):
        window = np.ascontiguousarray(windows[i % len(windows)])
        t0 = time.perf_counter()
        detector.probability(window)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    result = {
        "benchmark": "vad",
        "model": "silero_vad_v6.onnx (onnxruntime CPU, 1 thread)",
        "windows": args.windows,
        "load_ms": round(load_ms, 1),
        "median_ms_per_window": round(statistics.median(times), 4),
        "p90_ms_per_window": round(times[int(0.9 * (len(times) - 1))], 4),
        "max_ms_per_window": round(times[-1], 4),
        "real_time_factor": round(statistics.median(times) / (CHUNK_SAMPLES / 16.0), 5),
        "target_ms": TARGET_MS,
        "meets_target": statistics.median(times) <= TARGET_MS,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "machine": platform.processor() or platform.machine(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
