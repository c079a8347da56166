"""Barge-in latency, live: speech onset (in the audio timeline) → the last answer token emitted.

A live session (wall clock) gets a microphone stream pushed in real time, 32 ms at a time, through the real Silero
VAD and Whisper. Each trial types a question that starts a long answer, waits until the answer is streaming, then
speaks an interruption into the microphone. From the events: the VAD onset of the speech (``speech.started.t``,
the start of the first voiced 32 ms window), the pause (``response.paused.t``), and the last ``response.delta`` of
the interrupted answer. Latency = how long after the onset that answer still emitted text (0 if nothing came after
the onset). Backends: ``cascade`` (SmolLM2-135M on transformers) and ``vlm`` with the tiny random-weight
Qwen2.5-VL built offline.

python benchmarks/bench_barge_in.py [--backend cascade|tiny-vlm] [--trials 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import statistics
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from engine.events import Event, ResponseDelta, ResponseDone, ResponsePaused, ResponseStarted, SpeechStarted
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from streams.clock import LiveClock
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE
from streams.push import PushSource
from streams.synth import noise, speak

QUESTION = "Describe everything you noticed in the stream in detail."
STREAMING_BEFORE_S = 0.0  # how long the answer streams before the interruption is spoken (cascade answers are short)


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = asyncio.Event()

    def add(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()

    async def wait_for(self, match, timeout: float) -> Event | None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in self.events if match(e)), None)
            if found is not None or time.monotonic() > deadline:
                return found
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))


async def run(backend: str, trials: int, max_new_tokens: int) -> dict:
    model, name = None, backend
    if backend == "tiny-vlm":
        from engine.backends.omni.tiny import cached_tiny

        model, name = str(cached_tiny("vl")), "vlm"
    options = SessionOptions(response=ResponseOptions(max_new_tokens=max_new_tokens), gate_mode="always")
    clock = LiveClock()
    session = await open_session(EngineConfig(backend=name, model=model, device="cpu", options=options), clock)
    mic = PushSource("audio", "mic", now=clock.now)
    camera = PushSource("video", "camera", now=clock.now)
    frame = np.full((240, 320, 3), (30, 60, 150), np.uint8)
    cv2.putText(frame, "PLATFORM 3", (20, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3)
    recorder = Recorder()
    events = session.subscribe()
    speech: deque[np.ndarray] = deque()
    interruption = speak("Wait, stop there please.")
    hiss = noise(1.0, amplitude=0.001, seed=3)
    stop = asyncio.Event()

    async def collect() -> None:
        async for event in events:
            recorder.add(event)

    async def microphone() -> None:
        due = time.monotonic()
        i = 0
        while not stop.is_set():
            chunk = speech.popleft() if speech else hiss[(i % 31) * CHUNK_SAMPLES : (i % 31 + 1) * CHUNK_SAMPLES]
            mic.push_audio(chunk)
            i += 1
            due += CHUNK_SAMPLES / SAMPLE_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        mic.end()

    async def video() -> None:
        while not stop.is_set():
            camera.push_frame(frame)
            await asyncio.sleep(0.5)
        camera.end()

    collector = asyncio.create_task(collect())
    runner = asyncio.create_task(session.run([mic, camera]))
    feeder = asyncio.create_task(microphone())
    shooter = asyncio.create_task(video())
    await recorder.wait_for(lambda e: e.type == "session.started", 10)
    await asyncio.sleep(2.0)  # a few frames observed before the first question
    latencies, pauses, after_onset = [], [], []
    for _ in range(trials):
        mark = len(recorder.events)
        session.submit_text(QUESTION)
        started = await recorder.wait_for(
            lambda e, m=mark: isinstance(e, ResponseStarted) and recorder.events.index(e) >= m, 10
        )
        if started is None:
            continue
        rid = started.response_id  # type: ignore[attr-defined]
        first = await recorder.wait_for(lambda e, r=rid: isinstance(e, ResponseDelta) and e.response_id == r, 20)
        if first is None:
            continue
        await asyncio.sleep(STREAMING_BEFORE_S)
        if any(isinstance(e, ResponseDone) and e.response_id == rid for e in recorder.events):
            continue  # the answer ended before the interruption: nothing to measure
        mark = len(recorder.events)
        speech.extend(
            interruption[i : i + CHUNK_SAMPLES] for i in range(0, len(interruption) - CHUNK_SAMPLES, CHUNK_SAMPLES)
        )
        onset = await recorder.wait_for(
            lambda e, m=mark: isinstance(e, SpeechStarted) and recorder.events.index(e) >= m, 10
        )
        done = await recorder.wait_for(lambda e, r=rid: isinstance(e, ResponseDone) and e.response_id == r, 20)
        if onset is None or done is None:
            continue
        deltas = [e for e in recorder.events if isinstance(e, ResponseDelta) and e.response_id == rid]
        later = [e.t for e in deltas if e.t > onset.t]
        after_onset.append(len(later))
        latencies.append(max([0.0, *((t - onset.t) * 1000 for t in later)]))
        paused = next((e for e in recorder.events if isinstance(e, ResponsePaused) and e.response_id == rid), None)
        if paused is not None:
            pauses.append((paused.t - onset.t) * 1000)
        # let the interruption's own answer finish before the next trial
        await recorder.wait_for(
            lambda e, m=mark, r=rid: (
                isinstance(e, ResponseDone) and e.response_id != r and recorder.events.index(e) >= m
            ),
            30,
        )
    stop.set()
    await feeder
    await shooter
    await runner
    await collector
    statuses = [e.status for e in recorder.events if isinstance(e, ResponseDone)]
    return {
        "benchmark": "barge-in (live): speech onset -> last answer token",
        "backend": backend,
        "trials_measured": len(latencies),
        "last_token_after_onset_ms_p50": percentile(latencies, 50),
        "last_token_after_onset_ms_p95": percentile(latencies, 95),
        "pause_after_onset_ms_p50": percentile(pauses, 50),
        "pause_after_onset_ms_p95": percentile(pauses, 95),
        "deltas_after_onset_median": statistics.median(after_onset) if after_onset else None,
        "interrupted": statuses.count("interrupted"),
        "target_ms_p95": 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["cascade", "tiny-vlm"], default="cascade")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default 400 (cascade), 1500 (tiny-vlm)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tokens = args.max_new_tokens or (400 if args.backend == "cascade" else 1500)
    result = asyncio.run(run(args.backend, args.trials, tokens))
    result["machine"] = f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}"
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
