"""Query policies for the gate modes: ``always``, ``gate`` (learned, the default), ``wake`` and ``model``.

``LearnedGate`` combines the learned classifier (MiniLM embeddings plus text cues), the assistant's name when one is
set, and acoustic cues of the utterance (level, duration, overlap with the assistant's own playback).
``WakeWordGate`` accepts only utterances that call the assistant by name. ``ModelJudge`` asks the session's own model
(``omni`` / ``vlm``), which has the stream in view. ``make_policy`` builds the first three by mode name; ``ModelJudge``
is built per session around its backend context.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from engine.backends.base import Capabilities, JudgesAddressing
from engine.gate import AnswerEverything, GateDecision, QueryPolicy, UtteranceFeatures
from engine.gate_model import CUE_NAMES, GateClassifier, MiniLmEmbedder, cue_matrix, sigmoid, text_cues
from engine.options import GateOptions

MODES: tuple[str, ...] = ("always", "gate", "wake", "model")
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|♪")
_CUE_WORDS = {
    "wh_question": "wh-question",
    "yes_no_question": "yes/no question",
    "imperative": "command",
    "second_person": "says 'you'",
    "scene_reference": "refers to the scene",
    "vocative": "addresses someone by name",
    "first_person_start": "first-person statement",
}
_GREETINGS = ("hey", "hi", "hello", "ok", "okay", "yo")


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _speech_text(text: str) -> str:
    """The transcript without recogniser annotations such as ``[Music]`` or ``(coughs)``."""
    return _NON_SPEECH.sub(" ", text).strip()


def _check_times(start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise ValueError(f"utterance times must be finite with end >= start, got start={start} end={end}")


def _echo(features: UtteranceFeatures | None, start: float, end: float, limit: float) -> str | None:
    if features is None or features.playback_overlap_s <= 0:
        return None
    share = features.playback_overlap_s / max(end - start, 1e-6)
    if share < limit:
        return None
    return f"overlaps the assistant's own playback ({share:.0%} of the utterance)"


def _name_call(text: str, name: str) -> tuple[str, str] | None:
    """Where ``name`` calls the assistant ('start' or 'end') and the rest of the words, or None."""
    words = _normalise(text).split()
    name_words = _normalise(name).split()
    if not name_words:
        return None
    lead = 1 if words[:1] and words[0] in _GREETINGS else 0
    if words[lead : lead + len(name_words)] == name_words:
        return "start", " ".join(words[lead + len(name_words) :])
    if len(words) > len(name_words) and words[-len(name_words) :] == name_words:
        return "end", " ".join(words[: -len(name_words)])
    return None


class LearnedGate:
    """The ``gate`` mode: learned classifier + text cues + assistant name + acoustic cues."""

    def __init__(
        self,
        options: GateOptions | None = None,
        *,
        embedder: MiniLmEmbedder | None = None,
        classifier: GateClassifier | None = None,
    ) -> None:
        self.options = options or GateOptions()
        if self.options.threshold is not None and not 0.0 < self.options.threshold < 1.0:
            raise ValueError(f"gate threshold must be between 0 and 1, got {self.options.threshold}")
        if self.options.assistant_name is not None and not _normalise(self.options.assistant_name):
            raise ValueError(f"assistant name {self.options.assistant_name!r} has no letters or digits")
        self.embedder = embedder or MiniLmEmbedder()
        self.classifier = classifier or GateClassifier.load()
        self.threshold = self.options.threshold if self.options.threshold is not None else self.classifier.threshold

    def load(self) -> None:
        """Load the embedding model now instead of at the first decision."""
        self.embedder.load()

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The classifier's log-odds per transcript that it is addressed to the assistant (no name, no acoustics)."""
        spoken = [_speech_text(t) for t in texts]
        return self.classifier.logits(self.embedder.encode(spoken), cue_matrix(spoken))

    def decide(self, text: str, *, start: float, end: float, features: UtteranceFeatures | None = None) -> GateDecision:
        _check_times(start, end)
        if not text.strip():
            return GateDecision(False, "empty transcript")
        spoken = _speech_text(text)
        if not _normalise(spoken):
            return GateDecision(False, f"no words in transcript {text.strip()!r}")
        logit = float(self.logits([spoken])[0])
        p = float(sigmoid(logit))
        echo = _echo(features, start, end, self.options.max_playback_overlap)
        if echo is not None:
            return GateDecision(False, echo, round(p, 4))
        name = self.options.assistant_name
        if name is not None:
            call = _name_call(spoken, name)
            if call is not None and call[1]:
                return GateDecision(True, f"addressed by name {name!r} at the {call[0]}", 1.0)
        notes = []
        if (
            features is not None
            and features.level_dbfs is not None
            and features.level_dbfs < self.options.far_field_dbfs
        ):
            logit -= self.options.far_field_penalty
            notes.append(f"far-field {features.level_dbfs:.0f} dBFS")
        if end - start > self.options.long_utterance_s:
            logit -= self.options.long_utterance_penalty
            notes.append(f"long utterance {end - start:.1f} s")
        score = float(sigmoid(logit))
        accepted = score >= self.threshold
        cues = text_cues(spoken)
        shown = [_CUE_WORDS[n] for n in CUE_NAMES if n in _CUE_WORDS and cues[n] > 0]
        detail = f"classifier {p:.2f}" + (f", {', '.join(notes)} -> {score:.2f}" if notes else "")
        if shown:
            detail += f"; {', '.join(shown)}"
        verdict = "addressed to the assistant" if accepted else "background speech"
        return GateDecision(accepted, f"{verdict} ({detail})", round(score, 4))


class WakeWordGate:
    """The ``wake`` mode: only utterances that call the assistant by name, at the start or the end, are queries."""

    def __init__(self, name: str, *, max_playback_overlap: float = 0.5) -> None:
        if not _normalise(name):
            raise ValueError(f"wake word {name!r} has no letters or digits")
        if not 0.0 < max_playback_overlap <= 1.0:
            raise ValueError(f"max_playback_overlap must be in (0, 1], got {max_playback_overlap}")
        self.name = name
        self.max_playback_overlap = max_playback_overlap

    def decide(self, text: str, *, start: float, end: float, features: UtteranceFeatures | None = None) -> GateDecision:
        _check_times(start, end)
        if not text.strip():
            return GateDecision(False, "empty transcript")
        echo = _echo(features, start, end, self.max_playback_overlap)
        if echo is not None:
            return GateDecision(False, echo, 0.0)
        call = _name_call(_speech_text(text), self.name)
        if call is None:
            return GateDecision(False, f"no wake word {self.name!r}", 0.0)
        if not call[1]:
            return GateDecision(False, f"wake word {self.name!r} without a request", 0.0)
        return GateDecision(True, f"wake word {self.name!r} at the {call[0]}", 1.0)


class ModelJudge:
    """The ``model`` mode: the backend's own model judges each utterance (``JudgesAddressing``), with the stream in
    view (a backend that ``hears_audio`` also hears the utterance itself). Echo of the assistant's playback is refused
    before asking."""

    def __init__(self, judge: JudgesAddressing, options: GateOptions | None = None) -> None:
        capabilities = getattr(judge, "capabilities", None)
        if not isinstance(capabilities, Capabilities) or not capabilities.judges_addressing:
            raise ValueError(
                f"gate mode 'model' needs a backend whose model can judge what it hears "
                f"(capabilities.judges_addressing); {type(judge).__name__} cannot"
            )
        self.judge = judge
        self.options = options or GateOptions()
        self.threshold = 0.5 if self.options.threshold is None else self.options.threshold

    def decide(self, text: str, *, start: float, end: float, features: UtteranceFeatures | None = None) -> GateDecision:
        _check_times(start, end)
        spoken = _speech_text(text)
        if not _normalise(spoken):
            return GateDecision(False, f"no words in transcript {text.strip()!r}")
        echo = _echo(features, start, end, self.options.max_playback_overlap)
        if echo is not None:
            return GateDecision(False, echo)
        p = self.judge.judge_addressed(spoken, start, end)
        if p >= self.threshold:
            return GateDecision(True, f"the model judged it said to the assistant (p={p:.2f})", round(p, 4))
        return GateDecision(False, f"the model judged it not said to the assistant (p={p:.2f})", round(p, 4))


def make_policy(mode: str, **opts: Any) -> QueryPolicy:
    """``always`` -> AnswerEverything(); ``gate`` -> LearnedGate (GateOptions fields, ``embedder``, ``classifier``);
    ``wake`` -> WakeWordGate (``name`` required, ``max_playback_overlap``)."""
    if mode == "always":
        if opts:
            raise ValueError(f"mode 'always' takes no options, got {sorted(opts)}")
        return AnswerEverything()
    if mode == "gate":
        known = {f.name for f in fields(GateOptions)}
        unknown = sorted(set(opts) - known - {"embedder", "classifier"})
        if unknown:
            raise ValueError(
                f"mode 'gate' has no options {unknown}; known: {sorted(known | {'embedder', 'classifier'})}"
            )
        options = GateOptions(**{k: v for k, v in opts.items() if k in known})
        return LearnedGate(options, embedder=opts.get("embedder"), classifier=opts.get("classifier"))
    if mode == "wake":
        if not opts.get("name"):
            raise ValueError("mode 'wake' needs the assistant's name: make_policy('wake', name='omni')")
        unknown = sorted(set(opts) - {"name", "max_playback_overlap"})
        if unknown:
            raise ValueError(f"mode 'wake' has no options {unknown}; known: ['max_playback_overlap', 'name']")
        return WakeWordGate(**opts)
    if mode == "model":
        raise ValueError("mode 'model' is built per session around its backend context: ModelJudge(context)")
    raise ValueError(f"unknown gate mode {mode!r}; expected one of {MODES}")
