"""Live sessions for the interfaces: one engine session per client, fed by push sources, under a session limit.

Every interface (websocket, MQTT, Gradio) opens sessions through one ``SessionManager`` so that the loaded models are
shared and the limit applies across all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from engine.event_bus import EventStream
from engine.runtime import EngineConfig, open_session
from engine.session import Session
from streams.clock import LiveClock
from streams.push import PushSource


class SessionLimitError(Exception):
    """Raised when the configured number of live sessions is already open."""


@dataclass
class LiveSession:
    session: Session
    audio: PushSource
    video: PushSource
    events: EventStream
    task: asyncio.Task[bool]

    @property
    def session_id(self) -> str:
        return self.session.session_id


class SessionManager:
    def __init__(self, config: EngineConfig, *, max_sessions: int = 4, limit_source: str = "") -> None:
        """``limit_source`` says where ``max_sessions`` came from (e.g. a measured cost); refusals name it."""
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.config = config
        self.max_sessions = max_sessions
        self.limit_source = limit_source
        self.sessions: dict[str, LiveSession] = {}
        self._opening = 0

    async def open(self, *, session_id: str | None = None) -> LiveSession:
        if len(self.sessions) + self._opening >= self.max_sessions:
            source = f"; {self.limit_source}" if self.limit_source else ""
            raise SessionLimitError(
                f"session limit reached ({self.max_sessions} live sessions{source}); try again later"
            )
        self._opening += 1
        try:
            clock = LiveClock()
            session = await open_session(self.config, clock, session_id=session_id)
        finally:
            self._opening -= 1
        audio = PushSource("audio", f"{session.session_id}:audio", now=clock.now)
        video = PushSource("video", f"{session.session_id}:video", now=clock.now)
        events = session.subscribe()
        task = asyncio.get_running_loop().create_task(session.run([audio, video]), name=f"session-{session.session_id}")
        live = LiveSession(session=session, audio=audio, video=video, events=events, task=task)
        self.sessions[session.session_id] = live
        task.add_done_callback(lambda _: self.sessions.pop(session.session_id, None))
        return live

    async def close(self, live: LiveSession) -> None:
        """End the session: pending speech is dropped, a response in flight is cancelled, ``session.ended`` is sent."""
        await live.session.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await live.task
        self.sessions.pop(live.session_id, None)

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(live) for live in list(self.sessions.values())))
