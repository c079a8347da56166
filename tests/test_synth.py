"""Synthetic media helpers: espeak-ng speech, signals, and files that the real readers (OpenCV, PyAV) read back."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streams import synth
from streams.audio import AudioFileSource
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


async def _read_audio(path: Path) -> np.ndarray:
    source = AudioFileSource(str(path))
    source.open()
    try:
        chunks = [chunk async for chunk in source.items(lambda: 0.0)]
    finally:
        source.close()
    assert [c.t for c in chunks] == pytest.approx([i * CHUNK_SAMPLES / SAMPLE_RATE for i in range(len(chunks))])
    return np.concatenate([c.samples for c in chunks])


def _gradient_frames(n: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = (i * 12) % 256
        frame[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        frame[..., 2] = 200
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def sentence() -> np.ndarray:
    return synth.speak("the quick brown fox jumps over the lazy dog")


def test_speak_gives_16k_float_speech(sentence: np.ndarray) -> None:
    assert sentence.dtype == np.float32 and sentence.ndim == 1
    assert 1.5 < len(sentence) / SAMPLE_RATE < 5.0
    assert float(np.abs(sentence).max()) <= 1.0
    assert _rms(sentence) > 0.02


def test_speak_rate_changes_duration() -> None:
    slow = synth.speak("one two three four five six", words_per_minute=100)
    fast = synth.speak("one two three four five six", words_per_minute=300)
    assert len(slow) > 1.8 * len(fast)


def test_speak_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        synth.speak("   ")
    with pytest.raises(synth.SynthError, match="nosuchvoice"):
        synth.speak("hello", voice="nosuchvoice")
    with pytest.raises(ValueError, match="words_per_minute"):
        synth.speak("hello", words_per_minute=10)


def test_tone_and_noise() -> None:
    a = synth.tone(440.0, 0.5, amplitude=0.5)
    assert a.dtype == np.float32 and len(a) == 8000
    assert _rms(a) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    spectrum = np.abs(np.fft.rfft(a))
    assert np.argmax(spectrum) * SAMPLE_RATE / len(a) == pytest.approx(440.0, abs=2.0)
    n1, n2 = synth.noise(1.0, 0.01, seed=3), synth.noise(1.0, 0.01, seed=3)
    assert np.array_equal(n1, n2) and _rms(n1) == pytest.approx(0.01, rel=0.05)
    assert not np.array_equal(n1, synth.noise(1.0, 0.01, seed=4))
    with pytest.raises(ValueError, match="seconds"):
        synth.tone(440.0, 0.0)


def test_place_mixes_at_start_times() -> None:
    beep = np.full(1600, 0.25, np.float32)
    track = synth.place(2.0, [(0.5, beep), (0.55, beep)])
    assert len(track) == 32000
    assert np.all(track[:8000] == 0)
    assert track[8000] == pytest.approx(0.25) and track[8800] == pytest.approx(0.5)
    assert np.all(track[8800 + 1600 :] == 0)
    with pytest.raises(ValueError, match="does not fit"):
        synth.place(1.0, [(0.95, beep)])


async def test_write_wav_round_trip_through_audio_source(tmp_path: Path, sentence: np.ndarray) -> None:
    track = synth.place(4.0, [(1.0, sentence[: 2 * SAMPLE_RATE])])
    path = synth.write_wav(tmp_path / "a.wav", track)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (16000, 1, 2, 64000)
    back = await _read_audio(path)
    assert len(back) == 64000  # 125 full chunks
    assert np.max(np.abs(back - track)) < 1e-3


async def test_write_media_readable_by_opencv_and_pyav(tmp_path: Path, sentence: np.ndarray) -> None:
    audio = synth.place(3.0, [(0.5, sentence[: 2 * SAMPLE_RATE])])
    path = synth.write_media(tmp_path / "clip.mp4", iter(_gradient_frames(30)), 10.0, audio=audio)

    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    decoded = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        decoded.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(decoded) == 30
    assert decoded[0].shape == (48, 64, 3)
    assert abs(int(decoded[10][20, 5, 0]) - 120) < 12  # the red ramp survives lossy coding

    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name in ("h264", "mpeg4")
        assert container.streams.audio[0].codec_context.name == "aac"

    back = await _read_audio(path)
    assert abs(len(back) - len(audio)) <= 1024 + CHUNK_SAMPLES  # AAC frames are 1024 samples
    assert _rms(back[:6000]) < 0.01  # silence before the speech at 0.5 s
    loud_in, loud_out = _rms(audio[8000:40000]), _rms(back[8000:40000])
    assert loud_out == pytest.approx(loud_in, rel=0.25)
    lag = np.argmax(np.correlate(back[8000:12000], audio[7800:12200], mode="valid")) - 200
    assert abs(lag) <= 2  # the audio track is not shifted in time


def test_write_media_without_audio_and_bad_frames(tmp_path: Path) -> None:
    path = synth.write_media(tmp_path / "v.mp4", _gradient_frames(5), 5.0)
    with av.open(str(path)) as container:
        assert not container.streams.audio
    with pytest.raises(ValueError, match="even"):
        synth.write_media(tmp_path / "odd.mp4", [np.zeros((47, 64, 3), np.uint8)], 5.0)
    with pytest.raises(ValueError, match="differs"):
        synth.write_media(tmp_path / "mix.mp4", [np.zeros((48, 64, 3), np.uint8), np.zeros((48, 62, 3), np.uint8)], 5.0)
    with pytest.raises(ValueError, match="no frames"):
        synth.write_media(tmp_path / "none.mp4", [], 5.0)
    with pytest.raises(ValueError, match="mono"):
        synth.write_media(tmp_path / "stereo.mp4", _gradient_frames(2), 5.0, audio=np.zeros((2, 800), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # nothing left behind by rejected input


def test_write_y4m(tmp_path: Path) -> None:
    frames = _gradient_frames(4)
    path = synth.write_y4m(tmp_path / "cam.y4m", frames, 15.0)
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    assert header == b"YUV4MPEG2 W64 H48 F15:1 Ip A1:1 C420jpeg"
    frame_bytes = len(b"FRAME\n") + 64 * 48 * 3 // 2
    assert len(body) == 4 * frame_bytes
    cap = cv2.VideoCapture(str(path))
    ok, bgr = cap.read()
    cap.release()
    assert ok and bgr.shape == (48, 64, 3)
    assert np.abs(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(int) - frames[0].astype(int)).mean() < 8
