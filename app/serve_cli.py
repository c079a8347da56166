"""``omnistream serve`` (Realtime websocket API) and ``omnistream mqtt`` (MQTT bridge): argparse subcommands.

Both build one ``SessionManager`` per process, so every client shares the loaded models under one session limit.
Secrets come from the environment (``OMNISTREAM_API_KEY``, ``OMNISTREAM_MQTT_PASSWORD``) or, with a warning, from
flags. See ``docs/security.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from app.arg_types import port_or_any, positive, positive_int, sessions_limit
from app.capacity import CapacityUnknown, resolve_max_sessions
from app.limits import RateLimits
from app.live import SessionManager
from app.security import API_KEY_ENV, MQTT_PASSWORD_ENV, InsecureBindError, api_key_from, mqtt_password_from
from app.speech_options import add_speech_arguments, speech_options

log = logging.getLogger("omnistream")

SESSIONS_HELP = (
    "live sessions at once (others are refused), or 'auto': as many as the cores carry at the per-session cost "
    "measured by benchmarks/bench_capacity.py"
)


def _session_manager(args: argparse.Namespace) -> SessionManager:
    """The process's one manager, its limit resolved (``auto``: from the measured cost; none measured: exit naming
    the command that measures it)."""
    from app.cli import engine_config

    try:
        limit, source = resolve_max_sessions(args.max_sessions)
    except CapacityUnknown as exc:
        raise SystemExit(f"error: {exc}") from None
    if source:
        print(f"{source}: at most {limit} live sessions", file=sys.stderr)
    return SessionManager(engine_config(args, speech=not args.no_speech), max_sessions=limit, limit_source=source)


def _add_rate_limit_arguments(p: argparse.ArgumentParser) -> None:
    d = RateLimits()
    p.add_argument(
        "--max-messages-per-s",
        type=positive,
        default=d.messages_per_s,
        help="per-session input messages per second; more are dropped with a rate_limited error",
    )
    p.add_argument(
        "--max-mb-per-s",
        type=positive,
        default=d.bytes_per_s / 1024 / 1024,
        help="per-session input MiB per second; more are dropped with a rate_limited error",
    )
    p.add_argument(
        "--max-input-fps",
        type=positive,
        default=d.max_fps,
        help="per-session video frames per second accepted; more are dropped and counted",
    )


def _rate_limits(args: argparse.Namespace) -> RateLimits:
    return RateLimits(
        messages_per_s=args.max_messages_per_s,
        bytes_per_s=args.max_mb_per_s * 1024 * 1024,
        max_fps=args.max_input_fps,
    )


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from app.cli import add_engine_arguments

    p = subparsers.add_parser("serve", help="OpenAI-Realtime-compatible websocket API (ws://HOST:PORT/v1/realtime)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on; beyond loopback an API key is required")
    p.add_argument("--port", type=port_or_any, default=8765, help="TCP port (0: any free port)")
    p.add_argument("--max-sessions", type=sessions_limit, default=4, help=SESSIONS_HELP)
    p.add_argument("--max-message-mb", type=positive_int, default=16, help="largest websocket message accepted (MiB)")
    p.add_argument("--no-speech", action="store_true", help="no VAD/ASR on clients' audio (text and video only)")
    p.add_argument("--no-speak", action="store_true", help="do not offer spoken replies (output_modalities audio)")
    add_speech_arguments(p)
    p.add_argument(
        "--api-key",
        default=None,
        help=f"require this key from clients (Authorization: Bearer, or the openai-insecure-api-key.KEY subprotocol); "
        f"prefer the {API_KEY_ENV} environment variable",
    )
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve on a non-loopback --host without an API key (anyone who reaches the port can use it)",
    )
    p.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed to connect, e.g. https://app.example (repeatable; '*' for any); "
        "default: pages on this machine (localhost) only",
    )
    _add_rate_limit_arguments(p)
    add_engine_arguments(p)
    p.set_defaults(func=_cmd_serve)

    m = subparsers.add_parser("mqtt", help="MQTT bridge: per-session topics <prefix>/<session>/in|out/...")
    m.add_argument("--broker", default="127.0.0.1", metavar="HOST[:PORT]", help="port 1883, or 8883 with TLS")
    m.add_argument("--prefix", default="omnistream", help="topic prefix")
    m.add_argument("--client-id", default=None, help="MQTT client id (default: chosen by the client library)")
    m.add_argument("--username", default=None, help="broker user name")
    m.add_argument("--password", default=None, help=f"prefer the {MQTT_PASSWORD_ENV} environment variable")
    m.add_argument("--tls", action="store_true", help="connect with TLS (verifying the broker's certificate)")
    m.add_argument("--ca-file", default=None, help="CA certificate(s) to verify the broker with (implies --tls)")
    m.add_argument("--cert-file", default=None, help="client certificate for mutual TLS (implies --tls)")
    m.add_argument("--key-file", default=None, help="private key of --cert-file (implies --tls)")
    m.add_argument(
        "--tls-insecure",
        action="store_true",
        help="TLS without verifying the broker's certificate or host name (testing with self-signed certificates)",
    )
    _add_rate_limit_arguments(m)
    m.add_argument("--max-sessions", type=sessions_limit, default=4, help=SESSIONS_HELP)
    m.add_argument("--no-speech", action="store_true", help="no VAD/ASR on in/audio")
    m.add_argument("--speak", action="store_true", help="speak answers on this machine's audio output")
    add_speech_arguments(m)
    add_engine_arguments(m)
    m.set_defaults(func=_cmd_mqtt)


def _cmd_serve(args: argparse.Namespace) -> int:
    from app.ws_server import RealtimeServer, ServerOptions

    try:
        speech = speech_options(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = ServerOptions(
        host=args.host,
        port=args.port,
        max_message_bytes=args.max_message_mb * 1024 * 1024,
        speak=not args.no_speak,
        speech=speech,
        api_key=api_key_from(args.api_key),
        allow_unauthenticated=args.allow_unauthenticated,
        allowed_origins=tuple(args.allowed_origin),
        limits=_rate_limits(args),
    )
    manager = _session_manager(args)

    async def main() -> None:
        server = RealtimeServer(manager, options)
        try:
            await server.start()
        except InsecureBindError as exc:
            raise SystemExit(f"error: {exc}") from None
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
    from app.mqtt_bridge import BridgeOptions, MqttBridge, TlsOptions, parse_broker

    tls = args.tls or any((args.ca_file, args.cert_file, args.key_file, args.tls_insecure))
    try:
        host, port = parse_broker(args.broker, default_port=8883 if tls else 1883)
        tls_options = TlsOptions(args.ca_file, args.cert_file, args.key_file, args.tls_insecure) if tls else None
        speech = speech_options(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.tls_insecure:
        print("warning: --tls-insecure: the broker's certificate is not verified", file=sys.stderr)
    options = BridgeOptions(
        host=host,
        port=port,
        prefix=args.prefix,
        client_id=args.client_id,
        username=args.username,
        password=mqtt_password_from(args.password),
        tls=tls_options,
        limits=_rate_limits(args),
    )
    manager = _session_manager(args)

    async def main() -> None:
        from app.tts import TtsUnavailable

        sink = None
        if args.speak:
            from app.audio_out import LocalPlayer, default_output_rate

            try:
                rate = speech.device_rate or default_output_rate()
                sink = LocalPlayer(rate, lead_s=speech.device_lead_ms / 1000)
            except TtsUnavailable as exc:
                raise SystemExit(f"error: --speak: {exc}") from None
        try:
            bridge = MqttBridge(manager, options, speech_sink=sink, speech=speech)
        except TtsUnavailable as exc:
            raise SystemExit(f"error: --speak: {exc}") from None
        scheme = "mqtts" if tls else "mqtt"
        print(
            f"omnistream MQTT bridge for {scheme}://{host}:{port}, topics {args.prefix}/<session>/...", file=sys.stderr
        )
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
