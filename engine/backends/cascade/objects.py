"""Objects in one frame as the cascade logs them: a concept, the model's own name, where it is and its own colour.

``seen_objects`` turns a detector's boxes (and the classifier's finer names for them) into ``SeenObject``s: the label
is mapped to a concept of the vocabulary, the box to words ("top left", "centre"), and the colour is read from the
pixels inside the box (its inner 60 %, so a round or thin object's background hardly counts), not from the frame.
A vessel (cup, bowl, glass, vase) is the exception: seen from above its middle is what it holds (coffee, soup), so its
colour is read from the ring around that middle, inside the ellipse the box bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.backends.cascade.colours import colour_names
from engine.backends.cascade.vocabulary import CONCEPTS, concept_of
from engine.vision.types import Box, Detection, Label

INNER = 0.6  # share of the box's width and height, around its centre, whose pixels give the object's colour
_COLOUR_THUMB = 24  # the inner part of the box is shrunk to at most this many pixels a side before classifying
SECOND_COLOUR = 0.3  # a second colour is named when it covers at least this share of the object
VESSELS = frozenset({"cup", "bowl", "wine glass", "vase"})  # their colour is their walls', not their contents'
OVERRIDE_SCORE = 0.45  # a classifier name of the same kind (animal, vehicle) this sure replaces the detector's class


@dataclass(frozen=True, slots=True)
class SeenObject:
    """One object: ``concept`` from the vocabulary (or the raw label), ``name`` the finest name a model gave it."""

    concept: str
    name: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as shares of the frame's width and height
    where: str
    colours: tuple[str, ...]
    palette: tuple[tuple[str, float], ...] = ()  # every colour name of its pixels with its share, largest first

    def describe(self) -> str:
        named = self.concept if self.name.lower() == self.concept else f"{self.concept} ({self.name})"
        colour = " and ".join(self.colours)
        return ", ".join(part for part in (named, colour, self.where) if part)


def where(cx: float, cy: float) -> str:
    """Words for a point given as shares of the frame: "top left", "bottom", "centre"..."""
    col = "left" if cx < 0.36 else "right" if cx > 0.64 else ""
    row = "top" if cy < 0.36 else "bottom" if cy > 0.64 else ""
    return " ".join(part for part in (row, col) if part) or "centre"


def object_palette(rgb: np.ndarray, box: Box, *, vessel: bool = False) -> tuple[tuple[str, float], ...]:
    """The colour names of the pixels inside ``box`` (its inner part; for a ``vessel`` the ring between the inner
    ellipse and the box's own) with the share each covers, largest first."""
    height, width = rgb.shape[:2]
    margin = 0.0 if vessel else (1 - INNER) / 2
    x0, x1 = max(0, int(box.x0 + box.width * margin)), min(width, int(np.ceil(box.x1 - box.width * margin)))
    y0, y1 = max(0, int(box.y0 + box.height * margin)), min(height, int(np.ceil(box.y1 - box.height * margin)))
    if x1 <= x0 or y1 <= y0:
        return ()
    crop = rgb[y0:y1, x0:x1]
    scale = min(1.0, (_COLOUR_THUMB / INNER if vessel else _COLOUR_THUMB) / max(crop.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    names = colour_names(cv2.cvtColor(crop, cv2.COLOR_RGB2HSV))
    if vessel:
        rows, cols = names.shape
        y, x = np.mgrid[0:rows, 0:cols]
        # squared distance from the centre in units of the half box: 1 on the box's ellipse, INNER² on the inner one
        r2 = ((x + 0.5) / cols * 2 - 1) ** 2 + ((y + 0.5) / rows * 2 - 1) ** 2
        names = names[(r2 >= INNER**2) & (r2 <= 1.0)]
    names, counts = np.unique(names, return_counts=True)
    if not counts.size:
        return ()
    order = np.argsort(-counts)
    return tuple((str(names[i]), round(float(counts[i] / counts.sum()), 3)) for i in order)


def object_colours(palette: tuple[tuple[str, float], ...]) -> tuple[str, ...]:
    """The object's colour names: the main one, and a second if it covers at least ``SECOND_COLOUR``."""
    return tuple(name for i, (name, share) in enumerate(palette[:2]) if i == 0 or share >= SECOND_COLOUR)


def _same_kind(a: str, b: str) -> bool:
    parents_a = CONCEPTS[a].parents if a in CONCEPTS else ()
    parents_b = CONCEPTS[b].parents if b in CONCEPTS else ()
    return bool(set(parents_a) & set(parents_b))


def name_object(label: str, finer: Sequence[Label]) -> tuple[str, str]:
    """(concept, finest name) of a detection: the classifier's first name of the same concept refines it; a sure
    classifier name of another concept of the same kind replaces it (a COCO detector calls a rabbit a bear)."""
    concept = concept_of(label) or label
    for candidate in finer:
        other = concept_of(candidate.name)
        name = candidate.name.split(",")[0].strip()  # ImageNet names list synonyms: "tabby, tabby cat"
        if other == concept:
            return concept, name
        if other is not None and candidate.score >= OVERRIDE_SCORE and _same_kind(other, concept):
            return other, name
    return concept, label


def seen_objects(
    rgb: np.ndarray, detections: Sequence[Detection], finer: dict[int, Sequence[Label]] | None = None
) -> tuple[SeenObject, ...]:
    """``detections`` of the RGB frame as logged objects; ``finer`` holds classifier labels by detection index
    (added to the detection's own ``labels``)."""
    height, width = rgb.shape[:2]
    found = []
    for index, detection in enumerate(detections):
        box = detection.box
        labels = (*detection.labels, *((finer or {}).get(index, ())))
        concept, name = name_object(detection.label, labels)
        shares = (box.x0 / width, box.y0 / height, box.x1 / width, box.y1 / height)
        cx, cy = box.centre
        palette = object_palette(rgb, box, vessel=concept in VESSELS)
        found.append(
            SeenObject(
                concept=concept,
                name=name,
                score=round(float(detection.score), 3),
                box=tuple(round(min(1.0, max(0.0, v)), 4) for v in shares),  # type: ignore[arg-type]
                where=where(cx / width, cy / height),
                colours=object_colours(palette),
                palette=palette,
            )
        )
    return tuple(found)
