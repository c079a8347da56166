"""Whisper base (int8, CTranslate2) speed: real-time factor (compute seconds per audio second) on espeak-ng speech.

``rtf`` is wall time per audio second; ``cpu_s`` is the process CPU time of all threads (less sensitive to other
load on a shared machine). Usage: python benchmarks/bench_asr.py [--threads 2] [--repeats 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from engine.asr import WhisperTranscriber
from engine.options import AsrOptions
from streams import synth
from streams.items import SAMPLE_RATE

TARGET_RTF = 0.35
UTTERANCES = (
    "what colour is the car that is parked on the left side of the screen",
    "how many people are sitting at the table in the kitchen right now",
    "can you read the words written on the sign behind the man with the red hat",
    "tell me what the woman on the left is holding in her hand and what she is doing with it",
    "describe what has happened since the dog ran into the garden and started to bark at the cat",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per utterance (default 1)")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    options = AsrOptions(cpu_threads=args.threads)
    started = time.perf_counter()
    transcriber = WhisperTranscriber(options)
    load_s = time.perf_counter() - started
    clips = [synth.speak(text) for text in UTTERANCES]
    transcriber.transcribe(clips[0])  # warm-up
    rows = []
    for text, clip in zip(UTTERANCES, clips, strict=True):
        seconds = len(clip) / SAMPLE_RATE
        runs, cpu = [], []
        heard = ""
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            heard = transcriber.transcribe(clip)
            runs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        compute = statistics.median(runs)
        rows.append(
            {
                "audio_s": round(seconds, 2),
                "asr_s": round(compute, 3),
                "rtf": round(compute / seconds, 3),
                "cpu_s": round(statistics.median(cpu), 3),
                "said": text,
                "heard": heard,
            }
        )
    rtf = statistics.median(r["rtf"] for r in rows)
    result = {
        "benchmark": "asr",
        "model": "whisper base (shipped), faster-whisper int8 CPU, beam 1, temperature 0",
        "threads": args.threads,
        "load_s": round(load_s, 2),
        "median_rtf": rtf,
        "median_cpu_s_per_audio_s": round(statistics.median(r["cpu_s"] / r["audio_s"] for r in rows), 3),
        "target_rtf": TARGET_RTF,
        "meets_target": rtf <= TARGET_RTF,
        "utterances": rows,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
