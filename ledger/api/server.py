"""Run the Ledger API under uvicorn: in the foreground (`serve`) or in a thread (`ServerThread`)."""

import ipaddress
import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from ledger.api.app import create_app
from ledger.api.settings import LedgerApiSettings
from ledger.store import LedgerStore

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 15.0


def serve(store: LedgerStore, settings: LedgerApiSettings) -> None:
    """Serve until interrupted, bound to `settings.host` (127.0.0.1 unless configured otherwise)."""
    server = uvicorn.Server(_config(store, settings))
    if settings.devnet and not _loopback(settings.host):
        logger.warning(
            "devnet mode on %s: webhooks may target private addresses reachable from this host",
            settings.host,
        )
    logger.info("Ledger API on http://%s:%d (devnet=%s)", settings.host, settings.port, settings.devnet)
    server.run()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _config(store: LedgerStore, settings: LedgerApiSettings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(store, settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the process's logging configuration
        server_header=False,
        access_log=False,
    )


class ServerThread:
    """The API on a socket bound before start (no port race), served from a background thread.

    For tests, benchmarks and embedding: `with ServerThread(store, settings) as server: server.url`.
    `settings.port` 0 picks a free port.
    """

    def __init__(self, store: LedgerStore, settings: LedgerApiSettings) -> None:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say they are TCP, and
        # without it every response waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((settings.host, settings.port))
        host, port = self._socket.getsockname()[:2]
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._server = uvicorn.Server(_config(store, settings))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="ledger-api", daemon=True
        )

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Ledger API did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_S)
        self._socket.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
