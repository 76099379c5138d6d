"""Probes: call a route with its stored recipe and measure liveness, latency and schema conformance.

Probes go through the engine's own transports, so a probe sees exactly what an orchestration call
would. A response that no longer matches the stored schema becomes a proposed change carrying its
evidence: digests of the sample request and of the response, and the schema inferred from it.

HTTP-family routes (`http`, `openai`) are probed here. Dendrite routes are measured from real
traffic instead (the miner records every call's outcome): SN13 miners allow a caller two requests
of a kind per hour, so a probe would spend the budget that real jobs need.
"""

import asyncio
import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ledger.entry import AuthKind, Provenance, Route, SubnetEntry
from ledger.store import LedgerStore, Sample, StoredEntry
from ledger.versioning import conforms, infer_schema
from orchestra.proofs import digest
from orchestra.transports.base import TransportError
from orchestra.transports.http import HttpTransport
from protocol.ledger_sync import LedgerProposal, ProbeEvidence, ProposalKind
from protocol.models import RouteKind

PROBED_KINDS = frozenset({RouteKind.HTTP, RouteKind.OPENAI})
PROPOSAL_RETENTION = timedelta(hours=24)

# (netuid, route) -> the secret a route's auth needs, or None when the operator has none for it.
SecretSource = Callable[[int, Route], str | None]


def no_secrets(_netuid: int, _route: Route) -> str | None:
    return None


@dataclass(frozen=True)
class ProbeOutcome:
    netuid: int
    route: str
    ok: bool
    latency_ms: float | None
    evidence: ProbeEvidence
    payload: Any = None

    @property
    def drifted(self) -> bool:
        return self.ok and bool(self.evidence.violations)


def auth_headers(route: Route, secret: str | None) -> dict[str, str]:
    """Headers for a route's auth kind. Missing secrets are the caller's problem to report."""
    if secret is None or route.auth in (AuthKind.NONE, AuthKind.VALIDATOR_PERMIT):
        return {}
    if route.auth is AuthKind.BEARER:
        return {"Authorization": f"Bearer {secret}"}
    return {"Authorization": secret}


def probeable(route: Route, secrets: SecretSource, netuid: int) -> bool:
    if route.kind not in PROBED_KINDS or route.probe is None or route.endpoint is None:
        return False
    return route.auth is AuthKind.NONE or secrets(netuid, route) is not None


class Prober:
    """Runs one route's probe recipe through `HttpTransport`."""

    def __init__(self, http: HttpTransport, secrets: SecretSource = no_secrets) -> None:
        self.http = http
        self.secrets = secrets

    async def probe(self, netuid: int, route: Route, *, expect: dict[str, Any] | None = None) -> ProbeOutcome:
        """Call the route; check the answer against `expect` (default: the route's response schema)."""
        if route.probe is None or route.endpoint is None or route.kind not in PROBED_KINDS:
            raise ValueError(f"route {route.name} of subnet {netuid} has no HTTP probe recipe")
        recipe = route.probe
        request = {"method": recipe.method, "url": route.endpoint + recipe.path, "body": recipe.body}
        observed_ns = time.time_ns()
        try:
            reply = await self.http.request(
                recipe.method,
                route.endpoint + recipe.path,
                json_body=recipe.body,
                headers=auth_headers(route, self.secrets(netuid, route)),
                timeout=route.timeout_s,
            )
        except TransportError as exc:
            evidence = ProbeEvidence(
                route=route.name,
                request_digest=digest(request),
                status_code=exc.meta.status_code,
                latency_ms=round(exc.meta.latency_ms, 3),
                error=f"{type(exc).__name__}: {exc}"[:512],
                observed_ns=observed_ns,
            )
            return ProbeOutcome(netuid, route.name, False, exc.meta.latency_ms, evidence)
        schema = expect if expect is not None else route.response_schema
        violations = conforms(reply.payload, schema) if schema is not None else []
        evidence = ProbeEvidence(
            route=route.name,
            request_digest=digest(request),
            response_digest=digest(reply.payload),
            inferred_schema=infer_schema(reply.payload),
            violations=violations[:20],
            status_code=reply.meta.status_code,
            latency_ms=round(reply.meta.latency_ms, 3),
            observed_ns=observed_ns,
        )
        return ProbeOutcome(netuid, route.name, True, reply.meta.latency_ms, evidence, reply.payload)


def reconcile_schema(old: dict[str, Any] | None, sample: Any) -> dict[str, Any]:
    """The smallest change to `old` that `sample` conforms to.

    Parts the sample still matches are kept as documented; a required property the sample lacks is
    gone (removed or renamed); a property the sample adds is added as optional; a part whose type
    changed is replaced by the schema inferred from the sample. Optional properties the sample does
    not show are kept: one answer cannot prove them gone.
    """
    if old is None:
        return infer_schema(sample)
    if not conforms(sample, old):
        return copy.deepcopy(old)
    if _is_object_schema(old) and isinstance(sample, dict):
        properties: dict[str, Any] = dict(old.get("properties", {}))
        required = [r for r in old.get("required", []) if r in sample]
        for name in list(properties):
            if name in sample:
                properties[name] = reconcile_schema(properties[name], sample[name])
            elif name in old.get("required", []):
                del properties[name]
        for name, value in sample.items():
            if name not in properties:
                properties[name] = infer_schema(value)
        out = {**old, "properties": properties}
        if required:
            out["required"] = required
        else:
            out.pop("required", None)
        return out
    if _is_array_schema(old) and isinstance(sample, list):
        items = old.get("items")
        for element in sample:
            items = reconcile_schema(items if isinstance(items, dict) else None, element)
        if isinstance(items, dict) and any(conforms(element, items) for element in sample):
            # Elements of different shapes: one schema fitted to each in turn loses the earlier ones.
            items = infer_schema(sample).get("items", {})
        return {**old, "items": items if items is not None else {}}
    return infer_schema(sample)


def _is_object_schema(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in schema


def _is_array_schema(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "array" or (isinstance(kind, list) and "array" in kind) or "items" in schema


def content_id(kind: ProposalKind, netuid: int, base_version: int | None, entry: SubnetEntry) -> str:
    """A proposal's identity: the same change found by two miners is one proposal with two submitters."""
    return digest(
        {"kind": kind.value, "netuid": netuid, "base_version": base_version, "content": entry.content()}
    )


def drift_proposal(stored: StoredEntry, outcome: ProbeOutcome, *, proposer: str) -> LedgerProposal | None:
    """A schema-change proposal for a route whose live answer no longer matches its stored schema."""
    route = stored.entry.route(outcome.route)
    if route is None or not outcome.drifted:
        return None
    schema = reconcile_schema(route.response_schema, outcome.payload)
    routes = tuple(
        r.model_copy(update={"response_schema": schema}) if r.name == route.name else r
        for r in stored.entry.routes
    )
    entry = stored.entry.model_copy(
        update={
            "routes": routes,
            "provenance": Provenance(
                source="probe",
                evidence_digest=digest(outcome.evidence.model_dump(mode="json")),
                proposed_by=proposer,
            ),
        }
    )
    return LedgerProposal(
        kind=ProposalKind.SCHEMA_CHANGE,
        netuid=stored.entry.netuid,
        base_version=stored.version,
        entry=entry.model_dump(mode="json"),
        evidence=outcome.evidence,
        note=f"route {route.name}: live response no longer matches the stored schema",
    )


@dataclass
class ProbeReport:
    probed: int = 0
    failed: int = 0
    drifted: int = 0
    proposals: list[str] = field(default_factory=list)


class ProbeRunner:
    """A miner's probe loop: probe every route it can, record health, propose fixes for drift."""

    def __init__(self, store: LedgerStore, prober: Prober, *, proposer: str, concurrency: int = 8) -> None:
        self.store = store
        self.prober = prober
        self.proposer = proposer
        self._limit = asyncio.Semaphore(concurrency)

    def targets(self) -> list[tuple[StoredEntry, Route]]:
        return [
            (stored, route)
            for stored in self.store.entries()
            for route in stored.entry.routes
            if probeable(route, self.prober.secrets, stored.entry.netuid)
        ]

    async def run_once(self) -> ProbeReport:
        report = ProbeReport()
        outcomes = await asyncio.gather(*(self._probe(stored, route) for stored, route in self.targets()))
        for stored, outcome in outcomes:
            report.probed += 1
            report.failed += not outcome.ok
            await asyncio.to_thread(
                self.store.record_sample,
                outcome.netuid,
                outcome.route,
                ok=outcome.ok,
                latency_ms=outcome.latency_ms,
                error=outcome.evidence.error,
            )
            proposal = drift_proposal(stored, outcome, proposer=self.proposer)
            if proposal is None:
                continue
            report.drifted += 1
            record = await asyncio.to_thread(self._keep, proposal)
            report.proposals.append(record)
        return report

    async def _probe(self, stored: StoredEntry, route: Route) -> tuple[StoredEntry, ProbeOutcome]:
        async with self._limit:
            return stored, await self.prober.probe(stored.entry.netuid, route)

    def _keep(self, proposal: LedgerProposal) -> str:
        entry = SubnetEntry.model_validate(proposal.entry)
        proposal_id = content_id(proposal.kind, proposal.netuid, proposal.base_version, entry)
        self.store.submit_proposal(
            proposal_id=proposal_id,
            kind=proposal.kind.value,
            netuid=proposal.netuid,
            proposer=self.proposer,
            base_version=proposal.base_version,
            entry=proposal.entry,
            evidence=proposal.evidence.model_dump(mode="json"),
        )
        return proposal_id

    def outbox(self, limit: int, *, now: datetime | None = None) -> list[LedgerProposal]:
        """Recent pending proposals, newest first, for the next `LedgerSync` request."""
        since = (now or datetime.now(timezone.utc)) - PROPOSAL_RETENTION
        records = self.store.proposals(status="pending", proposer=self.proposer, since=since, limit=1_000)
        records.sort(key=lambda r: r.submitted_at, reverse=True)
        return [
            LedgerProposal(
                kind=ProposalKind(r.kind),
                netuid=r.netuid,
                base_version=r.base_version,
                entry=r.entry,
                evidence=ProbeEvidence.model_validate(r.evidence),
            )
            for r in records[:limit]
        ]


class SampleBuffer:
    """Outcomes of real calls, collected on the event loop and written to the store in batches.

    `observe` never blocks (a database write inside an axon forward would); `flush` runs in a thread.
    The buffer is bounded: under a flood the oldest samples go first.
    """

    def __init__(self, max_pending: int = 10_000) -> None:
        self._pending: deque[Sample] = deque(maxlen=max_pending)
        self._lock = threading.Lock()

    def observe(
        self, netuid: int, route: str, *, ok: bool, latency_ms: float | None, error: str | None
    ) -> None:
        with self._lock:
            self._pending.append(Sample(netuid, route, ok, latency_ms, error, datetime.now(timezone.utc)))

    def flush(self, store: LedgerStore) -> int:
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
        store.record_samples(batch)
        return len(batch)
