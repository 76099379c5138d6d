"""Step -> ordered candidates (route, provider) from the Ledger, measured health and the metagraphs.

A route is one way of reaching one producer subnet (DESIGN.md): its kind, the adapter that speaks
the producer's wire shapes, the endpoint or netuid, credentials and limits. Routes come from the
Ledger (`LedgerDirectory`): every route of a non-deprecated subnet that this miner has an adapter
and, where needed, a credential for. They are ranked by status and measured health (success rate,
p95 latency) and cost. For `dendrite` routes the providers are the serving axons of the producer
subnet, best staked first; other routes have one provider, the API host. The order of the returned
list is the fallback order.
"""

import math
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ledger.entry import AuthKind, Health, Route, SubnetEntry, SubnetStatus
from ledger.store import LedgerStore
from ledger.vocabulary import is_capability
from orchestra.chain import MetagraphView
from protocol.models import Provider, RouteKind, Step


class RouteSpec(BaseModel):
    """One configured way to reach a producer subnet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    netuid: int = Field(ge=0, le=65_535)
    kind: RouteKind
    adapter: str = Field(min_length=1)
    capabilities: tuple[str, ...] = Field(min_length=1)
    endpoint: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=12.0, gt=0, le=600)
    cost_per_call: float = Field(default=0.0, ge=0)
    max_providers: int = Field(default=3, ge=1, le=64)
    ledger_route: str | None = Field(
        default=None, description="The Ledger route this comes from; calls on it are health samples."
    )

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if not is_capability(c)]
        if unknown:
            raise ValueError(f"unknown capabilities {unknown} (see ledger/vocabulary.py)")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("endpoint must be an http(s) URL")
        return value.rstrip("/") if value else value


@dataclass(frozen=True)
class Candidate:
    """A concrete provider to try for a step."""

    route: RouteSpec
    provider: Provider
    axon: Any = None  # bittensor AxonInfo, for dendrite routes


MetagraphSource = Callable[[int], MetagraphView | None]
RouteSource = Callable[[], Sequence[RouteSpec]]
RouteRank = Callable[[RouteSpec], float]


class Router:
    """Ranks candidates for a step. Reads metagraphs through `metagraphs`, never the chain directly.

    `routes` is a fixed list or a callable returning the current routes (a `LedgerDirectory`);
    `rank` scores a route, higher first; routes with equal rank keep their listed order.
    """

    def __init__(
        self,
        routes: Sequence[RouteSpec] | RouteSource,
        metagraphs: MetagraphSource,
        *,
        rank: RouteRank | None = None,
    ) -> None:
        self._routes: RouteSource = routes if callable(routes) else _fixed(list(routes))
        self._metagraphs = metagraphs
        self._rank = rank

    @property
    def routes(self) -> list[RouteSpec]:
        return list(self._routes())

    def capabilities(self) -> set[str]:
        return {c for route in self.routes for c in route.capabilities}

    def netuids(self, kind: RouteKind | None = None) -> set[int]:
        return {r.netuid for r in self.routes if kind is None or r.kind is kind}

    def candidates(self, step: Step, *, allowed_netuids: Sequence[int] | None = None) -> list[Candidate]:
        eligible = [
            route
            for route in self.routes
            if step.capability in route.capabilities
            and (allowed_netuids is None or route.netuid in allowed_netuids)
            and (step.netuid is None or route.netuid == step.netuid)
        ]
        if self._rank is not None:
            rank = self._rank
            eligible.sort(key=lambda route: -rank(route))
        out: list[Candidate] = []
        for route in eligible:
            out.extend(self._expand(route))
        return out

    def _expand(self, route: RouteSpec) -> list[Candidate]:
        if route.kind is not RouteKind.DENDRITE:
            host = urlsplit(route.endpoint).netloc if route.endpoint else route.name
            return [Candidate(route=route, provider=Provider(host=host))]
        graph = self._metagraphs(route.netuid)
        if graph is None:
            return []
        # Producer miners serve axons; validators on the producer subnet are not the ones answering.
        serving = [n for n in graph.neurons if n.is_serving and not n.validator_permit]
        serving.sort(key=lambda n: (-n.stake, n.uid))
        return [
            Candidate(route=route, provider=Provider(hotkey=n.hotkey, uid=n.uid), axon=n.axon)
            for n in serving[: route.max_providers]
        ]


def _fixed(routes: list[RouteSpec]) -> RouteSource:
    return lambda: routes


# (netuid, route) -> the operator's credential for it. Routes whose auth needs a key the operator has
# not set are left out rather than tried and refused.
SecretLookup = Callable[[int, Route], str | None]
DENDRITE_PROVIDERS = 16  # SN13 miners take few requests an hour from one caller: spread them
UNKNOWN_SUCCESS_RATE = 0.9  # prior for a route with no measurements yet
HEALTH_TTL_S = 30.0


def route_name(netuid: int, name: str) -> str:
    """The engine's name for a Ledger route; receipts and health samples carry it."""
    return f"sn{netuid}-{name}"[:64]


def spec_from_ledger(entry: SubnetEntry, route: Route, secret: str | None) -> RouteSpec:
    return RouteSpec(
        name=route_name(entry.netuid, route.name),
        netuid=entry.netuid,
        kind=route.kind,
        adapter=route.adapter or "",
        capabilities=route.capabilities or entry.capabilities,
        endpoint=route.endpoint,
        api_key=SecretStr(secret) if secret else None,
        timeout_s=route.timeout_s,
        cost_per_call=route.cost_per_call,
        max_providers=DENDRITE_PROVIDERS if route.kind is RouteKind.DENDRITE else 1,
        ledger_route=route.name,
    )


def health_rank(status: SubnetStatus, health: Health | None, cost_per_call: float) -> float:
    """Higher is better: expected success, discounted for slowness, degradation and cost (pure)."""
    success = health.success_rate if health is not None and health.success_rate is not None else None
    score = UNKNOWN_SUCCESS_RATE if success is None else success
    if status is SubnetStatus.DEGRADED:
        score *= 0.5
    p95 = health.latency_p95_ms if health is not None else None
    if p95 is not None:
        score *= 1.0 / (1.0 + p95 / 10_000.0)  # 10 s at p95 halves a route's rank
    return score / (1.0 + math.log1p(max(cost_per_call, 0.0) * 100))


class LedgerDirectory:
    """The routes a miner can use, read from its Ledger store and ranked by measured health.

    Re-reads the Ledger when a new version is written and health figures every `HEALTH_TTL_S`.
    """

    def __init__(
        self,
        store: LedgerStore,
        *,
        adapters: Collection[str],
        secrets: SecretLookup,
        kinds: Collection[RouteKind] = (RouteKind.DENDRITE, RouteKind.HTTP),
    ) -> None:
        self.store = store
        self.adapters = set(adapters)
        self.secrets = secrets
        self.kinds = set(kinds)
        self._lock = threading.Lock()
        self._head = -1
        self._routes: list[RouteSpec] = []
        self._status: dict[str, SubnetStatus] = {}
        self._health: dict[tuple[int, str], Health] = {}
        self._health_read = 0.0

    def __call__(self) -> list[RouteSpec]:
        head = self.store.head()
        with self._lock:
            if head != self._head:
                self._routes, self._status = self._read()
                self._head = head
                self._health_read = 0.0
            return self._routes

    def _read(self) -> tuple[list[RouteSpec], dict[str, SubnetStatus]]:
        routes: list[RouteSpec] = []
        status: dict[str, SubnetStatus] = {}
        for stored in self.store.entries():
            entry = stored.entry
            if entry.status is SubnetStatus.DEPRECATED:
                continue
            for route in entry.routes:
                if route.adapter not in self.adapters or route.kind not in self.kinds:
                    continue
                if not (route.capabilities or entry.capabilities):
                    continue  # nothing a plan could ask of it
                needs_key = route.auth not in (AuthKind.NONE, AuthKind.VALIDATOR_PERMIT)
                # A key goes only to a route whose auth asks for one: never to an unauthenticated host.
                secret = self.secrets(entry.netuid, route) if needs_key else None
                if needs_key and secret is None:
                    continue
                spec = spec_from_ledger(entry, route, secret)
                routes.append(spec)
                status[spec.name] = entry.status
        return routes, status

    def rank(self, route: RouteSpec) -> float:
        now = time.monotonic()
        if now - self._health_read > HEALTH_TTL_S:
            self._health = {
                (netuid, h.route): h
                for netuid in {r.netuid for r in self()}
                for h in self.store.health(netuid)
            }
            self._health_read = now
        return health_rank(
            self._status.get(route.name, SubnetStatus.ACTIVE),
            self._health.get((route.netuid, route.ledger_route or "")),
            route.cost_per_call,
        )
