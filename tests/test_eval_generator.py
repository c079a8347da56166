"""The synthetic suite: official format, all 18 tasks, balanced letters, deterministic, media with audio."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from eval.generator import GenConfig, generate
from eval.loader import load_annotations
from eval.replay import probe_video
from eval.tasks import TASKS

SECONDS = 30.0


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("suite")
    generate(GenConfig(out=out, videos=6, seed=7, seconds=SECONDS, size=(160, 120), fps=4.0))
    return out


def test_all_18_tasks_in_the_official_files(suite: Path) -> None:
    names = sorted(p.name for p in suite.glob("*.json"))
    stream = ["questions_omni_stream.json", "questions_real_stream.json", "questions_sqa_stream.json"]
    assert names == sorted(["questions_omni.json", "questions_proactive.json", "questions_real.json",
                            "questions_sqa.json", *stream])  # fmt: skip
    items = []
    for name in names:
        ann = load_annotations(suite / name)
        assert ann.problems == []
        if name in stream:
            plain = load_annotations(suite / name.replace("_stream", ""))
            assert [i.question for i in ann.items] == [i.question for i in plain.items]
            assert all(i.audio_path and (suite / i.audio_path).exists() for i in ann.items)
            assert len({i.group for i in ann.items}) == len({i.group for i in plain.items})
        else:
            items += ann.items
    assert {i.task.code for i in items} == {t.code for t in TASKS}
    assert isinstance(json.loads((suite / "questions_sqa.json").read_text())[0], list)  # SQA: per-video lists
    per_video = Counter(i.video for i in items)
    assert len(per_video) == 6 and set(per_video.values()) == {5}
    for video in per_video:
        times = sorted(i.time_s for i in items if i.video == video)
        assert len(set(times)) == 5 and times[-1] < SECONDS
        assert (suite / video).exists() and not Path(video).is_absolute()
    letters = Counter(i.answer for i in items if not i.proactive)
    assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1
    for item in items:
        if item.proactive:
            assert item.time_s < item.gt_time_s < SECONDS
        else:
            assert len(set(item.options)) == len(item.options) == 4


def test_same_seed_same_suite(suite: Path, tmp_path: Path) -> None:
    generate(GenConfig(out=tmp_path, videos=6, seed=7, seconds=SECONDS, size=(160, 120), fps=4.0))
    for path in suite.glob("*.json"):
        assert (tmp_path / path.name).read_text() == path.read_text()
    other = tmp_path / "other"
    generate(GenConfig(out=other, videos=2, seed=8, seconds=SECONDS, size=(160, 120), fps=4.0))
    assert (other / "questions_real.json").read_text() != (suite / "questions_real.json").read_text()


def _rms(samples: np.ndarray, start: float, end: float) -> float:
    part = samples[int(start * 16000) : int(end * 16000)]
    return float(np.sqrt(np.mean(part**2)))


def _audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        frames = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    return np.concatenate(frames)


def test_videos_play_and_omni_answers_are_in_the_audio(suite: Path) -> None:
    for video in sorted((suite / "videos").glob("*.mp4")):
        info = probe_video(video)
        assert info.has_audio and abs(info.duration_s - SECONDS) < 0.5
    audio = _audio(suite / "videos" / "gen_001_omni.mp4")
    quiet = _rms(_audio(suite / "videos" / "gen_000_real.mp4"), 0, SECONDS)  # background noise only
    omni = [i for i in load_annotations(suite / "questions_omni.json").items if i.video.endswith("001_omni.mp4")]
    assert len(omni) == 5
    for item in omni:  # speech or an alarm in the slot before each question
        assert _rms(audio, item.time_s - 5, item.time_s) > 5 * quiet, item.task.code


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seconds must be at least 30"):
        generate(GenConfig(out=tmp_path, videos=1, seconds=5))
    with pytest.raises(ValueError, match="size must be even"):
        generate(GenConfig(out=tmp_path, videos=1, size=(161, 120)))
