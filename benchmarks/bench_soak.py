"""Soak: an hour of stream, accelerated, through the real default engine, watching memory, TTFT and lost events.

The stream is generated while it plays, never written to disk: 2 fps video of a sign whose text and background
colour change every ``SCENE_S`` seconds with a ball moving across it, and 16 kHz audio of faint noise carrying
espeak-ng questions. Every ``--question-every-s`` seconds comes the next of three kinds of turn, in rotation: a typed
question, a spoken question, and a barge-in (a typed request for a long answer; as soon as its first words arrive,
a spoken question is mixed into the microphone, so the user talks over the streaming answer). The session is the one
``omnistream run`` builds (``runtime.open_session``: cascade backend, Silero VAD, Whisper base, the learned gate); a
clock replays the stream ``--speed`` times faster than real time, not paced by the engine, so speech, barge-in timers
and backpressure behave as live, only compressed.

Reported over stream time: process RSS (and CUDA memory when torch sees a GPU) at every ``metrics`` event, the TTFT
of every answer (``response.done.ttft_ms``: query accepted → first delta, wall time), the engine's own metrics
(dropped frames, audio lag) and error events. Events lost is an audit of the event stream that fails on any of:
a typed question not accepted, a query without exactly one ``response.started`` and one ``response.done``, an answer
whose deltas differ from its final text, a delta after its response ended, an utterance without a transcript, a
transcript without a gate decision, a frame or audio chunk not accounted for in the final metrics, a gap in the
periodic metrics, a second subscriber seeing a different event sequence, or a subscriber overflowing.

python -m benchmarks.bench_soak [--minutes 60] [--speed 4] [--question-every-s 30] [--device auto|cpu|cuda]
                                [--json OUT] [--plot PNG] [--markdown OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.event_bus import EventStream, SubscriberOverflow
from engine.events import (
    Error,
    Event,
    Metrics,
    QueryAccepted,
    QueryIgnored,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    ResponseStarted,
    SessionEnded,
    SpeechStopped,
    Transcript,
)
from engine.runtime import EngineConfig, open_session
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, VideoFrame
from streams.synth import noise, speak
from streams.text import ScheduledTextSource

FPS = 2.0
FRAME_SIZE = (320, 240)  # (width, height)
SCENE_S = 20.0  # the sign's text and the background change this often
NOISE_AMPLITUDE = 0.002
FIRST_TURN_S = 8.0
TAIL_S = 12.0  # no turn starts this close to the end of the stream
MIN_EVERY_S = 8.0  # turns closer than this would overlap (a spoken question lasts ~2 s, its answer a few more)
TARGET_GROWTH_PCT = 10.0
TARGET_TTFT_RATIO = 1.2

TYPED = (
    "What is written on the sign?",
    "What colour is the background?",
    "Is anything moving right now?",
    "What did the sign say a moment ago?",
)
SPOKEN = (
    "What is written on the screen right now?",
    "What colour is the background?",
    "What number is shown on the sign?",
)
LONG_REQUEST = "Describe everything you noticed in the stream in detail."
INTERRUPTION = "Wait, what does the sign say now?"
SIGN_WORDS = ("GATE", "EXIT", "PLATFORM", "ROOM", "BAY", "DOCK", "LEVEL", "ZONE")
PALETTE = ((30, 50, 160), (170, 30, 30), (30, 130, 50), (150, 140, 30), (110, 40, 140), (20, 120, 140))


# ---------------------------------------------------------------------------------------------------------- clock
class SpeedClock:
    """Replay pacing at ``speed`` times real time: the item at media time m is released at wall start + m / speed.

    Not paced by the engine (like a live feed), so audio keeps arriving while an answer streams.
    """

    paced_by_engine = False

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self._media = 0.0
        self._origin: float | None = None

    def now(self) -> float:
        if self._origin is None:
            return self._media
        return max(self._media, (time.monotonic() - self._origin) * self.speed)

    async def wait_until(self, t: float) -> None:
        if self._origin is None:
            self._origin = time.monotonic() - self._media / self.speed
        delay = self._origin + t / self.speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self._media = max(self._media, t)


# ---------------------------------------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Plan:
    """When each turn happens: typed lines ``(t, text)`` and spoken clips ``(t, phrase)``, in stream seconds."""

    seconds: float
    typed: tuple[tuple[float, str], ...]
    spoken: tuple[tuple[float, str], ...]
    barge_ins: tuple[float, ...]  # times of the long requests that the spoken ``INTERRUPTION`` talks over


def make_plan(seconds: float, every_s: float) -> Plan:
    if not seconds > FIRST_TURN_S + TAIL_S:
        raise ValueError(f"the stream must be longer than {FIRST_TURN_S + TAIL_S:g} s, got {seconds:g} s")
    if not every_s >= MIN_EVERY_S:
        raise ValueError(f"question_every_s must be at least {MIN_EVERY_S:g} s, got {every_s:g}")
    typed: list[tuple[float, str]] = []
    spoken: list[tuple[float, str]] = []
    barge: list[float] = []
    k = 0
    while (t := FIRST_TURN_S + k * every_s) < seconds - TAIL_S:
        turn = k // 3
        match k % 3:
            case 0:
                typed.append((t, TYPED[turn % len(TYPED)]))
            case 1:
                spoken.append((t, SPOKEN[turn % len(SPOKEN)]))
            case _:
                typed.append((t, LONG_REQUEST))
                barge.append(t)
        k += 1
    return Plan(seconds, tuple(typed), tuple(spoken), tuple(barge))


# ---------------------------------------------------------------------------------------------------------- stream
def sign_text(t: float) -> str:
    scene = int(t // SCENE_S)
    return f"{SIGN_WORDS[scene % len(SIGN_WORDS)]} {scene + 1}"


def draw_frame(t: float) -> np.ndarray:
    """The picture at stream time ``t``: a coloured background, the current sign, a moving ball."""
    width, height = FRAME_SIZE
    scene = int(t // SCENE_S)
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = PALETTE[scene % len(PALETTE)]
    cv2.putText(frame, sign_text(t), (24, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 4, cv2.LINE_AA)
    cv2.circle(frame, (int(30 + (t * 40) % (width - 60)), 190), 14, (250, 250, 250), -1)
    return frame


class SynthVideo:
    """Generated video frames at ``FPS`` (a replayed, not live, source)."""

    kind = "video"
    live = False

    def __init__(self, seconds: float, name: str = "camera") -> None:
        self.seconds = seconds
        self.name = name
        self.sent = 0

    def open(self) -> None:
        """Nothing to open: frames are drawn as they are needed."""

    async def items(self, now: Callable[[], float]) -> AsyncIterator[VideoFrame]:
        for i in range(int(self.seconds * FPS)):
            t = round(i / FPS, 4)
            self.sent += 1
            yield VideoFrame(t=t, image=draw_frame(t), source=self.name)

    def close(self) -> None:
        """Nothing to close."""


class SynthAudio:
    """Generated 32 ms audio chunks: looped faint noise with spoken clips mixed in, planned or said on the fly."""

    kind = "audio"
    live = False

    def __init__(self, seconds: float, clips: list[tuple[float, np.ndarray]], name: str = "mic") -> None:
        self.seconds = seconds
        self.name = name
        self._clips = sorted(((round(t * SAMPLE_RATE), c) for t, c in clips), key=lambda clip: clip[0])
        self._noise = noise(10.0 - 10.0 % (CHUNK_SAMPLES / SAMPLE_RATE), amplitude=NOISE_AMPLITUDE, seed=7)
        self.sent = 0  # chunks generated so far (the next chunk's index)
        self.said: list[float] = []  # stream times of the clips said on the fly

    def open(self) -> None:
        """Nothing to open: chunks are mixed as they are needed."""

    def say(self, clip: np.ndarray) -> bool:
        """Mix ``clip`` in from the next chunk on; False (nothing said) when another clip is playing or due then."""
        begin, end = self.sent * CHUNK_SAMPLES, self.sent * CHUNK_SAMPLES + len(clip)
        if any(b < end and begin < b + len(c) for b, c in self._clips):
            return False
        self._clips.append((begin, clip))
        self._clips.sort(key=lambda item: item[0])
        self.said.append(begin / SAMPLE_RATE)
        return True

    def chunk(self, index: int) -> np.ndarray:
        start = index * CHUNK_SAMPLES
        loop = start % len(self._noise)
        samples = self._noise[loop : loop + CHUNK_SAMPLES].copy()
        while self._clips and self._clips[0][0] + len(self._clips[0][1]) <= start:
            self._clips.pop(0)  # played out
        for begin, clip in self._clips:
            if begin >= start + CHUNK_SAMPLES:
                break
            lo, hi = max(start, begin), min(start + CHUNK_SAMPLES, begin + len(clip))
            samples[lo - start : hi - start] += clip[lo - begin : hi - begin]
        return np.clip(samples, -1.0, 1.0)

    async def items(self, now: Callable[[], float]) -> AsyncIterator[AudioChunk]:
        for index in range(int(self.seconds * SAMPLE_RATE) // CHUNK_SAMPLES):
            samples = self.chunk(index)
            self.sent += 1
            yield AudioChunk(t=round(index * CHUNK_SAMPLES / SAMPLE_RATE, 5), samples=samples, source=self.name)

    def close(self) -> None:
        """Nothing to close."""


# ---------------------------------------------------------------------------------------------------------- memory
def rss_mb() -> float:
    """Resident set size of this process (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def gpu_mb() -> dict[str, float] | None:
    """CUDA memory allocated and reserved by torch, or None when torch sees no GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    return {
        "allocated": round(torch.cuda.memory_allocated() / 2**20, 1),
        "reserved": round(torch.cuda.memory_reserved() / 2**20, 1),
    }


# ---------------------------------------------------------------------------------------------------------- audit
@dataclass
class _Open:
    query_id: str
    query: str
    source: str
    t: float
    pieces: list[str] = field(default_factory=list)
    paused: bool = False


@dataclass
class EventAudit:
    """Follows the event stream and counts every way an accepted input or event could have been lost.

    Stores no events: only what is still open (queries awaiting a response, answers streaming) and one small record
    per finished answer, so the harness adds next to nothing to the RSS it measures.
    """

    typed: list[str]
    min_speech_s: float
    metrics_interval_s: float
    on_metrics: Callable[[Metrics], None] | None = None
    on_first_delta: Callable[[str], None] | None = None  # called with the query of an answer that starts streaming
    counts: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    final_metrics: dict[str, float] = field(default_factory=dict)
    digest: Any = field(default_factory=hashlib.sha256)
    _typed_next: int = 0
    _awaiting: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    _open: dict[str, _Open] = field(default_factory=dict)
    _closed: set[str] = field(default_factory=set)
    _paused_ids: set[str] = field(default_factory=set)
    _long_utterances: int = 0
    _transcripts: int = 0
    _asr_errors: int = 0
    _decisions: int = 0
    _frame_errors: int = 0
    _last_metrics_t: float | None = None
    _gap: str | None = None  # a gap before the latest metrics: fine only if that was the session's final metrics
    ended: bool = False

    def lose(self, check: str, detail: str) -> None:
        self.lost[check] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{check}: {detail}")

    def add(self, event: Event) -> None:
        self.counts[event.type] += 1
        self.digest.update(event.to_json().encode())
        if self._gap is not None and not isinstance(event, SessionEnded):
            self.lose("metrics_gap", self._gap)
        self._gap = None  # the final metrics comes after the stream drained: stream time may have moved on
        if self.ended:
            self.lose("event_after_session_ended", event.type)
        match event:
            case QueryAccepted():
                self._accepted(event)
            case QueryIgnored():
                if event.source == "speech":
                    self._decisions += 1
            case ResponseStarted():
                self._started(event)
            case ResponseDelta():
                if event.response_id in self._open:
                    response = self._open[event.response_id]
                    response.pieces.append(event.text)
                    if len(response.pieces) == 1 and self.on_first_delta is not None:
                        self.on_first_delta(response.query)
                elif event.response_id in self._closed:
                    self.lose("delta_after_done", event.response_id)
                else:
                    self.lose("delta_of_unknown_response", event.response_id)
            case ResponsePaused():
                if event.response_id in self._open:
                    self._open[event.response_id].paused = True
                    self._paused_ids.add(event.response_id)
                else:
                    self.lose("pause_of_closed_response", event.response_id)
            case ResponseResumed():
                response = self._open.get(event.response_id)
                if response is None or not response.paused:
                    self.lose("resume_without_pause", event.response_id)
                else:
                    response.paused = False
            case ResponseDone():
                self._done(event)
            case SpeechStopped():
                if event.duration * 1000 >= self.min_speech_s * 1000 - 1e-6:
                    self._long_utterances += 1
            case Transcript():
                self._transcripts += 1
            case Error():
                self.errors[event.source] += 1
                if len(self.error_examples) < 10:
                    self.error_examples.append(f"{event.t:.1f}s {event.source}: {event.message}")
                if event.source == "asr":
                    self._asr_errors += 1
                if event.source == "backend" and event.message.startswith("ingesting the frame"):
                    self._frame_errors += 1
            case Metrics():
                if self._last_metrics_t is not None and event.t - self._last_metrics_t > 2 * self.metrics_interval_s:
                    self._gap = f"{self._last_metrics_t:.1f}s -> {event.t:.1f}s"
                self._last_metrics_t = event.t
                self.final_metrics = dict(event.values)
                if self.on_metrics is not None:
                    self.on_metrics(event)
            case SessionEnded():
                self.ended = True

    def _accepted(self, event: QueryAccepted) -> None:
        if event.query_id in self._awaiting:
            self.lose("duplicate_query_id", event.query_id)
        self._awaiting[event.query_id] = (event.text, event.source, event.t)
        if event.source == "speech":
            self._decisions += 1
            return
        expected = self.typed[self._typed_next] if self._typed_next < len(self.typed) else None
        if event.text != expected:
            self.lose("typed_question_altered_or_out_of_order", f"{event.text!r}, expected {expected!r}")
        self._typed_next += 1

    def _started(self, event: ResponseStarted) -> None:
        awaiting = self._awaiting.pop(event.query_id, None)
        if awaiting is None:
            self.lose("response_without_query", f"{event.response_id} for {event.query_id}")
            return
        self._open[event.response_id] = _Open(event.query_id, *awaiting)

    def _done(self, event: ResponseDone) -> None:
        response = self._open.pop(event.response_id, None)
        if response is None:
            check = "duplicate_response_done" if event.response_id in self._closed else "done_of_unknown_response"
            self.lose(check, event.response_id)
            return
        self._closed.add(event.response_id)
        if "".join(response.pieces) != event.text:
            self.lose("deltas_differ_from_final_text", event.response_id)
        self.responses.append(
            {
                "t": round(response.t, 2),
                "source": response.source,
                "query": response.query,
                "status": event.status,
                "ttft_ms": event.ttft_ms,
                "paused": event.response_id in self._paused_ids,
            }
        )
        self._paused_ids.discard(event.response_id)

    def finish(self, frames_sent: int, chunks_sent: int) -> None:
        """End-of-stream checks: everything opened was closed and every input is accounted for."""
        if not self.ended:
            self.lose("no_session_ended", "the stream stopped without session.ended")
        if self._gap is not None:
            self.lose("metrics_gap", self._gap)
        for query_id in self._awaiting:
            self.lose("query_without_response", query_id)
        for response_id in self._open:
            self.lose("response_without_done", response_id)
        if self._typed_next < len(self.typed):
            self.lose("typed_question_not_accepted", f"{len(self.typed) - self._typed_next} of {len(self.typed)}")
        if self._transcripts + self._asr_errors != self._long_utterances:
            self.lose(
                "utterance_without_transcript",
                f"{self._long_utterances} utterances, {self._transcripts} transcripts, {self._asr_errors} asr errors",
            )
        if self._decisions != self._transcripts:
            self.lose("transcript_without_decision", f"{self._transcripts} transcripts, {self._decisions} decisions")
        m = self.final_metrics
        frames = int(m.get("video_frames", -1)) + int(m.get("video_frames_dropped", 0)) + self._frame_errors
        if frames != frames_sent:
            self.lose("frames_unaccounted", f"{frames_sent} sent, {frames} ingested + dropped + failed")
        if int(m.get("audio_chunks", -1)) != chunks_sent or m.get("audio_chunks_dropped", 0):
            self.lose(
                "audio_chunks_lost",
                f"{chunks_sent} sent, {m.get('audio_chunks')} processed, {m.get('audio_chunks_dropped')} dropped",
            )


async def _mirror(stream: EventStream) -> tuple[int, str, bool]:
    """A second subscriber: event count, digest of the sequence, and whether it overflowed."""
    digest = hashlib.sha256()
    count = 0
    try:
        async for event in stream:
            count += 1
            digest.update(event.to_json().encode())
    except SubscriberOverflow:
        return count, digest.hexdigest(), True
    return count, digest.hexdigest(), False


# ---------------------------------------------------------------------------------------------------------- run
@dataclass(frozen=True)
class SoakConfig:
    minutes: float = 60.0
    speed: float = 4.0
    question_every_s: float = 30.0
    engine: EngineConfig = field(default_factory=EngineConfig)


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


async def soak(config: SoakConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Replay the generated stream through a real session and return the report (see ``summarise``)."""
    seconds = config.minutes * 60.0
    plan = make_plan(seconds, config.question_every_s)
    phrases = {text: speak(text) for text in {*SPOKEN, INTERRUPTION}}
    video = SynthVideo(seconds)
    audio = SynthAudio(seconds, [(t, phrases[text]) for t, text in plan.spoken])
    load_started = time.perf_counter()
    clock = SpeedClock(config.speed)
    session = await open_session(config.engine, clock)
    load_s = time.perf_counter() - load_started
    samples: list[dict[str, Any]] = []
    wall_origin = time.perf_counter()  # set again when the stream starts

    def sample(event: Metrics) -> None:
        values = event.values
        row: dict[str, Any] = {
            "t_min": round(event.t / 60.0, 3),
            "wall_s": round(time.perf_counter() - wall_origin, 1),
            "rss_mb": round(rss_mb(), 1),
            "py_blocks": sys.getallocatedblocks(),
            "load1": round(os.getloadavg()[0], 2),
            "video_frames_dropped": values.get("video_frames_dropped", 0),
            "audio_lag_max_s": values.get("audio_lag_max_s", 0.0),
            "ingest_fps": values.get("ingest_fps", 0.0),
        }
        gpu = gpu_mb()
        if gpu is not None:
            row["gpu_mb"] = gpu
        samples.append(row)
        if progress is not None and len(samples) % 12 == 0:
            progress(f"stream {event.t / 60:5.1f} min  wall {row['wall_s']:7.1f} s  rss {row['rss_mb']:7.1f} MB")

    def barge_in(query: str) -> None:
        if query == LONG_REQUEST:
            audio.say(phrases[INTERRUPTION])

    options = config.engine.options
    audit = EventAudit(
        typed=[text for _, text in plan.typed],
        min_speech_s=options.vad.min_speech_ms / 1000,
        metrics_interval_s=options.metrics_interval_s,
        on_metrics=sample,
        on_first_delta=barge_in,
    )
    primary, second = session.subscribe(), session.subscribe()
    overflowed = False

    async def follow() -> None:
        nonlocal overflowed
        try:
            async for event in primary:
                audit.add(event)
        except SubscriberOverflow:
            overflowed = True

    follower = asyncio.create_task(follow())
    mirror = asyncio.create_task(_mirror(second))
    rss_before = rss_mb()
    wall_origin = time.perf_counter()
    await session.run([video, audio, ScheduledTextSource(list(plan.typed))])
    wall_s = time.perf_counter() - wall_origin
    await follower
    mirror_count, mirror_digest, mirror_overflowed = await mirror
    audit.finish(video.sent, audio.sent)
    if overflowed or mirror_overflowed:
        audit.lose("subscriber_overflow", f"primary {overflowed}, second {mirror_overflowed}")
    if mirror_count != audit.counts.total() or mirror_digest != audit.digest.hexdigest():
        audit.lose("subscribers_differ", f"{audit.counts.total()} vs {mirror_count} events")
    return summarise(
        config, plan, audit, samples, barge_ins=len(audio.said), wall_s=wall_s, load_s=load_s, rss_before=rss_before
    )


# ---------------------------------------------------------------------------------------------------------- report
def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    return round(sum(r[key] for r in rows) / len(rows), 1) if rows else None


def ttft_window(
    responses: list[dict[str, Any]], samples: list[dict[str, Any]], lo_min: float, hi_min: float
) -> dict[str, Any]:
    """TTFT of the answers to queries accepted in ``[lo_min, hi_min)`` stream minutes.

    ``cut`` counts answers ended (by the next turn or a barge-in) before their first token: their TTFT is unknown,
    so a window with many of them understates its p95. ``load1`` is the mean 1-minute load average meanwhile.
    """
    inside = [r for r in responses if lo_min * 60 <= r["t"] < hi_min * 60]
    ttfts = [r["ttft_ms"] for r in inside if r["ttft_ms"] is not None]
    loads = [s for s in samples if lo_min < s["t_min"] <= hi_min]
    return {
        "from_min": lo_min,
        "to_min": hi_min,
        "n": len(ttfts),
        "cut": len(inside) - len(ttfts),
        "p50_ms": percentile(ttfts, 50),
        "p95_ms": percentile(ttfts, 95),
        "load1": _mean(loads, "load1"),
    }


def ttft_trend(responses: list[dict[str, Any]], samples: list[dict[str, Any]]) -> dict[str, float] | None:
    """Least-squares fit TTFT ≈ a + b · load average + c · stream minute over every timed answer.

    On a shared machine the load average moves TTFT far more than the stream's age does; ``c`` is the drift per
    stream minute at equal load (what a leak or a growing log would show up in). None with fewer than 10 answers.
    """
    if not samples:
        return None
    times = np.array([s["t_min"] for s in samples])
    rows = []
    for r in responses:
        if r["ttft_ms"] is not None:
            near = min(int(np.searchsorted(times, r["t"] / 60)), len(samples) - 1)
            rows.append((samples[near]["load1"], r["t"] / 60, r["ttft_ms"]))
    if len(rows) < 10:
        return None
    data = np.array(rows)
    design = np.column_stack([np.ones(len(data)), data[:, 0], data[:, 1]])
    (a, b, c), *_ = np.linalg.lstsq(design, data[:, 2], rcond=None)
    return {
        "ms": round(float(a), 1),
        "ms_per_load": round(float(b), 1),
        "ms_per_stream_min": round(float(c), 2),
        "load_correlation": round(float(np.corrcoef(data[:, 0], data[:, 2])[0, 1]), 3),
    }


def summarise(
    config: SoakConfig,
    plan: Plan,
    audit: EventAudit,
    samples: list[dict[str, Any]],
    *,
    barge_ins: int,
    wall_s: float,
    load_s: float,
    rss_before: float,
) -> dict[str, Any]:
    """The report: memory growth, TTFT drift, the audit's lost events, engine metrics and the time series."""
    minutes = config.minutes
    base_min = min(5.0, minutes / 2)  # memory baseline: minute 5 (or half-way, for short runs)
    window_min = min(10.0, minutes / 2)  # TTFT windows: first and last 10 minutes (or halves)
    at_base = [s for s in samples if base_min - 1.0 < s["t_min"] <= base_min]
    at_end = [s for s in samples if s["t_min"] > minutes - 1.0]
    rss_base, rss_end = _mean(at_base, "rss_mb"), _mean(at_end, "rss_mb")
    growth = round((rss_end - rss_base) / rss_base * 100, 2) if rss_base and rss_end else None
    after = [s for s in samples if s["t_min"] > base_min]
    span = after[-1]["t_min"] - after[0]["t_min"] if after else 0.0
    slope = np.polyfit([s["t_min"] for s in after], [s["rss_mb"] for s in after], 1)[0] if span >= 10 else None
    first = ttft_window(audit.responses, samples, 0.0, window_min)
    last = ttft_window(audit.responses, samples, minutes - window_min, minutes)
    p95_first, p95_last = first["p95_ms"], last["p95_ms"]
    ratio = round(p95_last / p95_first, 3) if p95_first and p95_last else None
    starts = np.arange(0.0, minutes, window_min)
    lost_total = sum(audit.lost.values())
    statuses = Counter(f"{r['source']}:{r['status']}" for r in audit.responses)
    gpu_rows = [s["gpu_mb"]["allocated"] for s in samples if "gpu_mb" in s]
    m = audit.final_metrics
    return {
        "benchmark": "soak: accelerated stream through the default engine",
        "config": {
            "minutes": minutes,
            "speed": config.speed,
            "question_every_s": config.question_every_s,
            "backend": config.engine.backend,
            "device": config.engine.device,
            "gate_mode": config.engine.options.gate_mode,
        },
        "wall_s": round(wall_s, 1),
        "load_s": round(load_s, 1),
        "stream_s_per_wall_s": round(minutes * 60 / wall_s, 2),
        "memory": {
            "rss_mb_before_stream": round(rss_before, 1),
            "baseline_min": base_min,
            "rss_mb_baseline": rss_base,
            "rss_mb_end": rss_end,
            "rss_mb_max": max((s["rss_mb"] for s in samples), default=None),
            "growth_pct": growth,
            "rss_mb_per_hour": None if slope is None else round(float(slope) * 60, 1),  # fitted over >= 10 min
            "py_blocks_baseline": _mean(at_base, "py_blocks"),
            "py_blocks_end": _mean(at_end, "py_blocks"),
            "target_pct": TARGET_GROWTH_PCT,
            "met": growth is not None and growth <= TARGET_GROWTH_PCT,
            "gpu_mb_allocated_baseline": gpu_rows[0] if gpu_rows else None,
            "gpu_mb_allocated_end": gpu_rows[-1] if gpu_rows else None,
        },
        "ttft": {
            "window_min": window_min,
            "answers_timed": sum(1 for r in audit.responses if r["ttft_ms"] is not None),
            "first": first,
            "last": last,
            "p95_ratio": ratio,
            "target_ratio": TARGET_TTFT_RATIO,
            "met": ratio is not None and ratio <= TARGET_TTFT_RATIO,
            "load_adjusted": ttft_trend(audit.responses, samples),
            "windows": [
                ttft_window(audit.responses, samples, float(lo), min(minutes, float(lo) + window_min)) for lo in starts
            ],
        },
        "events": {
            "total": audit.counts.total(),
            "by_type": dict(sorted(audit.counts.items())),
            "lost": dict(sorted(audit.lost.items())),
            "lost_total": lost_total,
            "lost_examples": audit.examples,
            "met": lost_total == 0,
        },
        "turns": {
            "typed_planned": len(plan.typed),
            "spoken_planned": len(plan.spoken),
            "barge_ins_planned": len(plan.barge_ins),
            "barge_ins_spoken": barge_ins,
            "responses": dict(sorted(statuses.items())),
            "paused_by_speech": sum(1 for r in audit.responses if r["paused"]),
            "interrupted_by_speech": sum(1 for r in audit.responses if r["paused"] and r["status"] == "interrupted"),
            "speech_ignored_by_gate": audit.counts["query.ignored"],
        },
        "engine": {
            "video_frames": m.get("video_frames"),
            "video_frames_dropped": m.get("video_frames_dropped"),
            "audio_chunks": m.get("audio_chunks"),
            "audio_chunks_dropped": m.get("audio_chunks_dropped"),
            "audio_lag_max_s": m.get("audio_lag_max_s"),
            "errors_by_source": dict(sorted(audit.errors.items())),
            "error_examples": audit.error_examples,
        },
        "machine": machine(),
        "samples": samples,
        "responses": audit.responses,
    }


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, python {platform.python_version()}"


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


def markdown(report: dict[str, Any]) -> str:
    """A short summary table of a report."""
    c, mem, ttft, ev = report["config"], report["memory"], report["ttft"], report["events"]
    first, last = ttft["first"], ttft["last"]
    fit = ttft["load_adjusted"]
    trend = (
        "—"
        if fit is None
        else f"**{fit['ms_per_stream_min']:+g} ms per stream minute**, {fit['ms_per_load']:+g} ms per unit of load "
        f"(TTFT/load correlation {fit['load_correlation']})"
    )
    eng, turns = report["engine"], report["turns"]
    verdict = {True: "met", False: "**not met**"}
    rows = [
        "| measure | result | target |",
        "|---|---|---|",
        f"| RSS at minute {mem['baseline_min']:g} → end | {_cell(mem['rss_mb_baseline'])} MB → "
        f"{_cell(mem['rss_mb_end'])} MB (**{_cell(mem['growth_pct'])} %**) | ≤ {mem['target_pct']:g} %: "
        f"{verdict[mem['met']]} |",
        f"| RSS trend after minute {mem['baseline_min']:g} (least squares) | {_cell(mem['rss_mb_per_hour'])} MB/h | |",
        f"| Python heap blocks at minute {mem['baseline_min']:g} → end | {_cell(mem['py_blocks_baseline'])} → "
        f"{_cell(mem['py_blocks_end'])} | |",
        f"| TTFT p95, first {ttft['window_min']:g} min → last {ttft['window_min']:g} min | "
        f"{_cell(first['p95_ms'])} ms → {_cell(last['p95_ms'])} ms, ratio **{_cell(ttft['p95_ratio'])}** | "
        f"≤ {ttft['target_ratio']:g}×: {verdict[ttft['met']]} |",
        f"| TTFT p50, first → last | {_cell(first['p50_ms'])} ms → {_cell(last['p50_ms'])} ms | |",
        f"| answers timed (cut before the first token), first → last | {first['n']} ({first['cut']}) → "
        f"{last['n']} ({last['cut']}) | |",
        f"| load average (1 min), first → last | {_cell(first['load1'])} → {_cell(last['load1'])} | |",
        f"| TTFT drift at equal load (fit: ms + ms/load · load + ms/min · minute) | {trend} | |",
        f"| events lost | **{ev['lost_total']}** of {ev['total']} events audited | 0: {verdict[ev['met']]} |",
        f"| video frames dropped (policy) | {_cell(eng['video_frames_dropped'])} of "
        f"{_cell(eng['video_frames'] + eng['video_frames_dropped'] if eng['video_frames'] is not None else None)}"
        " | counted |",
        f"| audio chunks dropped, worst lag | {_cell(eng['audio_chunks_dropped'])} of {_cell(eng['audio_chunks'])}, "
        f"{_cell(eng['audio_lag_max_s'])} s | 0 |",
        f"| turns | {turns['typed_planned']} typed questions ({turns['barge_ins_planned']} of them long requests), "
        f"{turns['spoken_planned']} spoken questions, {turns['barge_ins_spoken']} spoken barge-ins over a streaming "
        f"answer; {turns['paused_by_speech']} answers paused by speech, {turns['interrupted_by_speech']} of them "
        "interrupted | |",
        f"| wall time | {report['wall_s']} s for {c['minutes']:g} stream minutes at speed {c['speed']:g} "
        f"({report['stream_s_per_wall_s']}× real time), models loaded in {report['load_s']} s | |",
    ]
    if mem["gpu_mb_allocated_baseline"] is not None:
        rows.append(
            f"| CUDA memory allocated | {mem['gpu_mb_allocated_baseline']} MB → {mem['gpu_mb_allocated_end']} MB | |"
        )
    if ev["lost"]:
        rows.append(f"| lost, by check | {', '.join(f'{k}: {v}' for k, v in ev['lost'].items())} | |")
    if eng["errors_by_source"]:
        rows.append(f"| error events | {', '.join(f'{k}: {v}' for k, v in eng['errors_by_source'].items())} | |")
    windows = [
        "| stream minutes | answers timed | cut before the first token | TTFT p50 | TTFT p95 | load average |",
        "|---|---|---|---|---|---|",
        *(
            f"| {w['from_min']:g}–{w['to_min']:g} | {w['n']} | {w['cut']} | {_cell(w['p50_ms'])} ms | "
            f"{_cell(w['p95_ms'])} ms | {_cell(w['load1'])} |"
            for w in ttft["windows"]
        ),
    ]
    return "\n".join(rows) + "\n\n" + "\n".join(windows) + f"\n\nMachine: {report['machine']}.\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """RSS (and CUDA memory) and each answer's TTFT, with the machine's load average, over stream minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples, responses = report["samples"], report["responses"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    top.plot([s["t_min"] for s in samples], [s["rss_mb"] for s in samples], color="tab:blue", label="process RSS")
    mem = report["memory"]
    if mem["rss_mb_baseline"]:
        limit = mem["rss_mb_baseline"] * (1 + mem["target_pct"] / 100)
        top.axhline(limit, color="tab:red", linestyle="--", linewidth=1, label=f"minute-{mem['baseline_min']:g} +10 %")
    gpu = [s for s in samples if "gpu_mb" in s]
    if gpu:
        top.plot([s["t_min"] for s in gpu], [s["gpu_mb"]["allocated"] for s in gpu], color="tab:green", label="CUDA")
    top.set_ylabel("memory (MB)")
    top.set_ylim(bottom=0)
    top.legend(loc="lower right", fontsize="small")
    top.set_title(
        f"Soak: {report['config']['minutes']:g} stream minutes at {report['config']['speed']:g}× "
        f"(growth {mem['growth_pct']} %, lost events {report['events']['lost_total']})"
    )
    markers = {"text": ("o", "typed"), "speech": ("^", "spoken")}
    for source, (marker, label) in markers.items():
        rows = [r for r in responses if r["source"] == source and r["ttft_ms"] is not None]
        bottom.scatter([r["t"] / 60 for r in rows], [r["ttft_ms"] for r in rows], s=14, marker=marker, label=label)
    ttft = report["ttft"]
    window = ttft["window_min"]
    for w in ttft["windows"]:
        if w["p95_ms"] is not None:
            bottom.hlines(w["p95_ms"], w["from_min"], w["to_min"], color="tab:red", linewidth=1.5)
    bottom.plot([], [], color="tab:red", label=f"p95 per {window:g} min")
    bottom.plot([], [], color="0.6", linewidth=0.8, label="load average")
    load = bottom.twinx()
    load.plot([s["t_min"] for s in samples], [s["load1"] for s in samples], color="0.6", linewidth=0.8)
    load.set_ylabel("1-minute load average", color="0.45")
    load.set_ylim(bottom=0)
    load.legend(*bottom.get_legend_handles_labels(), loc="upper left", ncol=4, fontsize="small")
    bottom.set_xlabel("stream minute")
    bottom.set_ylabel("TTFT (ms)")
    bottom.set_ylim(0, max([r["ttft_ms"] for r in responses if r["ttft_ms"] is not None], default=1000) * 1.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="stream minutes (default 60)")
    parser.add_argument("--speed", type=float, default=4.0, help="stream seconds per wall second (default 4)")
    parser.add_argument("--question-every-s", type=float, default=30.0, help="stream seconds between turns (30)")
    parser.add_argument("--device", default="auto", help="cascade device: auto, cpu or cuda")
    parser.add_argument("--json", type=Path, help="write the full report (with the time series) here")
    parser.add_argument("--plot", type=Path, help="write the RSS/TTFT plot (PNG) here")
    parser.add_argument("--markdown", type=Path, help="write the markdown summary here")
    args = parser.parse_args()
    config = SoakConfig(
        minutes=args.minutes,
        speed=args.speed,
        question_every_s=args.question_every_s,
        engine=EngineConfig(device=args.device),
    )
    report = asyncio.run(soak(config, progress=lambda line: print(line, flush=True)))
    summary = {k: v for k, v in report.items() if k not in ("samples", "responses")}
    print(json.dumps(summary, indent=2))
    text = markdown(report)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(text)
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
