"""What the recognition models report for one frame. Boxes are in pixels of the frame they were found in."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass(frozen=True, slots=True)
class Label:
    """A class name from a model's own vocabulary (COCO-80, ImageNet-1k) with its score in 0..1."""

    name: str
    score: float


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found by a detector; ``labels`` are finer names for the same box from the image classifier."""

    label: str
    score: float
    box: Box
    source: str  # the model that found it, e.g. "nanodet"
    labels: tuple[Label, ...] = ()


@dataclass(frozen=True, slots=True)
class Person:
    """A person found by the people models: face and/or body; ``keypoints`` name -> (x, y, score) in pixels."""

    box: Box
    score: float
    face: Box | None = None
    keypoints: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    hands: tuple[Box, ...] = ()
