"""Errors the transformers backends raise; each message names the cause."""

from __future__ import annotations

from engine.backends.base import BackendRecovered


class ModelLoadError(RuntimeError):
    """The model path or id is missing, not available offline, or not a supported architecture."""


class DeviceUnavailable(RuntimeError):
    """The requested device (e.g. CUDA) is not available in this process."""


class WindowShrunk(BackendRecovered):
    """Ingest ran out of memory; the media window was shrunk and the stream goes on.

    Raised from ``ingest_*`` after recovery, once the item that met it has been fully taken in, so the session
    reports it as a (non-fatal) error event and nothing already accepted is lost.
    ``dropped`` tells whether the chunk that hit the limit was lost.
    """

    def __init__(self, message: str, *, window_seconds: float, dropped: bool) -> None:
        super().__init__(message)
        self.window_seconds = window_seconds
        self.dropped = dropped
