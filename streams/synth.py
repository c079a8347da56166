"""Synthetic media for tests, demos and benchmarks: espeak-ng speech, tones, noise, and writers for WAV, MP4, Y4M.

All audio here is mono float32 in [-1, 1] at 16 kHz unless a rate is given.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streams.items import SAMPLE_RATE


class SynthError(RuntimeError):
    """Synthetic media could not be produced (missing tool, bad parameters)."""


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample mono float32 through libswresample."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples.reshape(1, -1), np.float32), format="flt", layout="mono"
    )
    frame.sample_rate = rate
    parts = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)


def _parse_wav_stream(data: bytes) -> tuple[np.ndarray, int]:
    """Mono 16-bit PCM from a RIFF stream whose size fields may be bogus (espeak-ng's ``--stdout``)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthError("espeak-ng did not produce a WAV stream")
    pos, rate, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if tag == b"fmt ":
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
        elif tag == b"data":
            if bits != 16 or channels != 1 or rate <= 0:
                raise SynthError(f"unexpected espeak-ng WAV format: {channels} ch, {bits} bit, {rate} Hz")
            pcm = data[body : body + min(size, len(data) - body)]
            pcm = pcm[: len(pcm) // 2 * 2]
            return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0, rate
        pos = body + size + (size & 1)
    raise SynthError("espeak-ng WAV stream has no data chunk")


def speak(text: str, *, voice: str = "en-us", words_per_minute: int = 160, pitch: int = 50) -> np.ndarray:
    """Speech of ``text`` synthesised by espeak-ng, as 16 kHz mono float32."""
    if not text.strip():
        raise ValueError("speak: text is empty")
    if not 80 <= words_per_minute <= 500:
        raise ValueError(f"speak: words_per_minute must be in 80..500, got {words_per_minute}")
    if not 0 <= pitch <= 99:
        raise ValueError(f"speak: pitch must be in 0..99, got {pitch}")
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthError("espeak-ng is not installed (apt-get install espeak-ng)")
    cmd = [exe, "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), "--stdout", "--stdin"]
    proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=60, check=False)
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        raise SynthError(f"espeak-ng failed for voice {voice!r}: {message}")
    samples, rate = _parse_wav_stream(proc.stdout)
    return np.clip(resample(samples, rate, SAMPLE_RATE), -1.0, 1.0)


def _check_duration(name: str, seconds: float) -> int:
    if not seconds > 0:
        raise ValueError(f"{name}: seconds must be positive, got {seconds}")
    return round(seconds * SAMPLE_RATE)


def tone(freq_hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone at 16 kHz."""
    n = _check_duration("tone", seconds)
    if not 0 < freq_hz < SAMPLE_RATE / 2:
        raise ValueError(f"tone: freq_hz must be in (0, {SAMPLE_RATE // 2}), got {freq_hz}")
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def noise(seconds: float, amplitude: float = 0.01, seed: int = 0) -> np.ndarray:
    """Gaussian white noise at 16 kHz with standard deviation ``amplitude``, clipped to [-1, 1]."""
    n = _check_duration("noise", seconds)
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, amplitude, n), -1.0, 1.0).astype(np.float32)


def place(track_seconds: float, clips: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """A silent 16 kHz track of ``track_seconds`` with each clip added at its start second (clipped to [-1, 1])."""
    track = np.zeros(_check_duration("place", track_seconds), np.float32)
    for start, clip in clips:
        begin = round(start * SAMPLE_RATE)
        if begin < 0 or begin + len(clip) > len(track):
            raise ValueError(
                f"place: clip at {start:.3f} s of {len(clip) / SAMPLE_RATE:.3f} s does not fit "
                f"in a {track_seconds:.3f} s track"
            )
        track[begin : begin + len(clip)] += clip.astype(np.float32, copy=False)
    return np.clip(track, -1.0, 1.0)


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples.reshape(-1), -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono float samples as a 16-bit PCM WAV file."""
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(_pcm16(samples))
    return path


def _check_frame(frame: np.ndarray, shape: tuple[int, ...] | None, index: int) -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame {index}: expected RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"frame {index}: shape {frame.shape} differs from the first frame's {shape}")
    if frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ValueError(f"frame {index}: width and height must be even for 4:2:0 video, got {frame.shape[:2]}")
    return np.ascontiguousarray(frame)


def _video_codec() -> str:
    try:
        av.codec.Codec("libx264", "w")
    except av.codec.codec.UnknownCodecError:
        return "mpeg4"
    return "libx264"


def write_media(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    audio_rate: int = SAMPLE_RATE,
) -> Path:
    """Write RGB uint8 frames (and optional mono audio) as an MP4: H.264 (or MPEG-4 Part 2) yuv420p + AAC.

    On bad input nothing is left at ``path``.
    """
    if not fps > 0:
        raise ValueError(f"write_media: fps must be positive, got {fps}")
    if audio is not None and (audio.ndim != 1 or audio_rate <= 0):
        raise ValueError(f"write_media: audio must be 1-D mono at a positive rate, got {audio.shape} at {audio_rate}")
    path = Path(path)
    try:
        _write_mp4(path, frames, Fraction(fps).limit_denominator(1001), audio, audio_rate)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _write_mp4(
    path: Path, frames: Iterable[np.ndarray], rate: Fraction, audio: np.ndarray | None, audio_rate: int
) -> None:
    count = 0
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream(_video_codec(), rate=rate)
        video.pix_fmt = "yuv420p"
        sound = None if audio is None else _AudioTrack(container, audio, audio_rate)
        shape: tuple[int, ...] | None = None
        for count, frame in enumerate(frames, start=1):
            frame = _check_frame(frame, shape, count - 1)
            if shape is None:
                shape = frame.shape
                video.width, video.height = frame.shape[1], frame.shape[0]
            out = av.VideoFrame.from_ndarray(frame, format="rgb24")
            out.pts = count - 1
            container.mux(video.encode(out))
            if sound is not None:
                sound.encode_until(float(count / rate))
        if count == 0:
            raise ValueError("write_media: no frames given")
        container.mux(video.encode(None))
        if sound is not None:
            sound.finish()


class _AudioTrack:
    """Encodes a mono signal to AAC in codec-sized frames, as far as the video has got."""

    def __init__(self, container: av.container.OutputContainer, audio: np.ndarray, rate: int) -> None:
        self.container = container
        self.stream = container.add_stream("aac", rate=rate, layout="mono")
        self.samples = np.ascontiguousarray(np.clip(audio, -1.0, 1.0), np.float32)
        self.rate = rate
        self.pos = 0

    def encode_until(self, seconds: float) -> None:
        step = self.stream.codec_context.frame_size or 1024
        end = min(len(self.samples), round(seconds * self.rate))
        while self.pos < end:
            block = self.samples[self.pos : self.pos + step]
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = self.rate
            frame.pts = self.pos
            self.container.mux(self.stream.encode(frame))
            self.pos += len(block)

    def finish(self) -> None:
        self.encode_until(len(self.samples) / self.rate)
        self.container.mux(self.stream.encode(None))


def write_y4m(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    """Write RGB uint8 frames as a YUV4MPEG2 (4:2:0) file, e.g. for Chromium's fake camera."""
    if not fps > 0:
        raise ValueError(f"write_y4m: fps must be positive, got {fps}")
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    shape: tuple[int, ...] | None = None
    with path.open("wb") as out:
        for index, frame in enumerate(frames):
            frame = _check_frame(frame, shape, index)
            if shape is None:
                shape = frame.shape
                header = f"YUV4MPEG2 W{frame.shape[1]} H{frame.shape[0]} F{rate.numerator}:{rate.denominator} "
                out.write((header + "Ip A1:1 C420jpeg\n").encode("ascii"))
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    if shape is None:
        path.unlink()
        raise ValueError("write_y4m: no frames given")
    return path
