"""The adapter contract: one producer's request/response shapes <-> normalised `Record`s.

An adapter drives a producer's protocol for one step through a `Caller`, which the executor binds
to one candidate provider and which records a receipt for every call. Adapters parse records from
the exact payloads the receipts digest, so every record can be traced to a receipt.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol

import bittensor as bt

from orchestra.routing import Candidate, RouteSpec
from orchestra.transports.base import CallReply
from protocol.models import RouteKind, Step


@dataclass(frozen=True)
class Record:
    """One piece of evidence, normalised across producers."""

    kind: str  # "web_page" | "post" | "answer"
    text: str
    source: str  # "web" | "x" | "reddit" | ...
    receipt_index: int
    title: str | None = None
    url: str | None = None
    author: str | None = None
    published: str | None = None  # ISO 8601
    metrics: dict[str, float] = field(default_factory=dict)


def numbers(source: Any, names: tuple[str, ...]) -> dict[str, float]:
    """The named fields of a mapping or object that hold numbers (engagement counts and the like)."""
    values = {
        name: source.get(name) if isinstance(source, dict) else getattr(source, name, None) for name in names
    }
    return {
        name: float(value)
        for name, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


class Caller(Protocol):
    """Makes calls to the candidate the executor chose, recording a receipt for each."""

    @property
    def candidate(self) -> Candidate: ...

    async def dendrite(self, synapse: bt.Synapse) -> CallReply:
        """Send a synapse to the candidate's axon; the reply payload is the answered synapse's body."""
        ...

    async def http(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> CallReply:
        """Call the candidate's endpoint; `path` is appended to the route's base URL."""
        ...

    async def fetch(self, url: str) -> CallReply:
        """GET an absolute URL the producer handed out (a presigned download), with no credentials.

        Only https URLs on public hosts are fetched (plain http and loopback only when the route
        itself is on loopback, as in the devnet); anything else raises `AdapterError` unsent.
        """
        ...


class AdapterError(Exception):
    """The producer answered, but not with something the adapter can use."""

    def __init__(self, message: str, *, receipt_index: int | None = None) -> None:
        super().__init__(message)
        self.receipt_index = receipt_index


class Adapter(ABC):
    """Speaks one producer subnet's protocol."""

    name: str
    route_kinds: frozenset[RouteKind]

    def auth_headers(self, route: RouteSpec) -> dict[str, str] | None:
        """The headers carrying `route`'s key the way this producer's API wants it; None without a key
        or when the route's transport adds it itself (`openai`). Adapters calling a keyed API send
        these, and the validator's spot checks send the same when they repeat a call."""
        return None

    @abstractmethod
    async def run(self, step: Step, caller: Caller) -> list[Record]:
        """Obtain `step.capability` from the caller's candidate, as records. Raises `TransportError` or
        `AdapterError`; the executor then tries the next candidate."""
