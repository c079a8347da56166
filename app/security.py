"""Access control shared by the interfaces: the loopback rule for unauthenticated servers, API keys from flags or the
environment compared in constant time, the websocket handshake's key and origin checks, and redaction of the
websocket library's debug log (headers carrying keys, message contents carrying media)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Iterable
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.frames import Frame

API_KEY_ENV = "OMNISTREAM_API_KEY"
MQTT_PASSWORD_ENV = "OMNISTREAM_MQTT_PASSWORD"
BROWSER_KEY_PROTOCOL = "openai-insecure-api-key."  # browsers cannot set headers: the key rides in a subprotocol
REALTIME_PROTOCOL = "realtime"
_LOCAL_ORIGIN_HOSTS = ("localhost", "127.0.0.1", "::1")
_SECRET_HEADERS = ("authorization", "sec-websocket-protocol", "cookie")


class InsecureBindError(ValueError):
    """A server asked to listen beyond loopback without a key and without the explicit opt-out."""


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (an unresolvable name is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def require_key_off_loopback(host: str, key: str | None, *, allow_unauthenticated: bool, what: str) -> None:
    """Refuse to serve beyond loopback without a key unless the operator opted out explicitly."""
    if key or allow_unauthenticated or is_loopback(host):
        return
    raise InsecureBindError(
        f"{what}: --host {host or '(all interfaces)'} is reachable from other machines, so it needs an access key: "
        f"set the {API_KEY_ENV} environment variable (or --api-key), or pass --allow-unauthenticated to serve "
        "without one"
    )


def api_key_from(flag_value: str | None) -> str | None:
    """The access key of ``serve`` and ``demo``: ``--api-key`` (with a warning) or else ``OMNISTREAM_API_KEY``."""
    return _secret(flag_value, "--api-key", API_KEY_ENV, os.environ.get("OMNISTREAM_API_KEY"))


def mqtt_password_from(flag_value: str | None) -> str | None:
    """The broker password: ``--password`` (with a warning) or else ``OMNISTREAM_MQTT_PASSWORD``."""
    return _secret(flag_value, "--password", MQTT_PASSWORD_ENV, os.environ.get("OMNISTREAM_MQTT_PASSWORD"))


def _secret(flag_value: str | None, flag: str, env: str, env_value: str | None) -> str | None:
    if flag_value:
        print(
            f"warning: {flag} on the command line is visible to other users of this machine (ps); "
            f"prefer the {env} environment variable",
            file=sys.stderr,
        )
        return flag_value
    return env_value or None


def keys_match(offered: str | None, expected: str) -> bool:
    """Constant-time comparison of a client's key with the server's."""
    return offered is not None and hmac.compare_digest(offered.encode(), expected.encode())


def offered_key(headers: Headers) -> str | None:
    """The key of a websocket handshake: ``Authorization: Bearer KEY`` or the ``openai-insecure-api-key.KEY``
    subprotocol (the OpenAI convention for browsers)."""
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        for protocol in value.split(","):
            protocol = protocol.strip()
            if protocol.startswith(BROWSER_KEY_PROTOCOL):
                return protocol[len(BROWSER_KEY_PROTOCOL) :]
    return None


def select_subprotocol(_connection: object, offered: Iterable[str]) -> str | None:
    """Answer ``realtime`` when a browser offers it (never echo the key protocol); continue without one otherwise."""
    return REALTIME_PROTOCOL if REALTIME_PROTOCOL in offered else None


def _normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """No ``Origin`` (not a browser): allowed. Otherwise the configured origins (``*`` for any) or, with none
    configured, pages served from this machine (``http(s)://localhost|127.0.0.1|[::1]`` on any port)."""
    if origin is None:
        return True
    allowed = [_normalise_origin(a) for a in allowed]
    if allowed:
        return "*" in allowed or _normalise_origin(origin) in allowed
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.hostname in _LOCAL_ORIGIN_HOSTS


REPLAY_URL_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "srt")


def replay_url_problem(text: str) -> str | None:
    """Why a typed video address may not be replayed, or None. Only network streams: a local path, ``file:`` or
    one of FFmpeg's other protocols (``concat:``, ``subfile:``…) would let a page visitor read the server's files."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return f"not a valid URL: {text!r}"
    if parts.scheme.lower() not in REPLAY_URL_SCHEMES or not parts.netloc:
        schemes = ", ".join(f"{s}://" for s in REPLAY_URL_SCHEMES)
        return f"not a video URL: {text!r}; type a {schemes} address, or upload a file"
    return None


class WireLogRedactor(logging.Filter):
    """Keeps keys and media out of the websocket library's debug log: secret header values and message payloads are
    replaced by their length."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            if len(args) == 2 and str(args[0]).lower() in _SECRET_HEADERS:
                record.args = (args[0], f"[redacted, {len(str(args[1]))} characters]")
            elif any(isinstance(a, Frame) for a in args):
                record.args = tuple(_frame_summary(a) if isinstance(a, Frame) else a for a in args)
        return True


def _frame_summary(frame: Frame) -> str:
    return f"{frame.opcode.name} [{len(frame.data)} bytes]"
