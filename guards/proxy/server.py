"""Running the proxy: in the foreground with uvicorn, or in a background thread on a free loopback port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from guards.proxy.settings import ProxySettings

STARTUP_TIMEOUT_S = 120.0


def serve(settings: ProxySettings, *, log_level: str = "info", ready: Callable[[], None] | None = None) -> None:
    """Serve the guard proxy until interrupted. The policies are loaded (and warmed up) before the server starts, so a
    policy that does not load raises its ``PolicyError`` here, not as a server traceback; then ``ready`` is called."""
    from guards.proxy.app import create_app

    app = create_app(settings)
    app.state.service.startup()  # the lifespan's own startup then finds every guard built and warm
    listening = bound_socket(settings.host, settings.port)  # a taken port is an OSError here, before any banner
    if ready is not None:
        ready()
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=log_level, timeout_graceful_shutdown=10
    )
    uvicorn.Server(config).run(sockets=[listening])


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one); ``OSError`` naming the address when it cannot be."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that tells the starting thread when it is ready, or that it failed."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:
        """Signals belong to the main thread's program, not to a background server."""


class BackgroundServer:
    """Runs an ASGI app on ``host`` (a free port unless given) in a daemon thread: ``with BackgroundServer(app) as s:``.

    Entering returns once the app's startup (lifespan) has finished; ``url`` is ``http://host:port``.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.host = host
        self._socket = bound_socket(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=5)
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._run, name=f"ombud-server-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported to the thread waiting in start()
            self._error = exc
        finally:
            self._server.ready.set()

    def start(self) -> BackgroundServer:
        """Start serving and wait until ready; RuntimeError when the server could not start."""
        self._thread.start()
        if not self._server.ready.wait(STARTUP_TIMEOUT_S) or self._error or not self._server.started:
            self.stop()
            raise RuntimeError(f"the server on {self.url} did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
