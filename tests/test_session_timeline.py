"""Session timelines on replayed (virtual) time with scripted models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import numpy as np
import pytest

from engine.events import (
    Error,
    QueryAccepted,
    ResponseDelta,
    ResponseDone,
    ResponseStarted,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)
from engine.gate import GateDecision
from engine.options import ResponseOptions, SessionOptions, TurnOptions
from engine.session import Session
from streams.clock import ReplayClock
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, StreamItem, VideoFrame
from streams.text import ScheduledTextSource
from tests.fakes import ScriptedBackendContext, ScriptedTranscriber, ScriptedVad
from tests.timeline import ScriptedSource, audio_timeline, run_collect, types

TOL = 0.12  # seconds of scheduling slack in realtime replays on a loaded 2-core machine


def make_session(ctx: ScriptedBackendContext | None = None, texts: list[str] | None = None) -> Session:
    return Session(
        ctx or ScriptedBackendContext(),
        clock=ReplayClock("fast"),
        vad=ScriptedVad(),
        transcriber=ScriptedTranscriber(texts or []),
    )


async def test_speech_at_1s_becomes_a_query_answered_after_the_silence():
    ctx = ScriptedBackendContext()
    session = make_session(ctx, ["what is on the screen"])
    events = await run_collect(session, [audio_timeline(4.0, [(1.0, 2.0)])])
    assert types(events) == [
        "session.started",
        "speech.started",
        "speech.stopped",
        "transcript",
        "query.accepted",
        "response.started",
        *["response.delta"] * 7,
        "response.done",
        "session.ended",
    ]
    by_type = {e.type: e for e in events}
    started = by_type["speech.started"]
    stopped = by_type["speech.stopped"]
    assert isinstance(started, SpeechStarted) and started.t == pytest.approx(1.0, abs=0.04)
    assert isinstance(stopped, SpeechStopped) and stopped.start == pytest.approx(1.0, abs=0.04)
    assert stopped.duration == pytest.approx(1.0, abs=0.07)
    transcript = by_type["transcript"]
    assert isinstance(transcript, Transcript) and transcript.text == "what is on the screen"
    # the utterance is closed after 500 ms of silence, so the transcript arrives at ≈ 2.5 s of stream time
    assert transcript.t == pytest.approx(2.5, abs=0.07)
    done = by_type["response.done"]
    assert isinstance(done, ResponseDone) and done.status == "completed"
    assert done.text == "answer to what is on the screen"
    assert ctx.transcripts == [(stopped.start, stopped.start + stopped.duration, "what is on the screen")]
    assert [t.role for t in session.history] == ["user", "assistant"]


async def test_noise_burst_shorter_than_min_speech_is_not_transcribed():
    transcriber = ScriptedTranscriber(["should not be used"])
    session = Session(ScriptedBackendContext(), clock=ReplayClock("fast"), vad=ScriptedVad(), transcriber=transcriber)
    events = await run_collect(session, [audio_timeline(3.0, [(1.0, 1.1)])])
    assert types(events) == ["session.started", "speech.started", "speech.stopped", "session.ended"]
    assert transcriber.seen == []


async def test_text_queries_at_their_times_and_frames_in_order():
    ctx = ScriptedBackendContext()
    frames = [VideoFrame(t=i * 0.5, image=np.zeros((4, 4, 3), np.uint8)) for i in range(10)]
    session = make_session(ctx)
    events = await run_collect(
        session,
        [
            ScriptedSource("cam", "video", frames),
            ScheduledTextSource([(3.2, "second question"), (1.0, "first question")]),
        ],
    )
    accepted = [e for e in events if isinstance(e, QueryAccepted)]
    assert [(e.t, e.text, e.source) for e in accepted] == [
        (1.0, "first question", "text"),
        (3.2, "second question", "text"),
    ]
    assert ctx.frames == [i * 0.5 for i in range(10)]
    # the first question saw the frames up to 1.0 s (fast replay waits for ingest before releasing the question)
    assert ctx.requests[0].t == 1.0
    times = [e.t for e in events]
    assert times == sorted(times)


async def test_new_text_query_interrupts_the_answer_in_flight():
    # "first" at 0.0 s starts a 50-word answer decoded at 20 ms a word; "second" at 0.3 s interrupts it
    ctx = ScriptedBackendContext(words_per_answer=50, seconds_per_word=0.02)
    session = Session(ctx, clock=ReplayClock("realtime"), vad=None, transcriber=None)
    events = await run_collect(session, [ScheduledTextSource([(0.0, "first"), (0.3, "second")])])
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert [d.status for d in done] == ["interrupted", "completed"]
    assert done[0].reason == "new query q3"
    assert done[0].t == pytest.approx(0.3, abs=0.1)
    first_id = done[0].response_id
    delivered = "".join(e.text for e in events if isinstance(e, ResponseDelta) and e.response_id == first_id)
    assert done[0].text == delivered
    assert 0 < len(delivered.split()) < 50
    # the dialogue keeps only what was delivered, marked interrupted
    assert session.history[1].interrupted and session.history[1].text == delivered
    # decoding really stopped: at most the step in progress finished after the cancel
    assert ctx.steps_after_cancel <= 1


async def test_live_source_dying_mid_stream_reports_and_the_session_goes_on():
    ctx = ScriptedBackendContext()
    frames = [VideoFrame(t=i * 0.5, image=np.zeros((4, 4, 3), np.uint8)) for i in range(6)]
    cam = ScriptedSource("webcam:0", "video", frames, live=True, fail_after=3)
    session = make_session(ctx)
    events = await run_collect(session, [cam, ScheduledTextSource([(0.0, "still there?")])])
    errors = [e for e in events if isinstance(e, Error)]
    assert len(errors) == 1 and errors[0].source == "webcam:0" and "unplugged" in errors[0].message
    assert not errors[0].fatal
    assert any(isinstance(e, ResponseDone) and e.status == "completed" for e in events)
    assert events[-1].type == "session.ended"
    assert len(ctx.frames) == 3


async def test_source_that_cannot_open_is_reported_and_others_run():
    class Broken(ScriptedSource):
        def open(self) -> None:
            from streams.source import SourceError

            raise SourceError("video:missing.mp4: file not found: missing.mp4")

    session = make_session()
    events = await run_collect(
        session, [Broken("video:missing.mp4", "video", []), ScheduledTextSource([(0.5, "hello")])]
    )
    assert [e.message for e in events if isinstance(e, Error)] == ["video:missing.mp4: file not found: missing.mp4"]
    assert any(isinstance(e, ResponseDone) for e in events)


async def test_nothing_can_run_when_every_source_fails_to_open():
    class Broken(ScriptedSource):
        def open(self) -> None:
            from streams.source import SourceError

            raise SourceError("mic:default: no microphone input device")

    ctx = ScriptedBackendContext()
    session = make_session(ctx)
    events = await run_collect(session, [Broken("mic:default", "audio", [])])
    assert types(events) == ["session.started", "error", "session.ended"]
    assert events[-1].reason == "no source could be opened"
    assert ctx.closed


async def test_backend_failure_mid_answer_is_a_failed_response_and_an_error():
    class Failing(ScriptedBackendContext):
        def answer(self, request, cancel):
            yield "partial"
            raise RuntimeError("GPU fell off the bus")

    session = make_session(Failing())
    events = await run_collect(session, [ScheduledTextSource([(0.0, "one"), (1.0, "two")])])
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert [d.status for d in done] == ["failed", "failed"]
    assert done[0].text == "partial"
    assert any(isinstance(e, Error) and "GPU fell off the bus" in e.message for e in events)


async def test_empty_text_is_ignored_with_a_reason():
    session = make_session()
    events = await run_collect(session, [ScheduledTextSource([(0.0, "real question")])])
    session2 = make_session()
    sub = session2.subscribe()
    session2.submit_text("   ")
    ignored = await anext(aiter(sub))
    assert ignored.type == "query.ignored" and ignored.reason == "empty text"
    assert any(e.type == "response.done" for e in events)


async def test_a_typed_question_over_the_length_limit_is_refused_and_the_next_answered():
    ctx = ScriptedBackendContext()
    session = Session(
        ctx, clock=ReplayClock("fast"), options=SessionOptions(response=ResponseOptions(max_query_chars=50))
    )
    lines = [(1.0, "x" * 51), (2.0, "what now?")]
    events = await run_collect(session, [ScheduledTextSource(lines)])
    ignored = next(e for e in events if e.type == "query.ignored")
    assert (ignored.t, ignored.reason) == (1.0, "text too long: 51 characters, the limit is 50")
    assert any(isinstance(e, Error) and "typed question refused: text too long" in e.message for e in events)
    assert [r.query for r in ctx.requests] == ["what now?"]
    assert [e.text for e in events if isinstance(e, QueryAccepted)] == ["what now?"]


async def test_dialogue_history_is_bounded_and_metrics_still_count_every_response():
    session = Session(
        ScriptedBackendContext(),
        clock=ReplayClock("fast"),
        options=SessionOptions(response=ResponseOptions(max_history=4)),
    )
    events = await run_collect(session, [ScheduledTextSource([(float(k), f"question {k}") for k in range(5)])])
    assert [(turn.role, turn.text) for turn in session.history] == [
        ("user", "question 3"),
        ("assistant", "answer to question 3"),
        ("user", "question 4"),
        ("assistant", "answer to question 4"),
    ]
    final = [e for e in events if e.type == "metrics"][-1]
    assert final.values["responses"] == 5 and final.values["ttft_ms_p50"] >= 0


async def test_a_listener_can_truncate_a_finished_answer_to_what_was_heard():
    session = make_session()
    events = await run_collect(session, [ScheduledTextSource([(0.0, "where is the exit")])])
    done = next(e for e in events if isinstance(e, ResponseDone))
    assert session.history[-1].response_id == done.response_id
    assert session.truncate_turn(done.response_id, "answer to")
    assert session.history[-1].text == "answer to" and session.history[-1].interrupted
    assert not session.truncate_turn("r999", "anything")


async def test_a_backend_that_recovers_is_reported_without_losing_the_frame():
    from engine.backends.base import BackendRecovered

    class ShrinksOnce(ScriptedBackendContext):
        def ingest_frame(self, frame: VideoFrame) -> None:
            super().ingest_frame(frame)
            if frame.t == 1.0:
                raise BackendRecovered("out of memory while prefilling: window shrunk from 60 s to 30 s")

    ctx = ShrinksOnce()
    frames = [VideoFrame(t=i * 0.5, image=np.zeros((4, 4, 3), np.uint8)) for i in range(4)]
    events = await run_collect(make_session(ctx), [ScriptedSource("cam", "video", frames)])
    errors = [e for e in events if isinstance(e, Error)]
    assert [(e.source, e.message, e.fatal) for e in errors] == [
        ("backend", "out of memory while prefilling: window shrunk from 60 s to 30 s", False)
    ]
    assert ctx.frames == [0.0, 0.5, 1.0, 1.5]


# ---------------------------------------------------------------------------------------------------- client turns
class ClientScript(ScriptedSource):
    """Microphone chunks interleaved with client actions; an action runs once the chunk before it was accepted."""

    def __init__(self, script: list[AudioChunk | Callable[[], object]]) -> None:
        super().__init__("mic", "audio", [])
        self.script = script

    async def items(self, now: Callable[[], float]) -> AsyncIterator[StreamItem]:
        for step in self.script:
            if isinstance(step, AudioChunk):
                yield step
            else:
                step()
            await asyncio.sleep(0)


def mic(start: float, end: float, loud: Sequence[tuple[float, float]] = ()) -> list[AudioChunk]:
    """32 ms chunks covering [start, end): silence, loud (speech-like) inside ``loud``."""
    chunks = []
    for i in range(round(start * SAMPLE_RATE / CHUNK_SAMPLES), round(end * SAMPLE_RATE / CHUNK_SAMPLES)):
        t = i * CHUNK_SAMPLES / SAMPLE_RATE
        amp = 0.3 if any(a <= t < b for a, b in loud) else 0.0
        chunks.append(AudioChunk(t=round(t, 5), samples=np.full(CHUNK_SAMPLES, amp, np.float32), source="mic"))
    return chunks


class RefuseEverything:
    def decide(self, text: str, *, start: float, end: float, features: object = None) -> GateDecision:
        return GateDecision(False, "not addressed")


def turn_session(
    ctx: ScriptedBackendContext,
    texts: list[str],
    turns: TurnOptions,
    *,
    pace: str = "fast",
    policy: object = None,
) -> tuple[Session, ScriptedTranscriber]:
    transcriber = ScriptedTranscriber(texts)
    session = Session(
        ctx,
        clock=ReplayClock(pace),  # type: ignore[arg-type]
        vad=ScriptedVad(),
        transcriber=transcriber,
        policy=policy,  # type: ignore[arg-type]
        options=SessionOptions(turns=turns),
    )
    return session, transcriber


async def test_manual_turn_is_the_committed_buffer_answered_only_on_request():
    # the client clears a noise at 1.0 s, speaks 1.5-2.0 s, commits at 2.5 s and asks for the answer at 3.0 s
    ctx = ScriptedBackendContext()
    session, transcriber = turn_session(ctx, ["what colour is the car"], TurnOptions(manual_turns=True))
    asked: list[bool] = []
    script: list[AudioChunk | Callable[[], object]] = [
        *mic(0.0, 1.0, [(0.2, 0.9)]),
        session.clear_audio,
        *mic(1.0, 2.5, [(1.5, 2.0)]),
        session.commit_audio,
        session.commit_audio,  # nothing since the last commit: refused
        *mic(2.5, 3.0),
        lambda: asked.append(session.create_response()),
        *mic(3.0, 3.5),
        lambda: asked.append(session.create_response()),  # everything was answered: nothing to do
    ]
    events = await run_collect(session, [ClientScript(script)])
    assert asked == [True, False]
    assert types(events) == [
        "session.started",
        "error",
        "transcript",
        "query.accepted",
        "response.started",
        *["response.delta"] * 7,
        "response.done",
        "session.ended",
    ]  # no speech.started / speech.stopped: the VAD does not end turns
    error = next(e for e in events if isinstance(e, Error))
    assert error.source == "input" and "0 ms" in error.message and error.t == pytest.approx(2.5, abs=0.04)
    # exactly the buffer between the clear and the commit was transcribed
    assert transcriber.seen == [round(1.5 * SAMPLE_RATE / CHUNK_SAMPLES) * CHUNK_SAMPLES]
    transcript = next(e for e in events if isinstance(e, Transcript))
    assert (transcript.start, transcript.end) == (pytest.approx(1.0, abs=0.04), pytest.approx(2.5, abs=0.04))
    accepted = next(e for e in events if isinstance(e, QueryAccepted))
    assert accepted.reason == "committed by the client" and accepted.source == "speech" and accepted.t < 2.6
    started = next(e for e in events if isinstance(e, ResponseStarted))
    assert started.t == pytest.approx(2.98, abs=0.04) and started.query == "what colour is the car"
    # the stream's audio and the turn's transcript reached the backend as usual
    assert ctx.audio_chunks == len(mic(0.0, 3.5))
    assert [text for _, _, text in ctx.transcripts] == ["what colour is the car"]


async def test_a_response_requested_right_after_a_commit_waits_for_the_transcript():
    ctx = ScriptedBackendContext()
    session, _ = turn_session(ctx, ["read the sign"], TurnOptions(manual_turns=True))
    script: list[AudioChunk | Callable[[], object]] = [
        *mic(0.0, 1.0, [(0.2, 0.8)]),
        session.commit_audio,
        lambda: session.create_response(instructions="Answer in French."),
        *mic(1.0, 1.5),
    ]
    events = await run_collect(session, [ClientScript(script)])
    kinds = types(events)
    assert kinds.index("transcript") < kinds.index("query.accepted") < kinds.index("response.started")
    assert [r.query for r in ctx.requests] == ["read the sign"]
    assert ctx.requests[0].instructions == "Answer in French."


async def test_without_auto_response_vad_turns_are_gated_and_wait_for_create_response():
    ctx = ScriptedBackendContext()
    session, _ = turn_session(ctx, ["what time is it", "and the weather"], TurnOptions(auto_response=False))
    script: list[AudioChunk | Callable[[], object]] = [
        *mic(0.0, 4.0, [(0.5, 1.2), (2.0, 2.6)]),
        session.create_response,
        *mic(4.0, 4.5),
    ]
    events = await run_collect(session, [ClientScript(script)])
    assert types(events) == [
        "session.started",
        "speech.started",
        "speech.stopped",
        "transcript",
        "query.accepted",
        "speech.started",
        "speech.stopped",
        "transcript",
        "query.accepted",
        "response.started",
        *["response.delta"] * 9,
        "response.done",
        "session.ended",
    ]
    started = next(e for e in events if isinstance(e, ResponseStarted))
    assert started.t == pytest.approx(3.97, abs=0.04)
    assert started.query == "what time is it\nand the weather"  # both waiting turns, answered as one


async def test_without_auto_response_a_turn_the_gate_refuses_is_not_answered():
    ctx = ScriptedBackendContext()
    session, _ = turn_session(ctx, ["nice weather today"], TurnOptions(auto_response=False), policy=RefuseEverything())
    asked: list[bool] = []
    script: list[AudioChunk | Callable[[], object]] = [
        *mic(0.0, 2.5, [(0.5, 1.2)]),
        lambda: asked.append(session.create_response()),
    ]
    events = await run_collect(session, [ClientScript(script)])
    assert asked == [False]
    assert "query.ignored" in types(events) and "response.started" not in types(events)


async def test_interrupt_response_off_lets_speech_run_over_the_answer_and_the_turn_waits():
    # a 20-word answer (50 ms a word) from 0.0 s; the user talks 0.3-1.0 s over it; answered on request at 2.5 s
    ctx = ScriptedBackendContext(words_per_answer=20, seconds_per_word=0.05)
    session, _ = turn_session(ctx, ["tell me more"], TurnOptions(barge_in=False, auto_response=False), pace="realtime")
    script: list[AudioChunk | Callable[[], object]] = [
        lambda: session.submit_text("describe the room"),
        *mic(0.0, 2.5, [(0.3, 1.0)]),
        session.create_response,
        *mic(2.5, 3.0),
    ]
    events = await run_collect(session, [ClientScript(script)])
    assert "response.paused" not in types(events)
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert [d.status for d in done] == ["completed", "completed"]
    assert len(done[0].text.split()) == 20  # nothing of the first answer was lost to the speech over it
    speech_started = next(e for e in events if isinstance(e, SpeechStarted))
    assert speech_started.t < done[0].t  # the user really spoke while it streamed
    second = [e for e in events if isinstance(e, ResponseStarted)][1]
    assert second.query == "tell me more" and second.t == pytest.approx(2.5, abs=TOL)


async def test_with_interrupt_response_a_waiting_turn_still_cuts_the_answer():
    ctx = ScriptedBackendContext(words_per_answer=40, seconds_per_word=0.05)
    session, _ = turn_session(ctx, ["stop"], TurnOptions(auto_response=False), pace="realtime")
    script: list[AudioChunk | Callable[[], object]] = [
        lambda: session.submit_text("describe the room"),
        *mic(0.0, 2.0, [(0.3, 0.6)]),  # shorter than interrupt_after_s: it is the accepted turn that cuts
    ]
    events = await run_collect(session, [ClientScript(script)])
    done = next(e for e in events if isinstance(e, ResponseDone))
    assert done.status == "interrupted" and done.reason.startswith("new turn")
    assert types(events).count("response.started") == 1  # the turn waits for create_response


async def test_session_and_response_instructions_reach_the_backend():
    ctx = ScriptedBackendContext()
    session = make_session(ctx)
    session.update_options(response=ResponseOptions(instructions="Be brief."))
    script: list[AudioChunk | Callable[[], object]] = [
        lambda: session.submit_text("first"),
        *mic(0.0, 0.5),
        lambda: session.create_response("second", instructions="Answer in French."),
        *mic(0.5, 1.0),
    ]
    await run_collect(session, [ClientScript(script)])
    assert [(r.query, r.instructions) for r in ctx.requests] == [
        ("first", "Be brief."),
        ("second", "Answer in French."),
    ]


async def test_manual_turns_need_speech_input_and_commits_need_manual_turns():
    with pytest.raises(ValueError, match="transcriber"):
        Session(
            ScriptedBackendContext(),
            clock=ReplayClock("fast"),
            options=SessionOptions(turns=TurnOptions(manual_turns=True)),
        )
    session = make_session()
    with pytest.raises(RuntimeError, match="manual turns"):
        session.commit_audio()
    with pytest.raises(RuntimeError, match="manual turns"):
        session.clear_audio()
