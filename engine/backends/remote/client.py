"""Streaming ``/v1/chat/completions`` over HTTP (httpx), with retries on connection errors and errors that name the
server and the cause. Runs in the session's worker thread; a cancelled answer closes the stream, which makes the
server abort the request (llama.cpp and vLLM stop generating when the client goes away)."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx

from engine.backends.remote.options import RemoteOptions
from engine.cancel import CancelToken


class RemoteError(Exception):
    """The server could not be reached or answered something other than a chat-completions reply."""


class ChatClient:
    def __init__(self, options: RemoteOptions, model: str) -> None:
        self.options = options
        self.model = model
        self.server = f"{options.base_url} (model {model!r})"
        key = os.environ.get("OMNISTREAM_REMOTE_API_KEY")
        self.http = httpx.Client(
            base_url=options.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=httpx.Timeout(options.read_timeout_s, connect=options.connect_timeout_s),
        )
        self._model_checked = False

    def close(self) -> None:
        self.http.close()

    def _fail(self, cause: str) -> RemoteError:
        return RemoteError(f"remote server {self.server}: {cause}")

    def _check_model(self, cancel: CancelToken) -> None:
        """Fail clearly when the server does not serve ``model`` (some servers would answer with another one)."""
        if self._model_checked:
            return
        reply = self._with_retries(lambda: self.http.get("/models"), cancel)
        if reply is None:
            return
        served = [m.get("id") for m in self._json(reply).get("data", []) if isinstance(m, dict)]
        if self.model not in served:
            raise self._fail(f"does not serve this model; it serves: {', '.join(map(str, served)) or 'none'}")
        self._model_checked = True

    def _with_retries(self, call: Any, cancel: CancelToken, too_large: str = "") -> httpx.Response | None:
        """``call()`` retried with backoff on connection errors; None when cancelled while waiting. ``too_large``:
        what to add to a refusal of the request as too large (what it carried, which options shrink it)."""
        delay = self.options.backoff_s
        for attempt in range(self.options.retries + 1):
            try:
                response = call()
            # NetworkError covers a refused connection and a kept-alive one the server reset meanwhile (ReadError
            # on send); nothing was streamed yet, so another try is safe
            except (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt == self.options.retries:
                    raise self._fail(f"cannot connect ({type(exc).__name__}: {exc or 'no reply'})") from exc
                if cancel.wait(delay):
                    return None
                delay *= 2
                continue
            except httpx.TimeoutException as exc:
                raise self._fail(f"no reply within {self.options.read_timeout_s:g} s ({type(exc).__name__})") from exc
            if response.status_code >= 400:
                cause = f"HTTP {response.status_code}: {_error_message(response)}"
                if too_large and _refused_as_too_large(response.status_code, cause):
                    cause += f" ({too_large})"
                raise self._fail(cause)
            return response
        raise AssertionError("unreachable")

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise self._fail(f"replied with something that is not JSON: {response.text[:120]!r}") from None
        if not isinstance(body, dict):
            raise self._fail(f"replied with JSON that is not an object: {response.text[:120]!r}")
        return body

    def stream(self, messages: list[dict[str, Any]], max_tokens: int, cancel: CancelToken) -> Iterator[str]:
        """The answer's text pieces as the server streams them; stops (closing the stream) when ``cancel`` is set."""
        self._check_model(cancel)
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.options.temperature,
            "stream": True,
        }

        request = self.http.build_request("POST", "/chat/completions", json=body)
        parts = [p for m in messages if isinstance(m["content"], list) for p in m["content"]]
        images = sum(p.get("type") == "image_url" for p in parts)
        too_large = f"the request was {len(request.content) / 1024:.0f} KiB"
        if images:
            too_large += f" with {images} frame(s) of up to {self.options.image_size} px: send fewer or smaller frames"
            too_large += " (--max-images, --image-size)"

        def send() -> httpx.Response:
            response = self.http.send(request, stream=True)
            if response.status_code >= 400:
                response.read()
                response.close()
            return response

        response = self._with_retries(send, cancel, too_large)
        if response is None:
            return
        try:
            yield from self._pieces(response, cancel)
        except httpx.TimeoutException as exc:
            raise self._fail(f"stopped streaming for {self.options.read_timeout_s:g} s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            if not cancel.cancelled:
                raise self._fail(f"the stream broke off ({type(exc).__name__}: {exc or 'connection closed'})") from exc
        finally:
            response.close()  # before the end: the server sees the client go and aborts the request

    def _pieces(self, response: httpx.Response, cancel: CancelToken) -> Iterator[str]:
        events = 0
        for line in response.iter_lines():
            if cancel.cancelled:
                return
            if not line.strip() or line.startswith(":"):
                continue
            if not line.startswith("data:"):
                raise self._fail(f"replied with something that is not a chat-completions stream: {line[:120]!r}")
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise self._fail(f"sent a stream event that is not JSON: {data[:120]!r}") from None
            events += 1
            if isinstance(event, dict) and "error" in event:
                raise self._fail(f"error while streaming: {_message_of(event['error'])}")
            try:
                delta = event["choices"][0].get("delta") or {} if event["choices"] else {}
            except (KeyError, TypeError, AttributeError):
                raise self._fail(f"sent a stream event without choices: {data[:120]!r}") from None
            text = delta.get("content")
            if text:
                yield str(text)
        if events == 0:
            raise self._fail("closed the stream without sending any chat-completions event")

    def yes_probability(self, messages: list[dict[str, Any]], cancel: CancelToken) -> float:
        """P("yes") against P("no") for the reply's first token, from the server's top logprobs."""
        self._check_model(cancel)
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": 10,
        }
        response = self._with_retries(lambda: self.http.post("/chat/completions", json=body), cancel)
        if response is None:
            return 0.0
        reply = self._json(response)
        try:
            first = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            raise self._fail("returned no first-token logprobs, which the model gate needs") from None
        yes = no = 0.0
        for entry in first:
            word = str(entry.get("token", "")).strip().lower()
            if word in ("yes", "no"):
                p = math.exp(float(entry.get("logprob", -math.inf)))
                yes, no = (yes + p, no) if word == "yes" else (yes, no + p)
        return yes / (yes + no) if yes + no > 0 else 0.0


def _message_of(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


# what servers and proxies say when a request is too large for them: HTTP 413 (a proxy's body limit, e.g. nginx's
# client_max_body_size), or a 400 naming the context length (vLLM, SGLang, llama.cpp) or an image limit (vLLM)
_TOO_LARGE = re.compile(
    r"too (large|long|big|many)|context (length|size|window)|exceed|longer than|at most \d+ image", re.IGNORECASE
)


def _refused_as_too_large(status: int, message: str) -> bool:
    return status == 413 or (status == 400 and _TOO_LARGE.search(message) is not None)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        title = re.search(r"<title>(.*?)</title>", response.text, re.I | re.S)  # a proxy's HTML error page
        return title.group(1).strip() if title else response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "error" in body:
        return _message_of(body["error"])[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return response.text[:200]
