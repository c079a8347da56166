"""Where spoken audio goes, and the one sample-rate converter every interface uses.

An ``AudioSink`` takes int16 mono chunks at its ``sample_rate``. It says how far ahead of playback it wants audio
(``lead_s``: a local device needs little, a remote client buffers more) and whether ``stop`` drops what it was given
but has not played yet (``drops_on_stop``: a local device and the demo page do; audio sent over a websocket is the
client's). ``LocalPlayer`` plays through this machine's output device with sounddevice.
"""

from __future__ import annotations

from typing import Protocol

import av
import numpy as np

from app.tts import TtsUnavailable


class AudioSink(Protocol):
    sample_rate: int
    lead_s: float
    drops_on_stop: bool

    def write(self, key: str, pcm: np.ndarray) -> None:
        """Take int16 mono samples of response ``key``; a device may block here at playback pace."""
        ...

    def stop(self) -> None:
        """Drop whatever is queued or playing right now (where ``drops_on_stop``)."""
        ...


class Resampler:
    """Stateful mono converter between two rates (int16 → int16, or to float32 with ``to_float``)."""

    def __init__(self, src_rate: int, dst_rate: int, *, to_float: bool = False) -> None:
        self.src_rate, self.dst_rate, self.to_float = src_rate, dst_rate, to_float
        self._out = np.float32 if to_float else np.int16
        self._av = (
            None
            if src_rate == dst_rate
            else av.AudioResampler(format="flt" if to_float else "s16", layout="mono", rate=dst_rate)
        )

    def __call__(self, pcm: np.ndarray | None) -> np.ndarray:
        """Convert a block; ``None`` drains what the converter still holds (end of a sentence)."""
        if self._av is None:
            if pcm is None:
                return np.zeros(0, self._out)
            return (pcm.astype(np.float32) / 32768.0) if self.to_float else pcm
        frame = None
        if pcm is not None:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.src_rate
        parts = [f.to_ndarray().reshape(-1) for f in self._av.resample(frame)]
        if pcm is None:  # a drained converter cannot be fed again: start a fresh one for the next sentence
            self._av = av.AudioResampler(format="flt" if self.to_float else "s16", layout="mono", rate=self.dst_rate)
        return np.concatenate(parts).astype(self._out, copy=False) if parts else np.zeros(0, self._out)


def default_output_rate(device: int | str | None = None) -> int:
    """The output device's default sample rate; raises ``TtsUnavailable`` when there is no usable device."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise TtsUnavailable(f"local playback unavailable: {exc} (apt install libportaudio2)") from None
    try:
        return int(sd.query_devices(device, "output")["default_samplerate"])
    except (ValueError, sd.PortAudioError) as exc:
        raise TtsUnavailable(f"no usable audio output device ({exc})") from None


class LocalPlayer:
    """Plays through the default (or given) output device; ``write`` blocks while the device buffer is full."""

    drops_on_stop = True

    def __init__(self, sample_rate: int, *, device: int | str | None = None, lead_s: float = 0.1) -> None:
        try:
            import sounddevice as sd
        except OSError as exc:
            raise TtsUnavailable(f"local playback unavailable: {exc} (apt install libportaudio2)") from None
        try:
            self._stream = sd.OutputStream(
                samplerate=sample_rate, channels=1, dtype="int16", device=device, latency="low"
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise TtsUnavailable(f"no usable audio output device ({exc})") from None
        self.sample_rate = sample_rate
        self.lead_s = lead_s

    def write(self, key: str, pcm: np.ndarray) -> None:
        self._stream.write(pcm.reshape(-1, 1))

    def stop(self) -> None:
        self._stream.abort()
        self._stream.start()

    def close(self) -> None:
        self._stream.close()
