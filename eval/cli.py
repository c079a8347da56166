"""``omnistream bench``, ``gen-bench`` and ``gen-bench-real``: argparse subcommands, registered by ``add_commands``.

Each subcommand sets ``func`` (taking the parsed namespace, returning an exit status), as ``app/cli.py`` dispatches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.arg_types import context_seconds, non_negative, positive, positive_int
from engine.backends.registry import BACKENDS

if TYPE_CHECKING:
    from eval.loader import Annotations


def _shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(k) <= int(n):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N (e.g. 2/4), got {text!r}")
    return int(k), int(n)


def _all_exist(paths: list[Path]) -> bool:
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"error: annotation file not found: {', '.join(map(str, missing))}", file=sys.stderr)
    return not missing


def _usable(paths: list[Path]) -> tuple[Annotations, ...] | None:
    """The parsed annotation files, saying which hold no usable question and why; None when none of them holds one."""
    from eval.loader import load_annotations

    loaded = tuple(load_annotations(path) for path in paths)
    for path, one in zip(paths, loaded, strict=True):
        if not one.items:
            reasons = "; ".join(str(p) for p in one.problems[:3]) or "the file lists no questions"
            print(f"warning: {path}: no usable questions ({reasons})", file=sys.stderr)
    if not any(one.items for one in loaded):
        print(f"error: no usable questions in {', '.join(map(str, paths))}", file=sys.stderr)
        return None
    return loaded


def _cmd_bench(args: argparse.Namespace) -> int:
    from eval.bench import BenchConfig, run_bench
    from eval.tasks import select_tasks

    if args.spoken and args.no_speech:
        print("error: --spoken needs speech recognition; drop --no-speech", file=sys.stderr)
        return 2
    if not _all_exist(args.data):
        return 2
    try:
        tasks = select_tasks(args.tasks) if args.tasks else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loaded = _usable(args.data)
    if loaded is None:
        return 2
    config = BenchConfig(
        data=tuple(args.data),
        videos=args.videos,
        out=args.out,
        backend=args.backend,
        model=args.model,
        device=args.device,
        context=args.context,
        pace=args.pace,
        workers=args.workers,
        limit=args.limit,
        tasks=tasks,
        proactive=args.proactive,
        speech=not args.no_speech,
        spoken=args.spoken,
        fps=args.fps,
        name=args.name,
        progress=not args.quiet,
        shard=args.shard,
        loaded=loaded,
    )
    if args.ray is not None:
        from eval.ray_replay import RayOptions, RayUnavailable, run_bench_ray

        given = {"cpus_per_video": args.cpus_per_video, "gpus_per_video": args.gpus_per_video}
        ray = RayOptions(
            address=None if args.ray == "local" else args.ray, **{k: v for k, v in given.items() if v is not None}
        )
        try:
            result = run_bench_ray(config, ray)
        except RayUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elif args.cpus_per_video is not None or args.gpus_per_video is not None:
        print("error: --cpus-per-video and --gpus-per-video need --ray", file=sys.stderr)
        return 2
    else:
        result = run_bench(config)
    scores = result.report["scores"]["overall"]
    print(
        f"{scores['total']} items scored: official {scores['official']} %, robust {scores['robust']} %; "
        f"{len(result.report['skipped'])} skipped; report in {result.paths['md']}"
    )
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from eval.bench import BenchConfig, merge_shards
    from eval.tasks import select_tasks

    if not _all_exist(args.data):
        return 2
    try:
        tasks = select_tasks(args.tasks) if args.tasks else None
        config = BenchConfig(
            data=tuple(args.data), videos=Path("."), out=args.out, name=args.name, tasks=tasks, limit=args.limit
        )
        result = merge_shards(config, args.shards)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scores = result.report["scores"]["overall"]
    meta = result.report["meta"]
    print(
        f"{len(args.shards)} shards merged: {scores['total']} items scored, official {scores['official']} %, "
        f"robust {scores['robust']} %; {meta['items_missing']} items missing; report in {result.paths['md']}"
    )
    return 0


def _cmd_gen(args: argparse.Namespace) -> int:
    from eval.generator import GenConfig, generate

    paths = generate(
        GenConfig(
            out=args.out,
            videos=args.videos,
            seed=args.seed,
            seconds=args.seconds,
            size=(args.width, args.height),
            fps=args.fps,
            noise=args.noise,
            words_per_minute=args.wpm,
        )
    )
    print(f"wrote {len(paths)} annotation files and {args.videos} videos to {args.out}")
    return 0


def _cmd_gen_real(args: argparse.Namespace) -> int:
    from eval.generator_real import RealGenConfig, generate_real

    try:
        paths = generate_real(
            RealGenConfig(
                out=args.out, videos=args.videos, seed=args.seed, seconds=args.seconds,
                size=(args.width, args.height), fps=args.fps,
            )
        )  # fmt: skip
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(p.name for p in paths)
    print(f"wrote {args.videos} videos and {names} to {args.out}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("bench", help="replay a StreamingBench-format benchmark through the engine and score it")
    p.add_argument("--data", type=Path, action="append", required=True, help="annotation JSON (repeatable)")
    p.add_argument("--videos", type=Path, required=True, help="folder that video_path entries are relative to")
    p.add_argument("--out", type=Path, required=True, help="output folder (results.jsonl, reports, official copies)")
    p.add_argument("--backend", default="cascade", choices=sorted(BACKENDS), help="model backend")
    p.add_argument("--model", default=None, help="model name or path for the backend")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the backend's model runs")
    p.add_argument(
        "--context",
        type=context_seconds,
        default=60.0,
        help="seconds of stream context, or 'all' (default 60)",
    )
    p.add_argument(
        "--pace", choices=("fast", "realtime"), default="fast", help="fast: as fast as the engine goes; realtime: 1x"
    )
    p.add_argument("--workers", type=positive_int, default=1, help="videos replayed at once (one shared model)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most this many items (file order)")
    p.add_argument("--tasks", default=None, help="task codes, names or categories, comma-separated")
    p.add_argument(
        "--proactive",
        choices=("poll", "events"),
        default="events",
        help="proactive protocol: the engine's own proactive events (default) or the official once-a-second polling",
    )
    p.add_argument("--no-speech", action="store_true", help="do not transcribe the videos' audio")
    p.add_argument("--spoken", action="store_true", help="speak questions that have an audio_path (_stream files)")
    p.add_argument("--fps", type=positive, default=2.0, help="video frames per second given to the model")
    p.add_argument("--name", default=None, help="key the answers are written under (default omnistream-<backend>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="K/N",
        help="replay only shard K of N (split by video, same on "
        "every machine); join the shards' --out folders with bench-merge",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the videos as Ray tasks on the cluster at ADDRESS (host:port), or on a local one started for the "
        "run when no ADDRESS is given; see docs/scaling.md",
    )
    p.add_argument("--cpus-per-video", type=positive, default=None, help="CPUs each video's Ray task reserves (1)")
    p.add_argument("--gpus-per-video", type=non_negative, default=None, help="GPUs each video's Ray task reserves (0)")
    p.set_defaults(func=_cmd_bench)

    m = subparsers.add_parser("bench-merge", help="join the results of bench --shard runs into one report")
    m.add_argument("shards", type=Path, nargs="+", metavar="SHARD_OUT", help="the --out folders of the shard runs")
    m.add_argument("--data", type=Path, action="append", required=True, help="annotation JSON (repeatable)")
    m.add_argument("--out", type=Path, required=True, help="folder for the merged results and reports")
    m.add_argument("--name", default=None, help="key the answers are written under (default: the shards' own)")
    m.add_argument("--tasks", default=None, help="task codes, names or categories the shards were run with")
    m.add_argument("--limit", type=positive_int, default=None, help="the --limit the shards were run with")
    m.set_defaults(func=_cmd_merge)

    g = subparsers.add_parser("gen-bench", help="write a synthetic StreamingBench-format suite (videos + JSON)")
    g.add_argument("--out", type=Path, required=True, help="folder for the videos and the annotation JSON")
    g.add_argument("--videos", type=positive_int, default=10, help="number of videos")
    g.add_argument("--seed", type=int, default=0, help="random seed (same seed, same suite)")
    g.add_argument("--seconds", type=positive, default=40.0, help="length of each video")
    g.add_argument("--width", type=positive_int, default=320, help="video width in pixels")
    g.add_argument("--height", type=positive_int, default=240, help="video height in pixels")
    g.add_argument("--fps", type=positive, default=6.0, help="frame rate of the written videos")
    g.add_argument("--noise", type=float, default=0.003, help="background noise level (difficulty)")
    g.add_argument("--wpm", type=int, default=150, help="speech rate, words per minute (difficulty)")
    g.set_defaults(func=_cmd_gen)

    r = subparsers.add_parser(
        "gen-bench-real",
        help="write a StreamingBench-format suite made of real photos (skimage.data), with open questions and the "
        "ground truth of every scene",
    )
    r.add_argument("--out", type=Path, required=True, help="folder for the videos and the annotation JSON")
    r.add_argument("--videos", type=positive_int, default=12, help="number of videos (sequence, pairs, count, "
                   "proactive in turn)")  # fmt: skip
    r.add_argument("--seed", type=int, default=0, help="random seed (same seed, same suite)")
    r.add_argument("--seconds", type=positive, default=30.0, help="length of each video (at least 24)")
    r.add_argument("--width", type=positive_int, default=480, help="video width in pixels")
    r.add_argument("--height", type=positive_int, default=360, help="video height in pixels")
    r.add_argument("--fps", type=positive, default=4.0, help="frame rate of the written videos")
    r.set_defaults(func=_cmd_gen_real)
