"""End-to-end session benchmarks through the real audio front end and a real backend.

  latency  Speech end → first answer token: a clip with spoken questions replayed in real time; for each question
           the time from the end of the speech (as the VAD measured it) to the first response.delta, in stream
           time (= wall time in a realtime replay). Includes the end-of-turn silence wait, ASR and the backend's TTFT.
           With --speak the answers are also spoken (the Piper voice through the speech-out controller, into a
           websocket-like sink) and speech end → the first audio sample released is measured too.
  ingest   A long stream (2 fps video + 16 kHz audio with occasional speech) replayed in real time (or fast, to see
           the headroom): dropped audio chunks, dropped frames, worst audio lag, wall time per stream time.

python benchmarks/bench_session.py latency --questions 5 [--backend cascade] [--asr-model base|tiny.en]
    [--end-of-turn semantic|silence] [--speak] [--json OUT]
python benchmarks/bench_session.py ingest --minutes 10 [--pace realtime|fast] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from app.speech_options import SpeechOptions
from app.speech_out import open_speech_out
from engine.events import Event, Metrics, ResponseDelta, ResponseDone, SpeechStopped
from engine.options import AsrOptions, EndOfTurnOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.synth import noise, place, speak, write_media
from streams.video import VideoFileSource

QUESTIONS = [
    "What is written on the screen?",
    "What colour is the background?",
    "What number is shown on the sign?",
    "Is anything moving right now?",
    "What did the sign say a moment ago?",
]


def _frames(seconds: float, fps: float, size: tuple[int, int] = (320, 240)):
    for i in range(int(seconds * fps)):
        t = i / fps
        scene = int(t // 8)
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:] = [(40, 40, 160), (160, 40, 40), (40, 140, 60), (150, 150, 40)][scene % 4]
        cv2.putText(frame, f"SIGN {scene + 1}", (40, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 4)
        cv2.circle(frame, (int(30 + (t * 40) % 260), 190), 14, (250, 250, 250), -1)
        yield frame


def make_clip(folder: Path, seconds: float, speech_every: float, fps: float = 2.0) -> tuple[Path, list[float]]:
    clips, starts = [], []
    t = 4.0
    i = 0
    while t + 4.0 < seconds:
        clips.append((t, speak(QUESTIONS[i % len(QUESTIONS)])))
        starts.append(t)
        t += speech_every
        i += 1
    audio = place(seconds, clips) + noise(seconds, amplitude=0.002, seed=1)[: int(seconds * 16000)]
    path = write_media(folder / "bench.mp4", _frames(seconds, fps), fps, audio=audio.astype(np.float32))
    return path, starts


class FirstAudio:
    """A websocket-like sink (24 kHz, nothing dropped on stop) that notes the stream time each response's first
    audio was released at."""

    sample_rate = 24_000
    lead_s = 0.25
    drops_on_stop = False

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.first: dict[str, float] = {}

    def write(self, key: str, pcm: np.ndarray) -> None:
        self.first.setdefault(key, self.now())

    def stop(self) -> None:
        """Nothing is buffered here."""


async def replay(
    path: Path, config: EngineConfig, pace: str, *, speak_answers: bool = False
) -> tuple[list[Event], float, dict[str, float]]:
    """The session's events, the wall time, and (``speak_answers``) when each response's first audio came out."""
    session = await open_session(config, ReplayClock(pace))  # type: ignore[arg-type]
    events = session.subscribe()
    collected: list[Event] = []
    sink = FirstAudio(session.clock.now)
    speech = open_speech_out(sink, SpeechOptions(), config.options) if speak_answers else None

    async def collect() -> None:
        async for event in events:
            collected.append(event)
            if speech is not None:
                speech.handle(event)

    task = asyncio.create_task(collect())
    started = time.perf_counter()
    await session.run([VideoFileSource(str(path)), AudioFileSource(str(path))])
    wall = time.perf_counter() - started
    await task
    if speech is not None:
        speech.close()
    return collected, wall, sink.first


def _after_speech(stops: list[SpeechStopped], times: dict[str, float]) -> list[float]:
    """Milliseconds from the end of the latest speech before each of ``times`` to it."""
    out = []
    for t in times.values():
        ended = [s.start + s.duration for s in stops if s.start + s.duration <= t]
        if ended:
            out.append((t - max(ended)) * 1000)
    return out


def latency(args: argparse.Namespace) -> dict:
    eot = EndOfTurnOptions(mode=args.end_of_turn, check_last_word=args.check_last_word)
    options = SessionOptions(asr=AsrOptions(model=args.asr_model), end_of_turn=eot)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = 6.0 + args.questions * args.spacing
        path, _ = make_clip(Path(tmp), seconds, args.spacing)
        config = EngineConfig(backend=args.backend, options=options)
        events, _, first_audio = asyncio.run(replay(path, config, "realtime", speak_answers=args.speak))
    stops = [e for e in events if isinstance(e, SpeechStopped)]
    first_delta: dict[str, float] = {}
    for e in events:
        if isinstance(e, ResponseDelta):
            first_delta.setdefault(e.response_id, e.t)
    dones = [e for e in events if isinstance(e, ResponseDone)]
    to_token = _after_speech(
        stops, {d.response_id: first_delta[d.response_id] for d in dones if d.response_id in first_delta}
    )
    endpoint_to_token = [d.latency_ms for d in dones if d.latency_ms is not None]
    result = {
        "benchmark": "speech end -> first answer token",
        "backend": args.backend,
        "asr_model": args.asr_model,
        "end_of_turn": args.end_of_turn,
        "check_last_word": args.check_last_word,
        "questions": len(dones),
        "speech_end_to_first_token_ms": [round(v, 1) for v in to_token],
        "speech_end_to_first_token_ms_median": round(statistics.median(to_token), 1),
        "speech_end_to_first_token_ms_max": round(max(to_token), 1),
        "endpoint_to_first_token_ms_median": round(statistics.median(endpoint_to_token), 1),
        "target_ms": 700,
    }
    if args.speak:
        to_audio = _after_speech(stops, first_audio)
        result["speech_end_to_first_audio_ms"] = [round(v, 1) for v in to_audio]
        result["speech_end_to_first_audio_ms_median"] = round(statistics.median(to_audio), 1)
        result["audio_target_ms"] = 1000
    return result


def ingest(args: argparse.Namespace) -> dict:
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = make_clip(Path(tmp), seconds, speech_every=60.0)
        events, wall, _ = asyncio.run(replay(path, EngineConfig(backend=args.backend), args.pace))
    final = [e for e in events if isinstance(e, Metrics)][-1].values
    return {
        "benchmark": "long ingest",
        "backend": args.backend,
        "pace": args.pace,
        "stream_s": seconds,
        "wall_s": round(wall, 1),
        "stream_s_per_wall_s": round(seconds / wall, 2),
        "video_frames": final["video_frames"],
        "video_frames_dropped": final["video_frames_dropped"],
        "audio_chunks": final["audio_chunks"],
        "audio_chunks_dropped": final["audio_chunks_dropped"],
        "audio_lag_max_s": final["audio_lag_max_s"],
        "errors": [e.to_dict() for e in events if e.type == "error"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="which", required=True)
    p = sub.add_parser("latency")
    p.add_argument("--questions", type=int, default=5)
    p.add_argument("--spacing", type=float, default=12.0, help="seconds between spoken questions")
    p.add_argument("--asr-model", default="base", help="base | tiny.en")
    p.add_argument("--end-of-turn", choices=["semantic", "silence"], default="semantic")
    p.add_argument("--speak", action="store_true", help="speak the answers and time the first audio too")
    p.add_argument(
        "--check-last-word",
        action=argparse.BooleanOptionalAction,
        default=EndOfTurnOptions().check_last_word,
        help="semantic end of turn reads the recogniser's sureness of the last word (the default)",
    )
    p = sub.add_parser("ingest")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--pace", choices=["realtime", "fast"], default="realtime")
    for p in sub.choices.values():
        p.add_argument("--backend", default="cascade")
        p.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = latency(args) if args.which == "latency" else ingest(args)
    result["machine"] = f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}"
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
