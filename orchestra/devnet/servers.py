"""Running local servers in background threads, bound to 127.0.0.1."""

import asyncio
import threading

from aiohttp import web

from orchestra.ports import LOOPBACK, free_port


class ThreadedAiohttpServer:
    """An aiohttp application served on its own event loop in a daemon thread."""

    def __init__(self, app: web.Application, *, port: int | None = None, host: str = LOOPBACK) -> None:
        self.app = app
        self.host = host
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"http-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ThreadedAiohttpServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    async def _serve(self) -> None:
        # A stand-in holding a request open (an injected timeout) must not hold up the devnet's stop.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
