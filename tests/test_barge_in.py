"""Barge-in timelines: speech during an answer pauses it, long speech or a query interrupts it, and a noise or a
backchannel lets it resume. Replayed in real time with a scripted VAD (loud = speech), transcriber and backend whose
decoding takes 50 ms a word."""

from __future__ import annotations

import pytest

from engine.events import (
    Event,
    QueryAccepted,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    SpeechStarted,
)
from engine.gate import GateDecision
from engine.options import SessionOptions, TurnOptions
from engine.session import Session
from streams.clock import ReplayClock
from streams.text import ScheduledTextSource
from tests.fakes import ScriptedBackendContext, ScriptedTranscriber, ScriptedVad
from tests.timeline import audio_timeline, run_collect

TOL = 0.12  # seconds of scheduling slack on a loaded 2-core machine


class IgnoreBackchannels:
    def decide(self, text: str, *, start: float, end: float, features: object = None) -> GateDecision:
        if text.lower().strip(" .!") in {"mhm", "yeah", "okay", "uh-huh"}:
            return GateDecision(False, "backchannel")
        return GateDecision(True, "addressed")


def session_for(transcripts: list[str], words: int = 20, cites: bool = False) -> tuple[Session, ScriptedBackendContext]:
    ctx = ScriptedBackendContext(words_per_answer=words, seconds_per_word=0.05, cites=cites)
    session = Session(
        ctx,
        clock=ReplayClock("realtime"),
        vad=ScriptedVad(),
        transcriber=ScriptedTranscriber(transcripts),
        policy=IgnoreBackchannels(),
        options=SessionOptions(turns=TurnOptions()),
    )
    return session, ctx


def first(events: list[Event], cls: type, **match: object) -> Event:
    return next(e for e in events if isinstance(e, cls) and all(getattr(e, k) == v for k, v in match.items()))


async def test_speech_during_answer_pauses_then_long_speech_interrupts_and_the_query_is_answered():
    # query typed at 0.0 s; the user talks over the answer from 0.4 s to 1.4 s
    session, ctx = session_for(["what colour is the car"])
    events = await run_collect(
        session, [audio_timeline(3.5, [(0.4, 1.4)]), ScheduledTextSource([(0.0, "tell me a long story")])]
    )
    onset = first(events, SpeechStarted)
    paused = first(events, ResponsePaused)
    assert onset.t == pytest.approx(0.4, abs=0.04)
    assert paused.t == pytest.approx(0.4, abs=TOL) and paused.response_id == "r2"
    done = first(events, ResponseDone, response_id="r2")
    assert done.status == "interrupted" and done.reason == "barge-in: speech longer than 0.6 s"
    assert done.t == pytest.approx(1.0, abs=TOL)
    # nothing was emitted for r2 after the pause; what was emitted is exactly what the dialogue keeps
    deltas = [e for e in events if isinstance(e, ResponseDelta) and e.response_id == "r2"]
    assert all(events.index(d) < events.index(paused) for d in deltas)
    assert done.text == "".join(d.text for d in deltas) == session.history[1].text
    assert session.history[1].interrupted
    assert ctx.steps_after_cancel <= 1
    # the new question is answered in full
    accepted = first(events, QueryAccepted, text="what colour is the car")
    assert accepted.t == pytest.approx(1.9, abs=TOL)
    final = [e for e in events if isinstance(e, ResponseDone)][-1]
    assert final.status == "completed" and len(final.text.split()) == 20


async def test_an_interrupted_answer_names_as_evidence_only_what_rests_under_the_words_delivered():
    # each word i of an answer rests on notice n<i>; query typed at 0.0 s, the user talks over it from 0.4 s to 1.4 s
    session, _ = session_for(["what colour is the car"], cites=True)
    events = await run_collect(
        session, [audio_timeline(3.5, [(0.4, 1.4)]), ScheduledTextSource([(0.0, "tell me a long story")])]
    )
    cut = first(events, ResponseDone, response_id="r2")
    said = len(cut.text.split())
    assert cut.status == "interrupted" and 0 < said < 20
    assert cut.evidence == tuple(f"n{i}" for i in range(said))  # not the words decoded while paused, never shown
    final = [e for e in events if isinstance(e, ResponseDone)][-1]
    assert final.status == "completed" and final.evidence == tuple(f"n{i}" for i in range(20))


async def test_a_cough_pauses_the_answer_which_resumes_after_the_timeout_with_nothing_lost():
    session, _ = session_for([])
    events = await run_collect(
        session, [audio_timeline(3.0, [(0.4, 0.5)]), ScheduledTextSource([(0.0, "describe the scene")])]
    )
    paused = first(events, ResponsePaused)
    resumed = first(events, ResponseResumed)
    assert paused.t == pytest.approx(0.4, abs=TOL)
    assert resumed.t == pytest.approx(1.9, abs=TOL)
    assert resumed.reason == "false interruption: no query within 1.5 s"
    done = first(events, ResponseDone)
    assert done.status == "completed"
    assert done.text.split() == [f"w{i}" for i in range(20)]
    between = [e for e in events[events.index(paused) : events.index(resumed)] if isinstance(e, ResponseDelta)]
    assert between == []


async def test_a_backchannel_is_ignored_and_the_answer_resumes():
    session, _ = session_for(["mhm"])
    events = await run_collect(
        session, [audio_timeline(3.0, [(0.4, 0.75)]), ScheduledTextSource([(0.0, "what happened")])]
    )
    types = [e.type for e in events]
    assert "query.ignored" in types and types.index("response.paused") < types.index("query.ignored")
    assert first(events, ResponseResumed).t == pytest.approx(1.9, abs=TOL)
    assert first(events, ResponseDone).status == "completed"


async def test_a_query_shorter_than_the_interrupt_threshold_interrupts_once_accepted():
    session, _ = session_for(["stop"], words=40)
    events = await run_collect(
        session, [audio_timeline(3.0, [(0.4, 0.8)]), ScheduledTextSource([(0.0, "count to forty")])]
    )
    done = first(events, ResponseDone, response_id="r2")
    assert done.status == "interrupted" and done.reason == "new query q3"
    # 0.8 s end of speech + 0.5 s of silence to close the utterance
    assert done.t == pytest.approx(1.3, abs=TOL)
    assert "response.resumed" not in [e.type for e in events]


async def test_barge_in_off_lets_the_answer_run_over_speech():
    ctx = ScriptedBackendContext(words_per_answer=20, seconds_per_word=0.05)
    session = Session(
        ctx,
        clock=ReplayClock("realtime"),
        vad=ScriptedVad(),
        transcriber=ScriptedTranscriber([]),
        options=SessionOptions(turns=TurnOptions(barge_in=False)),
    )
    events = await run_collect(session, [audio_timeline(2.0, [(0.4, 1.4)]), ScheduledTextSource([(0.0, "go")])])
    assert "response.paused" not in [e.type for e in events]
    assert first(events, ResponseDone).status == "completed"
