"""The soak benchmark: its event audit catches lost events, and a short soak through the real engine loses none."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.bench_soak import (
    LONG_REQUEST,
    SPOKEN,
    TYPED,
    EventAudit,
    SoakConfig,
    SynthAudio,
    make_plan,
    markdown,
    plot,
    soak,
)
from engine.events import (
    Metrics,
    QueryAccepted,
    ResponseDelta,
    ResponseDone,
    ResponseStarted,
    SessionEnded,
    SpeechStopped,
    Transcript,
)
from streams.items import CHUNK_SAMPLES


def _audit(typed: list[str]) -> EventAudit:
    return EventAudit(typed=typed, min_speech_s=0.25, metrics_interval_s=5.0)


def _answer(audit: EventAudit, n: int, text: str, pieces: list[str], final: str) -> None:
    audit.add(QueryAccepted(t=n, turn_id=f"u{n}", query_id=f"q{n}", text=text, source="text"))
    audit.add(ResponseStarted(t=n, response_id=f"r{n}", query_id=f"q{n}", query=text))
    for piece in pieces:
        audit.add(ResponseDelta(t=n, response_id=f"r{n}", text=piece))
    audit.add(ResponseDone(t=n, response_id=f"r{n}", status="completed", text=final, ttft_ms=10.0))


def _metrics(t: float, frames: int, chunks: int) -> Metrics:
    return Metrics(
        t=t,
        values={"video_frames": frames, "video_frames_dropped": 0, "audio_chunks": chunks, "audio_chunks_dropped": 0},
    )


def test_a_complete_event_stream_passes_the_audit():
    audit = _audit(["what is this?"])
    _answer(audit, 1, "what is this?", ["A sign", " saying EXIT."], "A sign saying EXIT.")
    audit.add(SpeechStopped(t=3.0, turn_id="u4", start=2.0, duration=1.0))
    audit.add(Transcript(t=3.5, turn_id="u4", text="hello there", start=2.0, end=3.0, asr_ms=400.0))
    audit.add(QueryAccepted(t=3.6, turn_id="u4", query_id="q4", text="hello there", source="speech"))
    audit.add(ResponseStarted(t=3.6, response_id="r5", query_id="q4", query="hello there"))
    audit.add(ResponseDone(t=4.0, response_id="r5", status="interrupted", text=""))
    audit.add(_metrics(5.0, frames=4, chunks=60))
    audit.add(_metrics(30.0, frames=10, chunks=150))  # the final metrics, after the session drained its work
    audit.add(SessionEnded(t=30.0, reason="sources exhausted"))
    audit.finish(frames_sent=10, chunks_sent=150)
    assert dict(audit.lost) == {}
    assert [r["status"] for r in audit.responses] == ["completed", "interrupted"]


def test_the_audit_counts_each_way_an_event_can_be_lost():
    # t=1: a delta went missing; t=2: answered twice; t=3: never answered; t=4: a typed question was replaced
    audit = _audit(["one", "two", "three", "four", "five"])
    _answer(audit, 1, "one", ["A sign"], "A sign saying EXIT.")
    _answer(audit, 2, "two", ["Blue."], "Blue.")
    audit.add(ResponseDone(t=2.1, response_id="r2", status="completed", text="Blue."))
    audit.add(ResponseDelta(t=2.2, response_id="r2", text="late"))
    audit.add(QueryAccepted(t=3, turn_id="u3", query_id="q3", text="three", source="text"))
    audit.add(ResponseStarted(t=3, response_id="r3", query_id="q3", query="three"))
    _answer(audit, 4, "not four", ["x"], "x")
    # an utterance that was never transcribed; a gap in the metrics; frames and audio missing at the end
    audit.add(SpeechStopped(t=6.0, turn_id="u5", start=5.0, duration=1.0))
    audit.add(_metrics(5.0, frames=10, chunks=150))
    audit.add(_metrics(30.0, frames=58, chunks=930))
    audit.finish(frames_sent=60, chunks_sent=937)
    assert dict(audit.lost) == {
        "deltas_differ_from_final_text": 1,
        "duplicate_response_done": 1,
        "delta_after_done": 1,
        "response_without_done": 1,
        "typed_question_altered_or_out_of_order": 1,
        "typed_question_not_accepted": 1,
        "utterance_without_transcript": 1,
        "metrics_gap": 1,
        "frames_unaccounted": 1,
        "audio_chunks_lost": 1,
        "no_session_ended": 1,
    }


def test_speech_said_on_the_fly_waits_for_a_free_microphone():
    clip = np.full(CHUNK_SAMPLES * 3, 0.5, np.float32)
    audio = SynthAudio(10.0, [(0.0, clip)])
    assert not audio.say(clip)  # the planned clip is playing from the next chunk on
    audio.sent = 5
    assert audio.say(clip)
    assert audio.said == [5 * CHUNK_SAMPLES / 16_000]
    assert np.abs(audio.chunk(5)).min() > 0.4 and np.abs(audio.chunk(8)).max() < 0.1


def test_the_plan_rotates_typed_spoken_and_barge_in_turns():
    plan = make_plan(120.0, 20.0)  # turns at 8, 28, 48, 68 and 88 s: none in the last 12 s
    assert plan.typed == ((8.0, TYPED[0]), (48.0, LONG_REQUEST), (68.0, TYPED[1]))
    assert plan.spoken == ((28.0, SPOKEN[0]), (88.0, SPOKEN[1]))
    assert plan.barge_ins == (48.0,)
    with pytest.raises(ValueError, match="question_every_s"):
        make_plan(120.0, 2.0)
    with pytest.raises(ValueError, match="longer than"):
        make_plan(15.0, 20.0)


@pytest.fixture(scope="module")
def short_soak() -> dict[str, Any]:
    # turns at 8, 16, 24, 32 and 40 s: typed, spoken, barge-in, typed, spoken
    return asyncio.run(soak(SoakConfig(minutes=1.0, speed=5.0, question_every_s=8.0)))


@pytest.mark.e2e
def test_a_short_soak_through_the_real_engine_loses_no_events(short_soak: dict[str, Any], tmp_path: Path):
    report = short_soak
    assert report["events"]["lost"] == {}, report["events"]["lost_examples"]
    assert report["events"]["lost_total"] == 0 and report["events"]["met"]
    turns, by_type = report["turns"], report["events"]["by_type"]
    assert turns["typed_planned"] >= 2 and turns["spoken_planned"] >= 2 and turns["barge_ins_planned"] >= 1
    # every typed question and every spoken one was heard and decided on
    assert by_type["query.accepted"] >= turns["typed_planned"]
    assert by_type["transcript"] >= turns["spoken_planned"]
    assert by_type["response.done"] == by_type["query.accepted"] == len(report["responses"])
    # the time series covers the stream (the final sample comes after the session drained its work, which takes
    # stream time on the accelerated clock: seconds more on a loaded machine) and the numbers the targets need are there
    assert report["samples"][-1]["t_min"] >= 0.9
    assert all(s["rss_mb"] > 0 for s in report["samples"])
    assert report["memory"]["rss_mb_baseline"] > 0 and report["memory"]["growth_pct"] is not None
    assert report["ttft"]["answers_timed"] >= 1
    assert report["engine"]["audio_chunks_dropped"] == 0
    json.dumps(report)
    assert "| events lost | **0**" in markdown(report)
    plot(report, tmp_path / "soak.png")
    assert (tmp_path / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
