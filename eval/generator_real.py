"""A StreamingBench-format suite made of real photos (``eval/photos.py``): ``omnistream gen-bench-real``.

Each video is 30 s (or ``seconds``) of real pictures: a photo held while the view pans and zooms over it, hard cuts
between photos, two photos side by side, or several copies of one photo in a grid. Four kinds of video take turns:

- ``sequence``: four photos one after another — object perception, attribute (the named object's colour),
  text-rich (the title of a printed page) and episodic questions ("What was shown just before the cat?");
- ``pairs``: three pairs of photos side by side — spatial questions ("What is on the right side of the screen?");
- ``count``: one photo in 1–4 copies, the number changing every 10 s — counting;
- ``proactive``: "Tell me when a cat appears." typed before the cat cuts in (official proactive format:
  ``ground_truth_time_stamp`` is the cut, ``ground_truth_output`` the object's name), and one perception question.

Multiple choice (four options, balanced letters) goes to ``questions_real.json``, instructions to
``questions_proactive.json``, and open questions ("What is written on the screen?", "What do you see right now?",
"How many cats do you see?" …) to ``questions_open.json``: the same entry format without options, each question
carrying ``scene``, the ground truth of everything shown from the start of its context window to its time (things
with their colours and counts, other things visible, colours, legible text) for the grounding audit
(``eval/grounding.py``). ``scenes.json`` lists every segment of every video with its photos and ground truth.
Everything is drawn from ``seed``; the same seed writes the same files and the same pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from eval.generator import FILE_TASK_NAMES, Letters, clock, window
from eval.photos import ANIMALS_NOT_SHOWN, COLOUR_NAMES, OBJECT_TITLES_NOT_SHOWN, PHOTOS, load_photo
from streams.synth import write_media

KINDS = ("sequence", "pairs", "count", "proactive")
OPEN_TASK = "Open Question"
CONTEXT_S = 60.0  # the leaderboard's context: an open question's scene is what was shown in the last 60 s
BACKGROUND = (40, 40, 40)
# How a question names each photo's subject, and which thing its colour question is about.
NOUN = {
    "chelsea": "cat",
    "coffee": "cup of coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "motorcycle": "motorcycle",
    "horse": "horse",
    "camera": "man with the camera",
    "page": "page of text",
    "hubble_deep_field": "photo of galaxies",
    "immunohistochemistry": "tissue sample",
}
COLOUR_OF = {
    "chelsea": ("cat", "cat"),
    "coffee": ("cup", "cup"),
    "astronaut": ("astronaut's spacesuit", "spacesuit"),
    "rocket": ("rocket", "rocket"),
    "motorcycle": ("motorcycle", "motorcycle"),
    "horse": ("horse", "horse"),
}
COUNTABLE = {"chelsea": "cats", "coffee": "cups", "astronaut": "people", "motorcycle": "motorcycles"}
RECOGNISABLE = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle", "horse", "camera", "page")
NO_LABEL = ("hubble_deep_field", "immunohistochemistry")  # nothing a COCO/ImageNet model names: open questions only
PAIR_POOL = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle", "horse", "camera")
TARGETS = {
    "cat": ("chelsea",),
    "person": ("astronaut", "camera"),
    "motorcycle": ("motorcycle",),
    "cup": ("coffee",),
    "horse": ("horse",),
}
PAGE_QUESTIONS = (
    (
        "What is the title of the page on the screen?",
        ('"Region-based segmentation".', '"Edge detection".', '"Image restoration".', '"Colour histograms".'),
    ),
    (
        'Which word comes right after "Region-based" in the title on the screen?',
        ('"segmentation".', '"detection".', '"filtering".', '"clustering".'),
    ),
    (
        "What does the page say the markers are found at?",
        (
            "The two extreme parts of the histogram.",
            "The centre of each coin.",
            "The edges of the image.",
            "The brightest pixel of each row.",
        ),
    ),
)


@dataclass(frozen=True)
class RealGenConfig:
    out: Path  # folder for the videos and the annotation JSON
    videos: int = 12  # number of videos (kinds taken in turn: sequence, pairs, count, proactive)
    seed: int = 0  # random seed: the same seed writes the same suite
    seconds: float = 30.0  # length of each video
    size: tuple[int, int] = (480, 360)  # width, height
    fps: float = 4.0  # frame rate of the written videos
    kinds: tuple[str, ...] = KINDS


@dataclass(frozen=True)
class Panel:
    """One photo drawn into a cell of the frame (fractions), zooming ``zoom[0]`` → ``zoom[1]`` around a centre that
    moves ``centre[0]`` → ``centre[1]`` (fractions of the photo) over its segment."""

    photo: str
    cell: tuple[float, float, float, float]
    zoom: tuple[float, float] = (1.0, 1.0)
    centre: tuple[tuple[float, float], tuple[float, float]] = ((0.5, 0.5), (0.5, 0.5))


@dataclass
class Segment:
    t0: float
    t1: float
    layout: str  # photo | pair | grid
    panels: list[Panel]

    def truth(self) -> dict[str, Any]:
        """What this segment shows: things (label → own colours, where in the frame), counts, other things visible,
        colours and legible text."""
        things: dict[str, dict[str, Any]] = {}
        counts: dict[str, int] = {}
        also: set[str] = set()
        colours: set[str] = set()
        text: list[str] = []
        for panel in self.panels:
            photo = PHOTOS[panel.photo]
            for thing in photo.things:
                entry = things.setdefault(thing.label, {"colours": [], "where": []})
                entry["colours"] += [c for c in thing.colours if c not in entry["colours"]]
                where = _where(panel, thing.box)
                if where not in entry["where"]:
                    entry["where"].append(where)
                counts[thing.label] = counts.get(thing.label, 0) + 1
            also.update(photo.also)
            colours.update(photo.colours)
            text += [line for line in photo.text if line not in text]
        return {
            "photos": [p.photo for p in self.panels],
            "things": things,
            "counts": counts,
            "also": sorted(also),
            "colours": sorted(colours),
            "text": text,
        }


def _where(panel: Panel, box: tuple[float, float, float, float]) -> str:
    """Where a thing's centre lies in the frame, in words (left / centre / right)."""
    x0, _, x1, _ = panel.cell
    cx = x0 + (x1 - x0) * (box[0] + box[2]) / 2
    return "left" if cx < 0.4 else "right" if cx > 0.6 else "centre"


@dataclass
class Video:
    kind: str
    segments: list[Segment] = field(default_factory=list)
    choice: list[dict[str, Any]] = field(default_factory=list)  # (time, task, question, options correct first)
    open: list[dict[str, Any]] = field(default_factory=list)
    proactive: list[dict[str, Any]] = field(default_factory=list)

    def at(self, t: float) -> Segment:
        return next(s for s in self.segments if s.t0 <= t < s.t1)

    def scene(self, t: float) -> dict[str, Any]:
        """The ground truth of everything shown from ``t`` − 60 s to ``t``: per segment truths merged (counts keep
        every value seen, so "two cats" is grounded if two cats were on screen at some point)."""
        shown = [s for s in self.segments if s.t0 <= t and s.t1 > t - CONTEXT_S]
        merged: dict[str, Any] = {"things": {}, "counts": {}, "also": set(), "colours": set(), "text": []}
        for segment in shown:
            truth = segment.truth()
            for label, entry in truth["things"].items():
                into = merged["things"].setdefault(label, {"colours": [], "where": []})
                into["colours"] += [c for c in entry["colours"] if c not in into["colours"]]
                into["where"] += [w for w in entry["where"] if w not in into["where"]]
            for label, n in truth["counts"].items():
                seen = merged["counts"].setdefault(label, [])
                if n not in seen:
                    seen.append(n)
            merged["also"].update(truth["also"])
            merged["colours"].update(truth["colours"])
            merged["text"] += [line for line in truth["text"] if line not in merged["text"]]
        merged["also"], merged["colours"] = sorted(merged["also"]), sorted(merged["colours"])
        merged["from_s"], merged["to_s"] = max(0.0, t - CONTEXT_S), t
        return merged

    def ask(self, t: int, task: str, question: str, options: list[str]) -> None:
        self.choice.append({"t": t, "task": task, "question": question, "options": options})

    def ask_open(self, t: int, question: str) -> None:
        self.open.append({"t": t, "question": question})


class _Draw:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, pool: Any, n: int, exclude: Any = ()) -> list[Any]:
        choices = [x for x in pool if x not in exclude]
        if len(choices) < n:
            raise ValueError(f"cannot pick {n} of {choices}")
        return [choices[i] for i in self.rng.permutation(len(choices))[:n]]

    def motion(self, photo: str, cell: tuple[float, float, float, float]) -> Panel:
        """A slow zoom in or out (up to 1.25×) with a drift of the centre: the picture moves but its subject stays in
        view. A photo of text zooms out and back (to 0.8×) instead, so that no line is cut at the edge."""
        z = float(self.rng.uniform(1.1, 1.25))
        if photo == "page":
            z = 1 / z
        zoom = (1.0, z) if self.rng.random() < 0.5 else (z, 1.0)
        a, b = (tuple(float(v) for v in self.rng.uniform(0.45, 0.55, size=2)) for _ in range(2))
        return Panel(photo, cell, zoom, (a, b))  # type: ignore[arg-type]


FULL = (0.0, 0.0, 1.0, 1.0)
LEFT, RIGHT = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)
GRID = ((0.0, 0.0, 0.5, 0.5), (0.5, 0.0, 1.0, 0.5), (0.0, 0.5, 0.5, 1.0), (0.5, 0.5, 1.0, 1.0))


def _bounds(seconds: float, n: int) -> list[int]:
    """Whole-second cut times splitting ``seconds`` into ``n`` segments."""
    return [round(k * seconds / n) for k in range(n + 1)]


def _mid(bounds: list[int], k: int) -> int:
    """A multiple-choice question's time in segment ``k``: past its middle, so perception has seen the new picture."""
    return bounds[k] + (bounds[k + 1] - bounds[k]) // 2 + 1


def _late(bounds: list[int], k: int) -> int:
    """An open question's time in segment ``k``: its last whole second."""
    return bounds[k + 1] - 1


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _titles_not_in(draw: _Draw, shown: set[str], n: int) -> list[str]:
    """Option texts for things that are not on screen: other photos' titles, then objects no photo here has."""
    others = [PHOTOS[p].title for p in PAIR_POOL if p not in shown]
    pool = others + list(OBJECT_TITLES_NOT_SHOWN)
    return draw.pick(pool, n)


def _colour_question(video: Video, draw: _Draw, t: int, photo: str) -> None:
    subject, label = COLOUR_OF[photo]
    p = PHOTOS[photo]
    true = next(x for x in p.things if x.label == label).colours[0]
    exclude = {c for thing in p.things for c in thing.colours} | set(p.colours)
    wrong = draw.pick([c for c in COLOUR_NAMES if c not in exclude], 3)
    video.ask(t, "ATP", f"What colour is the {subject} on the screen?", [f"{c.capitalize()}." for c in (true, *wrong)])


def _perception_question(video: Video, draw: _Draw, t: int, photo: str, before: list[str]) -> None:
    p = PHOTOS[photo]
    if p.animal:
        wrong = draw.pick(ANIMALS_NOT_SHOWN, 3)
        video.ask(
            t,
            "OP",
            "What animal is shown on the screen right now?",
            [f"{_a(a).capitalize()}." for a in (p.main, *wrong)],
        )
        return
    earlier = [PHOTOS[b].title for b in before if PHOTOS[b].title != p.title][:1]
    wrong = earlier + _titles_not_in(draw, {photo, *before}, 3 - len(earlier))
    video.ask(t, "OP", "What is shown on the screen right now?", [p.title, *wrong])


def _sequence(video: Video, draw: _Draw, seconds: float) -> None:
    animal = draw.pick(("chelsea", "horse"), 1)[0]
    photos = [animal, *draw.pick(RECOGNISABLE, 2, exclude=(animal, "page"))]
    photos = [photos[int(i)] for i in draw.rng.permutation(3)]
    photos.insert(int(draw.rng.integers(3)), "page")  # the printed page, for a text-rich question
    bounds = _bounds(seconds, 4)
    for k, photo in enumerate(photos):
        video.segments.append(Segment(bounds[k], bounds[k + 1], "photo", [draw.motion(photo, FULL)]))
    for k, photo in enumerate(photos[:3]):
        at = _mid(bounds, k)
        if photo == "page":
            question, options = PAGE_QUESTIONS[int(draw.rng.integers(len(PAGE_QUESTIONS)))]
            video.ask(at, "TR", question, list(options))
        elif k > 0 and photo in COLOUR_OF:
            _colour_question(video, draw, at, photo)
        else:
            _perception_question(video, draw, at, photo, photos[:k])
    video.ask_open(bounds[0] + 3, "What is written on the screen right now?")
    video.ask_open(_late(bounds, 1), "What do you see right now?")
    video.ask_open(_late(bounds, 2), "What is written on the screen right now?")
    options = [PHOTOS[photos[2]].title, PHOTOS[photos[1]].title, PHOTOS[photos[0]].title]
    options += _titles_not_in(draw, set(photos), 1)
    video.ask(_mid(bounds, 3), "CS", f"What was shown just before the {NOUN[photos[3]]}?", options)
    video.ask_open(_late(bounds, 3), f"What was shown just before the {NOUN[photos[3]]}?")


def _pairs(video: Video, draw: _Draw, seconds: float) -> None:
    bounds = _bounds(seconds, 3)
    opens = [
        "What is on the left side of the screen?",
        "What is written on the screen right now?",
        "What do you see right now?",
    ]
    for k in range(3):
        left, right = draw.pick(PAIR_POOL, 2)
        panels = [draw.motion(left, LEFT), draw.motion(right, RIGHT)]
        video.segments.append(Segment(bounds[k], bounds[k + 1], "pair", panels))
        at = _mid(bounds, k)
        if k == 1:
            video.ask(
                at,
                "SU",
                f"Which side of the screen is the {NOUN[left]} on?",
                ["The left side.", "The right side.", "The top.", "The bottom."],
            )
        else:
            side, here, there = ("right", right, left) if k == 0 else ("left", left, right)
            options = [PHOTOS[here].title, PHOTOS[there].title, *_titles_not_in(draw, {left, right}, 2)]
            video.ask(at, "SU", f"What is on the {side} side of the screen?", options)
        video.ask_open(_late(bounds, k), opens[k])


def _count(video: Video, draw: _Draw, seconds: float) -> None:
    photo = draw.pick(COUNTABLE, 1)[0]
    many = COUNTABLE[photo]
    bounds = _bounds(seconds, 3)
    counts: list[int] = []
    for k in range(3):
        n = int(draw.pick([c for c in range(1, 5) if not counts or c != counts[-1]], 1)[0])
        counts.append(n)
        cells = sorted(int(i) for i in draw.rng.permutation(4)[:n])
        panels = [draw.motion(photo, GRID[c]) for c in cells]
        video.segments.append(Segment(bounds[k], bounds[k + 1], "grid", panels))
        at = _mid(bounds, k)
        rest = draw.pick([c for c in range(1, 6) if c not in (n, *counts[-2:-1])], 3 - len(counts[-2:-1]))
        options = [f"{c}." for c in (n, *counts[-2:-1], *rest)]
        video.ask(at, "CT", f"How many {many} are on the screen right now?", options)
    video.ask_open(_late(bounds, 0), f"How many {many} do you see?")
    video.ask_open(_late(bounds, 1), "What is written on the screen right now?")
    video.ask_open(_late(bounds, 2), f"What colour is the {COLOUR_OF[photo][0]}?")


def _proactive(video: Video, draw: _Draw, seconds: float) -> None:
    first, second = draw.pick(TARGETS, 2)
    shows = {target: draw.pick(TARGETS[target], 1)[0] for target in (first, second)}
    banned = {first, second}
    first_filler = draw.pick([p for p in (*RECOGNISABLE, *NO_LABEL) if not PHOTOS[p].labels() & banned], 1)[0]
    second_filler = draw.pick([p for p in RECOGNISABLE if not PHOTOS[p].labels() & banned], 1, (first_filler,))[0]
    order = [first_filler, shows[first], second_filler, shows[second]]
    bounds = _bounds(seconds, 4)
    for k, photo in enumerate(order):
        video.segments.append(Segment(bounds[k], bounds[k + 1], "photo", [draw.motion(photo, FULL)]))
    for target, asked, due in ((first, 1, bounds[1]), (second, bounds[2] + 1, bounds[3])):
        video.proactive.append(
            {"t": asked, "due": due, "question": f"Tell me when {_a(target)} appears.", "output": target}
        )
    video.ask_open(bounds[1] - 3, "What is written on the screen right now?")
    video.ask_open(_late(bounds, 1), "What do you see right now?")
    _perception_question(video, draw, _mid(bounds, 2), second_filler, order[:2])
    video.ask_open(_late(bounds, 3), "What is written on the screen right now?")


PLANS = {"sequence": _sequence, "pairs": _pairs, "count": _count, "proactive": _proactive}


# ---------------------------------------------------------------- drawing


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image scaled to fit ``width`` × ``height`` with its aspect kept, centred on the background."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = np.empty((height, width, 3), np.uint8)
    out[:] = BACKGROUND
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y : y + nh, x : x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def _view(panel: Panel, f: float) -> np.ndarray:
    """The part of the photo the panel shows at fraction ``f`` of its segment (below 1× zoom: all of it, with a
    margin of background)."""
    image = load_photo(panel.photo)
    h, w = image.shape[:2]
    zoom = panel.zoom[0] + (panel.zoom[1] - panel.zoom[0]) * f
    if zoom < 1:
        out = np.empty((round(h / zoom), round(w / zoom), 3), np.uint8)
        out[:] = BACKGROUND
        y, x = (out.shape[0] - h) // 2, (out.shape[1] - w) // 2
        out[y : y + h, x : x + w] = image
        return out
    (ax, ay), (bx, by) = panel.centre
    cx, cy = (ax + (bx - ax) * f) * w, (ay + (by - ay) * f) * h
    cw, ch = w / zoom, h / zoom
    x0 = round(min(max(cx - cw / 2, 0), w - cw))
    y0 = round(min(max(cy - ch / 2, 0), h - ch))
    return image[y0 : y0 + int(ch), x0 : x0 + int(cw)]


def render(segment: Segment, t: float, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = BACKGROUND
    f = (t - segment.t0) / max(1e-6, segment.t1 - segment.t0)
    for panel in segment.panels:
        x0, y0, x1, y1 = (round(v * d) for v, d in zip(panel.cell, (width, height, width, height), strict=True))
        pad = 0 if segment.layout == "photo" else 4
        frame[y0 + pad : y1 - pad, x0 + pad : x1 - pad] = _fit(_view(panel, f), x1 - x0 - 2 * pad, y1 - y0 - 2 * pad)
    return frame


def _frames(video: Video, config: RealGenConfig) -> Any:
    for n in range(round(config.seconds * config.fps)):
        t = n / config.fps
        yield render(video.at(t), t, config.size)


# ---------------------------------------------------------------- files


def _entry(record: dict[str, Any], start: float, name: str) -> dict[str, Any]:
    return {
        "time": window(start, _seconds(record["time_stamp"])),
        "questions": [record],
        "video_categories": "real photos",
        "video_path": name,
    }


def _seconds(stamp: str) -> int:
    h, m, s = (int(x) for x in stamp.split(":"))
    return h * 3600 + m * 60 + s


def build_videos(config: RealGenConfig) -> list[Video]:
    """The plan of every video (segments and questions), drawn from the seed; nothing is written."""
    if config.seconds < 24:
        raise ValueError(f"seconds must be at least 24 (four photos of 6 s), got {config.seconds}")
    unknown = [k for k in config.kinds if k not in PLANS]
    if unknown or not config.kinds:
        raise ValueError(f"unknown video kinds {unknown}; use {', '.join(KINDS)}")
    videos = []
    for v in range(config.videos):
        kind = config.kinds[v % len(config.kinds)]
        video = Video(kind)
        PLANS[kind](video, _Draw(np.random.default_rng([config.seed, v])), config.seconds)
        videos.append(video)
    return videos


def generate_real(config: RealGenConfig) -> list[Path]:
    """Write the suite; returns the files written (annotation files and ``scenes.json``)."""
    if config.size[0] % 2 or config.size[1] % 2 or min(config.size) < 96:
        raise ValueError(f"size must be even and at least 96 px, got {config.size}")
    videos = build_videos(config)
    root = Path(config.out)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    letters = Letters(np.random.default_rng(config.seed))
    files: dict[str, list[Any]] = {"real": [], "open": [], "proactive": []}
    scenes: dict[str, Any] = {}
    for v, video in enumerate(videos):
        name = f"videos/real_{v:03d}_{video.kind}.mp4"
        draw = np.random.default_rng([config.seed, v, 1])
        for q in sorted(video.choice, key=lambda q: q["t"]):
            target = letters.next()
            distractors = [q["options"][1 + int(i)] for i in draw.permutation(len(q["options"]) - 1)]
            options = [*distractors[:target], q["options"][0], *distractors[target:]]
            record = {
                "task_type": FILE_TASK_NAMES[q["task"]],
                "question": q["question"],
                "time_stamp": clock(q["t"]),
                "answer": "ABCD"[target],
                "options": [f"{'ABCD'[i]}. {o}" for i, o in enumerate(options)],
                "required_ability": "recognition",
            }
            files["real"].append(_entry(record, video.at(q["t"]).t0, name))
        for q in sorted(video.open, key=lambda q: q["t"]):
            record = {
                "task_type": OPEN_TASK,
                "question": q["question"],
                "time_stamp": clock(q["t"]),
                "scene": video.scene(q["t"]),
            }
            files["open"].append(_entry(record, video.at(q["t"]).t0, name))
        for q in video.proactive:
            record = {
                "task_type": FILE_TASK_NAMES["PO"],
                "question": q["question"],
                "time_stamp": clock(q["t"]),
                "ground_truth_time_stamp": clock(q["due"]),
                "ground_truth_output": q["output"],
                "required_ability": "recognition",
            }
            files["proactive"].append(
                {
                    "time": window(q["t"], q["due"] + 4),
                    "questions": [record],
                    "video_categories": "real photos",
                    "video_path": name,
                }
            )
        scenes[name] = {
            "kind": video.kind,
            "seconds": config.seconds,
            "segments": [
                {
                    "t0": s.t0,
                    "t1": s.t1,
                    "layout": s.layout,
                    "panels": [{"photo": p.photo, "cell": list(p.cell)} for p in s.panels],
                    "truth": s.truth(),
                }
                for s in video.segments
            ],
        }
        write_media(root / name, _frames(video, config), config.fps)
    written = []
    for kind, data in files.items():
        if data:
            path = root / f"questions_{kind}.json"
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
            written.append(path)
    path = root / "scenes.json"
    path.write_text(json.dumps(scenes, indent=2, ensure_ascii=False), encoding="utf-8")
    return [*written, path]
