"""What the Ledger says about one subnet: the versioned entry and the measured health beside it.

`SubnetEntry` is the unit of versioning: every change to it writes an immutable new version. Health
is measured all the time and is not versioned; it is stored per route and served next to the entry.
"""

from datetime import datetime
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger.vocabulary import is_capability
from protocol.models import RouteKind

MAX_SCHEMA_BYTES = 64 * 1024
NETUID_MAX = 65_535


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SubnetStatus(str, Enum):
    ACTIVE = "active"
    DEGRADED = "degraded"
    DEPRECATED = "deprecated"


class Verification(str, Enum):
    """Whether a probe or a validator quorum has confirmed the entry (`unverified` for seeded facts)."""

    UNVERIFIED = "unverified"
    VERIFIED = "verified"


class AuthKind(str, Enum):
    NONE = "none"
    API_KEY = "api-key"  # a key in a header, e.g. Desearch's `Authorization: <key>`
    BEARER = "bearer"  # `Authorization: Bearer <key>`, OpenAI-compatible APIs
    VALIDATOR_PERMIT = "validator-permit"  # dendrite callers need a permit and stake on the subnet
    BTAUTH = "btauth"  # bittensor 11 hotkey-signed HTTP (btauth/1)
    EPISTULA = "epistula"  # hotkey-signed HTTP with Epistula headers


class Compatibility(str, Enum):
    """How a change affects existing callers. Ordered: `max()` of several changes is the class."""

    NONE = "none"
    ADDITIVE = "additive"
    BREAKING = "breaking"

    @property
    def rank(self) -> int:
        return _COMPAT_RANK[self]


_COMPAT_RANK = {Compatibility.NONE: 0, Compatibility.ADDITIVE: 1, Compatibility.BREAKING: 2}


def worst(classes: "list[Compatibility]") -> Compatibility:
    return max(classes, key=lambda c: c.rank, default=Compatibility.NONE)


class ProbeRecipe(_Model):
    """The sample call a probe makes on a route, stored so anyone can repeat the check."""

    method: Literal["GET", "POST"] = "POST"
    path: str = Field(default="", max_length=512, description="Appended to the route's endpoint.")
    body: dict[str, Any] | None = None
    synapse_fields: dict[str, Any] | None = Field(default=None, description="For dendrite routes.")


class Route(_Model):
    """One way to call a subnet: a synapse on its miners' axons, or a hosted API."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: RouteKind
    endpoint: str | None = Field(default=None, max_length=512, description="Base URL for HTTP kinds.")
    auth: AuthKind = AuthKind.NONE
    capabilities: tuple[str, ...] = Field(default=(), description="Subset of the subnet's capabilities.")
    adapter: str | None = Field(default=None, description="The Orchestra adapter that speaks this route.")
    synapse: str | None = Field(default=None, max_length=128, description="Synapse class, dendrite routes.")
    synapse_fields: dict[str, str] | None = Field(default=None, description="Synapse field -> type name.")
    request_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema of the request.")
    response_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema of the answer.")
    timeout_s: float = Field(default=12.0, gt=0, le=600)
    cost_per_call: float = Field(default=0.0, ge=0, description="USD per call, 0 when unknown or free.")
    probe: ProbeRecipe | None = None
    notes: str = Field(default="", max_length=2_000)

    @field_validator("capabilities")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _capabilities(value)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("endpoint must be an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("endpoint must not carry credentials")
        return value.rstrip("/")

    @field_validator("request_schema", "response_schema")
    @classmethod
    def _bounded_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(repr(value)) > MAX_SCHEMA_BYTES:
            raise ValueError(f"schema is larger than {MAX_SCHEMA_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _kind_fits(self) -> "Route":
        if self.kind is RouteKind.DENDRITE and self.synapse is None:
            raise ValueError("a dendrite route names its synapse")
        if self.kind is not RouteKind.DENDRITE and self.endpoint is None:
            raise ValueError(f"a {self.kind.value} route needs an endpoint URL")
        return self


class Provenance(_Model):
    """Where the entry's current content came from and who confirmed it."""

    source: str = Field(min_length=1, max_length=256, description="e.g. 'public-facts-2026-08', 'probe'.")
    evidence_digest: str | None = Field(default=None, max_length=128)
    proposed_by: str | None = Field(default=None, max_length=64, description="Miner hotkey.")
    verified_by: tuple[str, ...] = Field(default=(), description="Validator hotkeys.")
    verified_at: datetime | None = None


class SubnetEntry(_Model):
    """A subnet as the Ledger describes it. Capabilities come from `ledger.vocabulary`."""

    netuid: int = Field(ge=0, le=NETUID_MAX)
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=4_000)
    owner: str | None = Field(default=None, max_length=128, description="Owner coldkey or organisation.")
    links: dict[str, str] = Field(default_factory=dict, description="website, source_repo, docs, openapi.")
    tags: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    status: SubnetStatus = SubnetStatus.ACTIVE
    verification: Verification = Verification.UNVERIFIED
    provenance: Provenance

    @field_validator("capabilities")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _capabilities(value)

    @field_validator("tags")
    @classmethod
    def _sorted_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({t.strip().lower() for t in value if t.strip()}))

    @model_validator(mode="after")
    def _routes_consistent(self) -> "SubnetEntry":
        names = [r.name for r in self.routes]
        if len(names) != len(set(names)):
            raise ValueError("route names must be unique within a subnet")
        for route in self.routes:
            extra = set(route.capabilities) - set(self.capabilities)
            if extra:
                raise ValueError(f"route {route.name} offers {sorted(extra)} which the subnet does not list")
        return self

    def route(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)

    def content(self) -> dict[str, Any]:
        """The versioned content: everything but provenance and verification, which describe it."""
        return self.model_dump(mode="json", exclude={"provenance", "verification"})


class Health(_Model):
    """Measured health of one route over recent probes and calls."""

    route: str
    samples_1h: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    success_rate: float | None = Field(default=None, ge=0, le=1, description="Over the last 24 h.")
    uptime_1h: float | None = Field(default=None, ge=0, le=1)
    uptime_24h: float | None = Field(default=None, ge=0, le=1)
    uptime_7d: float | None = Field(default=None, ge=0, le=1)
    last_seen: datetime | None = Field(default=None, description="Last successful call.")
    last_checked: datetime | None = None


def _capabilities(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [c for c in value if not is_capability(c)]
    if unknown:
        raise ValueError(f"unknown capabilities {unknown} (see ledger/vocabulary.py)")
    return tuple(sorted(set(value)))
