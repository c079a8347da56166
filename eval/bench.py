"""A whole benchmark run: load annotation files, skip what ``results.jsonl`` already holds, replay the remaining
videos (``workers`` at a time, sharing one loaded model), then write the official-format answers and the reports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runtime import open_session
from eval.loader import Annotations, Item, Problem, load_annotations, select
from eval.progress import Progress
from eval.replay import GroupOutcome, Opener, ProactiveMode, engine_config, replay_group, resolve_video
from eval.report import build_report, write_report
from eval.results import ResultsLog, write_official
from streams.clock import Pace


@dataclass(frozen=True)
class BenchConfig:
    data: tuple[Path, ...]
    videos: Path
    out: Path
    backend: str = "cascade"
    model: str | None = None
    device: str = "auto"
    context: float | None = 60.0  # None = all of the stream so far
    pace: Pace = "fast"
    workers: int = 1
    limit: int | None = None
    tasks: frozenset[str] | None = None
    proactive: ProactiveMode = "events"
    speech: bool = True
    fps: float = 2.0
    name: str | None = None  # the key answers are written under; default "omnistream-<backend>"
    spoken: bool = False  # speak questions that have an audio_path (relative to ``videos``) instead of typing them
    progress: bool = True

    @property
    def model_name(self) -> str:
        return self.name or f"omnistream-{self.backend}"


@dataclass
class BenchResult:
    report: dict[str, Any]
    paths: dict[str, Path]
    official: list[Path]


def _groups(items: Sequence[Item]) -> list[list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    return list(groups.values())


def _pending(group: list[Item], finished: set[str]) -> list[Item]:
    """Items to pose on a re-run: the unfinished ones, or all of an SQA video (its answers build on each other)."""
    todo = [i for i in group if i.uid not in finished]
    if todo and any(i.task.code == "SQA" for i in group):
        return group
    return todo


async def run_bench_async(config: BenchConfig, opener: Opener = open_session) -> BenchResult:
    """Run (or resume) the benchmark; ``opener`` builds each video's session (the real engine by default)."""
    if config.workers < 1:
        raise ValueError(f"workers must be at least 1, got {config.workers}")
    if config.spoken and not config.speech:
        raise ValueError("spoken questions need speech recognition (drop --no-speech)")
    annotations: list[Annotations] = [load_annotations(p) for p in config.data]
    problems: list[Problem] = [p for a in annotations for p in a.problems]
    problems += [Problem(i.file, i.record, i.note) for a in annotations for i in a.items if i.note]
    items = select([i for a in annotations for i in a.items], tasks=config.tasks, limit=config.limit)
    log = ResultsLog(config.out / "results.jsonl")
    finished = log.finished()
    work = [(g, todo) for g in _groups(items) if (todo := _pending(g, finished))]
    progress = Progress(sum(len([i for i in todo if i.uid not in finished]) for _, todo in work))
    engine = engine_config(
        config.backend,
        model=config.model,
        device=config.device,
        context=config.context,
        fps=config.fps,
        speech=config.speech,
    )
    outcomes: list[GroupOutcome] = []
    gate = asyncio.Semaphore(config.workers)
    started = time.monotonic()

    def write(record: dict[str, Any]) -> None:
        if record["uid"] in finished:
            return
        log.append(record)
        if config.progress:
            progress.advance()

    async def one(todo: list[Item]) -> None:
        async with gate:
            outcomes.append(
                await replay_group(
                    todo,
                    video=resolve_video(config.videos, todo[0].video),
                    config=engine,
                    pace=config.pace,
                    proactive=config.proactive,
                    write=write,
                    opener=opener,
                    spoken_root=config.videos if config.spoken else None,
                )
            )

    await asyncio.gather(*(one(todo) for _, todo in work))
    if config.progress:
        progress.close()
    wall = time.monotonic() - started
    selected = {i.uid for i in items}
    records = [r for uid, r in log.records.items() if uid in selected]
    stream_s = sum(o.stream_s for o in outcomes)
    decoded, recut = sum(o.frames_decoded for o in outcomes), sum(o.frames_recut for o in outcomes)
    meta: dict[str, Any] = {
        "model": config.model_name,
        "backend": config.backend,
        "context": "all" if config.context is None else f"{config.context:g} s",
        "pace": config.pace,
        "proactive": config.proactive,
        "questions": "spoken" if config.spoken else "typed",
        "workers": config.workers,
        "files": ", ".join(a.file for a in annotations),
        "videos_replayed": len(outcomes),
        "wall_s": round(wall, 2),
        "stream_s": round(stream_s, 2),
        "replay_speed": round(stream_s / wall, 3) if wall > 0 and stream_s else None,
        "frames_decoded": decoded,
        "frames_decoded_recut": recut,
        "decode_ratio_vs_recut": round(decoded / recut, 3) if recut else None,
        "torn_result_lines": log.torn_lines,
    }
    report = build_report(records, problems, meta)
    official = write_official(annotations, {r["uid"]: r for r in records}, config.model_name, config.out / "official")
    paths = write_report(report, config.out)
    return BenchResult(report, paths, official)


def run_bench(config: BenchConfig) -> BenchResult:
    return asyncio.run(run_bench_async(config))
