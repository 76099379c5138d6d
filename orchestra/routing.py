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
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ledger.entry import AuthKind, Health, Route, SubnetEntry, SubnetStatus
from ledger.store import LedgerStore, percentile
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
    auth: AuthKind = Field(
        default=AuthKind.NONE, description="How calls authenticate; picks the scheme of signed-http routes."
    )
    receiver: str | None = Field(
        default=None, max_length=64, description="ss58 hotkey a signed-http request is signed for."
    )
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


class BreakerState(str, Enum):
    CLOSED = "closed"  # calls flow
    OPEN = "open"  # recent failures: the provider is skipped until its cooldown ends
    HALF_OPEN = "half-open"  # cooldown over: one trial call decides between closed and open


@dataclass
class _ProviderStats:
    failures: int = 0  # consecutive
    opened_at: float | None = None
    cooldown_s: float = 0.0
    trial_running: bool = False
    success: float = 1.0  # exponentially weighted success rate
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=64))


def provider_key(candidate: "Candidate") -> str:
    """One provider of one route: `route/hotkey`, or `route/host` for hosted APIs."""
    provider = candidate.provider
    return f"{candidate.route.name}/{provider.hotkey or provider.host or '-'}"


class ProviderHealth:
    """Live health the engine keeps per provider: a circuit breaker, success rate and latencies.

    `failure_threshold` consecutive failures open a provider's circuit for `cooldown_s`; after it a
    single trial call is let through (half-open): success closes the circuit, failure re-opens it
    with the cooldown doubled (up to `max_cooldown_s`). Shared by all jobs; thread-safe, because
    axon forwards of one miner run on several event loops.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        cooldown_s: float = 15.0,
        max_cooldown_s: float = 300.0,
        success_alpha: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or cooldown_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s > 0")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.success_alpha = success_alpha
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: dict[str, _ProviderStats] = {}

    def _get(self, key: str) -> _ProviderStats:
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = _ProviderStats()
        return stats

    def _state(self, stats: _ProviderStats) -> BreakerState:
        if stats.opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - stats.opened_at < stats.cooldown_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def state(self, key: str) -> BreakerState:
        with self._lock:
            return self._state(self._get(key))

    def available(self, key: str) -> bool:
        """Whether a call may go to the provider now (closed, or half-open with no trial running)."""
        with self._lock:
            stats = self._get(key)
            state = self._state(stats)
            return state is BreakerState.CLOSED or (
                state is BreakerState.HALF_OPEN and not stats.trial_running
            )

    def begin(self, key: str) -> None:
        """A call to the provider starts; in half-open state it is the trial."""
        with self._lock:
            stats = self._get(key)
            if self._state(stats) is BreakerState.HALF_OPEN:
                stats.trial_running = True

    def record(self, key: str, ok: bool, latency_ms: float | None = None) -> None:
        with self._lock:
            stats = self._get(key)
            stats.success += self.success_alpha * ((1.0 if ok else 0.0) - stats.success)
            if latency_ms is not None and ok:
                stats.latencies.append(latency_ms)
            half_open = self._state(stats) is BreakerState.HALF_OPEN
            stats.trial_running = False
            if ok:
                stats.failures = 0
                stats.opened_at = None
                stats.cooldown_s = 0.0
                return
            stats.failures += 1
            if half_open:
                stats.cooldown_s = min(self.max_cooldown_s, max(self.cooldown_s, stats.cooldown_s * 2))
                stats.opened_at = self._clock()
            elif stats.opened_at is None and stats.failures >= self.failure_threshold:
                stats.cooldown_s = self.cooldown_s
                stats.opened_at = self._clock()

    def release(self, key: str) -> None:
        """A call ended without a verdict (cancelled): free the half-open trial slot."""
        with self._lock:
            self._get(key).trial_running = False

    def success_rate(self, key: str) -> float:
        with self._lock:
            return self._get(key).success

    def latency_p95(self, key: str, *, min_samples: int = 8) -> float | None:
        """p95 of the provider's recent successful latencies (ms), once there are enough of them."""
        with self._lock:
            samples = sorted(self._get(key).latencies)
        if len(samples) < min_samples:
            return None
        return percentile(samples, 95)


MetagraphSource = Callable[[int], MetagraphView | None]
RouteSource = Callable[[], Sequence[RouteSpec]]
RouteRank = Callable[[RouteSpec], float]


class Router:
    """Ranks candidates for a step. Reads metagraphs through `metagraphs`, never the chain directly.

    `routes` is a fixed list or a callable returning the current routes (a `LedgerDirectory`);
    `rank` scores a route, higher first; routes with equal rank keep their listed order. With
    `health`, providers are ordered by the route's rank times their live success rate, and
    providers whose circuit is open go to the end of the list: tried only when all others failed.
    """

    def __init__(
        self,
        routes: Sequence[RouteSpec] | RouteSource,
        metagraphs: MetagraphSource,
        *,
        rank: RouteRank | None = None,
        health: ProviderHealth | None = None,
    ) -> None:
        self._routes: RouteSource = routes if callable(routes) else _fixed(list(routes))
        self._metagraphs = metagraphs
        self._rank = rank
        self.health = health

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
        rank = self._rank
        ranks = {route.name: rank(route) if rank is not None else 1.0 for route in eligible}
        out: list[Candidate] = []
        for route in eligible:
            out.extend(self._expand(route))
        health = self.health
        if health is None:
            out.sort(key=lambda c: -ranks[c.route.name])
            return out
        keys = {id(c): provider_key(c) for c in out}
        # Python's sort is stable: equal scores keep the route order, then the providers' stake order.
        out.sort(
            key=lambda c: (
                not health.available(keys[id(c)]),
                -ranks[c.route.name] * health.success_rate(keys[id(c)]),
            )
        )
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
        auth=route.auth,
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
        adapters: Collection[str] | Mapping[str, Collection[RouteKind]],
        secrets: SecretLookup,
        kinds: Collection[RouteKind] = tuple(RouteKind),
    ) -> None:
        self.store = store
        # Adapter name -> the route kinds it speaks (a plain collection of names: any kind).
        self.adapters: dict[str, frozenset[RouteKind]] = (
            {name: frozenset(speaks) for name, speaks in adapters.items()}
            if isinstance(adapters, Mapping)
            else dict.fromkeys(adapters, frozenset(RouteKind))
        )
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
                speaks = self.adapters.get(route.adapter or "")
                if speaks is None or route.kind not in speaks or route.kind not in self.kinds:
                    continue
                if not (route.capabilities or entry.capabilities):
                    continue  # nothing a plan could ask of it
                # Signed routes (btauth/1, Epistula) sign with the miner's hotkey: no operator key.
                needs_key = route.auth in (AuthKind.API_KEY, AuthKind.BEARER)
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
