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
    answer_min_score: float = 0.45  # an open answer names a detected thing only when the detector was this sure
    log_entries: int = 20_000  # scene-log entries a stream keeps; the oldest go first
    motion_gap_s: float = 1.5  # movement resuming within this long continues the same logged spell of movement
    leave_after_s: float = 1.0  # an object unseen by the detector this long has left the view
