"""The real Silero VAD (v6 ONNX from the faster-whisper wheel) on espeak-ng speech, silence and noise."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.model_files import silero_vad_path
from engine.vad import SileroVad, SileroVadModel
from streams import synth
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE


def windows(samples: np.ndarray) -> np.ndarray:
    n = len(samples) // CHUNK_SAMPLES
    return samples[: n * CHUNK_SAMPLES].reshape(n, CHUNK_SAMPLES)


def probabilities(detector: SileroVad, samples: np.ndarray) -> np.ndarray:
    return np.array([detector.probability(w) for w in windows(samples)])


@pytest.fixture(scope="module")
def model() -> SileroVadModel:
    return SileroVadModel.load()


@pytest.fixture(scope="module")
def track() -> np.ndarray:
    """Silence, a sentence from 1.0 s, silence to 5 s."""
    return synth.place(5.0, [(1.0, synth.speak("what colour is the car on the screen"))])


def test_model_file_is_the_shipped_one(model: SileroVadModel) -> None:
    path = silero_vad_path()
    assert path.name == "silero_vad_v6.onnx" and path.parent.parent.name == "faster_whisper"
    assert SileroVadModel.load() is model


def test_streaming_matches_faster_whisper_batch_reference(model: SileroVadModel, track: np.ndarray) -> None:
    from faster_whisper.vad import get_vad_model

    audio = windows(track).reshape(-1).copy()
    reference = get_vad_model()(audio.copy()).reshape(-1)
    ours = probabilities(model.detector(), audio)
    assert ours.shape == reference.shape
    assert np.max(np.abs(ours - reference)) < 1e-3


def test_speech_is_high_and_silence_low(model: SileroVadModel, track: np.ndarray) -> None:
    probs = probabilities(model.detector(), track)
    t = np.arange(len(probs)) * CHUNK_SAMPLES / SAMPLE_RATE
    speech_end = 1.0 + 2.26
    assert probs[t < 0.9].max() < 0.1
    in_speech = probs[(t > 1.1) & (t < speech_end - 0.2)]
    assert np.median(in_speech) > 0.9
    assert probs[t > speech_end + 0.5].max() < 0.1
    onset = t[np.argmax(probs > 0.5)]
    assert onset == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("amplitude", [0.002, 0.02])
def test_low_noise_and_a_tone_are_not_speech(model: SileroVadModel, amplitude: float) -> None:
    assert probabilities(model.detector(), synth.noise(3.0, amplitude, seed=7)).max() < 0.3
    assert probabilities(model.detector(), synth.tone(440.0, 2.0)).max() < 0.3


def test_detectors_keep_separate_state(model: SileroVadModel, track: np.ndarray) -> None:
    quiet = synth.noise(5.0, 0.002, seed=1)
    alone_speech = probabilities(model.detector(), track)
    alone_quiet = probabilities(model.detector(), quiet)
    a, b = model.detector(), model.detector()
    interleaved_a, interleaved_b = [], []
    for wa, wb in zip(windows(track), windows(quiet), strict=True):
        interleaved_a.append(a.probability(wa))
        interleaved_b.append(b.probability(wb))
    assert np.allclose(interleaved_a, alone_speech, atol=1e-6)
    assert np.allclose(interleaved_b, alone_quiet, atol=1e-6)


def test_reset_forgets_the_stream(model: SileroVadModel, track: np.ndarray) -> None:
    detector = model.detector()
    probabilities(detector, track[: 2 * SAMPLE_RATE])
    detector.reset()
    assert np.allclose(probabilities(detector, track), probabilities(model.detector(), track), atol=1e-6)


def test_detectors_in_threads_share_the_session(model: SileroVadModel, track: np.ndarray) -> None:
    expected = probabilities(model.detector(), track)
    results: list[np.ndarray] = [np.zeros(0)] * 4

    def run(i: int) -> None:
        results[i] = probabilities(model.detector(), track)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert np.allclose(result, expected, atol=1e-6)


def test_wrong_window_length_is_rejected(model: SileroVadModel) -> None:
    detector = model.detector()
    with pytest.raises(ValueError, match="512"):
        detector.probability(np.zeros(480, np.float32))
    with pytest.raises(ValueError, match="512"):
        detector.probability(np.zeros((2, 512), np.float32))
