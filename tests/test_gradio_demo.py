"""The Gradio demo driven through ``gradio_client`` against a live server on loopback, with the real cascade backend
and speech on; plus the input converters and the page's event view on their own."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import html
import http.server
import io
import re
import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
from gradio_client import Client, handle_file

from app.browser_input import InputError, MicConverter, frame_to_rgb
from app.demo_tabs import BrowserSink
from app.demo_view import PANELS, LiveView
from app.gradio_demo import RunningDemo, start
from app.live import SessionManager
from app.samples import SampleMissing, sample_path
from engine.events import (
    Event,
    InstructionAdded,
    InstructionRemoved,
    Noticed,
    Perception,
    Proactive,
    QueryAccepted,
    QueryIgnored,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseStarted,
    SessionStarted,
    SpeechStarted,
)
from engine.runtime import EngineConfig
from streams.synth import write_media
from tests.browser_media import screen_frames, write_spoken_clip
from tests.servers import free_port

QUESTION = "What color is the screen?"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningDemo]:
    running = start(SessionManager(EngineConfig(backend="cascade"), max_sessions=2), port=free_port())
    yield running
    running.close()


class ApiPage:
    """One page session driven through the API: ``wait`` polls ``/refresh`` like the page's timer does and keeps the
    latest content of every panel (the server sends only the panels that changed since this session's last poll)."""

    def __init__(self, url: str) -> None:
        self.client = Client(url, verbose=False)
        self.latest: dict[str, str] = {}

    def predict(self, *args: Any, api_name: str) -> Any:
        return self.client.predict(*args, api_name=api_name)

    def wait(self, done: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            values = self.client.predict(api_name="/refresh")
            self.latest.update((k, v) for k, v in zip(PANELS, values[: len(PANELS)], strict=True) if isinstance(v, str))
            if done(self.latest):
                return self.latest
            time.sleep(0.3)
        pytest.fail(f"page did not reach the expected state within {timeout} s: {self.latest}")


@pytest.fixture
def client(server: RunningDemo) -> Iterator[ApiPage]:
    """One API client (one page session); its live session is stopped afterwards to free the slot."""
    page = ApiPage(server.url)
    yield page
    page.predict(api_name="/stop")
    page.client.close()


_ASSISTANT = re.compile(r'<div class="turn assistant([^"]*)" data-response="[^"]*">(.*?)</div>')


def last_answer(conversation: str) -> tuple[str, str] | None:
    """(extra classes, text) of the last assistant turn on the page."""
    turns = _ASSISTANT.findall(conversation)
    return (turns[-1][0].strip(), html.unescape(re.sub(r"<[^>]+>", "", turns[-1][1]))) if turns else None


def answered(page: dict[str, str]) -> bool:
    """The last assistant turn has completed with some text."""
    last = last_answer(page.get("conversation", ""))
    return last is not None and last[0] == "" and bool(last[1].strip())


@pytest.mark.e2e
def test_typed_question_is_answered_and_replayed_speech_transcribed(client: ApiPage, tmp_path: Path) -> None:
    clip = write_spoken_clip(tmp_path / "clip.mp4", QUESTION, tail_s=4.0)
    # t=0: the clip (red screen, the question spoken on its audio track) is replayed into the session in real time;
    # its frames reach the metrics panel with the session's first periodic metrics at t=5 s
    client.predict(handle_file(str(clip)), "", api_name="/replay")
    page = client.wait(lambda p: "screen" in p.get("transcript", "").lower() and answered(p), timeout=60)
    ingested = client.wait(lambda p: "video frames ingested" in p.get("metrics", ""), timeout=20)["metrics"]
    assert int(re.search(r"video frames ingested</td><td>(\d+)", ingested)[1]) >= 8  # 2 fps for over 4 s
    assert re.search(r"voice:</span> [^<]*screen", page["conversation"], re.I)  # the spoken question became a query
    assert "answered" in page["decisions"]
    # then a typed question, answered after the spoken one
    client.predict("What is written on the screen?", api_name="/send")
    client.wait(lambda p: "typed:</span> What is written" in p["conversation"] and answered(p), timeout=60)
    assert "time to first token" in page["metrics"]


@pytest.mark.e2e
def test_bad_input_gets_a_message_and_the_session_goes_on(client: ApiPage, tmp_path: Path) -> None:
    client.predict("   ", api_name="/send")
    client.wait(lambda p: "empty question" in p.get("notices", ""), timeout=10)
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((2200, 4000, 3), np.uint8))
    low = tmp_path / "low.wav"
    with wave.open(str(low), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(4000)
        out.writeframes(np.zeros(4000, np.int16).tobytes())
    for path, endpoint in ((big, "/frame"), (low, "/audio")):
        # gradio_client cannot parse the replies of stream events; the server has taken the chunk regardless
        with contextlib.suppress(KeyError):
            client.predict(handle_file(str(path)), api_name=endpoint)
    secret = tmp_path / "server-side.mp4"
    write_media(secret, screen_frames(2), fps=2)
    for typed in (str(secret), f"file://{secret}", f"concat:{secret}", "http://127.0.0.1:9/missing.mp4"):
        client.predict(None, typed, api_name="/replay")
    client.predict(None, "  ", api_name="/replay")
    expected = ("sample rate", "nothing to replay", "not a video URL", "cannot open")
    page = client.wait(lambda p: all(part in p.get("notices", "") for part in expected), timeout=20)
    assert "nothing to replay: upload a video file or enter a URL" in page["notices"]
    for typed in (str(secret), f"file://{secret}", f"concat:{secret}"):  # the server's own files stay unreachable
        assert f"not a video URL: {typed!r}" in html.unescape(page["notices"])
    assert "replaying server-side.mp4" not in page["notices"]
    assert "video frame 4000x2200 is larger than 3840x2160" in page["notices"]
    assert "audio sample rate must be 8000–192000 Hz, got 4000" in page["notices"]
    client.predict("Are you still there?", api_name="/send")
    page = client.wait(answered, timeout=60)
    assert "status live" in page["status"]


@pytest.mark.e2e
def test_video_url_is_replayed_in_real_time(client: ApiPage, tmp_path: Path) -> None:
    write_media(tmp_path / "screen.mp4", screen_frames(20), fps=10)  # 2 s, no audio track
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as web:
        threading.Thread(target=web.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{web.server_address[1]}/screen.mp4"
        started = time.monotonic()
        client.predict(None, url, api_name="/replay")
        page = client.wait(lambda p: "finished" in p.get("notices", ""), timeout=20)
        took = time.monotonic() - started
        web.shutdown()
    assert f"replaying {url} in real time (no audio track)" in page["notices"]
    assert f"replay of {url} finished" in page["notices"]
    assert took >= 1.5  # frames at 0, 0.5, 1.0 and 1.5 s of media time (2 fps), released on the wall clock


@pytest.mark.e2e
def test_session_limit_refuses_clearly_and_stop_frees_a_slot(server: RunningDemo) -> None:
    first, second, third = (Client(server.url, verbose=False) for _ in range(3))
    assert "status live" in first.predict(api_name="/start")[0]
    assert "status live" in second.predict(api_name="/start")[0]
    refused = third.predict(api_name="/start")[0]
    assert "session limit reached (2 live sessions)" in refused
    stopped = first.predict(api_name="/stop")[0]
    assert "ended" in stopped
    assert "status live" in third.predict(api_name="/start")[0]
    for client in (second, third):
        client.predict(api_name="/stop")
    for client in (first, second, third):
        client.close()


# ---------------------------------------------------------------------------------------------- input converters
def test_microphone_chunks_become_16k_mono_float() -> None:
    mic = MicConverter()
    stereo = (np.sin(np.linspace(0, 200, 48_000))[:, None] * [8000, 8000]).astype(np.int16)
    out = np.concatenate([mic.convert((48_000, stereo[:24_000])), mic.convert((48_000, stereo[24_000:]))])
    assert out.dtype == np.float32
    assert abs(len(out) - 16_000) <= 64  # one second at 16 kHz, less the resampler's delay
    assert 0.2 < float(np.abs(out).max()) <= 0.26
    same = mic.convert((16_000, np.full(512, 0.5, np.float64)))
    assert same.dtype == np.float32 and len(same) == 512


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        ((4000, np.zeros(100, np.int16)), "sample rate must be 8000–192000 Hz, got 4000"),
        ((16_000, np.zeros((10, 2, 2), np.int16)), "1-D (mono) or 2-D"),
        ((16_000, np.zeros((10, 12), np.int16)), "1–8 channels, got 12"),
        ((16_000, np.zeros(10, np.uint8)), "int16, int32 or float, got uint8"),
        ((16_000, np.array([0.1, np.nan])), "NaN or infinity"),
        (b"RIFF", "must be (sample_rate, samples), got bytes"),
    ],
)
def test_wrong_audio_is_refused_by_name(chunk: object, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MicConverter().convert(chunk)


def test_frames_are_checked_and_converted() -> None:
    assert frame_to_rgb(np.zeros((4, 6), np.uint8)).shape == (4, 6, 3)
    assert frame_to_rgb(np.zeros((4, 6, 4), np.uint8)).shape == (4, 6, 3)
    with pytest.raises(InputError, match="larger than 3840x2160"):
        frame_to_rgb(np.zeros((2161, 3840, 3), np.uint8))
    with pytest.raises(InputError, match="8-bit, got float32"):
        frame_to_rgb(np.zeros((4, 6, 3), np.float32))
    with pytest.raises(InputError, match="image array, got str"):
        frame_to_rgb("frame.png")


def test_spoken_audio_reaches_the_page_once_and_stops_are_signalled() -> None:
    sink = BrowserSink()
    assert sink.take() is None
    sink.write("r1", np.full(800, 1000, np.int16))
    sink.write("r1", np.full(800, -1000, np.int16))
    element = sink.take()
    assert element is not None and 'data-clip="1" data-stop="0"' in element
    wav = base64.b64decode(re.search(r'data-audio="([^"]+)"', element)[1])
    with wave.open(io.BytesIO(wav)) as clip:
        assert (clip.getframerate(), clip.getnframes()) == (48_000, 1600)  # the browser's usual output rate
    assert sink.take() is None  # nothing new
    sink.write("r2", np.full(800, 1000, np.int16))
    sink.stop()  # barge-in: what was not fetched yet is dropped, the page is told to cut playback
    assert sink.take() == '<div class="spoken-clip" data-clip="1" data-stop="1" data-audio=""></div>'


@pytest.mark.e2e
def test_each_tab_speaks_through_the_speech_out_controller_at_the_browser_rate() -> None:
    from app.demo_tabs import EngineLoop, LiveDemo
    from app.speech_options import SpeechOptions
    from app.speech_out import SpeechOut

    loop = EngineLoop()
    demo = LiveDemo(
        SessionManager(EngineConfig(backend="cascade", speech=False)), loop, speech=SpeechOptions(browser_rate=44_100)
    )
    try:
        sid = demo.open()
        tab = demo.tab(sid)
        assert tab is not None and isinstance(tab.speech, SpeechOut) and tab.sink is not None
        assert tab.speech.voice.name == "piper:en_US-joe-medium" and tab.sink.sample_rate == 44_100
        demo.submit_text(tab, "What do you see?")
        frames = 0
        deadline = time.monotonic() + 60
        while frames < 44_100 // 2 and time.monotonic() < deadline:  # half a second of the answer, as the page polls
            element = tab.sink.take()
            if element and 'data-audio=""' not in element:
                with wave.open(io.BytesIO(base64.b64decode(re.search(r'data-audio="([^"]+)"', element)[1]))) as clip:
                    assert clip.getframerate() == 44_100
                    frames += clip.getnframes()
            time.sleep(0.3)
        assert frames >= 44_100 // 2

        def played_s() -> float:
            return sum(b - a for a, b in tab.live.session.echo.playback_intervals())

        # the session's echo guard hears of each chunk as it starts playing (the page holds up to 0.8 s ahead)
        deadline = time.monotonic() + 5
        while played_s() < frames / 44_100 - 0.05 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert played_s() >= frames / 44_100 - 0.05
    finally:
        demo.close_all()
        loop.close()


# ---------------------------------------------------------------------------------------------- the page's view
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _SceneChanged(Event):
    """An event type the page does not know (a newer engine's): shown generically."""

    type: ClassVar[str] = "scene.changed"
    text: str
    trigger: str


def _view(events: list[Event]) -> dict[str, Any]:
    view = LiveView()
    for event in events:
        view.apply(event)
    return view.render()


def test_view_shows_paused_and_streaming_turns() -> None:
    page = _view(
        [
            QueryAccepted(t=1.0, turn_id="u1", query_id="q1", text="hi", source="text"),
            ResponseStarted(t=1.1, response_id="r2", query_id="q1", query="hi"),
            ResponseDelta(t=1.2, response_id="r2", text="Hello"),
            SpeechStarted(t=1.25, turn_id="u2"),
            ResponsePaused(t=1.3, response_id="r2", reason="speech started"),
        ]
    )
    assert 'class="turn assistant streaming paused"' in page["conversation"]
    assert "interrupt latency: speech onset to reply paused, last (ms)</td><td>50.0<" in page["metrics"]
    assert "[paused: speech started]" in page["conversation"]
    view = LiveView()
    for event in (
        QueryAccepted(t=1.0, turn_id="u1", query_id="q1", text="hi", source="text"),
        ResponseStarted(t=1.1, response_id="r2", query_id="q1", query="hi"),
        ResponseDone(t=1.2, response_id="r2", status="completed", text="Hello there. How are you?"),
    ):
        view.apply(event)
    view.cut_off("r2", 1.26)  # the user spoke over its speech
    assert (
        '<div class="turn assistant cut" data-response="r2">Hello there. How are you? '
        '<span class="badge heard">[cut off: 1.3 s of it was heard]</span>'
    ) in view.render()["conversation"]
    view = LiveView()
    view.apply(InstructionAdded(t=0.0, instruction_id="i1", condition="a dog appears", say="dog", query_id="q1"))
    assert "watching when a dog appears: “dog”" in view.render()["alerts"]


def test_view_timeline_marks_interrupted_turns_gate_decisions_and_unknown_events() -> None:
    page = _view(
        [
            SessionStarted(t=0.0, session_id="s1", backend="cascade"),
            QueryAccepted(t=1.0, turn_id="u1", query_id="q1", text="what is this", source="speech", reason="addressed"),
            ResponseStarted(t=1.1, response_id="r2", query_id="q1", query="what is this"),
            ResponseDelta(t=1.2, response_id="r2", text="It is a"),
            ResponsePaused(t=1.3, response_id="r2", reason="speech started"),
            QueryIgnored(t=1.5, turn_id="u2", text="pass the salt", source="speech", reason="background speech"),
            QueryAccepted(t=2.0, turn_id="u3", query_id="q3", text="stop, what colour?", source="text"),
            ResponseDone(t=2.0, response_id="r2", status="interrupted", text="It is a", reason="new query q3"),
            ResponseStarted(t=2.1, response_id="r4", query_id="q3", query="stop, what colour?"),
            ResponseDelta(t=2.2, response_id="r4", text="Red"),
            InstructionAdded(t=2.5, instruction_id="i1", condition="a door opens", say="door!", query_id="q5"),
            Proactive(t=3.0, instruction_id="i1", text="door!", condition="a door opens"),
            InstructionRemoved(t=3.0, instruction_id="i1", reason="fired"),
            _SceneChanged(t=3.5, text="someone entered", trigger="motion"),
        ]
    )
    conv = page["conversation"]
    assert (
        conv.index("voice:</span> what is this")
        < conv.index("It is a")
        < conv.index("typed:</span> stop, what colour?")
    )
    assert 'class="turn assistant interrupted"' in conv and "[interrupted: new query q3]" in conv
    assert 'class="turn assistant streaming" data-response="r4">Red<' in conv
    assert "ignored: background speech — “pass the salt”" in page["decisions"]
    assert "answered (addressed): “what is this”" in page["decisions"]
    assert '<b>door!</b> <span class="t">(a door opens)' in page["alerts"]
    assert "watching" not in page["alerts"]  # the instruction fired and was removed
    assert "<b>scene.changed</b>" in page["alerts"] and "someone entered — trigger=motion" in page["alerts"]
    assert "Live session s1 (cascade)" in page["status"]


def test_a_missing_sample_is_named_and_the_preview_draws_the_perceived_boxes() -> None:
    with pytest.raises(SampleMissing, match="no sample called 'nope'; the samples are photos, signs"):
        sample_path("nope")
    view = LiveView()
    assert "No video yet" in view.render()["preview"]
    view.frame(np.zeros((720, 1280, 3), np.uint8))
    view.apply(
        Perception(
            t=1.5,
            objects=[{"label": "cat", "score": 0.81, "box": [0.25, 0.1, 0.75, 0.9]}],
            texts=[{"text": "EXIT 42", "box": [0.4, 0.0, 0.6, 0.1]}, {"text": "no box", "box": None}],
            people=[{"box": [0.0, 0.0, 0.2, 0.5], "facts": ["raising a hand"]}],
        )
    )
    view.apply(Noticed(t=1.5, notice_id="n1", kind="object", text="cat, orange, centre"))
    shown = view.render()
    assert (
        'class="box object" data-label="cat 0.81" style="left:25.0%;top:10.0%;width:50.0%;height:80.0%"'
        in (shown["preview"])
    )
    assert 'data-label="EXIT 42"' in shown["preview"] and "no box" not in shown["preview"]
    assert 'data-label="person, raising a hand"' in shown["preview"]
    assert "perceived at 1.5 s: cat" in shown["preview"]
    assert 'data-kind="object" data-notice="n1"><span class="t">1.5s</span> cat, orange, centre' in shown["timeline"]


def test_selecting_an_answer_marks_the_timeline_moments_it_drew_on() -> None:
    view = LiveView()
    for event in (
        Noticed(t=0.5, notice_id="n1", kind="object", text="cat, orange, centre"),
        Noticed(t=5.0, notice_id="n2", kind="scene", text="the picture cut to a different view"),
        Noticed(t=5.0, notice_id="n3", kind="object", text="cup, white, centre"),
        QueryAccepted(t=6.0, turn_id="u1", query_id="q1", text="What animal do you see?", source="text"),
        ResponseStarted(t=6.1, response_id="r2", query_id="q1", query="What animal do you see?"),
        ResponseDone(t=6.2, response_id="r2", status="completed", text="A cat.", evidence=("n1",)),
        QueryAccepted(t=7.0, turn_id="u3", query_id="q3", text="Say hello.", source="text"),
        ResponseStarted(t=7.1, response_id="r4", query_id="q3", query="Say hello."),
        ResponseDone(t=7.2, response_id="r4", status="completed", text="Hello!"),
    ):
        view.apply(event)
    cat = '<div class="moment object evidence" data-kind="object" data-notice="n1">'
    cup = '<div class="moment object" data-kind="object" data-notice="n3">'
    shown = view.render()
    assert 'data-selected=""' in shown["timeline"] and "evidence" not in shown["timeline"]
    view.select("r2")  # the answer about the cat: its moment is marked, the others are not
    shown = view.render()
    assert 'class="turn assistant selected" data-response="r2"' in shown["conversation"]
    assert 'data-selected="r2"' in shown["timeline"] and cat in shown["timeline"] and cup in shown["timeline"]
    assert shown["timeline"].count(" evidence") == 1
    view.select("r4")  # an answer that drew on nothing marks nothing
    shown = view.render()
    assert 'class="turn assistant selected" data-response="r4"' in shown["conversation"]
    assert 'data-selected="r4"' in shown["timeline"] and "evidence" not in shown["timeline"]
    view.select(None)
    shown = view.render()
    assert "selected" not in shown["conversation"] and 'data-selected=""' in shown["timeline"]
