"""Step -> ordered candidates (route, provider) from the configured routes and the producer metagraphs.

A route is one way of reaching one producer subnet (DESIGN.md): its kind, the adapter that speaks
the producer's wire shapes, the endpoint or netuid, credentials and limits. For `dendrite` routes the
providers are the serving axons of the producer subnet, best staked first; other routes have one
provider, the API host. The order of the returned list is the fallback order.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

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


class Router:
    """Ranks candidates for a step. Reads metagraphs through `metagraphs`, never the chain directly."""

    def __init__(self, routes: Sequence[RouteSpec], metagraphs: MetagraphSource) -> None:
        self.routes = list(routes)
        self._metagraphs = metagraphs

    def capabilities(self) -> set[str]:
        return {c for route in self.routes for c in route.capabilities}

    def netuids(self, kind: RouteKind | None = None) -> set[int]:
        return {r.netuid for r in self.routes if kind is None or r.kind is kind}

    def candidates(self, step: Step, *, allowed_netuids: Sequence[int] | None = None) -> list[Candidate]:
        out: list[Candidate] = []
        for route in self.routes:
            if step.capability not in route.capabilities:
                continue
            if allowed_netuids is not None and route.netuid not in allowed_netuids:
                continue
            if step.netuid is not None and route.netuid != step.netuid:
                continue
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
