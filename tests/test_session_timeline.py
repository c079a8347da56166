"""Session timelines on replayed (virtual) time with scripted models."""

from __future__ import annotations

import numpy as np
import pytest

from engine.events import Error, QueryAccepted, ResponseDelta, ResponseDone, SpeechStarted, SpeechStopped, Transcript
from engine.session import Session
from streams.clock import ReplayClock
from streams.items import VideoFrame
from streams.text import ScheduledTextSource
from tests.fakes import ScriptedBackendContext, ScriptedTranscriber, ScriptedVad
from tests.timeline import ScriptedSource, audio_timeline, run_collect, types


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
