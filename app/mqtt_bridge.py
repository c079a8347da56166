"""``omnistream mqtt``: an MQTT bridge (aiomqtt) giving devices per-session topics into and out of the engine.

Topics under ``<prefix>/<session>/`` (``<session>``: 1-64 of ``A-Z a-z 0-9 _ -``); a session opens on its first
message. In: ``in/text`` (UTF-8 query, or JSON ``{"text", "turn_id"}`` naming its turn), ``in/frame`` (JPEG/PNG
bytes), ``in/audio`` (pcm16 LE mono 16 kHz), ``in/command`` (JSON ``{"command": "start"|"cancel"|"end"}``). Out:
``out/status`` (retained), ``out/transcript``, ``out/delta``, ``out/answer``, ``out/interrupted``, ``out/gate``,
``out/speech``, ``out/proactive``, ``out/metrics``, ``out/error``, ``out/event`` (any other engine event).
``<prefix>/bridge/status`` is retained ``online`` / ``offline`` (the will). QoS per topic is in ``OUT_QOS``; see
``docs/realtime_api.md``.

The bridge reconnects with exponential backoff when the broker goes away (or is down at start, or refuses the
credentials); engine sessions keep running meanwhile and their output waits in a bounded outbox that is flushed on
reconnection. TLS (``TlsOptions``) and per-session input rate limits (``app.limits``): see ``docs/security.md``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
from aiomqtt.exceptions import MqttConnectError  # CONNACK refusals (not exported at the top)

from app.audio_out import AudioSink
from app.limits import InputLimiter, RateGuard, RateLimits
from app.live import LiveSession, SessionLimitError, SessionManager
from app.speech_options import SpeechOptions
from app.speech_out import SpeechOut, open_speech_out, session_note
from engine.event_bus import SubscriberOverflow
from engine.events import (
    Error,
    Event,
    Metrics,
    QueryAccepted,
    QueryIgnored,
    ResponseDelta,
    ResponseDone,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TranscriptFailed,
)
from streams.images import ImageError, decode_image

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a session's name in its topics; a turn id is the same
# QoS 1 for what must arrive (answers, transcripts, state); QoS 0 for the high-rate stream (deltas, metrics, speech).
OUT_QOS = {
    "status": 1,
    "transcript": 1,
    "answer": 1,
    "interrupted": 1,
    "gate": 1,
    "proactive": 1,
    "error": 1,
    "event": 1,
    "delta": 0,
    "speech": 0,
    "metrics": 0,
}


_AUTH_REFUSED = (4, 5, 134, 135)  # CONNACK: bad user name or password / not authorised (MQTT 3.1.1 and 5)


def _text_input(payload: bytes) -> tuple[str, str | None]:
    """An ``in/text`` payload: the question as UTF-8 text, or a JSON object ``{"text": …, "turn_id": …}`` naming the
    turn (its ``out/gate`` and ``out/transcript`` events carry that id, so a client matches them by it)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("in/text: payload is not UTF-8 text") from None
    if not text.lstrip().startswith("{"):
        return text, None
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"in/text: a payload starting with '{{' must be a JSON object: {exc.msg}") from None
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        raise ValueError('in/text: a JSON payload needs "text" (a string) and may name a "turn_id"')
    turn_id = message.get("turn_id")
    if turn_id is not None and (not isinstance(turn_id, str) or not _SESSION_ID.match(turn_id)):
        raise ValueError("in/text: turn_id must be 1-64 characters of A-Z a-z 0-9 _ -")
    return message["text"], turn_id


@dataclass(frozen=True)
class TlsOptions:
    """TLS to the broker, verified against ``ca_file`` (else the system's CAs); ``cert_file``/``key_file``: a client
    certificate for brokers that require one; ``insecure``: verify nothing (self-signed testing only)."""

    ca_file: str | None = None  # CA certificate(s) to verify the broker with; None: the system's CAs
    cert_file: str | None = None  # client certificate, for brokers that require one
    key_file: str | None = None  # private key of cert_file
    insecure: bool = False  # verify neither the broker's certificate nor its host name

    def __post_init__(self) -> None:
        for flag, path in (("--ca-file", self.ca_file), ("--cert-file", self.cert_file), ("--key-file", self.key_file)):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{flag} {path}: no such file")
        if self.key_file and not self.cert_file:
            raise ValueError("--key-file needs --cert-file")

    def parameters(self) -> aiomqtt.TLSParameters:
        return aiomqtt.TLSParameters(
            ca_certs=self.ca_file,
            certfile=self.cert_file,
            keyfile=self.key_file,
            cert_reqs=ssl.CERT_NONE if self.insecure else ssl.CERT_REQUIRED,
        )


@dataclass(frozen=True)
class BridgeOptions:
    host: str = "127.0.0.1"  # the broker
    port: int = 1883  # the broker's port (8883 is usual with TLS)
    prefix: str = "omnistream"  # topics are <prefix>/<session>/in|out/...
    client_id: str | None = None  # MQTT client id; None = generated
    username: str | None = None  # broker user name
    password: str | None = None  # broker password (from OMNISTREAM_MQTT_PASSWORD on the command line)
    keepalive_s: int = 10  # MQTT keepalive: how soon a dead connection is noticed
    reconnect_min_s: float = 0.5  # first wait before reconnecting; doubles per failed attempt
    reconnect_max_s: float = 15.0  # longest wait between reconnection attempts
    max_frame_bytes: int = 8 * 1024 * 1024  # larger in/frame payloads are refused on out/error
    outbox_max: int = 10_000  # messages kept while the broker is away; the oldest go first (counted, logged)
    tls: TlsOptions | None = None  # None: plain MQTT; else TLS to the broker (TlsOptions)
    limits: RateLimits = field(default_factory=RateLimits)  # per-session input rates (app/limits.py)


def parse_broker(spec: str, default_port: int = 1883) -> tuple[str, int]:
    """``HOST[:PORT]`` → (host, port); raises ``ValueError`` naming the problem."""
    host, sep, port = spec.rpartition(":")
    if not sep:
        host, port = spec, str(default_port)
    if not host:
        raise ValueError(f"--broker {spec!r}: missing host (expected HOST:PORT)")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--broker {spec!r}: port must be a number within 1..65535")
    return host, int(port)


class MqttBridge:
    def __init__(
        self,
        manager: SessionManager,
        options: BridgeOptions,
        *,
        speech_sink: AudioSink | None = None,
        speech: SpeechOptions | None = None,
    ) -> None:
        """``speech_sink``: speak answers there (``--speak``: this machine's output), one answer at a time for all
        sessions, each session's echo guard told what is played. The loudspeaker is one, in one room: speech heard in
        any session pauses it, while a turn accepted in a session cuts only that session's answer."""
        self.manager = manager
        self.options = options
        self.speech: SpeechOut | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        if speech_sink is not None:
            self.speech = open_speech_out(
                speech_sink,
                speech or SpeechOptions(),
                manager.config.options,
                note=self._note_playback,
                report=self._speech_problem,
            )
        self.connected = asyncio.Event()
        self.connections = 0
        self.dropped = 0
        self.last_error: str | None = None  # why the latest connection attempt failed or the connection was lost
        self.sessions: dict[str, LiveSession] = {}
        self.rate_guards: dict[str, RateGuard] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._outbox: collections.deque[tuple[str, bytes, int, bool]] = collections.deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()

    def topic(self, session_id: str, name: str) -> str:
        return f"{self.options.prefix}/{session_id}/out/{name}"

    # ------------------------------------------------------------------ outbox
    def publish(self, session_id: str, name: str, payload: dict[str, Any], *, retain: bool = False) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self._queue(self.topic(session_id, name), data, OUT_QOS[name], retain)

    def _queue(self, topic: str, data: bytes, qos: int, retain: bool) -> None:
        if len(self._outbox) >= self.options.outbox_max:
            self._outbox.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("MQTT outbox full while the broker is away: %d oldest messages dropped", self.dropped)
        self._outbox.append((topic, data, qos, retain))
        self._outbox_empty.clear()
        self._outbox_ready.set()

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            while not self._outbox:
                self._outbox_empty.set()
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
            topic, data, qos, retain = self._outbox[0]
            await client.publish(topic, data, qos=qos, retain=retain)
            self._outbox.popleft()

    # ------------------------------------------------------------------ connection
    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff for ever (until cancelled)."""
        o = self.options
        delay = o.reconnect_min_s
        status = f"{o.prefix}/bridge/status"
        while True:
            try:
                async with aiomqtt.Client(
                    o.host,
                    o.port,
                    identifier=o.client_id,
                    username=o.username,
                    password=o.password,
                    keepalive=o.keepalive_s,
                    tls_params=o.tls.parameters() if o.tls else None,
                    tls_insecure=o.tls.insecure if o.tls else None,
                    will=aiomqtt.Will(status, b"offline", qos=1, retain=True),
                ) as client:
                    delay = o.reconnect_min_s
                    self.last_error = None
                    await client.subscribe(f"{o.prefix}/+/in/#", qos=1)
                    await client.publish(status, b"online", qos=1, retain=True)
                    self.connections += 1
                    self.connected.set()
                    log.warning("MQTT bridge connected to %s:%d (prefix %r)", o.host, o.port, o.prefix)
                    try:
                        await self._serve(client)
                    finally:  # a clean disconnect does not fire the will: say it ourselves
                        with contextlib.suppress(aiomqtt.MqttError):
                            await client.publish(status, b"offline", qos=1, retain=True, timeout=2)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self.last_error = _connection_problem(exc)
                log.warning("MQTT broker %s:%d %s; retrying in %.1f s", o.host, o.port, self.last_error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, o.reconnect_max_s)

    async def _serve(self, client: aiomqtt.Client) -> None:
        publisher = asyncio.create_task(self._publisher(client), name="mqtt-publisher")
        listener = asyncio.create_task(self._listen(client), name="mqtt-listener")
        try:
            done, _ = await asyncio.wait([publisher, listener], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            self.connected.clear()
            for task in (publisher, listener):
                task.cancel()
            await asyncio.gather(publisher, listener, return_exceptions=True)

    async def _listen(self, client: aiomqtt.Client) -> None:
        head = f"{self.options.prefix}/"
        async for message in client.messages:
            topic = message.topic.value
            parts = topic[len(head) :].split("/") if topic.startswith(head) else []
            if len(parts) != 3 or parts[1] != "in":
                continue
            session_id, _, kind = parts
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
            if not _SESSION_ID.match(session_id):
                log.warning("MQTT: ignoring message on %r: invalid session id", message.topic.value)
                continue
            if not self._admit(session_id, kind, payload):
                continue
            try:
                await self._on_message(session_id, kind, payload)
            except (ValueError, RuntimeError) as exc:
                self.publish(session_id, "error", {"topic": f"in/{kind}", "error": str(exc)})

    # ------------------------------------------------------------------ input
    def _admit(self, session_id: str, kind: str, payload: bytes) -> bool:
        """Rate limits of an open session: over them the message is dropped and reported on out/error."""
        guard = self.rate_guards.get(session_id)
        return guard is None or (guard.admit(len(payload), kind) and (kind != "frame" or guard.admit_frame(kind)))

    async def _on_message(self, session_id: str, kind: str, payload: bytes) -> None:
        if kind == "command":
            await self._command(session_id, payload)
            return
        if kind not in ("text", "frame", "audio"):
            raise ValueError(f"unknown input topic 'in/{kind}' (text, frame, audio, command)")
        live = await self._session(session_id)
        if live is None:
            return
        if kind == "text":
            text, turn_id = _text_input(payload)
            live.session.submit_text(text, turn_id=turn_id)
        elif kind == "frame":
            live.video.push_frame(self._decode_frame(payload))
        else:
            if len(payload) % 2:
                raise ValueError(f"in/audio: {len(payload)} bytes; pcm16 needs an even number of bytes")
            live.audio.push_audio(np.frombuffer(payload, dtype="<i2").astype(np.float32) / 32768.0)

    def _decode_frame(self, payload: bytes) -> np.ndarray:
        if len(payload) > self.options.max_frame_bytes:
            raise ValueError(f"in/frame: {len(payload)} bytes is over the limit of {self.options.max_frame_bytes}")
        try:
            return decode_image(payload)  # the size is checked from the header, before decoding
        except ImageError as exc:
            raise ValueError(f"in/frame: {exc}") from None

    async def _command(self, session_id: str, payload: bytes) -> None:
        try:
            data = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError('in/command: payload must be JSON like {"command": "cancel"}') from None
        command = data.get("command") if isinstance(data, dict) else None
        if command == "start":
            await self._session(session_id)
        elif command == "cancel":
            live = self.sessions.get(session_id)
            if live is None or not live.session.cancel_response("cancelled over MQTT"):
                raise ValueError("in/command cancel: no response in progress")
        elif command == "end":
            live = self.sessions.get(session_id)
            if live is None:
                raise ValueError("in/command end: no open session")
            await self.manager.close(live)
        else:
            raise ValueError(f"in/command: unknown command {command!r} (start, cancel, end)")

    async def _session(self, session_id: str) -> LiveSession | None:
        live = self.sessions.get(session_id)
        if live is not None:
            return live
        try:
            live = await self.manager.open(session_id=session_id)
        except SessionLimitError as exc:
            self.publish(
                session_id, "status", {"state": "refused", "session_id": session_id, "reason": str(exc)}, retain=True
            )
            self.publish(session_id, "error", {"topic": "in", "error": str(exc)})
            return None
        self.sessions[session_id] = live
        limiter = InputLimiter(self.options.limits, largest_message=self.options.max_frame_bytes)
        self.rate_guards[session_id] = RateGuard(
            limiter,
            lambda report, kind: self.publish(
                session_id, "error", {"topic": f"in/{kind or '#'}", "error": report, "code": "rate_limited"}
            ),
        )
        self.publish(session_id, "status", {"state": "open", "session_id": session_id}, retain=True)
        self._pumps[session_id] = asyncio.create_task(self._pump(session_id, live), name=f"mqtt-pump-{session_id}")
        return live

    # ------------------------------------------------------------------ output
    async def _pump(self, session_id: str, live: LiveSession) -> None:
        reason = "ended"
        try:
            async for event in live.events:
                self._on_event(session_id, event)
                if isinstance(event, SessionEnded):
                    reason = event.reason
        except SubscriberOverflow as exc:
            reason = str(exc)
            await self.manager.close(live)
        finally:
            self.sessions.pop(session_id, None)
            self._pumps.pop(session_id, None)
            guard = self.rate_guards.pop(session_id, None)
            if guard is not None:
                guard.close()
                if guard.limiter.total_dropped:
                    log.warning("MQTT session %s: rate limits dropped %s", session_id, guard.limiter.dropped)
            self.publish(
                session_id, "status", {"state": "closed", "session_id": session_id, "reason": reason}, retain=True
            )

    def _on_event(self, sid: str, event: Event) -> None:
        data = event.to_dict()
        if isinstance(event, Transcript | TranscriptFailed):
            self.publish(sid, "transcript", data)
        elif isinstance(event, ResponseDelta):
            self.publish(sid, "delta", data)
        elif isinstance(event, ResponseDone):
            self.publish(sid, "answer" if event.status == "completed" else "interrupted", data)
        elif isinstance(event, (QueryAccepted, QueryIgnored)):
            self.publish(sid, "gate", data)
        elif isinstance(event, (SpeechStarted, SpeechStopped)):
            self.publish(sid, "speech", data)
        elif isinstance(event, Metrics):
            self.publish(sid, "metrics", data)
        elif isinstance(event, Error):
            self.publish(sid, "error", data)
        elif event.type == "proactive":
            self.publish(sid, "proactive", data)
        elif not isinstance(event, SessionStarted):
            self.publish(sid, "event", data)
        if self.speech is not None:
            self.speech.handle(event, scope=f"{sid}/")

    def _note_playback(self, key: str, delay_s: float, samples: np.ndarray) -> None:
        """Called from the speech worker as a chunk of ``<session>/<response>`` goes to the local output."""
        live = self.sessions.get(key.partition("/")[0])
        if live is not None:
            session_note(live.session)(key, delay_s, samples)

    def _speech_problem(self, message: str) -> None:
        """From the speech worker: every session hears it on out/error (the session goes on)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._publish_speech_problem, message)

    def _publish_speech_problem(self, message: str) -> None:
        for sid in list(self.sessions):
            self.publish(sid, "error", {"type": "error", "source": "tts", "message": message, "fatal": False})

    async def close(self, flush_timeout_s: float = 2.0) -> None:
        """End every session of the bridge and, while connected, let their ``closed`` status reach the broker."""
        for live in list(self.sessions.values()):
            await self.manager.close(live)
        pumps = list(self._pumps.values())
        await asyncio.gather(*pumps, return_exceptions=True)
        if self.connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_empty.wait(), flush_timeout_s)
        if self.speech is not None:
            with contextlib.suppress(Exception):
                self.speech.close()


def _connection_problem(exc: aiomqtt.MqttError) -> str:
    """What went wrong with the broker connection, in words that point at the fix."""
    rc = getattr(exc, "rc", None)
    if isinstance(exc, MqttConnectError) and rc is not None and int(getattr(rc, "value", rc)) in _AUTH_REFUSED:
        return f"refused the credentials ({exc}): check --username and OMNISTREAM_MQTT_PASSWORD"
    if "SSL" in str(exc) or "certificate" in str(exc).lower():
        return f"TLS handshake failed ({exc}): check --ca-file / --cert-file / --key-file"
    return f"unreachable or connection lost ({exc})"
