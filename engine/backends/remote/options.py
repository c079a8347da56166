"""Options of the ``remote`` backend: which server, what each request carries, how failures are retried."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    base_url: str = "http://127.0.0.1:8000/v1"  # the server's OpenAI API root (ends in /v1)
    max_images: int = 4  # frames of the context window sent per request as image parts, 0 = none (text-only models)
    image_size: int = 448  # longest side of each JPEG frame, in pixels
    jpeg_quality: int = 85  # JPEG quality of the frames, 1-95
    audio: bool = False  # send the question's raw audio as input_audio parts (servers that take them, e.g. vLLM Omni)
    audio_seconds: float = 10.0  # newest seconds of raw audio sent when ``audio`` is on
    window_seconds: float = 600.0  # media kept per session to pick frames and audio from
    prefix_step_s: float = 60.0  # old speech leaves the requests' front in whole steps of this, not second by second
    connect_timeout_s: float = 5.0  # to open the connection
    read_timeout_s: float = 60.0  # longest wait for the next streamed piece
    retries: int = 2  # further attempts after a connection error, before any answer text arrived
    backoff_s: float = 0.5  # wait before the first retry; doubles each time
    temperature: float = 0.0  # sampling temperature sent to the server

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"remote: base_url must start with http:// or https://, got {self.base_url!r}")
        if self.max_images < 0:
            raise ValueError(f"remote: max_images must be at least 0, got {self.max_images}")
        if self.image_size < 16:
            raise ValueError(f"remote: image_size must be at least 16, got {self.image_size}")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError(f"remote: jpeg_quality must be 1-95, got {self.jpeg_quality}")
        if self.retries < 0 or self.backoff_s < 0:
            raise ValueError("remote: retries and backoff_s must be at least 0")
        if min(self.connect_timeout_s, self.read_timeout_s, self.window_seconds, self.audio_seconds) <= 0:
            raise ValueError("remote: timeouts, window_seconds and audio_seconds must be positive")
        if self.prefix_step_s <= 0:
            raise ValueError(f"remote: prefix_step_s must be positive, got {self.prefix_step_s}")
