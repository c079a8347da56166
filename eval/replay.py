"""Replaying a benchmark through the live engine: one session and one pass per video.

Each video's questions are typed into the session at their ``time_stamp`` (stem plus one ``A. …`` line per option;
the session parses the options with ``engine.choices``) while the video (and its audio track, when there is one)
streams through the same sources the live app uses. The session's events are matched back to questions by turn id:
each typed question is sent as a turn with its own id; a spoken one is the turn whose utterance starts in its slot.
The stream's own speech is transcribed as content but never taken as a query. Optionally (``spoken_root``) the
``_stream`` variants' recorded questions are mixed into the audio at their time stamps and asked by voice instead
(``eval/spoken.py``).

Proactive items: by default the official polling protocol (from one second after the instruction to four seconds after
the ground-truth time, ask once a second whether it is time to give the output; on a "yes" ask the instruction itself
and stop). With ``proactive="events"`` the instruction is typed once (the engine keeps it as a standing instruction)
and every ``proactive`` event emitted after it is recorded with its time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import av
import cv2

from engine.backends.registry import capabilities
from engine.events import (
    Event,
    InstructionAdded,
    Proactive,
    QueryAccepted,
    QueryIgnored,
    ResponseDone,
    ResponseStarted,
    SessionEnded,
    SpeechStopped,
    TranscriptFailed,
)
from engine.gate import GateDecision, UtteranceFeatures
from engine.options import IngestOptions, ResponseOptions, SessionOptions, TurnOptions
from engine.runtime import EngineConfig, open_session
from engine.session import Session
from eval.loader import Item
from eval.scoring import official_choice, official_proactive, parse_letter, robust_proactive
from eval.spoken import MixedAudioSource, SpokenQuestion, SpokenQuestionPolicy, load_clip
from streams.audio import AudioFileSource
from streams.clock import Pace, ReplayClock
from streams.items import TextInput
from streams.source import Source
from streams.text import ScheduledTextSource
from streams.video import VideoFileSource

ProactiveMode = Literal["poll", "events"]
POLL_AFTER_GT_S = 4  # the official protocol polls up to the ground-truth time + 4 s
ALL_CONTEXT_WINDOW_S = 3600.0  # a backend's media window for --context all (an hour; the KV-token cap binds first)


def poll_prompt(item: Item) -> str:
    return f'{item.question} Is it the right time to output "{item.gt_output}"? You can only answer yes or no.'


class SpeechIsContent:
    """Query policy for replays: the media's own speech is transcribed for the model, never answered as a query."""

    def decide(self, text: str, *, start: float, end: float, features: UtteranceFeatures | None = None) -> GateDecision:
        return GateDecision(False, "replayed media speech is content, not a query")


@dataclass
class Reply:
    """What the session did with one query (``query``: the text it answered, e.g. a spoken question's transcript)."""

    text: str
    t: float
    status: str
    ttft_ms: float | None = None
    latency_ms: float | None = None
    query: str = ""


@dataclass
class ReplyTracker:
    """Matches questions to their ``response.done`` by turn id: a typed question is sent as a turn with its own id
    (``expect`` names it); a spoken question's turn is the utterance that starts in its slot (``slot_of``), known by
    the ``turn_id`` of its ``speech.stopped``. An ignored typed question ends unanswered with the reason; a spoken
    question whose utterance could not be transcribed ends so at the end of the session, unless a later utterance in
    its slot was taken instead."""

    slot_of: Callable[[float], str | None] = field(default=lambda start: None)  # no spoken questions
    asked: dict[str, asyncio.Future[Reply | None]] = field(default_factory=dict)  # turn id → its question's reply
    spoken: dict[str, asyncio.Future[Reply | None]] = field(default_factory=dict)  # question id → its reply
    spoken_turns: dict[str, str] = field(default_factory=dict)  # turn id → the spoken question it belongs to
    unheard: dict[str, Reply] = field(default_factory=dict)  # question id → its utterance's failed transcription
    queries: dict[str, str] = field(default_factory=dict)
    by_query: dict[str, asyncio.Future[Reply | None]] = field(default_factory=dict)
    by_response: dict[str, asyncio.Future[Reply | None]] = field(default_factory=dict)
    instruction_turns: dict[str, str] = field(default_factory=dict)  # turn id → the proactive item it instructs
    instruction_queries: dict[str, str] = field(default_factory=dict)  # query id → proactive item
    instructions: dict[str, str] = field(default_factory=dict)  # instruction id → proactive item
    proactive_outputs: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # item → what it said, when
    ended: str | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def expect(self) -> tuple[str, asyncio.Future[Reply | None]]:
        """A new turn id to send a typed question under, and the future its reply will be set on."""
        turn_id = f"ask{next(self._ids)}"
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        if self.ended is not None:
            future.set_result(None)
        else:
            self.asked[turn_id] = future
        return turn_id, future

    def instruct(self, uid: str) -> str:
        """A new turn id to send proactive item ``uid``'s instruction under; its outputs are kept by that id."""
        turn_id = f"instruct{next(self._ids)}"
        self.instruction_turns[turn_id] = uid
        return turn_id

    def feed(self, event: Event) -> None:
        if isinstance(event, SpeechStopped):
            uid = self.slot_of(event.start)
            if uid is not None:
                self.spoken_turns[event.turn_id] = uid
        elif isinstance(event, QueryAccepted):
            instructed = self.instruction_turns.pop(event.turn_id, None)
            if instructed is not None:
                self.instruction_queries[event.query_id] = instructed
            future = self.asked.pop(event.turn_id, None)
            uid = self.spoken_turns.pop(event.turn_id, None)
            future = future or (self.spoken.get(uid) if uid is not None else None)
            if future is not None:
                self.by_query[event.query_id] = future
        elif isinstance(event, QueryIgnored):
            # a spoken question's slot may hold a later utterance the policy takes, so only a typed turn ends here
            self.spoken_turns.pop(event.turn_id, None)
            future = self.asked.pop(event.turn_id, None)
            if future is not None and not future.done():
                future.set_result(Reply(text="", t=event.t, status=f"ignored: {event.reason}"))
        elif isinstance(event, TranscriptFailed):
            uid = self.spoken_turns.pop(event.turn_id, None)
            if uid is not None:
                self.unheard[uid] = Reply(text="", t=event.t, status=f"unheard: transcription failed: {event.reason}")
        elif isinstance(event, ResponseStarted):
            future = self.by_query.pop(event.query_id, None)
            if future is not None:
                self.by_response[event.response_id] = future
                self.queries[event.response_id] = event.query
        elif isinstance(event, ResponseDone):
            future = self.by_response.pop(event.response_id, None)
            if future is not None and not future.done():
                query = self.queries.pop(event.response_id, "")
                future.set_result(Reply(event.text, event.t, event.status, event.ttft_ms, event.latency_ms, query))
        elif isinstance(event, InstructionAdded):
            instructed = self.instruction_queries.pop(event.query_id, None)
            if instructed is not None:
                self.instructions[event.instruction_id] = instructed
        elif isinstance(event, Proactive):
            uid = self.instructions.get(event.instruction_id)
            if uid is not None:
                self.proactive_outputs.setdefault(uid, []).append((event.t, event.text))
        elif isinstance(event, SessionEnded):
            self.ended = event.reason
            for uid, future in self.spoken.items():
                if not future.done() and uid in self.unheard:
                    future.set_result(self.unheard[uid])  # never answered: its utterance could not be transcribed
            for future in [
                *self.asked.values(),
                *self.spoken.values(),
                *self.by_query.values(),
                *self.by_response.values(),
            ]:
                if not future.done():
                    future.set_result(None)


class PollingSource:
    """Typed proactive polls, each asked only after the previous one was answered (the official protocol)."""

    kind = "text"
    live = False

    def __init__(self, items: Sequence[Item], tracker: ReplyTracker, done: Callable[[Item, list, Any], None]) -> None:
        self.instructions = sorted(items, key=lambda i: i.time_s)
        self.tracker = tracker
        self.done = done
        self.name = "proactive-polls"

    def open(self) -> None:
        """Nothing to open."""

    async def _reply(self, future: asyncio.Future[Reply | None], t: float, text: str, history: list) -> str:
        reply = await future
        said = reply.text if reply is not None else ""
        history += [{"role": "user", "time": t, "content": text}, {"role": "assistant", "time": t, "content": said}]
        return said

    async def items(self, now: Callable[[], float]) -> AsyncIterator[TextInput]:
        last = 0.0
        for item in self.instructions:
            history: list[dict[str, Any]] = []
            answered: float | bool = False
            t = max(item.time_s + 1, last)
            while t <= float(item.gt_time_s or 0.0) + POLL_AFTER_GT_S:
                turn_id, future = self.tracker.expect()
                yield TextInput(t=t, text=poll_prompt(item), source=self.name, turn_id=turn_id)
                said = await self._reply(future, t, poll_prompt(item), history)
                if "yes" in said.strip().lower():
                    turn_id, future = self.tracker.expect()
                    # the instruction itself, to be answered now: not kept as a standing instruction
                    yield TextInput(t=t, text=item.question, source=self.name, turn_id=turn_id, standing=False)
                    await self._reply(future, t, item.question, history)
                    answered = t
                    break
                t += 1
            last = t
            self.done(item, history, answered)

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    duration_s: float
    native_fps: float
    has_audio: bool


def probe_video(path: Path) -> VideoInfo:
    """Duration, frame rate and whether there is an audio track; raises ``ValueError`` naming what is wrong."""
    if not path.exists():
        raise ValueError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened() or not cap.grab():
            raise ValueError(f"unreadable video (cannot decode a frame): {path}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        frames = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
    finally:
        cap.release()
    has_audio = False
    duration = frames / fps if fps > 0 else 0.0
    try:
        with av.open(str(path)) as container:
            has_audio = bool(container.streams.audio)
            if container.duration:
                duration = max(duration, container.duration / av.time_base)
    except (av.FFmpegError, OSError) as exc:
        raise ValueError(f"unreadable video ({exc}): {path}") from None
    return VideoInfo(path, duration, fps, has_audio)


@dataclass
class GroupOutcome:
    """What one video's pass produced, for the run's statistics."""

    stream_s: float = 0.0
    wall_s: float = 0.0
    frames_decoded: int = 0
    frames_recut: int = 0


def make_record(item: Item, **fields: Any) -> dict[str, Any]:
    """A results.jsonl line: the item, what the model said, and both scores."""
    record: dict[str, Any] = {
        "uid": item.uid,
        "file": item.file,
        "record": item.record,
        "video": item.video,
        "task": item.task.code,
        "category": item.task.category,
        "kind": item.task.kind,
        "time_s": item.time_s,
        "prompt": item.prompt(),
        "gold": item.gt_output if item.proactive else item.answer,
        "skipped": None,
        **fields,
    }
    if record["skipped"]:
        record.update(official=False, robust=False)
    elif item.proactive:
        history, gt = record["dialog_history"], float(item.gt_time_s or 0.0)
        record["official"] = official_proactive(history, gt, item.gt_output or "")
        record["robust"] = robust_proactive(history, gt, item.gt_output or "")
    else:
        letter = parse_letter(record["response"], item.options)
        record.update(
            official=official_choice(record["response"], item.answer),
            robust_letter=letter,
            robust=letter == item.answer,
        )
    return record


def resolve_video(videos_dir: Path, video: str) -> Path:
    path = Path(video)
    return path if path.is_absolute() else videos_dir / path


Opener = Callable[[EngineConfig, ReplayClock], Awaitable[Session]]


async def replay_group(
    items: Sequence[Item],
    *,
    video: Path,
    config: EngineConfig,
    pace: Pace,
    proactive: ProactiveMode,
    write: Callable[[dict[str, Any]], None],
    opener: Opener = open_session,
    spoken_root: Path | None = None,
) -> GroupOutcome:
    """One pass over ``video`` posing ``items``; every item ends as exactly one record given to ``write``.

    ``opener`` builds the session (``engine.runtime.open_session``: the real models, loaded once per process). When the
    session cannot be opened or fails, the items still unanswered are recorded as skipped with the error. With
    ``spoken_root``, questions that have an ``audio_path`` (relative to it) are spoken into the audio instead of typed.
    """
    written: set[str] = set()

    def record(entry: dict[str, Any]) -> None:
        written.add(entry["uid"])
        write(entry)

    try:
        return await _replay(items, video=video, config=config, pace=pace, proactive=proactive, write=record,
                             opener=opener, spoken_root=spoken_root)  # fmt: skip
    except Exception as exc:
        for item in items:
            if item.uid not in written:
                write(make_record(item, skipped=f"replay failed: {type(exc).__name__}: {exc}"))
        return GroupOutcome()


async def _replay(
    items: Sequence[Item],
    *,
    video: Path,
    config: EngineConfig,
    pace: Pace,
    proactive: ProactiveMode,
    write: Callable[[dict[str, Any]], None],
    opener: Opener,
    spoken_root: Path | None,
) -> GroupOutcome:
    outcome = GroupOutcome()
    try:
        info = probe_video(video)
    except ValueError as exc:
        for item in items:
            write(make_record(item, skipped=str(exc)))
        return outcome
    posable = []
    for item in items:
        if item.time_s > info.duration_s + 1.0:
            reason = f"time stamp {item.time_s:.0f} s is beyond the video's end ({info.duration_s:.1f} s)"
            write(make_record(item, skipped=reason))
        else:
            posable.append(item)
    spoken: dict[str, SpokenQuestion] = {}
    for item in [i for i in posable if spoken_root is not None and i.audio_path and not i.proactive]:
        try:
            clip = load_clip(resolve_video(spoken_root, str(item.audio_path)))
        except ValueError as exc:
            write(make_record(item, skipped=str(exc)))
            posable.remove(item)
            continue
        spoken[item.uid] = SpokenQuestion(item.uid, item.time_s, clip)
    if not posable:
        return outcome
    if spoken:
        policy = SpokenQuestionPolicy(list(spoken.values()))
        config = dataclasses.replace(config, policy=policy)
    started = time.monotonic()
    clock = ReplayClock(pace)
    session = await opener(config, clock)
    tracker = ReplyTracker(slot_of=policy.slot_of) if spoken else ReplyTracker()
    events = session.subscribe()
    pending: list[asyncio.Task[None]] = []

    async def answer_of(item: Item, future: asyncio.Future[Reply | None]) -> None:
        reply = await future
        if reply is None:
            write(make_record(item, skipped=f"no response: session ended ({tracker.ended})"))
            return
        heard = {"heard": reply.query} if item.uid in spoken else {}
        write(
            make_record(
                item,
                response=reply.text,
                status=reply.status,
                ttft_ms=reply.ttft_ms,
                latency_ms=reply.latency_ms,
                **heard,
            )
        )

    def proactive_done(item: Item, history: list[dict[str, Any]], answered: Any) -> None:
        write(
            make_record(
                item,
                response=history[-1]["content"] if history else "",
                dialog_history=history,
                answered=answered,
                status="polled" if proactive == "poll" else "proactive",
            )
        )

    choice = sorted((i for i in posable if not i.proactive), key=lambda i: i.time_s)
    active = [i for i in posable if i.proactive]
    lines: list[tuple[float, str] | tuple[float, str, str]] = []
    for item in choice:
        if item.uid in spoken:
            tracker.spoken[item.uid] = asyncio.get_running_loop().create_future()
            pending.append(asyncio.create_task(answer_of(item, tracker.spoken[item.uid])))
        else:
            turn_id, future = tracker.expect()
            lines.append((item.time_s, item.prompt(), turn_id))
            pending.append(asyncio.create_task(answer_of(item, future)))
    if proactive == "events":
        lines += [(i.time_s, i.question, tracker.instruct(i.uid)) for i in active]
    sources: list[Source] = [VideoFileSource(str(video), fps=config.options.ingest.fps)]
    if spoken:
        sources.append(MixedAudioSource(str(video) if info.has_audio else None, list(spoken.values()), info.duration_s))
    elif info.has_audio:
        sources.append(AudioFileSource(str(video)))
    if lines:
        sources.append(ScheduledTextSource(lines, name="questions"))
    if proactive == "poll" and active:
        sources.append(PollingSource(active, tracker, proactive_done))

    async def consume() -> None:
        async for event in events:
            tracker.feed(event)

    consumer = asyncio.create_task(consume())
    try:
        await session.run(sources)
        await consumer
        await asyncio.gather(*pending)
    finally:
        for task in [consumer, *pending]:
            task.cancel()
    if proactive == "events":
        _record_proactive_events(active, tracker, proactive_done)
    outcome.wall_s = time.monotonic() - started
    outcome.stream_s = clock.now()
    outcome.frames_decoded = sources[0].frames_decoded  # type: ignore[attr-defined]
    context = config.options.response.context_seconds
    outcome.frames_recut = round(
        sum(i.time_s - (max(0.0, i.time_s - context) if context else 0.0) for i in posable) * info.native_fps
    )
    return outcome


def _record_proactive_events(
    items: Sequence[Item], tracker: ReplyTracker, done: Callable[[Item, list, Any], None]
) -> None:
    """Each item's ``proactive`` outputs, known by the instruction its own turn set."""
    for item in items:
        history = [
            {"role": "assistant", "time": t, "content": text} for t, text in tracker.proactive_outputs.get(item.uid, [])
        ]
        done(item, history, history[-1]["time"] if history else False)


def engine_config(
    backend: str, *, model: str | None, device: str, context: float | None, fps: float, speech: bool
) -> EngineConfig:
    options = SessionOptions(
        ingest=IngestOptions(fps=fps),
        response=ResponseOptions(context_seconds=context),
        turns=TurnOptions(barge_in=False),  # the media's own speech is not the user interrupting
    )
    stream = None
    caps = capabilities(backend)
    if caps.media_window and caps.options is not None and context is None:
        stream = caps.options(window_seconds=ALL_CONTEXT_WINDOW_S)  # "all": the KV cap (max_kv_tokens) decides
    return EngineConfig(
        backend=backend,
        model=model,
        device=device,
        options=options,
        speech=speech,
        policy=SpeechIsContent(),
        backend_options=stream,
    )
