"""Frames as JPEG image parts and audio as WAV input_audio parts of a chat-completions message."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Sequence

import numpy as np
from PIL import Image

from streams.items import VideoFrame


def pick_frames(frames: Sequence[VideoFrame], start: float, end: float, count: int) -> list[VideoFrame]:
    """Up to ``count`` frames of ``start``–``end``, spread evenly over it, oldest first."""
    inside = [f for f in frames if start <= f.t <= end]
    if count <= 0 or not inside:
        return []
    if len(inside) <= count:
        return inside
    step = (len(inside) - 1) / (count - 1) if count > 1 else 0
    return [inside[round(i * step)] for i in range(count)] if count > 1 else [inside[-1]]


def image_part(frame: VideoFrame, size: int, quality: int) -> dict[str, object]:
    image = Image.fromarray(np.ascontiguousarray(frame.image[..., :3]).astype(np.uint8))
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}}


def audio_part(samples: np.ndarray, rate: int) -> dict[str, object]:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
