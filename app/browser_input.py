"""Browser input for the live demo: webcam frames and microphone chunks checked and converted for a session.

Anything the session cannot take raises ``InputError`` with a message that names what was wrong; the page shows it.
"""

from __future__ import annotations

import av
import numpy as np

from streams.items import SAMPLE_RATE

MAX_FRAME_PIXELS = 3840 * 2160  # larger webcam frames are refused with a message
MAX_AUDIO_CHANNELS = 8
AUDIO_RATES = (8_000, 192_000)


class InputError(ValueError):
    """Browser input the session cannot take; the message is shown on the page."""


def frame_to_rgb(image: object) -> np.ndarray:
    """Check a webcam frame (RGB uint8 from ``gr.Image``); grey or RGBA frames are converted."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"video frame must be an image array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"video frame must be 8-bit, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InputError(f"video frame must be (H, W, 3) RGB, got shape {image.shape}")
    height, width = image.shape[:2]
    if height * width > MAX_FRAME_PIXELS:
        raise InputError(f"video frame {width}x{height} is larger than 3840x2160; frame dropped")
    if height == 0 or width == 0:
        raise InputError("video frame is empty")
    return np.ascontiguousarray(image[:, :, :3])


class MicConverter:
    """Turns browser microphone chunks (rate, int or float samples, mono or multi-channel) into 16 kHz float32."""

    def __init__(self) -> None:
        self._rate: int | None = None
        self._resampler: av.AudioResampler | None = None

    def convert(self, chunk: object) -> np.ndarray:
        if not isinstance(chunk, tuple) or len(chunk) != 2:
            raise InputError(f"audio chunk must be (sample_rate, samples), got {type(chunk).__name__}")
        rate, data = chunk
        if not isinstance(rate, (int, np.integer)) or not AUDIO_RATES[0] <= rate <= AUDIO_RATES[1]:
            raise InputError(f"audio sample rate must be {AUDIO_RATES[0]}–{AUDIO_RATES[1]} Hz, got {rate!r}")
        if not isinstance(data, np.ndarray) or data.ndim not in (1, 2):
            raise InputError("audio samples must be a 1-D (mono) or 2-D (samples, channels) array")
        if data.ndim == 2 and not 1 <= data.shape[1] <= MAX_AUDIO_CHANNELS:
            raise InputError(f"audio must have 1–{MAX_AUDIO_CHANNELS} channels, got {data.shape[1]}")
        if data.dtype == np.int16:
            samples = data.astype(np.float32) / 32768.0
        elif data.dtype == np.int32:
            samples = data.astype(np.float32) / 2147483648.0
        elif data.dtype in (np.float32, np.float64):
            if not np.all(np.isfinite(data)):
                raise InputError("audio samples contain NaN or infinity")
            samples = np.clip(data, -1.0, 1.0).astype(np.float32)
        else:
            raise InputError(f"audio samples must be int16, int32 or float, got {data.dtype}")
        mono = samples.mean(axis=1) if samples.ndim == 2 else samples
        return self._resample(np.ascontiguousarray(mono, np.float32), int(rate))

    def _resample(self, mono: np.ndarray, rate: int) -> np.ndarray:
        if rate == SAMPLE_RATE or not len(mono):
            return mono
        if rate != self._rate or self._resampler is None:
            self._rate = rate
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        frame = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
