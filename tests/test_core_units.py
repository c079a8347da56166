"""Unit tests of the small core pieces: events, queues, clocks, choices, the speech segmenter, timed text, the
dialogue history."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from engine.backends.base import Turn
from engine.choices import split_choices
from engine.events import EVENT_TYPES, ResponseDone, SessionStarted, event_from_dict
from engine.options import VadOptions
from engine.responding import History
from engine.segmenter import Onset, SpeechSegmenter, Utterance
from streams.clock import ReplayClock
from streams.items import CHUNK_SAMPLES
from streams.queues import DropOldestQueue, QueueClosed
from streams.text import parse_timed_text


def test_events_round_trip_through_json_with_dotted_types():
    event = ResponseDone(
        t=4.2, response_id="r2", status="interrupted", text="It is", reason="barge-in", ttft_ms=80.0, evidence=("n3",)
    )
    data = json.loads(event.to_json())
    assert data["type"] == "response.done" and data["t"] == 4.2 and data["status"] == "interrupted"
    assert data["evidence"] == ["n3"]
    assert event_from_dict(data) == event
    assert {
        "session.started",
        "speech.started",
        "speech.stopped",
        "transcript",
        "query.accepted",
        "query.ignored",
        "response.started",
        "response.delta",
        "response.done",
        "metrics",
        "error",
        "session.ended",
    } <= set(EVENT_TYPES)


def test_events_are_immutable():
    event = SessionStarted(t=0.0, session_id="s", backend="cascade")
    with pytest.raises(AttributeError):
        event.t = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "response.nope", "t": 0}, "unknown event type 'response.nope'"),
        ({"t": 0}, "unknown event type None"),
        ({"type": "speech.started", "t": 0, "bogus": 1}, "unknown field(s) ['bogus']"),
        ({"type": "transcript", "t": 0}, "transcript:"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_event_dicts_name_the_problem(data, message):
    with pytest.raises(ValueError, match=".*".join(map(__import__("re").escape, message.split("*")))):
        event_from_dict(data)


async def test_drop_oldest_queue_counts_and_returns_drops():
    q: DropOldestQueue[int] = DropOldestQueue(2)
    assert q.put_nowait(1) is None and q.put_nowait(2) is None
    assert q.put_nowait(3) == 1
    assert q.dropped == 1 and len(q) == 2 and q.high_water == 2
    assert await q.get() == 2
    q.close()
    assert await q.get() == 3
    with pytest.raises(QueueClosed):
        await q.get()


async def test_queue_get_waits_for_a_put():
    q: DropOldestQueue[str] = DropOldestQueue(4)
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.put_nowait("frame")
    assert await getter == "frame"


async def test_fast_replay_clock_jumps_to_item_times():
    clock = ReplayClock("fast")
    assert clock.paced_by_engine
    await clock.wait_until(12.5)
    assert clock.now() == 12.5
    await clock.wait_until(3.0)  # never goes backwards
    assert clock.now() == 12.5


async def test_realtime_replay_clock_paces_by_wall_time():
    clock = ReplayClock("realtime")
    loop = asyncio.get_running_loop()
    start = loop.time()
    await clock.wait_until(0.0)
    await clock.wait_until(0.2)
    assert loop.time() - start >= 0.19
    assert clock.now() >= 0.2


def test_clock_rejects_unknown_pace():
    with pytest.raises(ValueError, match="pace must be"):
        ReplayClock("slow")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "stem", "choices"),
    [
        (
            "What colour is the car?\nA. red\nB. blue\nC. green\nD. black",
            "What colour is the car?",
            ("red", "blue", "green", "black"),
        ),
        ("Which sign? (A) exit (B) gate 7", "Which sign?", ("exit", "gate 7")),
        ("What is A. Smith holding?", "What is A. Smith holding?", ()),
        ("Options out of order\nB. one\nA. two", "Options out of order\nB. one\nA. two", ()),
    ],
)
def test_split_choices(text, stem, choices):
    assert split_choices(text) == (stem, choices)


def test_timed_text_parsing():
    assert parse_timed_text("what is this?@3.5") == (3.5, "what is this?")
    assert parse_timed_text("email me@home") == (0.0, "email me@home")
    assert parse_timed_text("hello") == (0.0, "hello")
    with pytest.raises(ValueError, match="empty"):
        parse_timed_text("  ")


def _push(seg: SpeechSegmenter, probs: list[float], start: float = 0.0) -> list:
    out = []
    for i, p in enumerate(probs):
        window = np.full(CHUNK_SAMPLES, i, np.float32)
        out.extend(seg.push(start + i * 0.032, window, p))
    return out


def test_segmenter_hysteresis_pre_roll_and_end_of_utterance():
    seg = SpeechSegmenter(VadOptions(threshold=0.5, neg_threshold=0.35, min_silence_ms=96, pre_roll_ms=64))
    # 3 silent windows, speech for 10 windows with a dip to 0.4 (above neg_threshold: still speech), then silence
    probs = [0.0] * 3 + [0.9] * 4 + [0.4] + [0.9] * 5 + [0.1] * 4
    events = _push(seg, probs)
    assert isinstance(events[0], Onset) and events[0].t == pytest.approx(3 * 0.032)
    utt = events[1]
    assert isinstance(utt, Utterance) and not utt.too_short
    assert utt.start == pytest.approx(0.096) and utt.end == pytest.approx(13 * 0.032)
    # two pre-roll windows (values 1 and 2) come before the onset window (value 3)
    assert utt.samples[0] == 1.0 and utt.samples[CHUNK_SAMPLES * 2] == 3.0
    assert len(utt.samples) == CHUNK_SAMPLES * (2 + 10)
    assert not seg.in_speech


def test_segmenter_marks_short_bursts_and_flushes_at_end_of_stream():
    seg = SpeechSegmenter(VadOptions(min_speech_ms=250, min_silence_ms=64))
    events = _push(seg, [0.9, 0.9, 0.0, 0.0, 0.0])
    assert isinstance(events[-1], Utterance) and events[-1].too_short
    events = _push(seg, [0.9] * 20, start=1.0)
    assert seg.in_speech
    flushed = seg.flush()
    assert len(flushed) == 1 and not flushed[0].too_short and flushed[0].duration == pytest.approx(0.64)


def test_segmenter_cuts_overlong_utterances():
    seg = SpeechSegmenter(VadOptions(max_utterance_s=1.0))
    events = _push(seg, [0.9] * 40)
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert len(utterances) == 1 and utterances[0].duration == pytest.approx(1.024)


def test_segmenter_hands_out_the_utterance_early_at_a_pause_and_again_at_its_end():
    from engine.segmenter import Pause

    seg = SpeechSegmenter(VadOptions(min_speech_ms=64, early_asr_ms=64, min_silence_ms=160))
    # speech, a short pause (2 windows: early transcription), speech again, then a real end
    events = _push(seg, [0.9] * 4 + [0.0] * 2 + [0.9] * 3 + [0.0] * 5)
    pauses = [e for e in events if isinstance(e, Pause)]
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert [(p.start, round(p.end, 3)) for p in pauses] == [(0.0, 0.128), (0.0, 0.288)]
    assert len(utterances) == 1 and (utterances[0].start, round(utterances[0].end, 3)) == (0.0, 0.288)
    # the second pause is the final utterance: same times, same audio
    assert np.array_equal(pauses[1].samples, utterances[0].samples)


def test_history_keeps_the_latest_turns_and_truncates_the_newest_answer_by_id():
    limit = [4]
    history = History(lambda: limit[0])
    for n in range(3):
        history.add(Turn("user", f"q{n}", float(n)))
        history.add(Turn("assistant", f"a{n}", n + 0.5, response_id="r1" if n < 2 else "r2"))
    assert [t.text for t in history.turns] == ["q1", "a1", "q2", "a2"]  # the oldest two went
    assert [t.text for t in history.last(3)] == ["a1", "q2", "a2"]
    assert history.last(0) == () and len(history.last(10)) == 4
    assert history.truncate("r1", "a") and history.turns[1].text == "a" and history.turns[1].interrupted
    assert not history.truncate("r9", "x")
    limit[0] = 2  # the limit is read as turns are added (options change mid-session)
    history.add(Turn("user", "q3", 3.0))
    assert [t.text for t in history.turns] == ["a2", "q3"]
