"""The live demo end to end in headless Chromium (Debian ``chromium``, driven by Playwright): the fake camera shows a
red screen with text, the fake microphone speaks a question; the real cascade backend and VAD + Whisper answer it.
The photo sample (real photos) shows the real detector's boxes over the preview and fills the timeline, and a selected
answer marks the moments it drew on. Talking over a spoken answer stops the page's audio (the player's own state)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from app.demo_view import PANELS
from app.gradio_demo import RunningDemo, start
from app.live import SessionManager
from engine.runtime import EngineConfig
from tests.browser_media import write_camera_clip, write_question_wav
from tests.servers import free_port

CHROMIUM = "/usr/bin/chromium"  # Debian's package (apt install chromium); Playwright downloads no browser
QUESTION = "What color is the screen?"
BARGE_IN = "Wait a moment, please tell me what color the screen is."
EVIDENCE = "[...document.querySelectorAll('#timeline .moment.evidence')]"  # the moments the selected answer used
PLAYER = "window.omnistreamSpeech.state()"  # what the page's audio does (app/gradio_demo.py's player)
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.e2e

# a completed answer with some text (interrupted, cancelled and failed turns carry a status class and a badge)
ANSWERED = """() => [...document.querySelectorAll('#conversation .turn.assistant')]
    .some(el => el.className === 'turn assistant' && el.textContent.trim().length > 0)"""


def wait_for(page: Page, condition: str, timeout_s: float) -> None:
    """Wait until the JavaScript ``condition`` holds; on timeout, fail with what the page shows."""
    try:
        page.wait_for_function(condition, timeout=timeout_s * 1000)
    except PlaywrightTimeoutError:
        shown = {name: page.inner_text(f"#{name}") for name in PANELS}
        pytest.fail(f"page did not reach {condition!r} within {timeout_s} s; it shows {shown}")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningDemo]:
    running = start(SessionManager(EngineConfig(backend="cascade"), max_sessions=2), port=free_port())
    yield running
    running.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


def launch(playwright: Playwright, camera: Path, microphone: Path) -> Browser:
    """Chromium with a fake camera and microphone playing ``camera`` (.y4m) and ``microphone`` (WAV), looped."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *BROWSER_ARGS,
            f"--use-file-for-fake-video-capture={camera}",
            f"--use-file-for-fake-audio-capture={microphone}",
        ],
    )


@pytest.fixture(scope="module")
def browser(playwright: Playwright, media: Path) -> Iterator[Browser]:
    camera = write_camera_clip(media / "camera.y4m")
    # the question 1 s in, then 20 s of silence: Chromium loops the file, so it is asked again every ~22.6 s
    microphone = write_question_wav(media / "question.wav", QUESTION, lead_s=1.0, tail_s=20.0)
    chromium = launch(playwright, camera, microphone)
    yield chromium
    chromium.close()


@pytest.fixture
def page(server: RunningDemo, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.goto(server.url)
    tab.wait_for_selector("#status .status.live", timeout=30_000)
    yield tab
    context.close()


def test_spoken_question_from_the_microphone_is_answered_on_the_page(page: Page, tmp_path: Path) -> None:
    # the user starts the microphone (the camera is the other test's: its frames' OCR competes for the 2 CPU cores)
    page.click("#mic button.record-button")
    # the question is heard, transcribed, accepted by the gate and answered
    wait_for(page, "() => document.querySelector('#transcript').textContent.toLowerCase().includes('screen')", 60)
    wait_for(page, ANSWERED, 60)
    assert "voice:" in page.inner_text("#conversation")
    assert "answered" in page.inner_text("#decisions")
    # the answer is spoken in the page, sentence by sentence
    wait_for(page, f"() => {PLAYER}.played > 0.3", 30)
    page.screenshot(path=str(tmp_path / "spoken.png"), full_page=True)


def test_typed_question_about_the_camera_is_answered_and_stop_ends_the_session(page: Page, tmp_path: Path) -> None:
    page.get_by_text("Click to Access Webcam").click()
    page.click("#webcam button[aria-label='capture photo']")
    wait_for(page, "() => document.querySelector('#metrics').textContent.includes('video frames ingested')", 20)
    page.fill("#question textarea", "What color is the screen?")
    page.click("#send")
    page.wait_for_selector("#conversation .turn.user", timeout=10_000)
    assert "typed: What color is the screen?" in page.inner_text("#conversation")
    wait_for(page, ANSWERED, 60)
    answer = page.inner_text("#conversation .turn.assistant >> nth=-1")
    assert "red" in answer.lower()  # the camera's frames reached the model
    assert page.input_value("#question textarea") == ""
    # an empty question gets a message; the session stays live
    page.click("#send")
    wait_for(page, "() => document.querySelector('#notices').textContent.includes('empty question')", 10)
    assert "Live session" in page.inner_text("#status")
    page.screenshot(path=str(tmp_path / "typed.png"), full_page=True)
    page.click("#stop")
    wait_for(page, "() => document.querySelector('#status').textContent.includes('ended')", 15)


def test_closing_the_tab_ends_its_session(server: RunningDemo, browser: Browser) -> None:
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(server.url)
    tab.wait_for_selector("#status .status.live", timeout=30_000)
    session_id = re.search(r"Live session (\w+)", tab.inner_text("#status"))[1]
    assert session_id in server.host.manager.sessions
    context.close()  # Gradio's unload event closes the session
    deadline = time.monotonic() + 15
    while session_id in server.host.manager.sessions and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_id not in server.host.manager.sessions


def test_the_photo_sample_shows_a_cat_box_fills_the_timeline_and_is_answered(page: Page, tmp_path: Path) -> None:
    # one click from the page as it opens: the photo reel (the chelsea cat first) replays into this tab's session
    assert page.locator("#try-sample").is_visible()
    page.click("#try-sample")
    wait_for(page, "() => document.querySelector('#notices').textContent.includes('replaying photos')", 30)
    # the real detector's box around the cat is drawn over the preview
    cat_box = "[...document.querySelectorAll('#preview .box.object')].some(b => b.dataset.label.startsWith('cat'))"
    wait_for(page, f"() => {cat_box}", 30)
    cat = page.locator("#preview .box.object").first
    assert cat.is_visible()
    # the timeline notices the cat
    wait_for(page, "() => document.querySelector('#timeline .moment.object')?.textContent.includes('cat')", 10)
    # a suggested question, one click away, is answered about the cat
    page.get_by_text("What animal do you see?").first.click()
    wait_for(page, "() => document.querySelector('#question textarea').value === 'What animal do you see?'", 10)
    page.click("#send")
    wait_for(page, ANSWERED, 60)
    assert "cat" in page.inner_text("#conversation .turn.assistant >> nth=-1").lower()
    # selecting the answer marks the timeline moment it drew on, the cat's, and scrolls it into view
    page.click("#conversation .turn.assistant >> nth=-1")
    wait_for(page, f"() => {EVIDENCE}.some(row => row.textContent.includes('cat'))", 10)
    assert page.get_attribute("#conversation .turn.assistant >> nth=-1", "class") == "turn assistant selected"
    in_view = """() => { const row = document.querySelector('#timeline .moment.evidence').getBoundingClientRect();
        const strip = document.querySelector('#timeline').getBoundingClientRect();
        return row.top >= Math.max(strip.top, 0) - 1 && row.bottom <= Math.min(strip.bottom, window.innerHeight) + 1;
    }"""  # (within a pixel: layout has fractions of one)
    wait_for(page, in_view, 5)
    # selecting it again selects nothing: no moment is marked
    page.click("#conversation .turn.assistant >> nth=-1")
    wait_for(page, f"() => {EVIDENCE}.length === 0", 10)
    assert "selected" not in page.get_attribute("#conversation .turn.assistant >> nth=-1", "class")
    # the toggle hides the boxes and brings them back
    page.click("#show-boxes input")
    wait_for(page, "() => document.body.classList.contains('hide-boxes')", 5)
    assert not page.locator("#preview .box").first.is_visible()
    page.click("#show-boxes input")
    # the picture cuts to the coffee: the cut and the cat leaving reach the timeline
    wait_for(page, "() => document.querySelector('#timeline .moment.left')?.textContent.includes('cat left')", 30)
    assert page.locator("#timeline .moment.scene").count() >= 1
    page.click("#conversation .turn.assistant >> nth=-1")  # the screenshot shows the answer's evidence marked
    wait_for(page, f"() => {EVIDENCE}.length > 0", 10)
    shot = os.environ.get("DEMO_SCREENSHOT")  # scripts/demo_screenshot.sh sets it to docs/demo.png
    page.screenshot(path=shot or str(tmp_path / "sample.png"), full_page=True)


def test_a_sample_that_cannot_be_made_is_named_on_the_page_and_the_session_goes_on(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sample cache is a file where a folder should be: the sample is not there and cannot be written there
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be\n")
    with monkeypatch.context() as env:
        env.setenv("OMNISTREAM_CACHE", str(blocked))
        page.click("#try-sample")
        wait_for(page, "() => document.querySelector('#notices').textContent.includes('could not be written')", 15)
    notice = page.inner_text("#notices")
    assert "the 'photos' sample is not in the cache and could not be written to it" in notice
    assert f"Not a directory: {blocked}/sample" in notice
    assert "Live session" in page.inner_text("#status")
    # the session goes on: with the cache back, the same button replays the sample
    page.click("#try-sample")
    wait_for(page, "() => document.querySelector('#notices').textContent.includes('replaying photos')", 30)


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A URL whose server takes the connection and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def take() -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=take, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/live.mp4"
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_a_file_that_is_not_a_video_and_a_url_that_does_not_answer_get_messages_on_the_page(
    page: Page, tmp_path: Path
) -> None:
    page.get_by_role("tab", name="Video file or URL").click()
    upload = page.locator("#video-file input[type=file]")
    with silent_server() as url:
        page.fill("#video-url textarea", url)
        page.click("#replay")
        # the page says at once what it is waiting for, and gives up when the decoder does (FFmpeg waits 30 s)
        wait_for(page, f"() => document.querySelector('#notices').textContent.includes('opening {url}…')", 10)
        wait_for(page, "() => document.querySelector('#notices').textContent.includes('cannot open')", 45)
    notices = page.inner_text("#notices")
    assert f"replay:{url}: cannot open as video (unreadable or unsupported format): {url}" in notices
    # a file named like a video that is not one: named by its own name, not the server's upload path
    broken = tmp_path / "holiday.mp4"
    broken.write_bytes(b"these bytes are not a video\n" * 100)
    upload.set_input_files(broken)
    page.wait_for_selector("#video-file video", timeout=10_000)
    page.click("#replay")
    wait_for(page, "() => document.querySelector('#notices').textContent.includes('holiday.mp4: cannot open')", 15)
    assert "replay:holiday.mp4: cannot open as video (unreadable or unsupported format): holiday.mp4" in (
        page.inner_text("#notices")
    )
    # a file of another type is refused by the upload itself
    page.click("#video-file button[aria-label='Clear']")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n")
    upload.set_input_files(notes)
    page.get_by_text("Invalid file type: notes.txt").wait_for(timeout=10_000)
    assert "Live session" in page.inner_text("#status")


def test_speaking_over_a_spoken_answer_stops_the_page_audio_at_once(
    server: RunningDemo, playwright: Playwright, media: Path
) -> None:
    lead_s, tail_s = 1.0, 20.0
    microphone = write_question_wav(media / "barge_in.wav", BARGE_IN, lead_s=lead_s, tail_s=tail_s)
    with wave.open(str(microphone)) as wav:
        speech_s = wav.getnframes() / wav.getframerate() - lead_s - tail_s
    chromium = launch(playwright, write_camera_clip(media / "camera.y4m"), microphone)
    page = chromium.new_page()
    try:
        page.goto(server.url)
        page.wait_for_selector("#status .status.live", timeout=30_000)
        # nothing seen yet: a fixed answer of some 6 s of speech, spoken in the page
        page.fill("#question textarea", "What was shown just before the cat?")
        page.click("#send")
        wait_for(page, f"() => {PLAYER}.playing", 60)
        # while it plays the user starts the microphone and, 1 s later, talks over it
        clicked = page.evaluate("performance.now()")
        page.click("#mic button.record-button")
        wait_for(page, f"() => !{PLAYER}.playing && {PLAYER}.stops > 0", 20)
        stopped = page.evaluate(PLAYER)
        assert stopped["cut"] > 0  # audio the page held was dropped unplayed: cut off, not run out
        assert (stopped["stoppedAt"] - clicked) / 1000 < lead_s + speech_s  # while the user was still talking
        assert "color the screen" not in page.inner_text("#transcript")
        # the audio clock runs on, the answer's playback position does not
        wait_for(page, f"() => {PLAYER}.clock > {stopped['clock'] + 1.0}", 10)
        assert page.evaluate(PLAYER)["played"] == pytest.approx(stopped["played"])
        # the interruption is heard and answered; the cut answer says how much of it was heard
        cut = "document.querySelector('#conversation .turn.assistant.cut')"
        wait_for(page, f"() => {cut} !== null", 90)
        assert page.locator("#conversation .turn.assistant").first.get_attribute("class") == "turn assistant cut"
        heard = re.search(r"cut off: ([\d.]+) s of it was heard", page.inner_text("#conversation .turn.assistant.cut"))
        assert heard is not None and float(heard[1]) == pytest.approx(stopped["played"], abs=1.0)
        assert "color the screen" in page.inner_text("#transcript")
        assert "answered" in page.inner_text("#decisions")
    finally:
        chromium.close()
