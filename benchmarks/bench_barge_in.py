"""Barge-in latency: speech onset (in the audio timeline) → the last answer token emitted, and decoding stopped.

A session replays, in real time, an audio track with short spoken interruptions through the real Silero VAD and
Whisper, while typed questions start long answers just before each interruption. For every interruption we take the
VAD onset of the speech (``speech.started.t``, audio time) and the stream time of the last ``response.delta`` of the
answer in flight; the latency is how long after the onset that answer still emitted text (0 when nothing came after
the onset). The pause is also timed (``response.paused.t - onset``). Backends: ``cascade`` (SmolLM2-135M) and a
small transformers model (``vlm`` with the tiny random-weight Qwen2.5-VL built offline).

python benchmarks/bench_barge_in.py [--backend cascade|tiny-vlm] [--trials 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
from pathlib import Path

import numpy as np

from engine.events import Event, ResponseDelta, ResponseDone, ResponsePaused, SpeechStarted
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.synth import place, speak, write_wav
from streams.text import ScheduledTextSource

PERIOD = 8.0  # seconds per trial: a question at 0, the interruption at --offset
QUESTION = "Describe everything you noticed in the stream in detail."


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run(backend: str, trials: int, offset: float, folder: Path) -> dict:
    interruption = speak("Wait, stop there please.")
    seconds = trials * PERIOD + 2.0
    audio = place(seconds, [(i * PERIOD + offset, interruption) for i in range(trials)])
    wav = write_wav(folder / "interruptions.wav", audio)
    model = None
    name = backend
    if backend == "tiny-vlm":
        from engine.backends.omni.tiny import cached_tiny

        model, name = str(cached_tiny("vl")), "vlm"
    options = SessionOptions(response=ResponseOptions(max_new_tokens=400), gate_mode="always")
    session = await open_session(
        EngineConfig(backend=name, model=model, device="cpu", options=options), ReplayClock("realtime")
    )
    events = session.subscribe()
    collected: list[Event] = []

    async def collect() -> None:
        async for event in events:
            collected.append(event)

    task = asyncio.create_task(collect())
    await session.run([AudioFileSource(str(wav)), ScheduledTextSource([(i * PERIOD, QUESTION) for i in range(trials)])])
    await task

    latencies, pauses, after_onset = [], [], []
    onsets = [e for e in collected if isinstance(e, SpeechStarted)]
    for onset in onsets:
        before = collected[: collected.index(onset)]
        streaming = [e.response_id for e in before if isinstance(e, ResponseDelta)]
        if not streaming:
            continue
        rid = streaming[-1]
        if any(isinstance(e, ResponseDone) and e.response_id == rid for e in before):
            continue  # that answer had finished before the onset: nothing to interrupt
        deltas = [e for e in collected if isinstance(e, ResponseDelta) and e.response_id == rid]
        later = [e for e in deltas if e.t > onset.t]
        after_onset.append(len(later))
        latencies.append(max(0.0, max(e.t for e in deltas) - onset.t) * 1000)
        paused = next((e for e in collected if isinstance(e, ResponsePaused) and e.response_id == rid), None)
        if paused is not None:
            pauses.append(max(0.0, paused.t - onset.t) * 1000)
    done = [e for e in collected if isinstance(e, ResponseDone)]
    return {
        "benchmark": "barge-in: speech onset -> last answer token",
        "backend": backend,
        "interruptions_measured": len(latencies),
        "last_token_after_onset_ms_p50": round(percentile(latencies, 50), 1),
        "last_token_after_onset_ms_p95": round(percentile(latencies, 95), 1),
        "pause_after_onset_ms_p50": round(percentile(pauses, 50), 1),
        "pause_after_onset_ms_p95": round(percentile(pauses, 95), 1),
        "deltas_after_onset_median": statistics.median(after_onset) if after_onset else None,
        "interrupted": sum(1 for d in done if d.status == "interrupted"),
        "target_ms_p95": 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["cascade", "tiny-vlm"], default="cascade")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--offset", type=float, default=1.5, help="seconds from each question to its interruption")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.backend, args.trials, args.offset, Path(tmp)))
    result["machine"] = f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}"
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
