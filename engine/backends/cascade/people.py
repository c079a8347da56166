"""What the body keypoints of a person support saying: a raised hand, sitting or standing, and where they are.

Facts are stated only when the keypoints they rest on were found with at least ``MIN_KEYPOINT`` confidence:
- a hand is raised when a wrist is above its shoulder by at least a fifth of the torso's length;
- standing: hips above knees above ankles, each thigh and shin close to upright (within 35 degrees);
- sitting: a thigh closer to horizontal than to vertical (more than 55 degrees from upright) with the knee not far
  below the hip.
Keypoint names follow MediaPipe/COCO: ``left_shoulder``, ``right_wrist``, ``left_hip``, ``left_knee``,
``left_ankle``. Image y grows downwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.backends.cascade.objects import where
from engine.vision.types import Person

MIN_KEYPOINT = 0.5
RAISED = 0.2  # share of the torso length a wrist must be above the shoulder
UPRIGHT_DEG = 35.0
SEATED_DEG = 55.0


@dataclass(frozen=True, slots=True)
class SeenPerson:
    where: str
    facts: tuple[str, ...]  # e.g. ("raising a hand", "standing")
    face: bool
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 as shares of the frame (None: not known)

    def describe(self) -> str:
        return ", ".join(
            (f"a person {self.where}" if self.where != "centre" else "a person in the centre", *self.facts)
        )


def _point(person: Person, name: str) -> tuple[float, float] | None:
    found = person.keypoints.get(name)
    if found is None or found[2] < MIN_KEYPOINT:
        return None
    return found[0], found[1]


def _from_upright(top: tuple[float, float], bottom: tuple[float, float]) -> float:
    """Angle in degrees of the segment top→bottom away from pointing straight down (0 = upright)."""
    dx, dy = bottom[0] - top[0], bottom[1] - top[1]
    return math.degrees(math.atan2(abs(dx), dy))  # dy < 0 (pointing up) gives > 90


def pose_facts(person: Person) -> tuple[str, ...]:
    facts: list[str] = []
    torso = []
    for side in ("left", "right"):
        shoulder, hip = _point(person, f"{side}_shoulder"), _point(person, f"{side}_hip")
        if shoulder and hip:
            torso.append(math.dist(shoulder, hip))
    length = max(torso) if torso else None
    raised = []
    for side in ("left", "right"):
        shoulder, wrist = _point(person, f"{side}_shoulder"), _point(person, f"{side}_wrist")
        if length and shoulder and wrist and shoulder[1] - wrist[1] >= RAISED * length:
            raised.append(side)
    if raised:
        facts.append("raising both hands" if len(raised) == 2 else "raising a hand")
    legs = []
    for side in ("left", "right"):
        hip, knee, ankle = (_point(person, f"{side}_{part}") for part in ("hip", "knee", "ankle"))
        if hip and knee:
            legs.append((_from_upright(hip, knee), _from_upright(knee, ankle) if ankle else None))
    if legs and length:
        if all(thigh <= UPRIGHT_DEG and shin is not None and shin <= UPRIGHT_DEG for thigh, shin in legs):
            facts.append("standing")
        elif any(SEATED_DEG < thigh < 120 for thigh, _ in legs):
            facts.append("sitting")
    return tuple(facts)


def seen_people(people: list[Person], width: int, height: int) -> tuple[SeenPerson, ...]:
    found = []
    for person in people:
        cx, cy = person.box.centre
        box = (person.box.x0 / width, person.box.y0 / height, person.box.x1 / width, person.box.y1 / height)
        found.append(SeenPerson(where(cx / width, cy / height), pose_facts(person), person.face is not None, box))
    return tuple(found)
