"""Silero VAD (v6, ONNX) on onnxruntime: one shared inference session, light per-stream detectors.

The model takes one 512-sample window at 16 kHz with the previous window's last 64 samples prepended (576 inputs) and
an LSTM state (``h``, ``c``) that it returns updated. ``SileroVad`` keeps that context and state for one stream.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engine.model_files import silero_vad_path
from streams.items import CHUNK_SAMPLES

CONTEXT_SAMPLES = 64
STATE_SHAPE = (1, 1, 128)


class SileroVadModel:
    """The loaded ONNX model. ``InferenceSession.run`` is thread-safe, so all streams share one."""

    _shared: SileroVadModel | None = None
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        names = {i.name: i.shape for i in self.session.get_inputs()}
        if names.get("input") != ["seq_len", CHUNK_SAMPLES + CONTEXT_SAMPLES] or "h" not in names or "c" not in names:
            raise ValueError(f"{path}: not a Silero VAD v6 model (inputs {names})")

    @classmethod
    def load(cls) -> SileroVadModel:
        """The process-wide model loaded from the faster-whisper wheel (loaded once)."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls(silero_vad_path())
            return cls._shared

    def detector(self) -> SileroVad:
        """A new detector with its own state, for one audio stream."""
        return SileroVad(self)


class SileroVad:
    """Speech probability of consecutive 512-sample windows of one stream (implements ``VoiceDetector``)."""

    def __init__(self, model: SileroVadModel | None = None) -> None:
        self.model = model or SileroVadModel.load()
        self._input = np.zeros((1, CHUNK_SAMPLES + CONTEXT_SAMPLES), np.float32)
        self._h = np.zeros(STATE_SHAPE, np.float32)
        self._c = np.zeros(STATE_SHAPE, np.float32)

    def probability(self, window: np.ndarray) -> float:
        if window.shape != (CHUNK_SAMPLES,):
            raise ValueError(f"VAD window must be {CHUNK_SAMPLES} mono samples at 16 kHz, got shape {window.shape}")
        self._input[0, CONTEXT_SAMPLES:] = window
        prob, self._h, self._c = self.model.session.run(None, {"input": self._input, "h": self._h, "c": self._c})
        self._input[0, :CONTEXT_SAMPLES] = self._input[0, -CONTEXT_SAMPLES:]
        return float(prob.reshape(-1)[0])

    def reset(self) -> None:
        self._input.fill(0.0)
        self._h = np.zeros(STATE_SHAPE, np.float32)
        self._c = np.zeros(STATE_SHAPE, np.float32)
