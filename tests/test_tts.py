"""The voices with the real programs and files: espeak-ng streaming and its errors, the Piper voice's phonemes and
ids, sentence splitting and speakable text, and local playback. Speaking answers (pacing, barge-in, echo) is
tests/test_speech_out.py's."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.audio_out import LocalPlayer, Resampler, default_output_rate
from app.piper_voice import PiperVoice
from app.speakable import SentenceSplitter, clauses, speakable
from app.speech_out import SpeechOut
from app.tts import ESPEAK_RATE, EspeakVoice, TtsUnavailable


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


def test_speakable_text() -> None:
    said = speakable("At 9:05 it is 21 °C and 45% humid 🌤️, since 1990.")
    assert said == "At nine oh five it is twenty-one degrees C and forty-five percent humid, since nineteen ninety."
    assert speakable("See https://docs.example.org/a?b=c now") == "See link to docs dot example dot org now"
    assert speakable("🚀🔥") == "" and speakable("東京") == ""
    assert speakable("東京 is big", latin_only=False) == "東京 is big"  # espeak-ng's language voices read it
    assert speakable("the 2nd of 10,000") == "the second of ten thousand"
    assert clauses("short one.") == ["short one."]
    long = "A first part that is long enough, a second part that is also long, and a third part to end it all."
    assert clauses(long, max_chars=40) == [
        "A first part that is long enough,",
        "a second part that is also long,",
        "and a third part to end it all.",
    ]


def test_piper_phonemes_and_ids_follow_the_voice_config() -> None:
    voice = PiperVoice()
    phonemes = voice.phonemes("Hello there, how are you?")
    assert phonemes.startswith("h") and ", " in phonemes and phonemes.endswith("?")  # punctuation put back
    table = voice.model.phoneme_ids
    ids = voice.ids("hi")
    pad = table["_"][0]
    assert ids == [*table["^"], pad, *table["h"], pad, *table["i"], pad, *table["$"]]
    voice.ids("h☃")  # a phoneme the voice has no id for is skipped and counted
    assert voice.missing == {"☃": 1}
    assert voice.phonemes("...") == ""
    audio = np.concatenate(list(voice.stream("Hello there.", lambda: False)))
    assert audio.dtype == np.int16 and 0.5 < len(audio) / voice.sample_rate < 3.0 and np.abs(audio).max() > 3000
    assert list(voice.stream("Hello there.", lambda: True)) == []


def test_resampler_converts_rates_and_drains() -> None:
    tone = (np.sin(np.arange(22_050) / 5) * 10_000).astype(np.int16)
    convert = Resampler(22_050, 24_000)
    out = np.concatenate([convert(tone[:11_025]), convert(tone[11_025:]), convert(None)])
    assert out.dtype == np.int16 and abs(len(out) - 24_000) <= 2
    to16k = Resampler(24_000, 16_000, to_float=True)
    assert to16k(out).dtype == np.float32
    same = Resampler(16_000, 16_000, to_float=True)
    assert np.allclose(same(np.array([16384], np.int16)), [0.5])


def test_local_player_plays_or_says_why_it_cannot() -> None:
    try:
        player = LocalPlayer(default_output_rate())
    except TtsUnavailable as exc:
        assert "portaudio" in str(exc).lower() or "device" in str(exc).lower()
        return
    finished = threading.Event()
    speech = SpeechOut(player, EspeakVoice(), on_done=lambda key, cut: finished.set())
    try:
        speech.speak("r1", "Hello.")
        assert finished.wait(10)
    finally:
        speech.close()
        player.close()
