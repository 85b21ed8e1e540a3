"""llama-cpp-python's OpenAI-compatible server as a child process on loopback: the proxy's real local upstream."""

from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from guards.errors import GuardError
from guards.slm.model import DEFAULT_ALIAS, resolve_gguf

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
LLAMA_HINT = (
    "llama-cpp-python is not installed; install the `slm` extra (guards/slm/install.sh builds it in about 4 minutes)"
)


class SlmError(GuardError):
    """The local model server could not be started."""


def llama_cpp_available() -> bool:
    """True when llama-cpp-python and its server extra are importable."""
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SlmServer:
    """``python -m llama_cpp.server`` for one GGUF model: ``with SlmServer() as slm: slm.url``.

    One thread by default: on a small shared CPU, two threads per generation stall (see docs/proxy.md).
    The server's log goes to ``log_path`` (a temporary file unless given).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 1,
        context: int = 2048,
        alias: str = DEFAULT_ALIAS,
        log_path: str | Path | None = None,
    ) -> None:
        self.model = resolve_gguf(model)
        self.host = host
        self.port = port or free_port(host)
        self.threads = threads
        self.context = context
        self.alias = alias
        self.log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"ombud-slm-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (``.../v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--model_alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--n_ctx",
            str(self.context),
            "--interrupt_requests",  # by default a new request cuts off the stream in progress: never behind a proxy
            "False",
        ]

    def start(self, timeout: float = READY_TIMEOUT_S) -> SlmServer:
        """Start the server and wait until it answers ``/v1/models``; SlmError with its log tail otherwise."""
        if not llama_cpp_available():
            raise SlmError(LLAMA_HINT)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        logger.info("starting the local SLM %s on %s (log %s)", self.model.name, self.url, self.log_path)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SlmError(f"the local SLM server exited with {self.process.returncode}: {self._log_tail()}")
                try:
                    if client.get(f"{self.url}/models").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)  # polling a child process for readiness; there is no event to wait on
        self.stop()
        raise SlmError(f"the local SLM server was not ready within {timeout:g} s: {self._log_tail()}")

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def wait(self) -> int:
        """Block until the server exits; its exit code."""
        if self.process is None:
            return 0
        return self.process.wait()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> SlmServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
