"""The ``omnistream demo`` command: the Gradio live demo in the browser."""

from __future__ import annotations

import argparse
import sys

from app.arg_types import port, positive_int
from app.security import API_KEY_ENV, InsecureBindError, api_key_from
from app.speech_options import add_speech_arguments, speech_options


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo`` on the ``omnistream`` command line."""
    from app.cli import add_engine_arguments

    p = subparsers.add_parser("demo", help="the live demo in the browser: webcam, microphone, video files, text")
    p.add_argument("--host", default="127.0.0.1", help="interface to serve on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=port, default=7860, help="TCP port")
    p.add_argument("--max-sessions", type=positive_int, default=4, help="browser tabs served at once")
    p.add_argument("--no-speech", action="store_true", help="no VAD/ASR on the microphone (typed questions only)")
    p.add_argument("--no-spoken-replies", action="store_true", help="do not speak answers in the browser")
    add_speech_arguments(p)
    p.add_argument(
        "--api-key",
        default=None,
        help=f"access token the page's login asks for (any user name); prefer the {API_KEY_ENV} environment variable",
    )
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve on a non-loopback --host without an access token (anyone who reaches the port can use it)",
    )
    add_engine_arguments(p)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from app.cli import engine_config
    from app.gradio_demo import launch
    from app.live import SessionManager

    try:
        speech = speech_options(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manager = SessionManager(engine_config(args, speech=not args.no_speech), max_sessions=args.max_sessions)
    try:
        launch(
            manager,
            host=args.host,
            port=args.port,
            spoken=not args.no_spoken_replies,
            speech=speech,
            api_key=api_key_from(args.api_key),
            allow_unauthenticated=args.allow_unauthenticated,
        )
    except InsecureBindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"error: the demo could not start ({args.backend} backend): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
