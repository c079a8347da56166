"""``omnistream serve`` (Realtime websocket API) and ``omnistream mqtt`` (MQTT bridge): argparse subcommands.

Both build one ``SessionManager`` per process, so every client shares the loaded models under one session limit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from app.live import SessionManager

log = logging.getLogger("omnistream")


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {number}")
    return number


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from app.cli import add_engine_arguments

    p = subparsers.add_parser("serve", help="OpenAI-Realtime-compatible websocket API (ws://HOST:PORT/v1/realtime)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--max-sessions", type=_at_least_one, default=4, help="live sessions at once (others are refused)")
    p.add_argument("--max-message-mb", type=_at_least_one, default=16, help="largest websocket message accepted (MiB)")
    p.add_argument("--no-speech", action="store_true", help="no VAD/ASR on clients' audio (text and video only)")
    p.add_argument("--no-speak", action="store_true", help="do not offer spoken replies (output_modalities audio)")
    p.add_argument("--voice", default="en-us", help="espeak-ng voice for spoken replies")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' from clients")
    add_engine_arguments(p)
    p.set_defaults(func=_cmd_serve)

    m = subparsers.add_parser("mqtt", help="MQTT bridge: per-session topics <prefix>/<session>/in|out/...")
    m.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT")
    m.add_argument("--prefix", default="omnistream", help="topic prefix")
    m.add_argument("--client-id", default=None)
    m.add_argument("--username", default=None)
    m.add_argument("--password", default=None)
    m.add_argument("--max-sessions", type=_at_least_one, default=4)
    m.add_argument("--no-speech", action="store_true", help="no VAD/ASR on in/audio")
    m.add_argument("--speak", action="store_true", help="speak answers on this machine's audio output")
    m.add_argument("--voice", default="en-us", help="espeak-ng voice for --speak")
    add_engine_arguments(m)
    m.set_defaults(func=_cmd_mqtt)


def _cmd_serve(args: argparse.Namespace) -> int:
    from app.cli import engine_config
    from app.ws_server import RealtimeServer, ServerOptions

    manager = SessionManager(engine_config(args, speech=not args.no_speech), max_sessions=args.max_sessions)
    options = ServerOptions(
        host=args.host,
        port=args.port,
        max_message_bytes=args.max_message_mb * 1024 * 1024,
        speak=not args.no_speak,
        voice=args.voice,
        api_key=args.api_key,
    )

    async def main() -> None:
        server = RealtimeServer(manager, options)
        try:
            await server.start()
        except OSError as exc:
            raise SystemExit(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        print(f"omnistream realtime API on ws://{args.host}:{server.port}/v1/realtime", file=sys.stderr, flush=True)
        try:
            await server.serve_forever()
        finally:
            await server.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    return 0


def _cmd_mqtt(args: argparse.Namespace) -> int:
    from app.cli import engine_config
    from app.mqtt_bridge import BridgeOptions, MqttBridge, parse_broker

    try:
        host, port = parse_broker(args.broker)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manager = SessionManager(engine_config(args, speech=not args.no_speech), max_sessions=args.max_sessions)
    options = BridgeOptions(
        host=host,
        port=port,
        prefix=args.prefix,
        client_id=args.client_id,
        username=args.username,
        password=args.password,
    )

    async def main() -> None:
        speaker = None
        if args.speak:
            from app.tts import EspeakVoice, LocalPlayer, Speaker, TtsUnavailable

            try:
                voice = EspeakVoice(args.voice)
                voice.check()
                speaker = Speaker(LocalPlayer(), voice)
            except TtsUnavailable as exc:
                raise SystemExit(f"error: --speak: {exc}") from None
        bridge = MqttBridge(manager, options, speaker=speaker)
        print(f"omnistream MQTT bridge for {host}:{port}, topics {args.prefix}/<session>/...", file=sys.stderr)
        runner = asyncio.create_task(bridge.run())
        try:
            await runner
        finally:
            await bridge.close()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    return 0
