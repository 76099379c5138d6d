"""What every transport shares: call outcomes, typed call errors, per-event-loop clients."""

import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from protocol.models import CallStatus, DendriteProof, Provider

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CallMeta:
    """Timing and identity of one call, present whether it succeeded or not."""

    provider: Provider
    operation: str
    started_ns: int
    latency_ms: float
    status_code: int | None = None
    proof: DendriteProof | None = None


@dataclass(frozen=True)
class CallReply:
    """A successful call: the decoded response payload and its metadata."""

    payload: Any
    meta: CallMeta
    receipt_index: int | None = None  # set by the executor once the call is recorded


class TransportError(Exception):
    """A call that produced no usable answer. `transient` says whether retrying may help."""

    status: CallStatus = CallStatus.ERROR
    transient: bool = False

    def __init__(self, message: str, meta: CallMeta, payload: Any = None) -> None:
        super().__init__(message)
        self.meta = meta
        self.payload = payload
        self.receipt_index: int | None = None  # set by the executor once the call is recorded


class CallTimeout(TransportError):
    status = CallStatus.TIMEOUT
    transient = True


class ProducerUnavailable(TransportError):
    status = CallStatus.UNAVAILABLE
    transient = True


class ProducerRejected(TransportError):
    """The producer refused the caller or the request (auth, blacklist, validation)."""

    status = CallStatus.REJECTED


class RateLimited(ProducerRejected):
    transient = True


class ProducerFailed(TransportError):
    """The producer accepted the request and failed (5xx)."""

    status = CallStatus.ERROR
    transient = True


class InvalidResponse(TransportError):
    """The producer answered with something that is not its documented response shape."""

    status = CallStatus.INVALID_RESPONSE


def strict_json(raw: bytes) -> Any:
    """`json.loads` without NaN/Infinity, which have no canonical form; raises ValueError."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(raw, parse_constant=refuse)
    except RecursionError:
        raise ValueError("JSON nests too deeply") from None


class LoopLocal(Generic[T]):
    """One client per running event loop.

    aiohttp and httpx sessions belong to the loop that created them, and a bittensor Axon runs its
    forwards on its own loop in its own thread, so a miner needs one client per loop it is called on.
    """

    def __init__(self, factory: Callable[[], T], closer: Callable[[T], Awaitable[None]]) -> None:
        self._factory = factory
        self._closer = closer
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            item = self._factory()
            self._items[loop] = item
        return item

    async def aclose(self) -> None:
        """Close every client: on this loop directly, on other running loops through their thread."""
        current = asyncio.get_running_loop()
        for loop, item in list(self._items.items()):
            try:
                if loop is current:
                    await self._closer(item)
                elif loop.is_running():
                    future = asyncio.run_coroutine_threadsafe(_close(self._closer, item), loop)
                    await asyncio.wrap_future(future)
            except Exception as exc:  # closing must not mask the shutdown that called it
                log.debug("closing a client failed: %s", exc)
        self._items.clear()


async def _close(closer: Callable[[T], Awaitable[None]], item: T) -> None:
    await closer(item)
