"""Spoken replies with the real espeak-ng: sentence streaming, resampling for the wire, pause and barge-in."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from app.tts import ESPEAK_RATE, EchoTap, EspeakVoice, LocalPlayer, SentenceSplitter, Speaker, TtsUnavailable


class PacedSink:
    """Records what it is given and blocks for each chunk's duration, like a sound card does."""

    def __init__(self, sample_rate: int, paced: bool = True) -> None:
        self.sample_rate = sample_rate
        self.paced = paced
        self.writes: list[tuple[float, str, int]] = []
        self.stops: list[float] = []
        self.first_audio = threading.Event()
        self.lock = threading.Condition()

    def write(self, response_id: str, pcm: np.ndarray) -> None:
        assert pcm.dtype == np.int16
        with self.lock:
            self.writes.append((time.monotonic(), response_id, len(pcm)))
            self.lock.notify_all()
        self.first_audio.set()
        if self.paced:
            time.sleep(len(pcm) / self.sample_rate)  # playback pace of a device

    def stop(self) -> None:
        self.stops.append(time.monotonic())

    def wait_seconds(self, seconds: float, timeout: float = 5.0) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.seconds() >= seconds, timeout)

    def seconds(self, response_id: str | None = None) -> float:
        with self.lock:
            n = sum(count for _, rid, count in self.writes if response_id in (None, rid))
        return n / self.sample_rate


class DoneLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.event = threading.Event()

    def __call__(self, response_id: str, cancelled: bool) -> None:
        self.calls.append((response_id, cancelled))
        self.event.set()


def test_splitter_hands_out_sentences_as_they_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("The red") == []
    assert splitter.feed(" car is 3.5 m long. It") == ["The red car is 3.5 m long."]
    assert splitter.feed(" moves! Next?") == ["It moves!"]
    assert splitter.flush() == "Next?"
    assert splitter.flush() is None


def test_splitter_cuts_a_run_on_at_a_space() -> None:
    splitter = SentenceSplitter(max_chars=20)
    out = splitter.feed("one two three four five six seven")
    assert out == ["one two three four"]
    assert splitter.flush() == "five six seven"


def test_espeak_streams_audio_and_stops_when_asked() -> None:
    voice = EspeakVoice()
    text = "This sentence is long enough to take a few seconds to say out loud, even at a brisk pace."
    full = np.concatenate(list(voice.stream(text, lambda: False)))
    assert full.dtype == np.int16
    assert 2.0 < len(full) / ESPEAK_RATE < 12.0
    assert np.abs(full).max() > 1000  # real speech, not silence
    blocks = 0

    def stop_after_two() -> bool:
        return blocks >= 2

    for _ in voice.stream(text, stop_after_two):
        blocks += 1
    assert blocks == 2


def test_bad_voice_and_rate_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="words_per_minute"):
        EspeakVoice(words_per_minute=5)
    with pytest.raises(TtsUnavailable, match="not found"):
        EspeakVoice(executable="/nonexistent/espeak-ng")
    with pytest.raises(TtsUnavailable, match="does not exist"):
        EspeakVoice(voice="xx-no-such-voice").check()
    EspeakVoice().check()


def test_first_sentence_is_spoken_before_the_answer_is_complete() -> None:
    sink = PacedSink(24_000, paced=False)
    done = DoneLog()
    speaker = Speaker(sink, on_done=done)
    try:
        alone = sum(len(b) for b in EspeakVoice().stream("The box on the table is red.", lambda: False)) / ESPEAK_RATE
        speaker.feed("r1", "The box on the table is red.")
        speaker.feed("r1", " It has")
        assert sink.wait_seconds(alone - 0.05), "the first complete sentence was not spoken"
        first = sink.seconds("r1")
        assert abs(first - alone) < 0.06  # exactly the first sentence: "It has" waits for the sentence's end
        speaker.feed("r1", " a lid.")
        speaker.finish("r1")
        assert done.event.wait(5)
        assert done.calls == [("r1", False)]
        assert sink.seconds("r1") > first + 0.3  # the rest was spoken too, resampled to the sink's 24 kHz
        assert all(count <= 1200 for _, _, count in sink.writes)  # 50 ms chunks at 24 kHz
    finally:
        speaker.close()


def test_cancel_stops_playback_within_one_chunk_and_reports_the_cut() -> None:
    sink = PacedSink(ESPEAK_RATE)
    done = DoneLog()
    speaker = Speaker(sink, on_done=done, chunk_ms=50)
    try:
        speaker.feed("r1", "Here is a long answer that keeps going for quite a while. And another sentence follows it.")
        speaker.finish("r1")
        assert sink.first_audio.wait(5)
        time.sleep(0.3)  # let it play for a moment, as a listener would hear it
        cancelled_at = time.monotonic()
        assert speaker.cancel() == ["r1"]
        assert done.calls == [("r1", True)]
        deadline = time.monotonic() + 2
        while not sink.stops and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.stops, "the sink was not stopped"
        assert sink.stops[0] - cancelled_at < 0.12  # one 50 ms chunk plus scheduling slack
        assert all(t <= sink.stops[0] for t, _, _ in sink.writes)
        played = sink.seconds()
        time.sleep(0.2)
        assert sink.seconds() == played  # nothing after the stop
        assert played < 3.0
    finally:
        speaker.close()


def test_pause_holds_output_and_resume_goes_on() -> None:
    sink = PacedSink(ESPEAK_RATE)
    done = DoneLog()
    speaker = Speaker(sink, on_done=done)
    try:
        speaker.feed("r1", "A first sentence. A second.")
        speaker.finish("r1")
        assert sink.first_audio.wait(5)
        speaker.pause()
        time.sleep(0.15)
        held = sink.seconds()
        time.sleep(0.3)
        assert sink.seconds() == held  # silent while paused
        assert sink.stops  # the device buffer was dropped
        speaker.resume()
        assert done.event.wait(10)
        assert done.calls == [("r1", False)]
        assert sink.seconds() > held
    finally:
        speaker.close()


def test_echo_tap_reports_each_chunk_at_16k_when_it_will_play() -> None:
    player = PacedSink(ESPEAK_RATE, paced=False)  # takes chunks at once, like a device with a deep buffer
    noted: list[tuple[str, int, float, float]] = []
    tap = EchoTap(player, lambda rid, samples, delay: noted.append((rid, len(samples), delay, time.monotonic())))
    assert tap.sample_rate == ESPEAK_RATE
    speaker = Speaker(tap, on_done=(done := DoneLog()))
    try:
        speaker.feed("s1/r1", "Hello there, this is the assistant.")
        speaker.finish("s1/r1")
        assert done.event.wait(10)
    finally:
        speaker.close()
    assert {rid for rid, _, _, _ in noted} == {"s1/r1"}
    heard = sum(n for _, n, _, _ in noted) / 16_000
    assert abs(heard - player.seconds()) < 0.01  # every sample played was reported, resampled to 16 kHz
    starts = [at + delay for _, _, delay, at in noted]
    # chunks handed over faster than real time are reported back to back on the playback timeline
    assert all(abs(b - a - 0.05) < 0.002 for a, b in itertools.pairwise(starts))
    tap.stop()
    tap.write("s1/r2", np.zeros(1102, np.int16))
    assert noted[-1][2] == 0.0  # after a stop nothing is queued: the next chunk plays at once
    assert player.stops


def test_local_player_plays_or_says_why_it_cannot() -> None:
    try:
        player = LocalPlayer()
    except TtsUnavailable as exc:
        assert "portaudio" in str(exc).lower() or "device" in str(exc).lower()
        return
    speaker = Speaker(player, on_done=(done := DoneLog()))
    try:
        speaker.feed("r1", "Hello.")
        speaker.finish("r1")
        assert done.event.wait(10)
    finally:
        speaker.close()
        player.close()
