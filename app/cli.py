"""The ``omnistream`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from app.arg_types import (
    context_seconds,
    fraction,
    non_negative,
    non_negative_int,
    port,
    positive,
    positive_int,
    seconds_or_off,
    unit_interval,
)
from app.printer import EventPrinter
from engine.backends.base import Capabilities
from engine.backends.omni.options import OmniOptions
from engine.backends.registry import BACKENDS, capabilities, check_all
from engine.backends.remote.options import RemoteOptions
from engine.options import AsrOptions, GateOptions, IngestOptions, ResponseOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from streams.audio import AudioFileSource, MicrophoneSource
from streams.clock import Clock, LiveClock, ReplayClock
from streams.source import Source
from streams.text import ScheduledTextSource, parse_timed_text
from streams.video import VideoFileSource, WebcamSource

log = logging.getLogger("omnistream")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that builds sessions."""
    parser.add_argument("--backend", default="cascade", choices=sorted(BACKENDS), help="model backend")
    parser.add_argument("--model", default=None, help="model id or local path for the backend (backend default)")
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs (auto: cuda if present)"
    )
    parser.add_argument(
        "--asr-model",
        default="base",
        help="speech recognition: 'base' or 'tiny.en' (both shipped), or a faster-whisper model name or path",
    )
    parser.add_argument("--fps", type=positive, default=2.0, help="video frames per second given to the model")
    parser.add_argument(
        "--context",
        type=context_seconds,
        default=None,
        metavar="SECONDS|all",
        help="stream context a question may use (default all)",
    )
    parser.add_argument("--max-new-tokens", type=positive_int, default=96, help="longest answer, in model tokens")
    parser.add_argument(
        "--gate",
        default="gate",
        choices=["always", "gate", "wake", "model"],
        help="which utterances are queries: all, those addressed to the assistant (learned), "
        "those that call it by --name, or those the omni/vlm model itself judges said to it",
    )
    parser.add_argument("--name", default=None, help="the assistant's name (needed by --gate wake)")
    omni = parser.add_argument_group("omni / vlm backends (defaults in docs/omni.md)")
    omni.add_argument("--window-seconds", type=positive, help="seconds of media kept in the KV cache (10)")
    omni.add_argument("--max-kv-tokens", type=positive_int, help="hard cap on KV-cache entries (24576)")
    omni.add_argument(
        "--dedupe-threshold", type=fraction, help="drop frames this similar to the last kept one, 0 = off (0.02)"
    )
    omni.add_argument(
        "--compress-after",
        type=seconds_or_off,
        metavar="SECONDS|off",
        help="compress the vision KV of media this old (LOOK-M style); off by default",
    )
    omni.add_argument("--temperature", type=non_negative, help="sampling temperature, 0 = greedy (0)")
    omni.add_argument("--top-p", type=unit_interval, help="nucleus sampling mass when --temperature > 0 (1.0)")
    remote = parser.add_argument_group(
        "remote backend (an OpenAI-compatible server; key from $OMNISTREAM_REMOTE_API_KEY; see docs/scaling.md)"
    )
    remote.add_argument("--base-url", help="the server's API root, e.g. http://127.0.0.1:8000/v1")
    remote.add_argument("--max-images", type=non_negative_int, help="frames sent per question as JPEG parts (4)")
    remote.add_argument("--image-size", type=positive_int, help="longest side of each frame sent, in pixels (448)")
    remote.add_argument(
        "--remote-audio", action="store_true", default=None, help="send raw audio as input_audio parts (off)"
    )


_OMNI_FLAGS = {
    "window_seconds": "--window-seconds",
    "max_kv_tokens": "--max-kv-tokens",
    "dedupe_threshold": "--dedupe-threshold",
    "compress_after": "--compress-after",
    "temperature": "--temperature",
    "top_p": "--top-p",
}


def _backends_where(test: Callable[[Capabilities], bool]) -> str:
    """The names of the backends whose capabilities pass ``test``, as "a, b and c"."""
    names = [name for name in BACKENDS if test(capabilities(name))]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def omni_options(args: argparse.Namespace) -> OmniOptions | None:
    """The omni / vlm backend options given on the command line; None when none was given."""
    given = {name: getattr(args, name) for name in _OMNI_FLAGS if getattr(args, name, None) is not None}
    if not given:
        return None
    if capabilities(args.backend).options is not OmniOptions:
        flags = ", ".join(_OMNI_FLAGS[name] for name in given)
        names = _backends_where(lambda caps: caps.options is OmniOptions)
        raise SystemExit(f"error: {flags} only apply to the {names} backends, not --backend {args.backend}")
    fields = {("compress_after_seconds" if k == "compress_after" else k): v for k, v in given.items()}
    try:
        return OmniOptions(**fields)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


_REMOTE_FLAGS = {
    "base_url": "--base-url",
    "max_images": "--max-images",
    "image_size": "--image-size",
    "remote_audio": "--remote-audio",
}


def remote_options(args: argparse.Namespace) -> RemoteOptions | None:
    """The remote backend's options; None for the other backends (which take none of these flags)."""
    given = {name: getattr(args, name) for name in _REMOTE_FLAGS if getattr(args, name, None) is not None}
    if capabilities(args.backend).options is not RemoteOptions:
        if given:
            flags = ", ".join(_REMOTE_FLAGS[name] for name in given)
            names = _backends_where(lambda caps: caps.options is RemoteOptions)
            raise SystemExit(f"error: {flags} only apply to --backend {names}, not --backend {args.backend}")
        return None
    if "base_url" not in given or not args.model:
        raise SystemExit("error: --backend remote needs --base-url URL and --model NAME (the server's model)")
    fields = {("audio" if k == "remote_audio" else k): v for k, v in given.items()}
    try:
        return RemoteOptions(**fields)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


def engine_config(args: argparse.Namespace, *, speech: bool = True) -> EngineConfig:
    if args.gate == "wake" and not args.name:
        raise SystemExit("error: --gate wake needs the assistant's --name")
    if args.gate == "model" and not capabilities(args.backend).judges_addressing:
        names = _backends_where(lambda caps: caps.judges_addressing).replace(" and ", " or ")
        raise SystemExit(f"error: --gate model needs the {names} backend (its model judges), not {args.backend}")
    options = SessionOptions(
        asr=AsrOptions(model=args.asr_model),
        ingest=IngestOptions(fps=args.fps),
        response=ResponseOptions(max_new_tokens=args.max_new_tokens, context_seconds=args.context),
        gate_mode=args.gate,
        gate=GateOptions(assistant_name=args.name),
    )
    return EngineConfig(
        backend=args.backend,
        model=args.model,
        device=args.device,
        options=options,
        speech=speech,
        backend_options=omni_options(args) or remote_options(args),
    )


def _run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a session on files, devices and text; print events")
    p.add_argument("--sample", action="store_true", help="replay the generated sample clip (video + spoken question)")
    p.add_argument("--video", action="append", default=[], metavar="PATH|URL", help="video file or stream URL")
    p.add_argument("--webcam", type=int, action="append", default=[], metavar="N", help="camera index")
    p.add_argument("--audio", action="append", default=[], metavar="PATH", help="audio file (any rate/channels)")
    p.add_argument("--mic", action="store_true", help="live microphone")
    p.add_argument("--no-video-audio", action="store_true", help="ignore the audio track of --video files")
    p.add_argument("--text", action="append", default=[], metavar="TEXT[@SECONDS]", help="typed query, optional time")
    p.add_argument("--pace", default="realtime", choices=["realtime", "fast"], help="replay pacing of files")
    p.add_argument("--events", default="pretty", choices=["pretty", "jsonl"], help="output format on stdout")
    p.add_argument("--no-speech", action="store_true", help="no VAD/ASR on the stream's audio")
    add_engine_arguments(p)
    p.set_defaults(func=_cmd_run)


def build_sources(args: argparse.Namespace) -> tuple[list[Source], list[str]]:
    """Sources for ``run``; returns them with the errors of arguments that could not become sources."""
    sources: list[Source] = []
    errors: list[str] = []
    videos = list(args.video)
    if args.sample:
        from app.sample import sample_clip

        videos.append(str(sample_clip()))
    for path in videos:
        sources.append(VideoFileSource(path, fps=args.fps))
        if not args.no_video_audio and "://" not in path and _has_audio(path):
            sources.append(AudioFileSource(path, name=f"audio:{path.rsplit('/', 1)[-1]}"))
    sources.extend(WebcamSource(index, fps=args.fps) for index in args.webcam)
    sources.extend(AudioFileSource(path) for path in args.audio)
    if args.mic:
        sources.append(MicrophoneSource())
    lines = []
    for spec in args.text:
        try:
            lines.append(parse_timed_text(spec))
        except ValueError as exc:
            errors.append(f"--text {spec!r}: {exc}")
    if lines:
        sources.append(ScheduledTextSource(lines))
    return sources, errors


def _has_audio(path: str) -> bool:
    import av

    try:
        with av.open(path) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError):
        return False  # the video source reports the unreadable file


async def _run(args: argparse.Namespace) -> int:
    sources, errors = build_sources(args)
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    if not sources:
        print("error: nothing to run: give --sample, --video, --webcam, --audio, --mic or --text", file=sys.stderr)
        return 2
    clock: Clock = LiveClock() if any(s.live for s in sources) else ReplayClock(args.pace)
    config = engine_config(args, speech=not args.no_speech)
    try:
        session = await open_session(config, clock)
    except Exception as exc:
        print(f"error: cannot start the {args.backend} backend: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    printer = EventPrinter(args.events, sys.stdout)
    events = session.subscribe()

    async def show() -> None:
        async for event in events:
            printer.show(event)

    shower = asyncio.create_task(show())
    try:
        ran = await session.run(sources)
    except asyncio.CancelledError:
        await session.stop()
        raise
    finally:
        await shower
    return 0 if ran else 2


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130


def _cmd_models(args: argparse.Namespace) -> int:
    from app.tts import describe_voices
    from engine.model_files import describe_speech_assets
    from engine.vision.models import describe_vision_assets

    if args.prepare:
        from engine.backends.registry import get_backend
        from engine.runtime import load_policy, load_transcriber, load_vad

        options = SessionOptions()
        load_vad()
        load_transcriber(options.asr)
        load_policy(options.gate_mode, options.gate)
        get_backend("cascade")
    statuses = [*check_all(), *describe_speech_assets(), *describe_vision_assets(), *describe_voices()]
    for status in statuses:
        mark = "ready  " if status.ready else "missing"
        print(f"{status.backend:<10} {mark}  {status.detail}")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when a local omnistream server accepts connections on one of the ports (container healthcheck)."""
    import socket

    for number in args.port or [7860, 8765]:
        try:
            with socket.create_connection(("127.0.0.1", number), timeout=2.0):
                return 0
        except OSError:
            continue
    print(f"unhealthy: nothing listening on {', '.join(map(str, args.port or [7860, 8765]))}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnistream", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    p = sub.add_parser("models", help="list backends and whether their assets are present and loadable")
    p.add_argument("--prepare", action="store_true", help="load the embedded models once (joins and converts files)")
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("health", help="exit 0 when a local demo or websocket server is listening")
    p.add_argument("--port", type=port, action="append", help="port to check (default 7860 and 8765)")
    p.set_defaults(func=_cmd_health)
    from app.demo_cli import add_commands as add_demo_commands
    from app.serve_cli import add_commands as add_serve_commands
    from eval.cli import add_commands as add_eval_commands

    add_demo_commands(sub)
    add_serve_commands(sub)
    add_eval_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
