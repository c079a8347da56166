"""The cascade backend's options: what one context perceives and how much of it a question is answered from."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.backends.cascade.perception import PerceptionConfig


@dataclass(frozen=True, slots=True)
class CascadeOptions:
    """Taken by ``CascadeBackend.open_context`` (None: these defaults)."""

    perception: PerceptionConfig = field(default_factory=PerceptionConfig)  # what perception runs, and how often
    evidence_limit: int = 12  # observation entries put in front of the model per question
    present_s: float = 1.5  # an observation still seen this close to the question's time counts as "now"
