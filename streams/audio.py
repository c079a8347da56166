"""Audio sources: a media file's audio track or a WAV (PyAV), or the microphone (sounddevice).

Everything is converted to 16 kHz mono float32 and cut into 512-sample (32 ms) chunks stamped with stream time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator

import av
import numpy as np

from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk
from streams.source import SourceError, iterate_in_thread

_GAP_S = 0.25  # audio missing for longer than this (damage, truncation) is reported and bridged with silence


class ChunkAssembler:
    """Collects arbitrary-length sample blocks and hands out exact 512-sample chunks."""

    def __init__(self, size: int = CHUNK_SAMPLES) -> None:
        self.size = size
        self._buf = np.zeros(0, np.float32)

    @property
    def pending(self) -> int:
        """Samples waiting for a full chunk."""
        return len(self._buf)

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        self._buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
        n = len(self._buf) // self.size
        out = [self._buf[i * self.size : (i + 1) * self.size] for i in range(n)]
        self._buf = self._buf[n * self.size :]
        return out

    def flush(self) -> np.ndarray | None:
        """The remainder, zero-padded to a full chunk (None when empty)."""
        if not len(self._buf):
            return None
        out = np.zeros(self.size, np.float32)
        out[: len(self._buf)] = self._buf
        self._buf = np.zeros(0, np.float32)
        return out


def to_mono_16k(resampler: av.AudioResampler, frame: av.AudioFrame | None) -> np.ndarray:
    """Resample one frame (or drain the resampler with None) to 16 kHz and average the channels to mono.

    The resampler must produce planar float (``fltp``) at 16 kHz in the input's own layout; averaging (rather than
    FFmpeg's downmix matrix) keeps the level of correlated channels and can't clip.
    """
    parts = [f.to_ndarray().mean(axis=0) for f in resampler.resample(frame)]
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)


def make_resampler() -> av.AudioResampler:
    return av.AudioResampler(format="fltp", rate=SAMPLE_RATE)


class AudioFileSource:
    """The audio track of a media file (or a WAV/FLAC/MP3…) at any rate and channel count, as 16 kHz mono."""

    kind = "audio"
    live = False

    def __init__(self, path: str, *, name: str | None = None) -> None:
        self.path = str(path)
        self.name = name or f"audio:{os.path.basename(self.path) or self.path}"
        self._container: av.container.InputContainer | None = None

    def open(self) -> None:
        if "://" not in self.path and not os.path.exists(self.path):
            raise SourceError(f"{self.name}: file not found: {self.path}")
        try:
            container = av.open(self.path)
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.name}: cannot open as media ({exc})") from None
        if not container.streams.audio:
            container.close()
            raise SourceError(f"{self.name}: no audio track in {self.path}")
        self._container = container

    def _chunks(self) -> Iterator[AudioChunk]:
        container = self._container
        if container is None:
            raise SourceError(f"{self.name}: not opened")
        stream = container.streams.audio[0]
        resampler = make_resampler()
        assembler = ChunkAssembler()
        emitted = 0

        def stamp(chunk: np.ndarray) -> AudioChunk:
            nonlocal emitted
            item = AudioChunk(t=round(emitted / SAMPLE_RATE, 5), samples=chunk, source=self.name)
            emitted += len(chunk)
            return item

        damaged = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.InvalidDataError:  # a damaged packet: skip it, the decoder picks up at the next one
                    damaged += 1
                    continue
                for frame in frames:
                    gap = frame.time - (emitted + assembler.pending) / SAMPLE_RATE if frame.time is not None else 0.0
                    if damaged and gap > _GAP_S:  # keep later audio at its media time
                        for chunk in assembler.push(np.zeros(round(gap * SAMPLE_RATE), np.float32)):
                            yield stamp(chunk)
                    for chunk in assembler.push(to_mono_16k(resampler, frame)):
                        yield stamp(chunk)
            chunks = assembler.push(to_mono_16k(resampler, None))  # drain the resampler
        except av.FFmpegError as exc:
            raise SourceError(f"{self.name}: decoding failed after {emitted / SAMPLE_RATE:.2f} s ({exc})") from None
        last = assembler.flush()
        for chunk in [*chunks, *([last] if last is not None else [])]:
            yield stamp(chunk)
        if emitted == 0:
            raise SourceError(f"{self.name}: the audio track is empty")
        declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        if damaged or emitted / SAMPLE_RATE < declared - _GAP_S:
            length = f" of {declared:.2f} s" if declared else ""
            raise SourceError(
                f"{self.name}: {damaged} damaged audio packet(s) skipped, audio decoded up to "
                f"{emitted / SAMPLE_RATE:.2f} s{length}: the file is truncated or corrupt: {self.path}"
            )

    async def items(self, now: Callable[[], float]) -> AsyncIterator[AudioChunk]:
        async for chunk in iterate_in_thread(self._chunks, maxsize=256, name=self.name):
            yield chunk

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class MicrophoneSource:
    """Live 16 kHz mono audio from an input device, in 32 ms chunks stamped with the session clock."""

    kind = "audio"
    live = True

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self.name = f"mic:{device if device is not None else 'default'}"
        self._rate = SAMPLE_RATE
        self._channels = 1

    def open(self) -> None:
        try:
            import sounddevice as sd
        except OSError as exc:  # PortAudio library missing
            raise SourceError(f"{self.name}: audio input unavailable ({exc})") from None
        try:
            info = sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            raise SourceError(f"{self.name}: no microphone input device ({exc})") from None
        self._rate = SAMPLE_RATE
        self._channels = 1
        try:
            sd.check_input_settings(device=self.device, samplerate=SAMPLE_RATE, channels=1, dtype="float32")
        except (ValueError, sd.PortAudioError):
            self._rate = int(info["default_samplerate"])
            self._channels = max(1, min(2, int(info["max_input_channels"])))
        self._sd = sd

    async def items(self, now: Callable[[], float]) -> AsyncIterator[AudioChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[np.ndarray | Exception] = asyncio.Queue(maxsize=1024)
        sd = self._sd

        def callback(indata: np.ndarray, frames: int, time_info: object, status: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, indata.copy())

        assembler = ChunkAssembler()
        resampler = None
        if self._rate != SAMPLE_RATE or self._channels != 1:
            resampler = make_resampler()
        layout = "mono" if self._channels == 1 else "stereo"
        try:
            stream = sd.InputStream(
                device=self.device,
                samplerate=self._rate,
                channels=self._channels,
                dtype="float32",
                blocksize=CHUNK_SAMPLES,
                callback=callback,
            )
        except sd.PortAudioError as exc:
            raise SourceError(f"{self.name}: cannot open the microphone ({exc})") from None
        with stream:
            while True:
                block = await queue.get()
                if resampler is not None:
                    frame = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(block.reshape(1, -1)), format="flt", layout=layout
                    )
                    frame.sample_rate = self._rate
                    samples = to_mono_16k(resampler, frame)
                else:
                    samples = block.reshape(-1)
                for chunk in assembler.push(samples):
                    yield AudioChunk(t=max(0.0, now() - CHUNK_SAMPLES / SAMPLE_RATE), samples=chunk, source=self.name)

    def close(self) -> None:
        """The input stream is closed when ``items`` ends."""
