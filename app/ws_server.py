"""``omnistream serve``: an OpenAI Realtime (GA) compatible websocket server over the engine.

Each connection to ``ws://HOST:PORT/v1/realtime`` (any path ending in ``/realtime``) gets its own live engine session
from the process-wide ``SessionManager`` (one loaded model for all). Client events are parsed by
``app.realtime_protocol``; engine events are translated to Realtime server events; engine events without a Realtime
counterpart are forwarded as extension events under their engine type. One writer task sends everything, in order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from app.limits import InputLimiter, RateGuard, RateLimits
from app.live import LiveSession, SessionLimitError, SessionManager
from app.realtime_protocol import (
    OPENAI_VOICES,
    WIRE_RATE,
    AudioAppend,
    AudioClear,
    AudioCommit,
    ClientEvent,
    InputAudioConverter,
    ItemCreate,
    ItemTruncate,
    Modality,
    ProtocolError,
    ResponseCancel,
    ResponseCreate,
    SessionConfig,
    SessionUpdate,
    TurnDetection,
    VideoAppend,
    assistant_item,
    error_event,
    new_id,
    parse_client_event,
    pcm16_base64,
    response_object,
    server_event,
    user_item,
)
from app.security import (
    WireLogRedactor,
    keys_match,
    offered_key,
    origin_allowed,
    require_key_off_loopback,
    select_subprotocol,
)
from app.speech_options import SpeechOptions
from app.speech_out import SpeechOut, open_speech_out, session_note
from app.tts import TtsUnavailable, espeak_voice, open_voice
from engine.event_bus import SubscriberOverflow
from engine.events import (
    Error,
    Event,
    ResponseDelta,
    ResponseDone,
    ResponseStarted,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TranscriptFailed,
)
from streams.items import CHUNK_SAMPLES

log = logging.getLogger(__name__)
_wire_log = logging.getLogger(f"{__name__}.wire")  # the websockets library's own log, keys and payloads redacted
_wire_log.addFilter(WireLogRedactor())

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # the Realtime API takes up to 15 MiB of audio per append
CLOSE_TRY_AGAIN_LATER = 1013
_SPOKEN_ITEMS_KEPT = 32  # assistant audio items a client may still truncate
_FUTURE_FRAME_SLACK_S = 1.0  # a frame's timestamp may run this far ahead of the session clock (clock skew)
_OUTBOX_MAX = 20_000  # server events waiting for a client that does not read; beyond this it is disconnected


@dataclass
class _Reply:
    """One engine response as the client sees it."""

    engine_id: str
    response_id: str
    item_id: str
    modality: Modality
    metadata: dict[str, str] | None
    text: str = ""
    audio_samples: int = 0
    engine_done: ResponseDone | None = None
    cancel_reason: str | None = None
    finished: bool = False


class _WebsocketAudioSink:
    """Speech-out sink that hands each chunk to the connection's event loop, ``lead_s`` ahead of playback."""

    sample_rate = WIRE_RATE
    drops_on_stop = False

    def __init__(self, connection: RealtimeConnection, loop: asyncio.AbstractEventLoop, lead_s: float) -> None:
        self._connection = connection
        self._loop = loop
        self.lead_s = lead_s

    def write(self, response_id: str, pcm: np.ndarray) -> None:
        self._loop.call_soon_threadsafe(self._connection.on_audio, response_id, pcm)

    def stop(self) -> None:
        """Audio already sent is the client's to drop (``conversation.item.truncate``); nothing is queued here."""


class RealtimeConnection:
    """One client: its engine session, the Realtime conversation state and the event translation."""

    def __init__(
        self,
        ws: ServerConnection,
        live: LiveSession,
        config: SessionConfig,
        speech: SpeechOptions,
        limiter: InputLimiter,
    ) -> None:
        self.ws = ws
        self.live = live
        self.rate = RateGuard(limiter, self._rate_limited)
        self.config = config
        self.speech_options = speech
        self.converter = InputAudioConverter()
        self.outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.pending: list[str] = []  # user text items waiting for response.create
        self.response_modality: Modality | None = None
        self.response_metadata: dict[str, str] | None = None
        self.replies: dict[str, _Reply] = {}
        self.spoken: collections.OrderedDict[str, _Reply] = collections.OrderedDict()  # item id → reply, for truncate
        self.active: _Reply | None = None
        self.turn: str | None = None  # item id of the utterance in progress
        self.uncommitted = False  # audio appended since the last turn ended or commit
        self.samples_pushed = 0  # 16 kHz samples handed to the session's audio stream
        self.chunks_pushed = 0  # the chunks they made: the position commit_audio / clear_audio refer to
        self.buffered_samples = 0  # manual turns: samples appended since the last commit or clear
        self.items: dict[str, str] = {}  # engine turn id → the user item of that turn, until its transcript
        self.last_item_id: str | None = None
        self.speech: SpeechOut | None = None
        self.overflowed = False
        self.closer: asyncio.Future[None] | None = None
        self.loop = asyncio.get_running_loop()

    # ------------------------------------------------------------------ plumbing
    def send(self, event: dict[str, Any]) -> None:
        if self.outbox.qsize() >= _OUTBOX_MAX:
            if not self.overflowed:
                self.overflowed = True
                log.warning("session %s: client is not reading; closing the connection", self.live.session_id)
                self.closer = asyncio.ensure_future(self.ws.close(1008, "client does not read events fast enough"))
            return
        self.outbox.put_nowait(event)

    def send_error(self, err: ProtocolError) -> None:
        self.send(error_event(err))

    async def writer(self) -> None:
        while True:
            event = await self.outbox.get()
            if event is None:
                return
            await self.ws.send(json.dumps(event, ensure_ascii=False, separators=(",", ":")))

    async def reader(self) -> None:
        async for message in self.ws:
            if not self.rate.admit(len(message)):
                continue
            try:
                event = parse_client_event(message)
                if isinstance(event, VideoAppend) and not self.rate.admit_frame(event.event_id):
                    continue
                self.handle(event)
            except ProtocolError as err:
                self.send_error(err)
            except (ValueError, RuntimeError) as exc:
                log.warning("session %s: client event failed: %s", self.live.session_id, exc)
                self.send_error(ProtocolError(f"{type(exc).__name__}: {exc}", code="invalid_value"))

    def _rate_limited(self, report: str, event_id: str | None) -> None:
        self.send_error(ProtocolError(report, code="rate_limited", event_id=event_id))

    async def pump(self) -> None:
        """Engine events → server events, until the engine session ends."""
        try:
            async for event in self.live.events:
                self.on_engine_event(event)
                if isinstance(event, SessionEnded):
                    return
        except SubscriberOverflow as exc:
            self.send_error(ProtocolError(str(exc), code="server_overloaded", error_type="server_error"))

    # ------------------------------------------------------------------ client events
    def handle(self, event: ClientEvent) -> None:
        if isinstance(event, AudioAppend):
            self._push_audio(self.converter.convert(event.pcm))
            self.uncommitted = self.uncommitted or len(event.pcm) > 0
        elif isinstance(event, VideoAppend):
            now = self.live.session.clock.now()
            if event.timestamp is not None and event.timestamp > now + _FUTURE_FRAME_SLACK_S:
                raise ProtocolError(
                    f"input_video_buffer.append: timestamp {event.timestamp:.3f} s is ahead of the session clock "
                    f"({now:.3f} s since session.created)",
                    param="timestamp",
                    event_id=event.event_id,
                )
            self.live.video.push_frame(event.image, event.timestamp)
        elif isinstance(event, SessionUpdate):
            self.config = self.config.updated(event.session, event.event_id)
            self._apply_config()
            self.send(server_event("session.updated", session=self.config.to_wire(self.live.session_id)))
        elif isinstance(event, ItemCreate):
            self._item_create(event)
        elif isinstance(event, ResponseCreate):
            self._response_create(event)
        elif isinstance(event, ResponseCancel):
            self._response_cancel(event)
        elif isinstance(event, AudioCommit):
            self._commit(event)
        elif isinstance(event, AudioClear):
            self.converter.reset()
            if self._manual_turns():
                self._align_to_chunk()
                self.buffered_samples = 0
                self.live.session.clear_audio(self.chunks_pushed)
            self.send(server_event("input_audio_buffer.cleared"))
        elif isinstance(event, ItemTruncate):
            self._truncate(event)

    def _item_create(self, event: ItemCreate) -> None:
        for image in event.images:
            self.live.video.push_frame(image)
        content: list[dict[str, Any]] = [{"type": "input_text", "text": text} for text in event.texts]
        content += [{"type": "input_image", "image_url": None} for _ in event.images]
        self.pending.extend(t.strip() for t in event.texts if t.strip())
        item = user_item(event.item_id, content)
        previous = event.previous_item_id or self.last_item_id
        self.last_item_id = event.item_id
        self.send(server_event("conversation.item.added", previous_item_id=previous, item=item))
        self.send(server_event("conversation.item.done", previous_item_id=previous, item=item))

    def _push_audio(self, samples: np.ndarray) -> None:
        self.chunks_pushed += self.live.audio.push_audio(samples)
        self.samples_pushed += len(samples)
        self.buffered_samples += len(samples)

    def _align_to_chunk(self) -> None:
        """Pad the stream with silence to a whole chunk, so that a commit or clear takes every sample appended."""
        rest = -self.samples_pushed % CHUNK_SAMPLES
        if rest:
            self._push_audio(np.zeros(rest, np.float32))

    def _manual_turns(self) -> bool:
        return self.config.turn_detection is None and self.live.session.transcriber is not None

    def _apply_config(self) -> None:
        """Hand the client's turn taking and instructions to the engine session."""
        session = self.live.session
        turns = session.options.turns
        if session.transcriber is not None:
            td = self.config.turn_detection
            manual = td is None
            if manual != turns.manual_turns:
                self.buffered_samples = 0
                self.uncommitted = False
                self.turn = None
            turns = replace(
                turns,
                manual_turns=manual,
                auto_response=td is not None and td.create_response,
                barge_in=td is not None and td.interrupt_response,
            )
        response = replace(session.options.response, instructions=self.config.instructions)
        session.update_options(turns=turns, response=response)

    def _response_create(self, event: ResponseCreate) -> None:
        modality = event.output_modalities[0] if event.output_modalities else None
        if modality == "audio" and not self.config.audio_available:
            raise ProtocolError(
                "spoken replies are not available on this server",
                code="unsupported",
                param="response.output_modalities",
                event_id=event.event_id,
            )
        if not self.live.session.create_response("\n".join(self.pending), instructions=event.instructions):
            td = self.config.turn_detection
            automatic = " (server VAD answers spoken turns by itself)" if td is not None and td.create_response else ""
            raise ProtocolError(
                "response.create: nothing to answer; add an input_text item with conversation.item.create or commit "
                f"a spoken turn first{automatic}",
                code="no_pending_input",
                event_id=event.event_id,
            )
        self.pending = []
        self.response_modality = modality
        self.response_metadata = event.metadata

    def _response_cancel(self, event: ResponseCancel) -> None:
        reply = self.active
        if reply is None or (event.response_id is not None and event.response_id != reply.response_id):
            what = f"response {event.response_id!r} is not" if event.response_id else "no response is"
            raise ProtocolError(
                f"response.cancel: {what} in progress",
                code="response_cancel_not_active",
                param="response_id" if event.response_id else None,
                event_id=event.event_id,
            )
        self._cut(reply, "client_cancelled")

    def _cut(self, reply: _Reply, reason: str) -> None:
        """Stop ``reply`` now: the engine stops decoding and speech output stops within one chunk."""
        reply.cancel_reason = reply.cancel_reason or reason
        if reply.engine_done is None:
            self.live.session.cancel_response(reason)
        if self.speech is not None:
            self.speech.cancel(reply.engine_id)

    def _commit(self, event: AudioCommit) -> None:
        td = self.config.turn_detection
        if self.live.session.transcriber is None:
            raise ProtocolError(
                "input_audio_buffer.commit: this server runs without speech input",
                code="unsupported",
                event_id=event.event_id,
            )
        if td is None:
            self._commit_turn(event)
            return
        if not self.uncommitted and self.turn is None:
            raise ProtocolError(
                "input_audio_buffer.commit: the input audio buffer is empty (no audio since the last turn)",
                code="input_audio_buffer_commit_empty",
                event_id=event.event_id,
            )
        self.uncommitted = False
        self._push_audio(np.zeros(int(16_000 * (td.silence_duration_ms + 100) / 1000), np.float32))

    def _commit_turn(self, event: AudioCommit) -> None:
        """Manual turns: the audio appended since the last commit or clear becomes one user turn."""
        ms = self.buffered_samples * 1000 // 16_000
        least = self.live.session.options.turns.min_commit_ms
        if ms < least:
            raise ProtocolError(
                f"input_audio_buffer.commit: the buffer holds {ms} ms of audio; a turn needs at least {least} ms",
                code="input_audio_buffer_commit_empty",
                event_id=event.event_id,
            )
        self._align_to_chunk()
        self.buffered_samples = 0
        item_id = new_id("item")
        self.items[self.live.session.commit_audio(self.chunks_pushed)] = item_id
        self._add_audio_item(item_id)

    def _add_audio_item(self, item_id: str) -> None:
        """A spoken user turn's item, in progress until its transcript (or its failure) arrives."""
        previous, self.last_item_id = self.last_item_id, item_id
        self.send(server_event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id))
        item = user_item(item_id, [{"type": "input_audio", "transcript": None}], status="in_progress")
        self.send(server_event("conversation.item.added", previous_item_id=previous, item=item))

    def _truncate(self, event: ItemTruncate) -> None:
        reply = self.spoken.get(event.item_id)
        if reply is None:
            raise ProtocolError(
                f"conversation.item.truncate: no assistant item {event.item_id!r}",
                code="item_not_found",
                param="item_id",
                event_id=event.event_id,
            )
        if event.content_index != 0:
            raise ProtocolError(
                "conversation.item.truncate: content_index must be 0", param="content_index", event_id=event.event_id
            )
        sent_ms = reply.audio_samples * 1000 // WIRE_RATE
        if event.audio_end_ms > sent_ms:
            raise ProtocolError(
                f"conversation.item.truncate: audio_end_ms {event.audio_end_ms} is beyond the {sent_ms} ms of audio "
                "sent for this item",
                param="audio_end_ms",
                event_id=event.event_id,
            )
        self._forget_unheard(reply, event.audio_end_ms / max(1, sent_ms))
        self.send(
            server_event(
                "conversation.item.truncated",
                item_id=event.item_id,
                content_index=0,
                audio_end_ms=event.audio_end_ms,
            )
        )

    def _forget_unheard(self, reply: _Reply, heard: float) -> None:
        """The dialogue history keeps only the part of the answer that was played (cut in proportion, by words)."""
        words = reply.text.split()
        self.live.session.truncate_turn(reply.engine_id, " ".join(words[: round(len(words) * heard)]))

    # ------------------------------------------------------------------ engine events
    def on_engine_event(self, event: Event) -> None:
        if isinstance(event, SpeechStarted):
            self._speech_started(event)
        elif isinstance(event, SpeechStopped):
            self._speech_stopped(event)
        elif isinstance(event, Transcript):
            self._transcript(event)
        elif isinstance(event, TranscriptFailed):
            self._transcript_failed(event)
        elif isinstance(event, ResponseStarted):
            self._response_started(event)
        elif isinstance(event, ResponseDelta):
            self._response_delta(event)
        elif isinstance(event, ResponseDone):
            self._response_done(event)
        elif isinstance(event, Error):
            code = f"engine_{event.source}"
            message = f"{event.source}: {event.message}"
            self.send_error(ProtocolError(message, code=code, error_type="server_error"))
        elif isinstance(event, SessionStarted):
            return
        else:
            self.send({**event.to_dict(), "event_id": new_id("event")})
        self._speech_event(event)

    def _speech_event(self, event: Event) -> None:
        """Spoken replies follow the engine's events (barge-in pauses them, a false interruption resumes them)."""
        if self.speech is None and isinstance(event, ResponseDelta) and self._speaks(event.response_id):
            self.speech = self._open_speech()
        if self.speech is not None:
            self.speech.turns = self.live.session.options.turns  # session.update may have changed barge-in
            self.speech.handle(event)

    def _speaks(self, engine_id: str) -> bool:
        reply = self.replies.get(engine_id)
        return reply is not None and reply.modality == "audio" and reply.cancel_reason is None

    def _open_speech(self) -> SpeechOut:
        language = self.config.voice if self.config.voice not in OPENAI_VOICES else None
        base = self.speech_options
        options = replace(base, speed=max(0.5, min(2.0, base.speed * self.config.speed)))
        return open_speech_out(
            _WebsocketAudioSink(self, self.loop, options.websocket_lead_ms / 1000),
            options,
            self.live.session.options,
            language_voice=language,
            note=session_note(self.live.session),
            on_done=lambda rid, cut: self.loop.call_soon_threadsafe(self.on_audio_done, rid, cut),
            report=lambda message: self.loop.call_soon_threadsafe(self._speech_problem, message),
            speaks=self._speaks,
        )

    def _speech_problem(self, message: str) -> None:
        self.send_error(ProtocolError(f"tts: {message}", code="engine_tts", error_type="server_error"))

    def _speech_started(self, event: SpeechStarted) -> None:
        self.turn = self.items[event.turn_id] = new_id("item")
        self.send(
            server_event("input_audio_buffer.speech_started", audio_start_ms=round(event.t * 1000), item_id=self.turn)
        )

    def _speech_stopped(self, event: SpeechStopped) -> None:
        item_id = self.items.get(event.turn_id) or new_id("item")
        self.turn = None
        self.uncommitted = False
        self.send(
            server_event("input_audio_buffer.speech_stopped", audio_end_ms=round(event.t * 1000), item_id=item_id)
        )
        vad = self.live.session.options.vad
        if event.duration * 1000 < vad.min_speech_ms or self.live.session.transcriber is None:
            self.items.pop(event.turn_id, None)  # too short to be speech: no item, no transcript
            return
        self.items[event.turn_id] = item_id
        self._add_audio_item(item_id)

    def _transcript(self, event: Transcript) -> None:
        item_id = self.items.pop(event.turn_id, None) or new_id("item")
        if self.config.transcription is not None:
            self.send(
                server_event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=event.text,
                    usage={"type": "duration", "seconds": round(event.end - event.start, 3)},
                )
            )
        item = user_item(item_id, [{"type": "input_audio", "transcript": event.text}])
        self.send(server_event("conversation.item.done", previous_item_id=None, item=item))

    def _transcript_failed(self, event: TranscriptFailed) -> None:
        """The turn's audio could not be transcribed: its item ends ``incomplete`` (the next transcript is not its)."""
        item_id = self.items.pop(event.turn_id, None)
        if item_id is None:
            return
        if self.config.transcription is not None:
            error = {"type": "server_error", "code": "engine_asr", "message": event.reason}
            self.send(
                server_event(
                    "conversation.item.input_audio_transcription.failed", item_id=item_id, content_index=0, error=error
                )
            )
        item = user_item(item_id, [{"type": "input_audio", "transcript": None}], status="incomplete")
        self.send(server_event("conversation.item.done", previous_item_id=None, item=item))

    def _response_started(self, event: ResponseStarted) -> None:
        modality: Modality = self.response_modality or self.config.output_modalities[0]
        reply = _Reply(event.response_id, new_id("resp"), new_id("item"), modality, self.response_metadata)
        self.response_modality = None
        self.response_metadata = None
        self.replies[event.response_id] = reply
        self.active = reply
        rid, iid = reply.response_id, reply.item_id
        self.send(
            server_event(
                "response.created",
                response=response_object(rid, "in_progress", modality, metadata=reply.metadata),
            )
        )
        item = assistant_item(iid, modality, None, "in_progress")
        self.send(server_event("response.output_item.added", response_id=rid, output_index=0, item=item))
        self.send(server_event("conversation.item.added", previous_item_id=self.last_item_id, item=item))
        self.last_item_id = iid
        part = {"type": "audio", "transcript": ""} if modality == "audio" else {"type": "text", "text": ""}
        self.send(
            server_event(
                "response.content_part.added", response_id=rid, item_id=iid, output_index=0, content_index=0, part=part
            )
        )

    def _response_delta(self, event: ResponseDelta) -> None:
        reply = self.replies.get(event.response_id)
        if reply is None or reply.finished:
            return
        reply.text += event.text
        kind = "response.output_audio_transcript.delta" if reply.modality == "audio" else "response.output_text.delta"
        self.send(
            server_event(
                kind,
                response_id=reply.response_id,
                item_id=reply.item_id,
                output_index=0,
                content_index=0,
                delta=event.text,
            )
        )

    def _response_done(self, event: ResponseDone) -> None:
        reply = self.replies.get(event.response_id)
        if reply is None:
            return
        reply.engine_done = event
        spoken = reply.modality == "audio" and event.status == "completed" and reply.cancel_reason is None
        if not spoken or self.speech is None:  # otherwise speech out reports the end of its audio (on_audio_done)
            self._finish(reply, audio_cut=False)

    def on_audio(self, engine_id: str, pcm: np.ndarray) -> None:
        reply = self.replies.get(engine_id)
        if reply is None or reply.finished or reply.cancel_reason is not None:
            return
        reply.audio_samples += len(pcm)
        self.send(
            server_event(
                "response.output_audio.delta",
                response_id=reply.response_id,
                item_id=reply.item_id,
                output_index=0,
                content_index=0,
                delta=pcm16_base64(pcm),
            )
        )

    def on_audio_done(self, engine_id: str, cut: bool) -> None:
        reply = self.replies.get(engine_id)
        if reply is not None and reply.engine_done is not None:
            if cut and reply.cancel_reason is None:
                reply.cancel_reason = "turn_detected"  # speech out stopped it: the user took the turn
            self._finish(reply, audio_cut=cut)

    def _finish(self, reply: _Reply, *, audio_cut: bool) -> None:
        if reply.finished:
            return
        reply.finished = True
        if self.active is reply:
            self.active = None
        done = reply.engine_done
        assert done is not None
        status, details = "completed", None
        if done.status == "failed":
            status = "failed"
            details = {"type": "failed", "error": {"type": "server_error", "code": "backend", "message": done.reason}}
        elif done.status != "completed" or audio_cut or reply.cancel_reason is not None:
            status = "cancelled"
            reason = reply.cancel_reason or ("turn_detected" if done.status == "interrupted" else "client_cancelled")
            details = {"type": "cancelled", "reason": reason}
        rid, iid = reply.response_id, reply.item_id
        common = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        if reply.modality == "audio":
            self.send(server_event("response.output_audio.done", **common))
            self.send(server_event("response.output_audio_transcript.done", **common, transcript=reply.text))
            part = {"type": "audio", "transcript": reply.text}
        else:
            self.send(server_event("response.output_text.done", **common, text=reply.text))
            part = {"type": "text", "text": reply.text}
        self.send(server_event("response.content_part.done", **common, part=part))
        item = assistant_item(iid, reply.modality, reply.text, "completed" if status == "completed" else "incomplete")
        self.send(server_event("response.output_item.done", response_id=rid, output_index=0, item=item))
        self.send(server_event("conversation.item.done", previous_item_id=None, item=item))
        self.send(
            server_event(
                "response.done",
                response=response_object(
                    rid, status, reply.modality, output=[item], status_details=details, metadata=reply.metadata
                ),
            )
        )
        self.replies.pop(reply.engine_id, None)
        if reply.modality == "audio":
            self.spoken[reply.item_id] = reply
            while len(self.spoken) > _SPOKEN_ITEMS_KEPT:
                self.spoken.popitem(last=False)

    def close(self) -> None:
        self.rate.close()
        if self.speech is not None:
            self.speech.close()


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"  # interface to listen on; beyond loopback a key is required
    port: int = 8765  # 0 = any free port (see RealtimeServer.port)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # larger websocket messages close the connection (1009)
    speak: bool = True  # offer spoken replies (output_modalities ["audio"]) when espeak-ng is present
    speech: SpeechOptions = field(default_factory=SpeechOptions)  # the voice (OpenAI voice names speak with it)
    api_key: str | None = None  # when set: "Authorization: Bearer <key>" or the openai-insecure-api-key.<key> protocol
    allow_unauthenticated: bool = False  # serve beyond loopback without an api_key (otherwise start() refuses)
    allowed_origins: tuple[str, ...] = ()  # browser origins allowed ("*": any); none: pages on this machine only
    limits: RateLimits = field(default_factory=RateLimits)  # per-connection input rates (app/limits.py)


class RealtimeServer:
    def __init__(self, manager: SessionManager, options: ServerOptions | None = None) -> None:
        self.manager = manager
        self.options = options or ServerOptions()
        self.audio_available = False
        if self.options.speak:
            try:
                espeak_voice(self.options.speech).check()
                open_voice(self.options.speech)  # loads the neural voice now, not in a client's first answer
                self.audio_available = True
            except TtsUnavailable as exc:
                log.warning("spoken replies disabled: %s", exc)
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen; raises ``InsecureBindError`` for a host beyond loopback without a key or the explicit opt-out."""
        o = self.options
        require_key_off_loopback(o.host, o.api_key, allow_unauthenticated=o.allow_unauthenticated, what="serve")
        self._server = await serve(
            self._handle,
            o.host,
            o.port,
            max_size=o.max_message_bytes,
            process_request=self._check_request,
            select_subprotocol=select_subprotocol,
            logger=_wire_log,
        )
        log.info("omnistream realtime server on ws://%s:%d/v1/realtime", self.options.host, self.port)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.manager.close_all()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0].rstrip("/")
        if not path.endswith("/realtime"):
            return connection.respond(HTTPStatus.NOT_FOUND, "the omnistream realtime endpoint is /v1/realtime\n")
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, self.options.allowed_origins):
            log.warning("refused a websocket handshake from origin %r (not in --allowed-origin)", origin)
            return connection.respond(
                HTTPStatus.FORBIDDEN,
                f"origin {origin!r} is not allowed; the server lists allowed origins with --allowed-origin\n",
            )
        key = self.options.api_key
        if key is not None and not keys_match(offered_key(request.headers), key):
            return connection.respond(
                HTTPStatus.UNAUTHORIZED,
                "missing or wrong API key (send Authorization: Bearer KEY, or the openai-insecure-api-key.KEY "
                "subprotocol)\n",
            )
        return None

    def _initial_config(self) -> SessionConfig:
        engine = self.manager.config
        vad = engine.options.vad
        turn = None
        if engine.speech:
            turn = TurnDetection(vad.threshold, vad.pre_roll_ms, vad.min_silence_ms, engine.options.turns.barge_in)
        return SessionConfig(
            turn_detection=turn,
            transcription={"model": "whisper-base", "language": engine.options.asr.language} if engine.speech else None,
            audio_available=self.audio_available,
        )

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            live = await self.manager.open()
        except SessionLimitError as exc:
            err = ProtocolError(str(exc), code="session_limit_reached", error_type="server_error")
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(error_event(err)))
                await ws.close(CLOSE_TRY_AGAIN_LATER, "session limit reached")
            return
        except Exception as exc:
            log.exception("opening a session failed")
            err = ProtocolError(
                f"cannot open a session: {type(exc).__name__}: {exc}", code="session_failed", error_type="server_error"
            )
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(error_event(err)))
                await ws.close(1011, "session could not be opened")
            return
        try:
            limiter = InputLimiter(self.options.limits, largest_message=self.options.max_message_bytes)
            conn = RealtimeConnection(ws, live, self._initial_config(), self.options.speech, limiter)
        except BaseException:
            await self.manager.close(live)
            raise
        conn.send(server_event("session.created", session=conn.config.to_wire(live.session_id)))
        writer = asyncio.create_task(conn.writer(), name=f"ws-writer-{live.session_id}")
        pump = asyncio.create_task(conn.pump(), name=f"ws-pump-{live.session_id}")
        reader = asyncio.create_task(conn.reader(), name=f"ws-reader-{live.session_id}")
        try:
            await asyncio.wait([reader, pump, writer], return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            await self.manager.close(live)
            conn.close()
            pump_done = pump.done()
            await asyncio.gather(pump, return_exceptions=True)
            conn.outbox.put_nowait(None)
            await asyncio.gather(writer, return_exceptions=True)
            await asyncio.gather(reader, return_exceptions=True)
            if pump_done and ws.close_code is None:
                with contextlib.suppress(ConnectionClosed):
                    await ws.close(1011, "engine session ended")
        if limiter.total_dropped:
            log.warning("session %s: rate limits dropped %s", live.session_id, limiter.dropped)
        log.info("session %s closed", live.session_id)
