"""The live demo's tabs: one live session per browser tab from the shared ``SessionManager``, run on one engine
event loop in a background thread.

Gradio's handlers run in its worker threads and call ``LiveDemo``, which hands inputs over to the engine loop. Each
tab's events are folded into a ``LiveView`` for the page and, when spoken replies are on, fed to the tab's speech-out
controller (``app.speech_out``), whose audio waits in a ``BrowserSink`` until the page fetches it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import threading
import wave
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from app.browser_input import InputError, MicConverter, frame_to_rgb
from app.demo_view import LiveView
from app.live import LiveSession, SessionManager
from app.samples import sample_path
from app.speech_options import SpeechOptions
from app.speech_out import Note, SpeechOut, open_speech_out
from app.tts import TtsUnavailable, open_voice
from engine.event_bus import SubscriberOverflow
from engine.session import Session
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.source import SourceError
from streams.video import VideoFileSource

T = TypeVar("T")


class EngineLoop:
    """An asyncio event loop in a daemon thread that owns every session of the demo."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="omnistream-engine", daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the engine loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class BrowserSink:
    """Collects a tab's spoken replies until the page fetches them; ``stop`` tells the page to cut playback."""

    drops_on_stop = True

    def __init__(self, sample_rate: int = SpeechOptions().browser_rate, lead_s: float = 0.8) -> None:
        self.sample_rate = sample_rate
        self.lead_s = lead_s
        self._lock = threading.Lock()
        self._pcm: list[np.ndarray] = []
        self._clips = 0
        self._stops = 0
        self._stops_sent = 0

    def write(self, response_id: str, pcm: np.ndarray) -> None:
        with self._lock:
            self._pcm.append(pcm)

    def stop(self) -> None:
        with self._lock:
            self._pcm.clear()
            self._stops += 1

    @property
    def stops(self) -> int:
        return self._stops

    def take(self) -> str | None:
        """An element for the page's player with the audio gathered since the last call (as a base64 WAV) and the
        stop count; None when neither changed."""
        with self._lock:
            pcm = np.concatenate(self._pcm) if self._pcm else None
            self._pcm.clear()
            if pcm is None and self._stops == self._stops_sent:
                return None
            self._stops_sent = self._stops
            self._clips += pcm is not None
            clip, stops = self._clips, self._stops
        audio = ""
        if pcm is not None:
            out = io.BytesIO()
            with wave.open(out, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(self.sample_rate)
                wav.writeframes(pcm.astype("<i2").tobytes())
            audio = base64.b64encode(out.getvalue()).decode("ascii")
        return f'<div class="spoken-clip" data-clip="{clip}" data-stop="{stops}" data-audio="{audio}"></div>'


def played_note(session: Session, sink: BrowserSink, loop: asyncio.AbstractEventLoop) -> Note:
    """Reports each chunk to ``session``'s echo guard when it starts playing, unless a stop dropped it first.

    The controller hands the page its audio up to the sink's lead ahead of playback; when the user barges in, that
    part is dropped unplayed. Reported at once, it would count as the assistant's voice over the start of the user's
    words, and the gate would ignore their interruption as an echo."""

    def note(_key: str, delay_s: float, samples: np.ndarray) -> None:
        stops = sink.stops  # the sink is stopped only by the controller's worker, which calls this after its write

        def played() -> None:
            if sink.stops == stops:
                session.note_playback(session.clock.now(), samples)

        loop.call_soon_threadsafe(loop.call_later, delay_s, played)

    return note


def played_before_cut(speech: SpeechOut, key: str) -> float | None:
    """Seconds of response ``key``'s audio that played before it stopped, by the controller's record of what it
    released and when it stopped the sink (the page plays it a poll later); None when none of it was released."""
    now = speech.clock.now()
    rate = speech.sink.sample_rate
    stops = sorted(speech.stops)
    chunks = [r for r in list(speech.released) if r.key == key]
    if not chunks:
        return None
    heard = 0.0
    for chunk in chunks:
        until = next((t for t in stops if t >= chunk.t), now)
        heard += min(max(until - chunk.start, 0.0), chunk.samples / rate)
    return heard


@dataclass
class Tab:
    """One browser tab's live session and what its page shows."""

    live: LiveSession
    view: LiveView
    mic: MicConverter
    sink: BrowserSink | None
    speech: SpeechOut | None
    reader: asyncio.Task[None] | None = None
    replay: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return not self.live.task.done()


class LiveDemo:
    """The tabs of one demo server, each with its own session from the shared manager."""

    def __init__(
        self, manager: SessionManager, loop: EngineLoop, *, spoken: bool = True, speech: SpeechOptions | None = None
    ) -> None:
        self.manager = manager
        self.loop = loop
        self.spoken = spoken
        self.speech = speech or SpeechOptions()
        if spoken:
            with contextlib.suppress(TtsUnavailable):  # each tab says so when it opens
                open_voice(self.speech)  # loads the neural voice now, not when the first tab opens
        self.tabs: dict[str, Tab] = {}
        self._by_client: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle (blocking, from Gradio threads)
    def open(self, client: str | None = None) -> str:
        """Open a session for a browser tab; raises ``SessionLimitError`` when the manager is full."""
        tab = self.loop.call(self._open())
        sid = tab.live.session_id
        self.tabs[sid] = tab
        if client:
            self._by_client[client] = sid
        return sid

    def tab(self, sid: str | None) -> Tab | None:
        return self.tabs.get(sid) if sid else None

    def stop(self, sid: str | None) -> bool:
        tab = self.tabs.pop(sid, None) if sid else None
        if tab is None:
            return False
        self.loop.call(self._close(tab))
        return True

    def stop_client(self, client: str) -> None:
        self.stop(self._by_client.pop(client, None))

    def close_all(self) -> None:
        for sid in list(self.tabs):
            self.stop(sid)
        self._by_client.clear()

    # ------------------------------------------------------------------ input (blocking, from Gradio threads)
    def push_frame(self, tab: Tab, image: object) -> None:
        rgb = frame_to_rgb(image)
        tab.view.frame(rgb)
        self.loop.call(self._on_loop(tab.live.video.push_frame, rgb))

    def push_audio(self, tab: Tab, chunk: object) -> None:
        samples = tab.mic.convert(chunk)
        if len(samples):
            self.loop.call(self._on_loop(tab.live.audio.push_audio, samples))

    def submit_text(self, tab: Tab, text: str) -> None:
        if not text.strip():
            raise InputError("empty question: type something before sending")
        self.loop.call(self._on_loop(tab.live.session.submit_text, text))

    def replay(self, tab: Tab, path: str) -> None:
        """Replay a video file or URL into the tab's session in real time (replacing a replay in progress)."""
        self.loop.call(self._start_replay(tab, path))

    def try_sample(self, tab: Tab, name: str) -> None:
        """Replay the sample ``name`` (made into the cache on first use); ``SampleMissing`` says why it cannot."""
        self.replay(tab, str(sample_path(name)))

    def stop_replay(self, tab: Tab) -> bool:
        return self.loop.call(self._stop_replay(tab))

    # ------------------------------------------------------------------ on the engine loop
    async def _open(self) -> Tab:
        live = await self.manager.open()
        view = LiveView()
        sink = speech = None
        if self.spoken:
            loop = asyncio.get_running_loop()
            o = self.speech
            try:
                sink = BrowserSink(o.browser_rate, o.browser_lead_ms / 1000)

                def done(key: str, cut: bool) -> None:
                    heard = played_before_cut(speech, key) if cut and speech is not None else None
                    if heard is not None:
                        view.cut_off(key, heard)

                speech = open_speech_out(
                    sink,
                    o,
                    live.session.options,
                    note=played_note(live.session, sink, loop),
                    on_done=done,
                    report=lambda message: loop.call_soon_threadsafe(view.note, f"spoken replies: {message}"),
                )
            except TtsUnavailable as exc:
                view.note(f"spoken replies are off: {exc}")
                sink = None
        tab = Tab(live=live, view=view, mic=MicConverter(), sink=sink, speech=speech)
        tab.reader = asyncio.get_running_loop().create_task(self._read(tab), name=f"view-{live.session_id}")
        return tab

    async def _read(self, tab: Tab) -> None:
        try:
            async for event in tab.live.events:
                tab.view.apply(event)
                if tab.speech is not None:
                    tab.speech.handle(event)
        except SubscriberOverflow as exc:
            tab.view.note(f"the page fell behind the session: {exc}")
        finally:
            if tab.speech is not None:
                await asyncio.to_thread(tab.speech.close)

    async def _close(self, tab: Tab) -> None:
        await self._stop_replay(tab)
        await self.manager.close(tab.live)
        if tab.reader is not None:
            await tab.reader

    @staticmethod
    async def _on_loop(fn: Any, *args: Any) -> Any:
        return fn(*args)

    async def _start_replay(self, tab: Tab, path: str) -> None:
        await self._stop_replay(tab)
        tab.replay = asyncio.get_running_loop().create_task(self._replay(tab, path), name="replay")

    async def _stop_replay(self, tab: Tab) -> bool:
        task, tab.replay = tab.replay, None
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return True

    async def _replay(self, tab: Tab, path: str) -> None:
        fps = self.manager.config.options.ingest.fps
        name = Path(path).name if "://" not in path else path
        video = VideoFileSource(path, fps=fps, name=f"replay:{name}")
        audio = AudioFileSource(path, name=f"replay-audio:{name}")
        if "://" in path:
            tab.view.note(f"opening {name}…")  # a server that does not answer keeps the decoder waiting (30 s)
        try:
            await asyncio.to_thread(video.open)
        except SourceError as exc:
            tab.view.note(str(exc).replace(path, name))  # an upload's name, not where the server keeps it
            return
        try:
            await asyncio.to_thread(audio.open)
        except SourceError:
            audio = None
        clock = ReplayClock("realtime")
        tab.view.note(f"replaying {name} in real time" + ("" if audio else " (no audio track)"))

        async def pump_video() -> None:
            async for frame in video.items(clock.now):
                await clock.wait_until(frame.t)
                tab.view.frame(frame.image)
                tab.live.video.push_frame(frame.image)

        async def pump_audio() -> None:
            if audio is not None:
                async for chunk in audio.items(clock.now):
                    await clock.wait_until(chunk.t)
                    tab.live.audio.push_audio(chunk.samples)

        try:
            await asyncio.gather(pump_video(), pump_audio())
            tab.view.note(f"replay of {name} finished")
        except (SourceError, RuntimeError) as exc:
            tab.view.note(f"replay of {name} stopped: {exc}")
        finally:
            video.close()
            if audio is not None:
                audio.close()
