"""llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``) serving the shipped SmolLM2-135M GGUF on
127.0.0.1 at a free port, logging to a file: the real model server of the ``remote`` backend's tests and of
``bench_remote``. It can be killed, as a crash would, and started again on the same port."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from engine.backends.cascade.llm import smollm2_gguf


class LlamaServer:
    ALIAS = "smollm2"

    def __init__(self, folder: Path, *, n_ctx: int = 2048, threads: int = 2) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.gguf = smollm2_gguf()
        self.log = folder / "llama-server.log"
        self.n_ctx, self.threads = n_ctx, threads
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        """Start it and wait until it answers ``/v1/models``; ``RuntimeError`` with its log if it exits or never
        answers."""
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias", self.ALIAS]
        threads = str(self.threads)
        command += ["--n_ctx", str(self.n_ctx), "--n_threads", threads, "--n_threads_batch", threads]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited at start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"llama.cpp server did not answer within {timeout:g} s")

    def prompt_tokens(self) -> list[int]:
        """Prompt tokens the server computed for each finished request, in order, from its log."""
        text = self.log.read_text(errors="replace")
        return [int(n) for n in re.findall(r"prompt eval time =.*?/\s*(\d+) tokens", text)]

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
