"""The real-photo suite: deterministic from its seed, loadable by the evaluator, its ground truth true of the photos
and of the pixels of its videos, and replayed end to end through the live Session with the cascade backend."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from eval.bench import BenchConfig, run_bench
from eval.generator_real import RealGenConfig, _fit, generate_real
from eval.loader import load_annotations
from eval.photos import PHOTOS, load_photo
from eval.replay import probe_video

SIZE = (192, 144)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real")
    generate_real(RealGenConfig(out=out, videos=4, seed=3, seconds=24.0, size=SIZE, fps=2.0))
    return out


def _frame(path: Path, t: float) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
    ok, frame = cap.read()
    cap.release()
    assert ok, (path, t)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def test_same_seed_same_suite_other_seed_other_suite(suite: Path, tmp_path: Path) -> None:
    generate_real(RealGenConfig(out=tmp_path / "a", videos=4, seed=3, seconds=24.0, size=SIZE, fps=2.0))
    for name in ("questions_real.json", "questions_open.json", "questions_proactive.json", "scenes.json"):
        assert (tmp_path / "a" / name).read_text() == (suite / name).read_text()
    for video in sorted((suite / "videos").glob("*.mp4")):
        again = tmp_path / "a" / "videos" / video.name
        assert np.abs(_frame(video, 9.0).astype(int) - _frame(again, 9.0)).mean() < 1.0  # same pictures (codec noise)
    generate_real(RealGenConfig(out=tmp_path / "b", videos=4, seed=4, seconds=24.0, size=SIZE, fps=2.0))
    assert (tmp_path / "b" / "scenes.json").read_text() != (suite / "scenes.json").read_text()


def test_the_suite_loads_in_the_official_format(suite: Path) -> None:
    real, open_, proactive = (load_annotations(suite / f"questions_{k}.json") for k in ("real", "open", "proactive"))
    assert real.problems == open_.problems == proactive.problems == []
    assert {i.task.code for i in real.items} == {"OP", "ATP", "TR", "CS", "SU", "CT"}
    for item in real.items:
        assert len(item.options) == len(set(item.options)) == 4 and item.answer in "ABCD"
    letters = Counter(i.answer for i in real.items)
    assert max(letters.values()) - min(letters.values()) <= 1
    assert all(i.open and i.scene and not i.options for i in open_.items)
    assert sum("written" in i.question for i in open_.items) >= 4
    assert {i.task.code for i in proactive.items} == {"PO"} and len(proactive.items) == 2
    for item in [*real.items, *open_.items, *proactive.items]:
        assert (suite / item.video).exists() and item.time_s < 24
    for video in sorted((suite / "videos").glob("*.mp4")):
        info = probe_video(video)
        assert abs(info.duration_s - 24) < 0.6 and not info.has_audio


def _nearest_photo(cell: np.ndarray) -> str:
    """The catalogue photo whose small thumbnail is closest to what a cell of a frame shows."""
    h, w = cell.shape[:2]
    small = cv2.resize(cell, (24, 18), interpolation=cv2.INTER_AREA).astype(float)
    distances = {}
    for name in PHOTOS:
        thumb = cv2.resize(_fit(load_photo(name), w, h), (24, 18), interpolation=cv2.INTER_AREA).astype(float)
        distances[name] = float(np.mean(np.abs(small - thumb)))
    return min(distances, key=distances.__getitem__)


def test_the_ground_truth_names_what_each_frame_shows(suite: Path) -> None:
    scenes = json.loads((suite / "scenes.json").read_text())
    checked = 0
    for video, plan in scenes.items():
        for segment in plan["segments"]:
            frame = _frame(suite / video, (segment["t0"] + segment["t1"]) / 2)
            for panel in segment["panels"]:
                x0, y0, x1, y1 = (round(v * d) for v, d in zip(panel["cell"], (*SIZE, *SIZE), strict=True))
                assert _nearest_photo(frame[y0:y1, x0:x1]) == panel["photo"], (video, segment["t0"])
                checked += 1
            truth = segment["truth"]
            assert sorted(truth["photos"]) == sorted(p["photo"] for p in segment["panels"])
            for label, n in truth["counts"].items():
                assert n == sum(label in {t.label for t in PHOTOS[p["photo"]].things} for p in segment["panels"])
    assert checked >= 16


def test_proactive_targets_appear_at_their_ground_truth_time_and_never_before(suite: Path) -> None:
    scenes = json.loads((suite / "scenes.json").read_text())
    for item in load_annotations(suite / "questions_proactive.json").items:
        segments = scenes[item.video]["segments"]
        shown = [
            s for s in segments if item.gt_output in {t.label for p in s["panels"] for t in PHOTOS[p["photo"]].things}
        ]
        assert shown and shown[0]["t0"] == item.gt_time_s > item.time_s
        earlier = [s for s in segments if s["t0"] < item.gt_time_s]
        assert not any(item.gt_output in PHOTOS[p["photo"]].labels() for s in earlier for p in s["panels"])


def _pixels(photo: str, label: str) -> np.ndarray:
    """HSV (hue in degrees, saturation and value 0..1) of the pixels in a thing's box."""
    image = load_photo(photo)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = next(t.box for t in PHOTOS[photo].things if t.label == label)
    box = image[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)]
    return cv2.cvtColor(box, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(float) * (2, 1 / 255, 1 / 255)


def _median_hue(photo: str, label: str) -> float:
    """The median hue (degrees, red wrapped to −15…345) of the strongly coloured pixels in a thing's box."""
    hsv = _pixels(photo, label)
    hue = hsv[hsv[:, 1] > 0.6, 0]
    return float(np.median(np.where(hue >= 345, hue - 360, hue)))


def test_the_catalogue_is_true_of_the_photos() -> None:
    assert -15 <= _median_hue("motorcycle", "motorcycle") <= 20  # red
    assert -15 <= _median_hue("coffee", "saucer") <= 20  # red
    assert -15 <= _median_hue("coffee", "cup") <= 40  # dark red / brown
    assert 5 <= _median_hue("astronaut", "spacesuit") <= 40  # orange-red
    for photo, label, colours in (
        ("motorcycle", "motorcycle", {"red"}),
        ("coffee", "cup", {"red", "brown"}),
        ("astronaut", "spacesuit", {"orange", "red"}),
    ):
        assert colours <= set(next(t.colours for t in PHOTOS[photo].things if t.label == label))
    rocket = np.median(_pixels("rocket", "rocket"), axis=0)
    assert rocket[1] < 0.35 and rocket[2] > 0.55  # white (in dusk light): pale and bright
    assert np.mean(_pixels("horse", "horse")[:, 2] < 0.1) > 0.3  # a black silhouette on white
    hue, sat, val = np.median(_pixels("chelsea", "cat"), axis=0)
    assert 15 <= hue <= 40 and 0.3 < sat < 0.6 and val < 0.7  # brown: a dark, dull orange
    camera = load_photo("camera").astype(int)
    assert np.abs(camera[..., 0] - camera[..., 2]).max() == 0  # black and white: only grey, black and white named
    assert set(PHOTOS["camera"].colours) | {c for t in PHOTOS["camera"].things for c in t.colours} <= {
        "grey",
        "black",
        "white",
    }
    for photo in PHOTOS.values():
        assert photo.main in {t.label for t in photo.things}
        assert not {t.label for t in photo.things} & set(photo.also)


@pytest.mark.e2e
def test_ocr_finds_text_only_where_the_catalogue_lists_it() -> None:
    """The shipped OCR (PP-OCRv4) on the full-size photos: the page's lines are read, the other photos are free of
    text at any size it can read (the astronaut's patch and the motorcycle's badges are too small)."""
    from engine.backends.cascade.ocr import TextReader

    reader = TextReader()
    for name in PHOTOS:
        lines = [line.text for line in reader.read(load_photo(name))]
        if name == "page":
            assert "Region-based segmentation" in lines and len(lines) >= 4
        else:
            assert lines == [], name


@pytest.mark.e2e
def test_a_short_real_suite_replays_through_the_live_session(suite: Path, tmp_path: Path) -> None:
    """A 24 s video of real photos, three questions (one multiple choice, two open) and a standing instruction, through
    ``run_bench`` with the real cascade backend: every item answered, the open answers audited."""
    video = next(v for v, s in json.loads((suite / "scenes.json").read_text()).items() if s["kind"] == "proactive")
    subset = {}
    for kind, keep in (("real", 1), ("open", 2), ("proactive", 1)):
        entries = [e for e in json.loads((suite / f"questions_{kind}.json").read_text()) if e["video_path"] == video]
        subset[kind] = tmp_path / f"questions_{kind}.json"
        subset[kind].write_text(json.dumps(entries[:keep]))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run_bench(
        BenchConfig(data=tuple(subset.values()), videos=suite, out=tmp_path / "out", progress=False, speech=False)
    )
    report = result.report
    assert report["answered"] == 4 and report["skipped"] == [] and report["problems"] == []
    assert report["scores"]["overall"]["total"] == 2  # the choice and the instruction; open answers are audited
    grounding = report["grounding"]
    assert grounding["open_answers"] == 2
    assert grounding["ungrounded"] == len(grounding["ungrounded_claims"])
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert all(r["response"].strip() for r in records if r["kind"] != "proactive")
    assert "## Grounding of open answers" in (tmp_path / "out" / "report.md").read_text()
    official = json.loads(
        (tmp_path / "out" / "official" / "questions_proactive_output_omnistream-cascade.json").read_text()
    )
    assert official[0]["questions"][0]["omnistream-cascade"]["dialog_history"]  # never empty (count.py reads [-1])
