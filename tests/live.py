"""Servers for end-to-end tests: an event loop on a thread, and an app on a real uvicorn.

Tests are plain blocking functions speaking HTTP, the way a client does; the servers they talk
to keep running on :class:`BackgroundLoop` meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import uvicorn

from pilothouse.serving import server_options

T = TypeVar("T")


class Stoppable(Protocol):
    async def stop(self) -> None: ...


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function on the loop (to touch loop-owned state safely)."""

        async def wrapper() -> T:
            return function()

        return self.run(wrapper())

    def shutdown(self, *services: Stoppable | None) -> None:
        """Stop ``services`` in order (None: never started) on the loop, then the loop itself."""

        async def stop_services() -> None:
            for service in services:
                if service is not None:
                    await service.stop()

        try:
            self.run(stop_services(), timeout=60)
        finally:
            self.stop()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@dataclass
class ServedApp:
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 30)


async def serve(app: Any) -> ServedApp:
    """``app`` on uvicorn at 127.0.0.1 on a free port, once it accepts connections."""
    # As `pilothouse serve` serves it, except that long polls of executors that are gone would
    # otherwise hold the shutdown.
    options = server_options(timeout_graceful_shutdown=1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the API server did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return ServedApp(server, task, f"http://127.0.0.1:{port}")
