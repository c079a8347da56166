"""A synthetic StreamingBench-format suite: short MP4 videos with audio, and annotation files in the official format.

``generate`` writes ``videos/gen_XXX.mp4`` and ``questions_real.json``, ``questions_omni.json``, ``questions_sqa.json``
and ``questions_proactive.json`` (same fields as the official files, ``video_path`` relative to the output folder),
plus the ``_stream`` variants of the first three with each question recorded as speech in ``audio/``.
Videos take turns being real-time, omni-source, SQA and proactive videos; six videos cover all 18 tasks.

Every video is cut into five slots with one question at the end of each. Within a slot the scene changes before the
question (a colour, a word, a count, an action …), so the answer is what holds *now*, and the earlier state is one of
the distractors; omni-source questions are answerable only from the speech or sounds of the audio track. Correct
letters are balanced (each block of four questions uses A–D once). Everything is drawn from ``seed``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streams.synth import noise, place, speak, tone, write_media, write_wav

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (40, 70, 230),
    "yellow": (240, 215, 30),
    "purple": (140, 50, 190),
    "orange": (245, 135, 20),
}
WORDS = (
    "APPLE", "RIVER", "CASTLE", "TIGER", "PLANET", "GARDEN", "ROCKET", "SILVER",
    "BRIDGE", "FOREST", "MARKET", "WINDOW", "CANDLE", "DRAGON", "ISLAND", "PENCIL",
)  # fmt: skip
SHAPES = ("circle", "square", "triangle", "star")
NAMES = ("ANNA", "BEN", "CARL", "DORA")
KINDS = ("real", "omni", "real", "omni", "sqa", "proactive")
REAL_TASKS = ("OP", "CR", "CS", "ATP", "EU", "TR", "PR", "SU", "ACP", "CT")
OMNI_TASKS = ("ER", "SCU", "SD", "MA", "ACU", "MCU")
FILE_TASK_NAMES = {
    "OP": "Object Recognition", "CR": "Causal Reasoning", "CS": "Clips Summarize", "ATP": "Attribute Recognition",
    "EU": "Event Understanding", "TR": "Text-Rich Understanding", "PR": "Prospective Reasoning",
    "SU": "Spatial Understanding", "ACP": "Action Recognition", "CT": "Counting", "ER": "Emotion Recognition",
    "SCU": "Scene Understanding", "SD": "Source Discrimination", "MA": "Multimodal Alignment",
    "ACU": "Anomaly Context Understanding", "MCU": "Misleading Context Understanding",
    "SQA": "Sequential Question Answering", "PO": "Proactive Output",
}  # fmt: skip


@dataclass(frozen=True)
class GenConfig:
    out: Path  # folder for the videos and the annotation JSON
    videos: int = 10  # number of videos
    seed: int = 0  # random seed: the same seed writes the same suite
    seconds: float = 40.0  # length of each video (five slots)
    size: tuple[int, int] = (320, 240)  # width, height
    fps: float = 6.0  # frame rate of the written videos
    noise: float = 0.003  # background noise (difficulty: masks speech)
    words_per_minute: int = 150  # speech rate (difficulty)
    kinds: tuple[str, ...] = KINDS  # the video kinds, taken in turn


@dataclass
class Text:
    t0: float
    t1: float
    text: str
    colour: str = "white"
    y: float = 0.25  # centre height as a fraction of the frame
    x: float = 0.5
    scale: float = 1.1
    box: tuple[int, int, int] | None = None


@dataclass
class Shape:
    t0: float
    t1: float
    kind: str
    colour: str
    xy0: tuple[float, float]
    xy1: tuple[float, float] | None = None
    size: float = 0.08
    motion: str = "still"  # still | path | bounce | slide | pulse


@dataclass
class Scene:
    """What one video shows and plays, and its questions."""

    rng: np.random.Generator
    config: GenConfig
    texts: list[Text] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    clips: list[tuple[float, np.ndarray]] = field(default_factory=list)
    voice_turn: int = 0

    def pick(self, pool: Any, n: int, exclude: Any = ()) -> list[Any]:
        choices = [x for x in pool if x not in exclude]
        return [choices[i] for i in self.rng.permutation(len(choices))[:n]]

    def say(
        self, start: float, latest_end: float, text: str, voice: str = "en-us", pitch: int = 50, earliest: float = 0.0
    ) -> tuple[float, float]:
        """Speech placed at ``start``, moved earlier (not before ``earliest``) when it would end after ``latest_end``;
        returns its start and end."""
        clip = speak(text, voice=voice, words_per_minute=self.config.words_per_minute, pitch=pitch)
        begin = max(earliest, min(start, latest_end - len(clip) / 16_000))
        begin = max(0.0, min(begin, self.config.seconds - len(clip) / 16_000 - 0.05))  # inside the track
        self.clips.append((begin, clip))
        return begin, begin + len(clip) / 16_000


@dataclass(frozen=True)
class Slot:
    start: float
    at: int  # question time (whole seconds)

    @property
    def mid(self) -> float:
        return (self.start + self.at) / 2


@dataclass
class Question:
    task: str
    text: str
    options: list[str]  # the correct option first
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- real-time visual tasks


def _a(word: str) -> str:
    return f"{'An' if word[0] in 'aeiou' else 'A'} {word}"


def _op(s: Scene, slot: Slot) -> Question:
    before, now, *others = s.pick(SHAPES, 4)
    colour = s.pick(COLOURS, 1)[0]
    s.shapes.append(Shape(slot.start, slot.mid, before, colour, (0.5, 0.6), size=0.14))
    s.shapes.append(Shape(slot.mid, slot.at + 1, now, colour, (0.5, 0.6), size=0.14))
    return Question(
        "OP", "Which shape is shown in the middle of the screen right now?", [f"A {x}." for x in (now, before, *others)]
    )


def _cr(s: Scene, slot: Slot) -> Question:
    trigger = s.pick(("POWER ON", "SWITCH ON", "START"), 1)[0]
    lamp = s.pick(COLOURS, 1)[0]
    s.texts.append(Text(slot.start + 1, slot.at + 1, trigger, y=0.2))
    s.shapes.append(Shape(slot.start, slot.start + 2, "circle", "gray", (0.5, 0.62), size=0.12))
    s.shapes.append(Shape(slot.start + 2, slot.at + 1, "circle", lamp, (0.5, 0.62), size=0.12))
    return Question(
        "CR",
        "Why did the lamp in the middle light up just now?",
        [
            f'Because the sign "{trigger}" appeared first.',
            "Because a ball rolled into it.",
            "Because the screen went dark.",
            "Because someone clapped twice.",
        ],
    )


def _cs(s: Scene, slot: Slot) -> Question:
    w = s.pick(WORDS, 4)
    third = (slot.at - slot.start) / 3
    for k in range(3):
        s.texts.append(Text(slot.start + k * third, slot.start + (k + 1) * third, w[k], y=0.5, scale=1.3))
    orders = [(0, 1, 2), (1, 0, 2), (2, 1, 0), (0, 3, 2)]
    return Question(
        "CS",
        "Which words were shown on the screen just now, in order?",
        [", ".join(w[i] for i in o) + "." for o in orders],
    )


def _atp(s: Scene, slot: Slot) -> Question:
    before, now, *others = s.pick(COLOURS, 4)
    s.shapes.append(Shape(slot.start, slot.mid, "square", before, (0.5, 0.6), size=0.15))
    s.shapes.append(Shape(slot.mid, slot.at + 1, "square", now, (0.5, 0.6), size=0.15))
    return Question(
        "ATP", "What colour is the square right now?", [c.capitalize() + "." for c in (now, before, *others)]
    )


_DIRECTIONS = {
    "from left to right": ((0.1, 0.6), (0.9, 0.6)),
    "from right to left": ((0.9, 0.6), (0.1, 0.6)),
    "from top to bottom": ((0.5, 0.15), (0.5, 0.9)),
    "from bottom to top": ((0.5, 0.9), (0.5, 0.15)),
}


def _eu(s: Scene, slot: Slot) -> Question:
    way, *others = s.pick(_DIRECTIONS, 4)
    colour, other = s.pick(COLOURS, 2)
    a, b = _DIRECTIONS[way]
    s.shapes.append(Shape(slot.start + 1, slot.at, "circle", colour, a, b, size=0.07, motion="path"))
    ball, other_ball = _a(colour), _a(other)
    options = [f"{ball} ball moved {way}.", f"{ball} ball moved {others[0]}.", f"{other_ball} ball moved {way}."]
    return Question("EU", "What happened on the screen just now?", [*options, f"{ball} ball moved {others[1]}."])


def _tr(s: Scene, slot: Slot) -> Question:
    before, now, *others = s.pick(WORDS, 4)
    s.texts.append(Text(slot.start, slot.mid, before, y=0.45, scale=1.4))
    s.texts.append(Text(slot.mid, slot.at + 1, now, y=0.45, scale=1.4))
    return Question("TR", "What word is written on the screen right now?", [f'"{w}".' for w in (now, before, *others)])


_EDGES = {"right": (0.92, 0.55), "left": (0.08, 0.55), "top": (0.5, 0.1), "bottom": (0.5, 0.92)}


def _pr(s: Scene, slot: Slot) -> Question:
    colours = s.pick(COLOURS, 4)
    boxes = dict(zip(_EDGES, colours, strict=True))
    for edge, colour in boxes.items():
        s.shapes.append(Shape(slot.start, slot.at + 1, "square", colour, _EDGES[edge], size=0.06))
    edge = s.pick(_EDGES, 1)[0]
    x, y = _EDGES[edge]
    towards = (0.5 + (x - 0.5) * 0.55, 0.55 + (y - 0.55) * 0.55)
    s.shapes.append(Shape(slot.start + 1, slot.at + 1, "circle", "white", (0.5, 0.55), towards, 0.04, "path"))
    answer = boxes[edge]
    return Question(
        "PR",
        "The white ball keeps moving the same way. Which coloured box will it reach?",
        [f"The {c} box." for c in (answer, *[c for c in colours if c != answer])],
    )


_RELATIONS = {"left of": ((0.3, 0.6), (0.7, 0.6)), "right of": ((0.7, 0.6), (0.3, 0.6)),
              "above": ((0.5, 0.3), (0.5, 0.8)), "below": ((0.5, 0.8), (0.5, 0.3))}  # fmt: skip


def _su(s: Scene, slot: Slot) -> Question:
    before, now = s.pick(_RELATIONS, 2)
    c1, c2 = s.pick(COLOURS, 2)
    for rel, t0, t1 in ((before, slot.start, slot.mid), (now, slot.mid, slot.at + 1)):
        p1, p2 = _RELATIONS[rel]
        s.shapes.append(Shape(t0, t1, "square", c1, p1, size=0.08))
        s.shapes.append(Shape(t0, t1, "circle", c2, p2, size=0.08))
    rest = [r for r in _RELATIONS if r not in (now, before)]
    return Question(
        "SU",
        f"Where is the {c1} square relative to the {c2} circle right now?",
        [f"It is {r} the circle." for r in (now, before, *rest)],
    )


_ACTIONS = {"bouncing up and down": "bounce", "sliding left and right": "slide", "growing and shrinking": "pulse",
            "standing still": "still"}  # fmt: skip


def _acp(s: Scene, slot: Slot) -> Question:
    now = s.pick([a for a in _ACTIONS if a != "standing still"], 1)[0]
    colour = s.pick(COLOURS, 1)[0]
    s.shapes.append(Shape(slot.start, slot.mid, "circle", colour, (0.5, 0.6), size=0.08))
    s.shapes.append(Shape(slot.mid, slot.at + 1, "circle", colour, (0.5, 0.6), size=0.08, motion=_ACTIONS[now]))
    rest = [a for a in _ACTIONS if a not in (now, "standing still")]
    return Question(
        "ACP", f"What is the {colour} ball doing right now?", [f"It is {a}." for a in (now, "standing still", *rest)]
    )


def _ct(s: Scene, slot: Slot) -> Question:
    before, now = (int(n) for n in s.pick(range(1, 7), 2))
    colour = s.pick(COLOURS, 1)[0]
    for n, t0, t1 in ((before, slot.start, slot.mid), (now, slot.mid, slot.at + 1)):
        for k in range(n):
            s.shapes.append(Shape(t0, t1, "star", colour, (0.12 + 0.15 * k, 0.6 + 0.12 * (k % 2)), size=0.06))
    rest = s.pick(range(1, 8), 2, exclude=(now, before))
    return Question(
        "CT", f"How many {colour} stars are on the screen right now?", [f"{n}." for n in (now, before, *rest)]
    )


# ---------------------------------------------------------------- omni-source and contextual tasks

_EMOTIONS = {
    "Happy": "I just won the big prize, this is the best day of my life!",
    "Sad": "My old dog is gone and I miss him so much.",
    "Angry": "This is unacceptable, I am furious, stop lying to me!",
    "Afraid": "Help, something is moving in the dark, I am terrified!",
}
_SCENES = {
    "On an airplane": "Please fasten your seat belts, we are about to take off.",
    "In a kitchen": "Stir the soup slowly and put the bread in the oven.",
    "In a classroom": "Open your textbooks to page ten and listen carefully, students.",
    "At a train station": "The train to the city now leaves from platform four.",
    "In a hospital": "The doctor will see the patient in room six now.",
}


def _face(s: Scene, slot: Slot) -> None:
    s.shapes.append(Shape(slot.start, slot.at + 1, "circle", "gray", (0.5, 0.55), size=0.16))


def _er(s: Scene, slot: Slot) -> Question:
    feeling, *others = s.pick(_EMOTIONS, 4)
    _face(s, slot)
    s.say(slot.start + 0.5, slot.at - 1.5, _EMOTIONS[feeling])
    return Question("ER", "What emotion does the speaker express just now?", [f"{e}." for e in (feeling, *others)])


def _scu(s: Scene, slot: Slot) -> Question:
    where, *others = s.pick(_SCENES, 4)
    s.texts.append(Text(slot.start, slot.at + 1, "LIVE", y=0.15, scale=0.8))
    s.say(slot.start + 0.5, slot.at - 1.5, _SCENES[where])
    return Question(
        "SCU",
        "From what is heard and seen, where is this scene most likely taking place?",
        [f"{w}." for w in (where, *others)],
    )


def _sd(s: Scene, slot: Slot) -> Question:
    speaker, other, *rest = s.pick(NAMES, 4)
    sentences = s.pick(("The key is under the mat.", "We meet at noon tomorrow.", "The blue car is mine.",
                        "Dinner is ready now."), 2)  # fmt: skip
    xs = {name: 0.15 + 0.23 * k for k, name in enumerate(NAMES)}
    for name, x in xs.items():
        s.texts.append(Text(slot.start, slot.at + 1, name, x=x, y=0.75, scale=0.6))
    start1, end1 = s.say(slot.start + 0.3, slot.mid, sentences[0], voice="en-us", pitch=30)
    s.shapes.append(Shape(start1, end1, "square", "yellow", (xs[other], 0.55), size=0.06))
    start2, end2 = s.say(end1 + 0.8, slot.at - 1.0, sentences[1], voice="en-us+f3", pitch=70, earliest=end1 + 0.8)
    s.shapes.append(Shape(start2, end2, "square", "yellow", (xs[speaker], 0.55), size=0.06))
    return Question(
        "SD",
        f'A yellow light shows who is talking. Who said "{sentences[1].rstrip(".")}"?',
        [f"{n}." for n in (speaker, other, *rest)],
    )


def _ma(s: Scene, slot: Slot) -> Question:
    spoken = s.pick(WORDS, 4)
    colours = s.pick(COLOURS, 2)
    quarter = (slot.at - slot.start) / 4
    for k, colour in enumerate(colours):
        t0 = slot.start + 0.3 + 2 * k * quarter
        s.shapes.append(Shape(t0, t0 + 1.6 * quarter, "circle", colour, (0.3 + 0.4 * k, 0.55), size=0.1))
        s.say(t0, t0 + 1.6 * quarter, spoken[k].lower())
    target = int(s.rng.integers(2))
    options = [spoken[target], spoken[1 - target], spoken[2], spoken[3]]
    return Question(
        "MA", f"Which word was spoken when the {colours[target]} circle appeared?", [f'"{w.lower()}".' for w in options]
    )


def _acu(s: Scene, slot: Slot) -> Question:
    sign = s.pick(("QUIET PLEASE", "LIBRARY", "SILENCE"), 1)[0]
    s.texts.append(Text(slot.start, slot.at + 1, sign, y=0.3))
    s.clips.append((slot.mid, tone(float(s.rng.choice([880.0, 1200.0])), 1.5, 0.5)))
    return Question(
        "ACU",
        "What was unusual in the scene just now?",
        [
            f'A loud beeping alarm sounded under the "{sign}" sign.',
            "The sign was written upside down.",
            "All the lights went out.",
            "Nothing unusual happened.",
        ],
    )


def _mcu(s: Scene, slot: Slot) -> Question:
    true, said, *others = s.pick(COLOURS, 4)
    s.shapes.append(Shape(slot.start, slot.at + 1, "circle", true, (0.5, 0.55), size=0.14))
    s.say(slot.start + 0.5, slot.at - 1.5, f"Look, the light on the screen is {said} now.")
    return Question(
        "MCU", "What colour is the light on the screen now?", [f"{c.capitalize()}." for c in (true, said, *others)]
    )


BUILDERS: dict[str, Callable[[Scene, Slot], Question]] = {
    "OP": _op, "CR": _cr, "CS": _cs, "ATP": _atp, "EU": _eu, "TR": _tr, "PR": _pr, "SU": _su, "ACP": _acp, "CT": _ct,
    "ER": _er, "SCU": _scu, "SD": _sd, "MA": _ma, "ACU": _acu, "MCU": _mcu,
}  # fmt: skip


def _sqa(s: Scene, slots: list[Slot]) -> list[Question]:
    words = s.pick(WORDS, 8)
    colours = [s.pick(COLOURS, 1)[0] for _ in slots]
    for k, slot in enumerate(slots):
        s.texts.append(
            Text(slot.start, slot.at + 1, words[k], colour=colours[k], y=0.45, scale=1.4, box=(235, 235, 235))
        )
    other_colours = s.pick(COLOURS, 3, exclude=(colours[0],))
    return [
        Question(
            "SQA",
            "What word is written on the screen now?",
            [f'"{w}".' for w in (words[0], words[5], words[6], words[1])],
        ),
        Question(
            "SQA",
            "In what colour was the word from your previous answer written?",
            [f"{c.capitalize()}." for c in (colours[0], *other_colours)],
        ),
        Question(
            "SQA",
            "What word is written on the screen now?",
            [f'"{w}".' for w in (words[2], words[1], words[7], words[3])],
        ),
        Question(
            "SQA",
            "Which word was shown just before the word from your previous answer?",
            [f'"{w}".' for w in (words[1], words[0], words[3], words[5])],
        ),
        Question(
            "SQA",
            "What word is written on the screen now?",
            [f'"{w}".' for w in (words[4], words[3], words[2], words[6])],
        ),
    ]


def _proactive(s: Scene, slots: list[Slot]) -> list[Question]:
    out = []
    for slot in slots:
        target, *before = s.pick(WORDS, 3)
        due = int(slot.start) + int(s.rng.integers(3, max(4, slot.at - int(slot.start) - 1)))
        s.texts.append(Text(slot.start, slot.start + 1.5, before[0], y=0.45, scale=1.4))
        s.texts.append(Text(slot.start + 1.5, due, before[1], y=0.45, scale=1.4))
        s.texts.append(Text(due, slot.at + 1, target, y=0.45, scale=1.4))
        q = Question("PO", f'When the word "{target}" appears on the screen, output "{target.lower()}".', [])
        q.extra = {"time_stamp": int(slot.start), "ground_truth_time_stamp": due, "ground_truth_output": target.lower()}
        out.append(q)
    return out


# ---------------------------------------------------------------- drawing


def _rgb(name: str) -> tuple[int, int, int]:
    return COLOURS.get(name) or {"white": (245, 245, 245), "gray": (130, 130, 130)}[name]


def _draw_shape(img: np.ndarray, shape: Shape, t: float) -> None:
    h, w = img.shape[:2]
    x, y = shape.xy0
    if shape.motion == "path" and shape.xy1 is not None:
        f = min(1.0, max(0.0, (t - shape.t0) / max(1e-6, shape.t1 - shape.t0)))
        x, y = x + (shape.xy1[0] - x) * f, y + (shape.xy1[1] - y) * f
    size = shape.size
    phase = math.sin(2 * math.pi * 0.8 * (t - shape.t0))
    if shape.motion == "bounce":
        y += 0.15 * phase
    elif shape.motion == "slide":
        x += 0.2 * phase
    elif shape.motion == "pulse":
        size *= 1 + 0.5 * phase
    cx, cy, r = int(x * w), int(y * h), max(3, int(size * h))
    colour = _rgb(shape.colour)
    if shape.kind == "circle":
        cv2.circle(img, (cx, cy), r, colour, -1, cv2.LINE_AA)
    elif shape.kind == "square":
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), colour, -1)
    else:
        n = 3 if shape.kind == "triangle" else 10
        radii = [r if shape.kind == "triangle" or k % 2 == 0 else r * 0.45 for k in range(n)]
        pts = [
            (cx + rr * math.sin(2 * math.pi * k / n), cy - rr * math.cos(2 * math.pi * k / n))
            for k, rr in enumerate(radii)
        ]
        cv2.fillPoly(img, [np.array(pts, np.int32)], colour, cv2.LINE_AA)


def _draw_text(img: np.ndarray, text: Text) -> None:
    h, w = img.shape[:2]
    scale = text.scale * w / 320
    thick = max(1, round(2 * w / 320))
    (tw, th), base = cv2.getTextSize(text.text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = int(text.x * w - tw / 2), int(text.y * h + th / 2)
    if text.box is not None:
        cv2.rectangle(img, (x - 6, y - th - 6), (x + tw + 6, y + base + 4), text.box, -1)
    cv2.putText(img, text.text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, _rgb(text.colour), thick, cv2.LINE_AA)


def _frames(scene: Scene, background: tuple[int, int, int]) -> Any:
    w, h = scene.config.size
    for n in range(round(scene.config.seconds * scene.config.fps)):
        t = n / scene.config.fps
        img = np.empty((h, w, 3), np.uint8)
        img[:] = background
        for shape in scene.shapes:
            if shape.t0 <= t < shape.t1:
                _draw_shape(img, shape, t)
        for text in scene.texts:
            if text.t0 <= t < text.t1:
                _draw_text(img, text)
        yield img


# ---------------------------------------------------------------- files


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def window(start: float, end: float) -> str:
    s, e = int(start), int(end)
    return f"[{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d} - {e // 3600}:{e // 60 % 60:02d}:{e % 60:02d}]"


class Letters:
    """Balanced answer letters: every block of four questions uses A, B, C and D once, in a seeded order."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.block: list[int] = []

    def next(self) -> int:
        if not self.block:
            self.block = [int(i) for i in self.rng.permutation(4)]
        return self.block.pop()


def _choice_record(q: Question, slot: Slot, letters: Letters, rng: np.random.Generator, prefix: bool) -> dict[str, Any]:
    target = letters.next()
    distractors = [q.options[1 + int(i)] for i in rng.permutation(len(q.options) - 1)]
    options = [*distractors[:target], q.options[0], *distractors[target:]]
    return {
        "task_type": FILE_TASK_NAMES[q.task],
        "question": q.text,
        "time_stamp": clock(slot.at),
        "answer": "ABCD"[target],
        "options": [f"{'ABCD'[i]}. {o}" if prefix else o for i, o in enumerate(options)],
        "required_ability": "working memory",
    }


_STREAM_FILES = ("real_stream", "omni_stream", "sqa_stream")


def _stream_entry(
    root: Path, kind: str, video: int, name: str, entries: list[Any], config: GenConfig
) -> dict[str, Any]:
    """The ``_stream`` variant of one video: its questions nested, each with its window and a recording of it."""
    (root / "audio" / kind).mkdir(parents=True, exist_ok=True)
    questions = []
    for entry in entries:
        (record,) = entry["questions"]
        audio_path = f"audio/{kind}/gen_{video:03d}_{record['time_stamp'].replace(':', '_')}.wav"
        write_wav(root / audio_path, speak(record["question"], words_per_minute=config.words_per_minute))
        questions.append({**record, "audio_path": audio_path, "time": entry["time"]})
    return {"questions": questions, "video_path": name}


def _slots(seconds: float) -> list[Slot]:
    length = seconds / 5
    return [Slot(k * length, int((k + 1) * length) - 1) for k in range(5)]


def generate(config: GenConfig) -> list[Path]:
    """Write the suite; returns the annotation files written."""
    if config.seconds < 30:
        raise ValueError(f"seconds must be at least 30 (five slots of 6 s), got {config.seconds}")
    if config.size[0] % 2 or config.size[1] % 2 or min(config.size) < 64:
        raise ValueError(f"size must be even and at least 64 px, got {config.size}")
    root = Path(config.out)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    letters = Letters(rng)
    files: dict[str, list[Any]] = {k: [] for k in ("real", "omni", "sqa", "proactive", *_STREAM_FILES)}
    task_turn = {"real": 0, "omni": 0}
    for v in range(config.videos):
        kind = config.kinds[v % len(config.kinds)]
        scene = Scene(np.random.default_rng([config.seed, v]), config)
        slots = _slots(config.seconds)
        name = f"videos/gen_{v:03d}_{kind}.mp4"
        first = len(files[kind])
        if kind in ("real", "omni"):
            pool = REAL_TASKS if kind == "real" else OMNI_TASKS
            for slot in slots:
                code = pool[task_turn[kind] % len(pool)]
                task_turn[kind] += 1
                q = BUILDERS[code](scene, slot)
                record = _choice_record(q, slot, letters, rng, prefix=True)
                files[kind].append(
                    {
                        "time": window(slot.start, slot.at),
                        "questions": [record],
                        "video_categories": "synthetic",
                        "video_path": name,
                    }
                )
        elif kind == "sqa":
            entries = []
            for k, (q, slot) in enumerate(zip(_sqa(scene, slots), slots, strict=True)):
                record = _choice_record(q, slot, letters, rng, prefix=k % 2 == 0)  # the official file mixes both
                entries.append(
                    {
                        "time": window(slot.start, slot.at),
                        "questions": [record],
                        "video_categories": "synthetic",
                        "video_path": name,
                    }
                )
            files["sqa"].append(entries)
        else:
            for q, slot in zip(_proactive(scene, slots), slots, strict=True):
                record = {
                    "task_type": FILE_TASK_NAMES["PO"],
                    "question": q.text,
                    "time_stamp": clock(q.extra["time_stamp"]),
                    "ground_truth_time_stamp": clock(q.extra["ground_truth_time_stamp"]),
                    "ground_truth_output": q.extra["ground_truth_output"],
                    "required_ability": "working memory",
                }
                files["proactive"].append(
                    {
                        "time": window(slot.start, slot.at + 1),
                        "questions": [record],
                        "video_categories": "synthetic",
                        "video_path": name,
                    }
                )
        if kind in ("real", "omni", "sqa"):
            entries = files[kind][first:] if kind != "sqa" else files["sqa"][-1]
            files[f"{kind}_stream"].append(_stream_entry(root, kind, v, name, entries, config))
        audio = place(config.seconds, scene.clips) + noise(config.seconds, config.noise, seed=config.seed * 1000 + v)
        background = tuple(int(c) for c in scene.rng.integers(20, 70, size=3))
        write_media(root / name, _frames(scene, background), config.fps, audio=np.clip(audio, -1.0, 1.0))
    written = []
    for kind, data in files.items():
        if data:
            path = root / f"questions_{kind}.json"
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
            written.append(path)
    return written
