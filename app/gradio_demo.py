"""The Gradio 6 live demo page: webcam, microphone, a replayed video file or URL and typed questions into one live
session per browser tab (or one click on a sample), with a preview of what the backend perceives (labelled boxes), a
timeline of what it noticed, the transcript, streamed answers, gate decisions, alerts, metrics and spoken replies.

The tabs and their sessions are ``app.demo_tabs.LiveDemo``'s; a ``gr.Timer`` polls each tab's ``LiveView`` and updates
the page only when something changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.browser_input import InputError
from app.demo_tabs import EngineLoop, LiveDemo, Tab
from app.demo_view import PANELS
from app.live import SessionLimitError, SessionManager
from app.samples import SAMPLES, SampleMissing
from app.security import API_KEY_ENV, keys_match, replay_url_problem, require_key_off_loopback
from app.speech_options import SpeechOptions

POLL_S = 0.3


CSS = """
#conversation, #transcript, #decisions, #alerts { max-height: 22rem; overflow-y: auto; }
.turn { padding: .35rem .6rem; margin: .25rem 0; border-radius: .5rem; }
.turn.user { background: #e8f0fe; }
.turn.assistant { background: #eef7ee; }
.turn.assistant.streaming { border-left: 3px solid #4caf50; }
.turn.assistant.interrupted, .turn.assistant.cancelled, .turn.assistant.cut { background: #fff4e5; }
.turn.assistant.failed { background: #fdecea; }
.badge { font-size: .8em; color: #a15c00; }
.ignored { color: #777; } .proactive { color: #0b57d0; } .watching { color: #555; } .accepted { color: #2e7d32; }
.error, .notice { color: #b3261e; } .notice { color: #8a5300; }
.t, .who { color: #888; font-size: .8em; }
.status.live { color: #2e7d32; font-weight: 600; } .status.ended, .status.refused { color: #b3261e; }
.empty { color: #999; font-style: italic; }
table.metrics td { padding: 0 .6rem; }
.preview { position: relative; display: inline-block; line-height: 0; }
.preview img { max-width: 100%; display: block; }
.preview .box { position: absolute; border: 2px solid #00e676; box-sizing: border-box; line-height: 1.2; }
.preview .box span { position: absolute; top: -1.3em; left: -2px; background: #00e676; color: #000;
  font-size: .75em; padding: 0 .25em; white-space: nowrap; }
.preview .box.text { border-color: #ffca28; } .preview .box.text span { background: #ffca28; }
.preview .box.person { border-color: #40c4ff; } .preview .box.person span { background: #40c4ff; }
body.hide-boxes .preview .box { display: none; }
#timeline { max-height: 14rem; overflow-y: auto; font-size: .9em; }
.moment.object { color: #2e7d32; } .moment.left { color: #777; } .moment.text { color: #8a5300; }
.moment.scene { color: #0b57d0; } .moment.speech { color: #6a1b9a; }
.turn.assistant { cursor: pointer; } .turn.assistant.selected { outline: 2px solid #0b57d0; }
.moment.evidence { background: #fff3c4; border-left: 3px solid #f9a825; padding-left: .3rem; font-weight: 600; }
"""

HEAD = """
<script>
(() => {
  // Spoken replies through Web Audio, one clip after the other. window.omnistreamSpeech.state() says what the page's
  // audio does now: playing (a clip is sounding), played (seconds played out), cut (seconds dropped unplayed by a
  // stop), stops (stop signals acted on), stoppedAt (performance.now() of the last stop that cut something) and clock
  // (the audio clock, seconds).
  let ctx = null, playAt = 0, lastClip = 0, lastStop = 0, sources = [];
  let played = 0, cut = 0, stops = 0, stoppedAt = null;
  const audio = () => { ctx = ctx || new AudioContext(); return ctx; };
  document.addEventListener("click", () => audio().resume(), true);
  const heard = (s, at) => Math.min(Math.max(at - s.at, 0), s.buffer.duration);
  const play = async (b64) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0)), before = stops;
    const buffer = await audio().decodeAudioData(bytes.buffer);
    if (stops !== before) return;  // a stop came while it was decoded: it is not to be heard
    const src = ctx.createBufferSource();
    src.buffer = buffer; src.connect(ctx.destination);
    playAt = Math.max(playAt, ctx.currentTime);
    src.at = playAt; src.start(playAt); playAt += buffer.duration; sources.push(src);
    src.onended = () => {
      if (!sources.includes(src)) return;  // stopped: counted by the stop
      sources = sources.filter(s => s !== src); played += buffer.duration;
    };
  };
  const stop = () => {
    const now = ctx ? ctx.currentTime : 0;
    const dropped = sources.reduce((sum, s) => sum + s.buffer.duration - heard(s, now), 0);
    played += sources.reduce((sum, s) => sum + heard(s, now), 0);
    sources.forEach(s => s.stop()); sources = []; playAt = 0; stops += 1;
    if (dropped > 0) { cut += dropped; stoppedAt = performance.now(); }
  };
  window.omnistreamSpeech = {
    state: () => {
      const now = ctx ? ctx.currentTime : 0;
      return {
        playing: sources.some(s => s.at <= now && now < s.at + s.buffer.duration),
        played: played + sources.reduce((sum, s) => sum + heard(s, now), 0),
        cut, stops, stoppedAt, clock: now,
      };
    },
  };
  const spoken = () => {
    const el = document.querySelector("#spoken .spoken-clip");
    if (!el) return;
    const stopCount = +el.dataset.stop, clip = +el.dataset.clip;
    if (stopCount > lastStop) { lastStop = stopCount; stop(); }
    if (clip > lastClip && el.dataset.audio) { lastClip = clip; play(el.dataset.audio); }
  };
  // when the selected answer changes, the first timeline moment it drew on is scrolled into view
  let shownEvidence = "";
  const evidence = () => {
    const selected = document.querySelector("#timeline .moments")?.dataset.selected || "";
    if (selected === shownEvidence) return;
    shownEvidence = selected;
    document.querySelector("#timeline .moment.evidence")?.scrollIntoView({ block: "nearest" });
  };
  new MutationObserver(() => { spoken(); evidence(); })
    .observe(document.documentElement, { subtree: true, childList: true, attributes: true });
})();
</script>
"""


# a click on an answer selects it (a click on the selected one, or beside the answers, selects none)
SELECT_ANSWER = """
element.addEventListener("click", (e) => {
  const turn = e.target.closest(".turn.assistant");
  const chosen = turn && !turn.classList.contains("selected") ? turn.dataset.response : "";
  trigger("select", { value: chosen, index: 0 });
});
"""


def _refused(message: str) -> dict[str, str]:
    empty = dict.fromkeys(PANELS, "")
    empty["status"] = f'<div class="status refused">{message}</div>'
    return empty


def build_demo(manager: SessionManager, *, spoken: bool = True, speech: SpeechOptions | None = None) -> gr.Blocks:
    """The demo page over ``manager``, its sessions on a new ``EngineLoop``."""
    return _build(LiveDemo(manager, EngineLoop(), spoken=spoken, speech=speech))


def _build(host: LiveDemo) -> gr.Blocks:
    manager = host.manager
    stream_limit = manager.max_sessions
    with gr.Blocks(title="omnistream live demo") as demo:
        sid = gr.State(None)
        seen = gr.State(-1)
        gr.Markdown("# omnistream — live demo\nAsk about what the camera sees, by voice or by typing.")
        status = gr.HTML(elem_id="status")
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Row(equal_height=True, elem_id="sample"):
                    sample_choice = gr.Dropdown(
                        choices=[(sample.title, name) for name, sample in SAMPLES.items()],
                        value=next(iter(SAMPLES)),
                        label="No camera? Try a sample",
                        elem_id="sample-choice",
                        scale=3,
                    )
                    sample_btn = gr.Button("Try the sample", variant="primary", elem_id="try-sample", scale=1)
                with gr.Tab("Camera and microphone"):
                    webcam = gr.Image(
                        sources=["webcam"],
                        streaming=True,
                        type="numpy",
                        image_mode="RGB",
                        label="Webcam",
                        webcam_options=gr.WebcamOptions(mirror=False),
                        elem_id="webcam",
                    )
                    mic = gr.Audio(
                        sources=["microphone"], streaming=True, type="numpy", label="Microphone", elem_id="mic"
                    )
                with gr.Tab("Video file or URL"):
                    video_file = gr.Video(sources=["upload"], label="Video file", elem_id="video-file")
                    video_url = gr.Textbox(
                        label="…or a video URL", placeholder="https://… or rtsp://…", elem_id="video-url"
                    )
                    with gr.Row():
                        play_btn = gr.Button("Replay into the session", elem_id="replay")
                        stop_replay_btn = gr.Button("Stop replay")
                question = gr.Textbox(label="Type a question", placeholder="What is on the screen?", elem_id="question")
                gr.Examples(
                    [[q] for sample in SAMPLES.values() for q in sample.questions],
                    inputs=[question],
                    label="Suggested questions",
                    elem_id="suggested",
                )
                with gr.Row():
                    send_btn = gr.Button("Send", variant="primary", elem_id="send")
                    start_btn = gr.Button("New session", elem_id="start")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
                notices = gr.HTML(elem_id="notices")
                gr.Markdown("### What it sees")
                show_boxes = gr.Checkbox(value=True, label="Show detections", elem_id="show-boxes")
                preview_out = gr.HTML(elem_id="preview")
                gr.Markdown("### Timeline: what it noticed")
                timeline = gr.HTML(elem_id="timeline")
            with gr.Column(scale=1):
                gr.Markdown("### Conversation\nClick an answer to mark what it drew on in the timeline.")
                conversation = gr.HTML(elem_id="conversation", js_on_load=SELECT_ANSWER)
                gr.Markdown("### Live transcript")
                transcript = gr.HTML(elem_id="transcript")
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("### Gate decisions")
                        decisions = gr.HTML(elem_id="decisions")
                    with gr.Column():
                        gr.Markdown("### Alerts")
                        alerts = gr.HTML(elem_id="alerts")
                gr.Markdown("### Metrics")
                metrics = gr.HTML(elem_id="metrics")
                spoken_out = gr.HTML(elem_id="spoken")
        timer = gr.Timer(POLL_S)
        panels = {
            "status": status,
            "conversation": conversation,
            "transcript": transcript,
            "decisions": decisions,
            "alerts": alerts,
            "metrics": metrics,
            "notices": notices,
            "preview": preview_out,
            "timeline": timeline,
        }
        panel_outputs = [panels[name] for name in PANELS]

        def show(rendered: dict[str, str]) -> list[str]:
            return [rendered[name] for name in PANELS]

        def ensure(session_id: str | None, request: gr.Request) -> tuple[str | None, Tab | None]:
            """The tab's running session, opening one when there is none (API clients never load the page)."""
            tab = host.tab(session_id)
            if tab is not None and tab.running:
                return session_id, tab
            host.stop(session_id)  # ended by itself (e.g. a fatal error): release it before opening another
            try:
                session_id = host.open(request.session_hash)
            except SessionLimitError as exc:
                gr.Warning(f"No session: {exc}")
                return None, None
            return session_id, host.tab(session_id)

        def on_load(request: gr.Request) -> list[Any]:
            try:
                session_id = host.open(request.session_hash)
            except SessionLimitError as exc:
                return [None, -1, *show(_refused(f"No session: {exc}"))]
            return [session_id, -1, *show(host.tabs[session_id].view.render())]

        def on_start(session_id: str | None, request: gr.Request) -> list[Any]:
            host.stop(session_id)
            return on_load(request)

        def on_stop(session_id: str | None) -> list[Any]:
            tab = host.tab(session_id)
            host.stop(session_id)
            if tab is None:
                return [None, -1, *show(_refused("No session is running; press “New session” to start one."))]
            tab.view.note("session stopped; press “New session” to start another")
            return [None, -1, *show(tab.view.render())]

        def refresh(session_id: str | None, seen_version: int) -> list[Any]:
            tab = host.tab(session_id)
            spoken = tab.sink.take() if tab is not None and tab.sink is not None else None
            spoken_html = gr.skip() if spoken is None else spoken
            if tab is None or tab.view.version == seen_version:
                return [gr.skip(), *[gr.skip()] * len(PANELS), spoken_html]
            version = tab.view.version
            return [version, *show(tab.view.render()), spoken_html]

        def send(text: str, session_id: str | None, request: gr.Request) -> tuple[str | None, str]:
            session_id, tab = ensure(session_id, request)
            if tab is None:
                return session_id, text
            try:
                host.submit_text(tab, text)
            except InputError as exc:
                tab.view.note(str(exc))
                return session_id, text
            return session_id, ""

        def on_frame(image: object, session_id: str | None) -> None:
            tab = host.tab(session_id)
            if tab is None or not tab.running:
                raise gr.Error("no live session: press “New session”")
            try:
                host.push_frame(tab, image)
            except InputError as exc:
                tab.view.note(str(exc))

        def on_audio(chunk: object, session_id: str | None) -> None:
            tab = host.tab(session_id)
            if tab is None or not tab.running:
                raise gr.Error("no live session: press “New session”")
            try:
                host.push_audio(tab, chunk)
            except InputError as exc:
                tab.view.note(str(exc))

        def on_replay(file: str | None, url: str, session_id: str | None, request: gr.Request) -> str | None:
            session_id, tab = ensure(session_id, request)
            if tab is None:
                return session_id
            target = file or url.strip()
            problem = None if file else replay_url_problem(target)
            if not target:
                tab.view.note("nothing to replay: upload a video file or enter a URL")
            elif problem:
                tab.view.note(problem)
            else:
                host.replay(tab, target)
            return session_id

        def on_sample(name: str, session_id: str | None, request: gr.Request) -> str | None:
            session_id, tab = ensure(session_id, request)
            if tab is None:
                return session_id
            try:
                host.try_sample(tab, name)
            except SampleMissing as exc:
                tab.view.note(str(exc))
            return session_id

        def on_select(session_id: str | None, evt: gr.SelectData) -> None:
            tab = host.tab(session_id)
            if tab is not None:
                tab.view.select(evt.value or None)

        def on_stop_replay(session_id: str | None) -> None:
            tab = host.tab(session_id)
            if tab is not None and host.stop_replay(tab):
                tab.view.note("replay stopped")

        lifecycle_outputs = [sid, seen, *panel_outputs]
        demo.load(on_load, outputs=lifecycle_outputs, api_name=False)
        start_btn.click(on_start, inputs=[sid], outputs=lifecycle_outputs, api_name="start")
        stop_btn.click(on_stop, inputs=[sid], outputs=lifecycle_outputs, api_name="stop")
        timer.tick(
            refresh,
            inputs=[sid, seen],
            outputs=[seen, *panel_outputs, spoken_out],
            api_name="refresh",
            show_progress="hidden",
            show_progress_on=status,
            concurrency_limit=None,
        )
        send_btn.click(send, inputs=[question, sid], outputs=[sid, question], api_name="send")
        question.submit(send, inputs=[question, sid], outputs=[sid, question], api_name=False)
        play_btn.click(on_replay, inputs=[video_file, video_url, sid], outputs=[sid], api_name="replay")
        stop_replay_btn.click(on_stop_replay, inputs=[sid], api_name="stop_replay")
        sample_btn.click(on_sample, inputs=[sample_choice, sid], outputs=[sid], api_name="sample")
        conversation.select(on_select, inputs=[sid], api_name=False, show_progress="hidden")
        show_boxes.change(
            None, inputs=[show_boxes], js="(on) => { document.body.classList.toggle('hide-boxes', !on); return []; }"
        )
        webcam.stream(
            on_frame,
            inputs=[webcam, sid],
            stream_every=max(0.1, 1.0 / manager.config.options.ingest.fps),
            concurrency_limit=stream_limit,
            show_progress="hidden",
            show_progress_on=webcam,
            api_name="frame",
        )
        mic.stream(
            on_audio,
            inputs=[mic, sid],
            stream_every=0.5,
            concurrency_limit=stream_limit,
            show_progress="hidden",
            show_progress_on=mic,
            api_name="audio",
        )

        def on_unload(request: gr.Request) -> None:
            host.stop_client(request.session_hash)

        demo.unload(on_unload)
    return demo


@dataclass
class RunningDemo:
    demo: gr.Blocks
    host: LiveDemo
    url: str

    def close(self) -> None:
        """Stop the server, end every session and the engine loop."""
        self.demo.close()
        self.host.close_all()
        self.host.loop.close()


def _token_login(token: str) -> Callable[[str, str], bool]:
    """Gradio's login check: any user name, the access token as the password (compared in constant time)."""

    def check(_user: str, password: str) -> bool:
        return keys_match(password, token)

    return check


def start(
    manager: SessionManager,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    spoken: bool = True,
    speech: SpeechOptions | None = None,
    api_key: str | None = None,
    allow_unauthenticated: bool = False,
) -> RunningDemo:
    """Warm the models up, then serve the demo in the background; returns once the server accepts requests.

    With ``api_key`` the page and its API need a login (Gradio's ``auth``; ``gradio_client``: ``auth=(any, key)``).
    A ``host`` beyond loopback without a key raises ``InsecureBindError`` unless ``allow_unauthenticated``."""
    require_key_off_loopback(host, api_key, allow_unauthenticated=allow_unauthenticated, what="demo")
    loop = EngineLoop()
    try:
        loop.call(_warm_up(manager))
        live_demo = LiveDemo(manager, loop, spoken=spoken, speech=speech)
        demo = _build(live_demo)
        demo.queue(default_concurrency_limit=manager.max_sessions)
        _, url, _ = demo.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            css=CSS,
            head=HEAD,
            show_error=True,
            auth=_token_login(api_key) if api_key else None,
            auth_message=f"Any user name; the password is the demo's access token (--api-key or {API_KEY_ENV}).",
        )
    except BaseException:
        loop.close()
        raise
    return RunningDemo(demo=demo, host=live_demo, url=url)


async def _warm_up(manager: SessionManager) -> None:
    """Load the shared models once by opening and closing a session, so the first tab starts at once."""
    live = await manager.open()
    await manager.close(live)


def launch(
    manager: SessionManager,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    spoken: bool = True,
    speech: SpeechOptions | None = None,
    api_key: str | None = None,
    allow_unauthenticated: bool = False,
) -> None:
    """Serve the demo until interrupted (Ctrl-C)."""
    running = start(
        manager,
        host=host,
        port=port,
        spoken=spoken,
        speech=speech,
        api_key=api_key,
        allow_unauthenticated=allow_unauthenticated,
    )
    print(f"omnistream demo: {running.url}", flush=True)
    stopped = threading.Event()
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.close()
