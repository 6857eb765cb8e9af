"""Running the registry: in the foreground (``serve``) or on a background thread (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from dockyard.registry.accesslog import AccessLogger
from dockyard.registry.app import build_app
from dockyard.registry.config import RegistryConfig, TLSConfig
from dockyard.registry.storage import Driver

__all__ = ["RunningRegistry", "serve", "ssl_context"]

access_log = logging.getLogger("dockyard.registry.access")


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(tls.certificate, tls.key)
    return ctx


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _start(config: RegistryConfig, driver: Driver | None, sock: socket.socket) -> web.AppRunner:
    app = build_app(config, driver=driver)
    runner = web.AppRunner(app, access_log=access_log, access_log_class=AccessLogger, handler_cancellation=False)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_context(config.tls) if config.tls else None)
    await site.start()
    return runner


def serve(config: RegistryConfig, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""

    async def main() -> None:
        host, port = config.host_port
        sock = _bind(host, port)
        runner = await _start(config, None, sock)
        scheme = "https" if config.tls else "http"
        bound = sock.getsockname()
        url = f"{scheme}://{host}:{bound[1]}"
        logging.getLogger("dockyard.registry").info("listening on %s (root %s)", url, config.root)
        if ready is not None:
            ready(url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


class RunningRegistry:
    """A registry on an ephemeral 127.0.0.1 port in a background thread; ``with RunningRegistry(cfg) as r: r.url``."""

    def __init__(self, config: RegistryConfig, *, driver: Driver | None = None, host: str = "127.0.0.1") -> None:
        self.config = config
        self.driver = driver
        self.host = host
        self.port = 0
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="registry", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def app(self) -> web.Application:
        assert self._runner is not None
        return self._runner.app

    def start(self) -> RunningRegistry:
        sock = _bind(self.host, 0)
        self.port = sock.getsockname()[1]
        self.url = f"{'https' if self.config.tls else 'http'}://{self.host}:{self.port}"
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(_start(self.config, self.driver, sock), self._loop)
        self._runner = fut.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> RunningRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
