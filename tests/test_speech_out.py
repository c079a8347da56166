"""Speech out (``app/speech_out.py``), the one controller every interface speaks with: timelines on a virtual clock
with a synthesiser whose samples count up (what was heard can be read back sample by sample), then the real Piper
voice heard back by Whisper, a real cancel, bad text and broken voice files. The interfaces' wiring is tested in
test_ws_server.py, test_mqtt_bridge.py and test_gradio_demo.py."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
from num2words import num2words

from app.speech_options import SpeechOptions
from app.speech_out import SpeechOut, open_speech_out
from app.tts import EspeakVoice, open_voice
from engine.events import (
    Proactive,
    QueryAccepted,
    QueryIgnored,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    SpeechStarted,
    SpeechStopped,
    TranscriptFailed,
)
from engine.options import SessionOptions, TurnOptions
from tests.speech_fakes import RAMP, RecordingSink, ToneVoice, VirtualClock

RATE = 16_000
CHUNK = RATE * 40 // 1000  # the default 40 ms chunks


class Timeline:
    """A controller on a virtual clock with the tone voice: ``at(t, action)`` runs an action at stream time t."""

    def __init__(self, *, drops: bool = True, lead_s: float = 0.2, turns: TurnOptions | None = None) -> None:
        self.clock = VirtualClock()
        self.voice = ToneVoice(RATE)
        self.sink = RecordingSink(self.clock, RATE, lead_s=lead_s, drops=drops)
        self.done: list[tuple[float, str, bool]] = []
        self.notes: list[tuple[float, str, float, int]] = []
        self.problems: list[str] = []
        self.fallback = ToneVoice(RATE)
        self.fallback.name = "fallback"
        self.speech = SpeechOut(
            self.sink,
            self.voice,
            turns=turns,
            clock=self.clock,
            on_done=lambda key, cut: self.done.append((self.clock.now(), key, cut)),
            note=lambda key, delay, samples: self.notes.append((self.clock.now(), key, delay, len(samples))),
            report=self.problems.append,
            fallback=self.fallback,
        )

    def at(self, t: float, *events: object) -> None:
        self.clock.advance_to(t)
        for event in events:
            self.speech.handle(event)  # type: ignore[arg-type]
        self.clock.settle()

    def heard(self) -> np.ndarray:
        """What a device that drops its buffer on stop played: each chunk up to the first stop after it went out."""
        out = []
        for released, (_, _, pcm) in zip(self.speech.released, self.sink.writes, strict=True):
            stop = next((s for s in self.speech.stops if s >= released.t), None)
            n = len(pcm) if stop is None else int(np.clip(round((stop - released.start) * RATE), 0, len(pcm)))
            out.append(pcm[:n])
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    def close(self) -> None:
        self.speech.close()


def delta(text: str, rid: str = "r1") -> ResponseDelta:
    return ResponseDelta(t=0.0, response_id=rid, text=text)


def done(rid: str = "r1", status: str = "completed") -> ResponseDone:
    return ResponseDone(t=0.0, response_id=rid, status=status, text="")  # type: ignore[arg-type]


def ramp(n: int, start: int = 0) -> np.ndarray:
    return (np.arange(start, start + n) % RAMP).astype(np.int16)


@pytest.fixture
def tl() -> Timeline:
    timeline = Timeline()
    yield timeline  # type: ignore[misc]
    timeline.close()


# ------------------------------------------------------------------------------------------ streaming and pacing
def test_first_sentence_speaks_while_the_answer_is_still_decoding(tl: Timeline) -> None:
    tl.at(0.0, delta("One two three four."), delta(" Five"))
    assert tl.voice.said == ["One two three four."]  # "Five" waits for its sentence to end
    tl.at(0.5)
    released = list(tl.speech.released)
    assert released[0].t == 0.0 and released[0].start == 0.0
    # paced: never more than the sink's lead (0.2 s) plus one chunk ahead of playback
    assert all(r.start - r.t <= 0.2 + 1e-9 for r in released)
    assert [r.start for r in released] == pytest.approx([i * 0.04 for i in range(len(released))])
    tl.at(0.6, delta(" six."), done())
    tl.at(5.0)
    assert tl.voice.said == ["One two three four.", "Five six."]
    assert np.array_equal(tl.sink.samples(), ramp(6 * 4000))  # every sample once, in order
    assert tl.done == [(pytest.approx(1.28), "r1", False)]  # once its last chunk (1.48 s) went out, 0.2 s ahead
    assert not tl.speech.speaking


def test_every_chunk_released_is_reported_to_the_echo_guard_at_its_playback_time(tl: Timeline) -> None:
    tl.at(0.0, delta("One two."), done())
    tl.at(2.0)
    assert len(tl.notes) == len(tl.speech.released) == 13  # 0.5 s in 40 ms chunks
    for (t, key, delay, n), released in zip(tl.notes, tl.speech.released, strict=True):
        assert key == "r1" and t == released.t and delay == pytest.approx(released.start - released.t)
        assert n == released.samples  # 16 kHz already: one echo sample per played sample
    assert sum(n for *_, n in tl.notes) == 8000


# ------------------------------------------------------------------------------------------ barge-in
def test_barge_in_pauses_and_a_false_interruption_resumes_where_it_stopped(tl: Timeline) -> None:
    tl.at(0.0, delta("One two three four."), done())
    tl.at(0.5, SpeechStarted(t=0.5, turn_id="u1"))
    assert tl.speech.paused and list(tl.speech.stops) == [0.5]  # the device is stopped at once
    before = len(tl.speech.released)
    tl.at(1.5, SpeechStopped(turn_id="u1", t=1.5, start=0.5, duration=1.0))
    assert len(tl.speech.released) == before  # silent while the user may be taking the turn
    tl.at(2.0, QueryIgnored(turn_id="u1", t=2.0, text="mm-hm", source="speech", reason="backchannel"))
    tl.at(6.0)
    heard = tl.heard()
    # 0.00-0.50 s was heard, then from the chunk that was playing when the user spoke (0.48 s) to the end
    assert np.array_equal(heard, np.concatenate([ramp(8000), ramp(16000 - 7680, 7680)]))
    after = [r for r in tl.speech.released if r.t >= 2.0]
    assert after[0].t == 2.0 and after[0].start == 2.0  # resumed at once
    assert tl.done[-1][1:] == ("r1", False)


def test_engine_pause_and_resume_and_a_short_noise_resume_too(tl: Timeline) -> None:
    tl.at(0.0, delta("One two three four five six."), done())
    tl.at(0.3, ResponsePaused(t=0.3, response_id="r1", reason="speech started"))
    tl.at(0.9, ResponseResumed(t=0.9, response_id="r1", reason="false interruption"))
    assert not tl.speech.paused
    tl.at(1.0, SpeechStarted(t=1.0, turn_id="u1"))
    assert tl.speech.paused
    tl.at(1.1, SpeechStopped(turn_id="u1", t=1.1, start=1.0, duration=0.1))  # shorter than min_speech_ms: noise
    assert not tl.speech.paused
    tl.at(1.5, SpeechStarted(t=1.5, turn_id="u1"))
    failed = TranscriptFailed(t=2.5, turn_id="u1", start=1.5, end=2.0, reason="asr failed")
    tl.at(2.5, failed)  # no transcript will come
    assert not tl.speech.paused
    tl.at(9.0)
    assert tl.done[-1][1:] == ("r1", False)
    assert len(tl.speech.stops) == 3  # one per pause


def test_a_user_turn_cancels_within_one_chunk_and_nothing_goes_out_after(tl: Timeline) -> None:
    tl.at(0.0, delta("One two three four five six seven eight."), done())
    tl.at(0.5, SpeechStarted(t=0.5, turn_id="u1"))
    tl.at(1.4, QueryAccepted(turn_id="u1", t=1.4, query_id="q2", text="stop", source="speech"))
    cancel = tl.speech.cancels[-1]
    assert cancel == 1.4
    assert all(r.t <= cancel for r in tl.speech.released)
    tl.at(5.0)
    assert all(r.t <= cancel for r in tl.speech.released)  # nothing of the cut answer later either
    assert tl.done == [(1.4, "r1", True)]
    assert not tl.speech.paused  # the next answer is not held
    tl.at(5.0, delta("Nine ten.", "r2"), done("r2"))
    tl.at(7.0)
    assert tl.done[-1] == (pytest.approx(5.28), "r2", False)


def test_a_user_turn_in_one_session_cuts_only_that_sessions_answer(tl: Timeline) -> None:
    """One output for two sessions (``mqtt --speak``): keys are scoped by session."""
    tl.speech.handle(delta("One two three four five six.", "r1"), scope="door/")
    tl.speech.handle(done("r1"), scope="door/")
    tl.speech.handle(delta("Seven eight nine ten.", "r1"), scope="hall/")
    tl.speech.handle(done("r1"), scope="hall/")
    tl.at(0.5)
    query = QueryAccepted(turn_id="u1", t=0.5, query_id="q2", text="stop", source="speech")
    tl.speech.handle(query, scope="hall/")
    tl.at(6.0)
    assert [(key, cut) for _, key, cut in tl.done] == [("hall/r1", True), ("door/r1", False)]


def test_cancel_while_playing_stops_the_device_within_50_ms(tl: Timeline) -> None:
    tl.at(0.0, delta("One two three four five six seven eight."), done())
    tl.at(0.7, done("r1", "interrupted"))
    cancel = tl.speech.cancels[-1]
    assert tl.speech.stops and tl.speech.stops[-1] - cancel <= 0.05
    assert max(r.t for r in tl.speech.released) <= cancel
    tl.at(3.0)
    assert len(tl.heard()) == round(0.7 * RATE)  # what had played; the 0.2 s sent ahead was dropped
    assert tl.done == [(0.7, "r1", True)]


def test_websocket_like_sinks_keep_what_was_sent_and_are_not_replayed() -> None:
    tl = Timeline(drops=False, lead_s=0.25)
    try:
        tl.at(0.0, delta("One two three four."), done())
        tl.at(0.5, SpeechStarted(t=0.5, turn_id="u1"))
        tl.at(1.5, QueryIgnored(turn_id="u1", t=1.5, text="", source="speech", reason="not addressed"))
        tl.at(6.0)
        assert np.array_equal(tl.sink.samples(), ramp(16000))  # each sample sent once: the client holds the rest
        sent_at_pause = [r for r in tl.speech.released if r.t <= 0.5]
        assert sent_at_pause[-1].start + 0.04 - 0.5 <= 0.25 + 0.04 + 1e-9  # the client held at most lead + a chunk
    finally:
        tl.close()


def test_barge_in_off_keeps_speaking_over_the_user() -> None:
    tl = Timeline(turns=TurnOptions(barge_in=False))
    try:
        tl.at(0.0, delta("One two."), done())
        tl.at(0.2, SpeechStarted(t=0.2, turn_id="u1"))
        assert not tl.speech.paused
    finally:
        tl.close()


def test_speech_while_nothing_plays_does_not_hold_the_next_answer(tl: Timeline) -> None:
    tl.at(0.0, SpeechStarted(t=0.0, turn_id="u1"))
    assert not tl.speech.paused
    tl.at(1.0, delta("One.", "r2"), done("r2"))
    tl.at(2.0)
    assert tl.done == [(pytest.approx(1.04), "r2", False)]


def test_proactive_alerts_are_spoken(tl: Timeline) -> None:
    tl.at(0.0, Proactive(t=0.0, instruction_id="i1", text="The door opened.", condition="door opens"))
    tl.at(2.0)
    assert tl.voice.said == ["The door opened."]
    assert tl.done == [(pytest.approx(0.52), "proactive-i1", False)]


# ------------------------------------------------------------------------------------------ bad text, broken voices
def test_unspeakable_text_is_skipped_and_numbers_and_links_are_said(tl: Timeline) -> None:
    tl.at(0.0, delta("🚀🚀 😀. 東京. It costs $5 at https://example.com/x."), done())
    tl.at(5.0)
    assert tl.voice.said == ["It costs five dollars at link to example dot com"]
    assert tl.done[-1][1:] == ("r1", False)


def test_a_voice_failing_mid_answer_hands_over_to_the_fallback(tl: Timeline) -> None:
    tl.voice.fail_after = 2
    tl.at(0.0, delta("One two. Three four."), done())
    tl.at(5.0)
    assert tl.problems and "corrupt" in tl.problems[0] and "fallback speaks" in tl.problems[0]
    assert tl.fallback.said == ["One two.", "Three four."]  # the broken sentence again, then the rest
    assert tl.speech.voice is tl.fallback
    assert tl.done[-1][1:] == ("r1", False)


def test_missing_and_corrupt_voice_files_fall_back_to_espeak(tmp_path: Path) -> None:
    voice, problem = open_voice(SpeechOptions(piper_voice=str(tmp_path / "nothing.onnx")))
    assert isinstance(voice, EspeakVoice)
    assert problem is not None and "nothing.onnx is missing" in problem and "espeak-ng instead" in problem
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07not an onnx model" * 100)
    broken.with_name("broken.onnx.json").write_text(
        '{"audio": {"sample_rate": 22050}, "phoneme_id_map": {"^": [1], "$": [2], "_": [0]}}'
    )
    voice, problem = open_voice(SpeechOptions(piper_voice=str(broken)))
    assert isinstance(voice, EspeakVoice) and problem is not None and "does not load" in problem
    bad_json = tmp_path / "bad.onnx"
    bad_json.write_bytes(b"x")
    bad_json.with_name("bad.onnx.json").write_text("{not json")
    voice, problem = open_voice(SpeechOptions(piper_voice=str(bad_json)))
    assert isinstance(voice, EspeakVoice) and problem is not None and "unusable" in problem

    # an interface built on it reports the problem and speaks with espeak-ng (the session goes on)
    reports: list[str] = []
    sink = RecordingSink(None, 24_000, lead_s=10.0)
    finished = threading.Event()
    speech = open_speech_out(
        sink,
        SpeechOptions(piper_voice=str(broken)),
        SessionOptions(),
        report=reports.append,
        on_done=lambda key, cut: finished.set(),
    )
    try:
        speech.speak("r1", "Hello there.")
        assert finished.wait(30)
    finally:
        speech.close()
    assert reports and "does not load" in reports[0]
    assert speech.voice.name == "espeak:en-us" and len(sink.samples()) > 12_000


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="speech engine"):
        SpeechOptions(engine="festival")
    with pytest.raises(ValueError, match="speed"):
        SpeechOptions(speed=5)
    voice, problem = open_voice(SpeechOptions(engine="espeak"))
    assert isinstance(voice, EspeakVoice) and problem is None
    voice, problem = open_voice(SpeechOptions(), language_voice="fr")  # other languages: espeak-ng
    assert isinstance(voice, EspeakVoice) and voice.voice == "fr" and problem is None


# ------------------------------------------------------------------------------------------ the real neural voice
@pytest.fixture(scope="module")
def transcriber():  # type: ignore[no-untyped-def]
    from engine.asr import WhisperTranscriber

    return WhisperTranscriber()


def _words(text: str) -> set[str]:
    text = re.sub(r"\d+", lambda m: f" {num2words(int(m.group(0)))} ", text.lower())
    return set(re.findall(r"[a-z]+", text.replace("-", " ")))


def _speak_real(text: str, sample_rate: int = RATE) -> tuple[SpeechOut, RecordingSink]:
    voice, problem = open_voice(SpeechOptions())
    assert problem is None and voice.name == "piper:en_US-joe-medium"
    sink = RecordingSink(None, sample_rate, lead_s=60.0)
    finished = threading.Event()
    speech = SpeechOut(sink, voice, on_done=lambda key, cut: finished.set())
    speech.speak("r1", text)
    assert finished.wait(60)
    speech.close()
    return speech, sink


@pytest.mark.e2e
def test_the_piper_voice_speaks_and_whisper_hears_its_words(transcriber) -> None:  # type: ignore[no-untyped-def]
    said = "Good morning. The weather today is sunny and warm. Your train leaves from platform 9."
    _, sink = _speak_real(said)  # 22.05 kHz resampled to 16 kHz by the controller
    audio = sink.samples().astype(np.float32) / 32768.0
    assert 3.0 < len(audio) / RATE < 9.0 and np.abs(audio).max() > 0.1
    heard = transcriber.transcribe(audio)
    expected = _words(said)
    assert len(expected & _words(heard)) >= len(expected) - 1, heard  # word for word, one slip allowed


@pytest.mark.e2e
def test_the_piper_voice_says_awkward_text_without_crashing(transcriber) -> None:  # type: ignore[no-untyped-def]
    _, sink = _speak_real("Visit https://www.example.com 🚀 for 25% off, 東京 café!")
    raw = transcriber.transcribe(sink.samples().astype(np.float32) / 32768.0)
    heard = _words(raw)
    assert "example" in raw.lower() and "off" in heard and ({"twenty", "five"} <= heard or "percent" in heard), raw


@pytest.mark.e2e
def test_the_piper_voice_is_interrupted_within_50_ms() -> None:
    voice, _ = open_voice(SpeechOptions())
    sink = RecordingSink(None, 24_000, lead_s=0.1, drops=True)
    released = threading.Event()
    speech = SpeechOut(sink, voice, note=lambda *_: released.set() if len(sink.writes) >= 10 else None)
    try:
        speech.speak("r1", "This answer is long, and it goes on for a while. It has a second sentence. And a third.")
        assert released.wait(60)
        cut = speech.cancel()
        speech.close()  # waits for the worker: everything it did after the cancel is on record
    finally:
        speech.close()
    assert cut == ["r1"]
    cancel = speech.cancels[0]
    assert max(r.t for r in speech.released) <= cancel  # no audio released after the cancel
    assert speech.stops and speech.stops[-1] - cancel <= 0.05  # the output dropped what it held, on the record
    assert len(sink.samples()) < 24_000 * 3  # most of the answer was never sent


def test_models_command_shows_the_voices_status(tmp_path: Path) -> None:
    from app.tts import describe_voices

    ready = {s.backend: s for s in describe_voices()}
    assert ready["voice"].ready and "piper:en_US-joe-medium" in ready["voice"].detail and ready["espeak-ng"].ready
    missing = describe_voices(SpeechOptions(piper_voice=str(tmp_path / "gone.onnx")))[0]
    assert not missing.ready and "gone.onnx is missing" in missing.detail and "fall back to espeak-ng" in missing.detail
