"""Replay timing logic with a scripted backend: one pass per video, questions matched to answers, the official
proactive polling protocol, SQA history, and bad input skipped with reasons. The real engine path is covered by
``test_eval_e2e.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.backends.base import AnswerRequest, Capabilities, ConditionCheck
from engine.cancel import CancelToken
from engine.runtime import EngineConfig
from engine.session import Session
from eval.bench import BenchConfig, run_bench_async
from eval.loader import parse_annotations
from eval.replay import engine_config, replay_group
from eval.spoken import MixedAudioSource, SpokenQuestion, SpokenQuestionPolicy
from streams.clock import ReplayClock
from streams.synth import write_media
from tests.fakes import ScriptedBackendContext


class Watcher(ScriptedBackendContext):
    """Says "yes" to polls once stream time reaches ``due``, names the first option of a choice question, and
    answers an instruction with ``say``."""

    def __init__(self, due: float, say: str) -> None:
        super().__init__()
        self.due, self.say = due, say

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        self.requests.append(request)
        if request.choices:
            yield "A"
        elif "yes or no" in request.query:
            yield "yes" if request.t >= self.due else "no"
        else:
            yield self.say


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    frames = (np.full((64, 64, 3), 10 * k, np.uint8) for k in range(20))
    return write_media(path, frames, fps=2.0)  # 10 s, no audio track


def _opener(context: ScriptedBackendContext):
    async def open_(config: EngineConfig, clock: ReplayClock) -> Session:
        return Session(context, clock=clock, options=config.options, policy=config.policy)

    return open_


CONFIG = engine_config("cascade", model=None, device="cpu", context=60.0, fps=2.0, speech=False)


def _q(t: str, answer: str = "A", task: str = "Counting") -> dict:
    return {"task_type": task, "question": f"How many at {t}?", "time_stamp": t, "answer": answer,
            "options": ["A. one", "B. two", "C. three", "D. four"]}  # fmt: skip


async def test_one_pass_answers_each_question_at_its_time(video: Path) -> None:
    ann = parse_annotations("q.json", [{"video_path": "clip.mp4", "questions": [_q("00:00:06"), _q("0:00:02", "B")]}])
    context = Watcher(due=99, say="")
    records: list[dict] = []
    outcome = await replay_group(ann.items, video=video, config=CONFIG, pace="fast", proactive="poll",
                                 write=records.append, opener=_opener(context))  # fmt: skip
    # timeline: the frames up to 2 s, the 2 s question, the frames up to 6 s, the 6 s question, the rest
    assert [r.t for r in context.requests] == [2.0, 6.0]
    assert context.requests[0].choices == ("one", "two", "three", "four")
    by_time = {r["time_s"]: r for r in records}
    assert by_time[2.0]["response"] == "A" and by_time[2.0]["official"] is False
    assert by_time[6.0]["official"] is True and by_time[6.0]["robust_letter"] == "A"
    assert outcome.frames_decoded == 20 and outcome.stream_s >= 9.5
    assert outcome.frames_recut == round((2 + 6) * 2.0)


async def test_official_polling_protocol(video: Path) -> None:
    item = {"task_type": "Proactive Output", "question": 'When it turns bright, output "GO".', "time_stamp": "00:00:02",
            "ground_truth_time_stamp": "00:00:06", "ground_truth_output": "GO"}  # fmt: skip
    ann = parse_annotations("p.json", [{"video_path": "clip.mp4", "questions": [item]}])
    context = Watcher(due=6.0, say="GO now")
    records: list[dict] = []
    await replay_group(ann.items, video=video, config=CONFIG, pace="fast", proactive="poll", write=records.append,
                       opener=_opener(context))  # fmt: skip
    (record,) = records
    # polls at 3, 4, 5 (no), 6 (yes), then the instruction itself at 6
    assert [(h["time"], h["content"]) for h in record["dialog_history"] if h["role"] == "assistant"] == [
        (3.0, "no"), (4.0, "no"), (5.0, "no"), (6.0, "yes"), (6.0, "GO now")]  # fmt: skip
    # asked in its own words and answered by the model: not kept as a standing instruction the engine replies to
    assert record["dialog_history"][-2]["content"] == context.requests[-1].query == item["question"]
    assert record["answered"] == 6.0 and record["official"] is True and record["robust"] is True


async def test_sqa_questions_share_one_session_with_history(video: Path) -> None:
    sqa = [{"video_path": "clip.mp4", "questions": [_q(t, task="Sequential Question Answering")]}
           for t in ("00:00:01", "00:00:03", "00:00:05")]  # fmt: skip
    ann = parse_annotations("s.json", [sqa])
    context = Watcher(due=99, say="")
    records: list[dict] = []
    await replay_group(ann.items, video=video, config=CONFIG, pace="fast", proactive="poll", write=records.append,
                       opener=_opener(context))  # fmt: skip
    assert len(records) == 3
    assert [len(r.history) for r in context.requests] == [0, 2, 4]  # each question sees the earlier turns


async def test_bad_input_is_skipped_with_reasons_and_the_run_goes_on(video: Path, tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(video.read_bytes())
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    data = tmp_path / "q.json"
    data.write_text(
        json.dumps([
            {"video_path": "clip.mp4", "questions": [_q("00:00:04"), _q("00:05:00")]},
            {"video_path": "missing.mp4", "questions": [_q("00:00:04")]},
            {"video_path": "broken.mp4", "questions": [_q("00:00:04")]},
            {"video_path": "clip.mp4", "questions": [{**_q("00:00:04"), "task_type": "Juggling"}]},
        ])
    )  # fmt: skip
    config = BenchConfig(data=(data,), videos=tmp_path, out=tmp_path / "out", backend="cascade", progress=False,
                         speech=False)  # fmt: skip
    result = await run_bench_async(config, opener=_opener(Watcher(due=99, say="")))
    report = result.report
    assert report["answered"] == 1
    reasons = {s["record"]: s["reason"] for s in report["skipped"]}
    assert "beyond the video's end" in reasons["[0].questions[1]"]
    assert "video not found" in reasons["[1].questions[0]"]
    assert "unreadable video" in reasons["[2].questions[0]"]
    assert report["problems"] == [{"file": "q.json", "record": "[3].questions[0]",
                                   "message": "unknown task type 'Juggling'"}]  # fmt: skip
    assert (tmp_path / "out" / "report.md").read_text().count("q.json [") == 4


class ConditionWatcher(Watcher):
    """Also checks standing instructions: the condition holds from ``due`` on."""

    capabilities = Capabilities(checks_conditions=True)

    def check_condition(self, condition: str, t: float) -> ConditionCheck:
        return ConditionCheck(met=t >= self.due, score=1.0 if t >= self.due else 0.0)


async def test_proactive_events_are_recorded_with_their_time(video: Path) -> None:
    item = {"task_type": "Proactive Output", "question": 'When it turns bright, say "GO".', "time_stamp": "00:00:02",
            "ground_truth_time_stamp": "00:00:06", "ground_truth_output": "GO"}  # fmt: skip
    ann = parse_annotations("p.json", [{"video_path": "clip.mp4", "questions": [item]}])
    records: list[dict] = []
    await replay_group(ann.items, video=video, config=CONFIG, pace="fast", proactive="events", write=records.append,
                       opener=_opener(ConditionWatcher(due=6.0, say="")))  # fmt: skip
    (record,) = records
    (output,) = record["dialog_history"]
    assert output["content"] == "GO" and 6.0 <= output["time"] <= 7.0
    assert record["official"] is True


async def test_a_session_that_fails_to_open_skips_its_items_with_the_error(video: Path) -> None:
    async def broken(config: EngineConfig, clock: ReplayClock) -> Session:
        raise RuntimeError("model weights missing")

    ann = parse_annotations("q.json", [{"video_path": "clip.mp4", "questions": [_q("00:00:04"), _q("00:00:06")]}])
    records: list[dict] = []
    await replay_group(ann.items, video=video, config=CONFIG, pace="fast", proactive="poll", write=records.append,
                       opener=broken)  # fmt: skip
    assert [r["skipped"] for r in records] == ["replay failed: RuntimeError: model weights missing"] * 2


async def test_spoken_questions_are_mixed_in_and_only_their_utterances_are_queries(video: Path) -> None:
    clip = np.full(8000, 0.25, np.float32)  # half a second
    questions = [SpokenQuestion("q1", 2.0, clip), SpokenQuestion("q2", 12.0, clip)]  # the second after the video
    source = MixedAudioSource(None, questions, duration_s=10.0)  # a video without an audio track: silence
    source.open()
    chunks = [c async for c in source.items(lambda: 0.0)]
    audio = np.concatenate([c.samples for c in chunks])
    assert len(audio) >= 13.5 * 16000  # extended to the last question's end plus a second
    loud = np.flatnonzero(audio > 0.2) / 16000
    assert loud.tolist() == (np.r_[32000:40000, 192000:200000] / 16000).tolist()  # 2.0–2.5 s and 12.0–12.5 s
    assert [c.t for c in chunks[:3]] == [0.0, 0.032, 0.064]
    policy = SpokenQuestionPolicy(questions)
    assert not policy.decide("music", start=5.0, end=6.0).accepted
    assert policy.decide("what is this", start=2.1, end=2.5).accepted
    assert policy.decide("and more", start=2.9, end=3.2).reason == "rest of spoken question q1"
    assert policy.decide("second", start=12.0, end=12.5).accepted
    assert policy.accepted == ["q1", "q2"]


async def test_workers_replay_videos_at_the_same_time(video: Path, tmp_path: Path) -> None:
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (tmp_path / name).write_bytes(video.read_bytes())
    data = tmp_path / "q.json"
    data.write_text(json.dumps([{"video_path": n, "questions": [_q("00:00:03"), _q("00:00:07")]}
                                for n in ("a.mp4", "b.mp4", "c.mp4")]))  # fmt: skip
    open_now, most = 0, 0

    class Counted(Watcher):
        def close(self) -> None:
            nonlocal open_now
            open_now -= 1

    async def opener(config: EngineConfig, clock: ReplayClock) -> Session:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        return Session(Counted(due=99, say=""), clock=clock, options=config.options, policy=config.policy)

    config = BenchConfig(data=(data,), videos=tmp_path, out=tmp_path / "out", workers=2, progress=False, speech=False)
    result = await run_bench_async(config, opener=opener)
    assert result.report["answered"] == 6 and most == 2 and open_now == 0
