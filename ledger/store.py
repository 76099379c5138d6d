"""The Ledger's repository: entries, immutable versions, health samples and proposals over SQLAlchemy.

SQLite by default (a file under the user's data dir), PostgreSQL in production; `ORCHESTRA_LEDGER_URL`
chooses. The store migrates its database with Alembic when it opens it. Methods are synchronous and
short; async callers run them in a worker thread (`asyncio.to_thread`).
"""

import math
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from platformdirs import user_data_dir
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.entry import Compatibility, Health, SubnetEntry, SubnetStatus, Verification
from ledger.errors import InvalidEntry, StaleVersion, UnknownProposal, UnknownSubnet
from ledger.models import (
    CapabilityRow,
    DeliveryRow,
    HealthSampleRow,
    ProposalRow,
    SubmissionRow,
    SubnetRow,
    VerdictRow,
    VersionRow,
    WebhookRow,
)
from ledger.versioning import diff_entries

MIGRATIONS = Path(__file__).parent / "migrations"
HEALTH_WINDOW = timedelta(days=7)
MAX_SAMPLES_PER_ROUTE = 20_000  # bounds the work of one health read; 7 days of one probe a minute fits


def default_url() -> str:
    """`ORCHESTRA_LEDGER_URL`, else a SQLite file in the user's data directory."""
    url = os.environ.get("ORCHESTRA_LEDGER_URL", "").strip()
    if url:
        return url
    folder = Path(user_data_dir("orchestra", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'ledger.db'}"


class VersionRecord(BaseModel):
    """One immutable version of a subnet, as the history and the change feed return it."""

    model_config = ConfigDict(frozen=True)

    id: int
    netuid: int
    version: int
    entry: SubnetEntry
    changes: list[dict[str, Any]]
    compatibility: Compatibility
    source: str
    evidence: dict[str, Any]
    evidence_digest: str | None
    proposed_by: str | None
    proposal_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Sample:
    """One observed call to a route."""

    netuid: int
    route: str
    ok: bool
    latency_ms: float | None
    error: str | None
    at: datetime


@dataclass(frozen=True)
class StoredEntry:
    entry: SubnetEntry
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class SubnetFilter:
    capability: str | None = None
    status: SubnetStatus | None = None
    verification: Verification | None = None
    route_kind: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class SeedReport:
    added: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class LedgerStats:
    subnets: int
    verified: int
    routes: int
    versions: int

    def as_dict(self) -> dict[str, int]:
        return {
            "subnets": self.subnets,
            "verified": self.verified,
            "routes": self.routes,
            "versions": self.versions,
        }


class ProposalRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    netuid: int
    proposer: str
    base_version: int | None
    entry: dict[str, Any]
    evidence: dict[str, Any]
    submitted_at: datetime
    status: str
    reason: str
    decided_at: datetime | None
    version_id: int | None


@dataclass(frozen=True)
class VerdictRecord:
    proposal_id: str
    validator: str
    stake: float
    accept: bool
    reason: str
    evidence_digest: str | None
    created_at: datetime


class LedgerStore:
    """Repository over one database. Thread-safe: each call uses its own session."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_url()
        connect_args: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            connect_args["check_same_thread"] = False
        self.engine: Engine = sa.create_engine(self.url, connect_args=connect_args, pool_pre_ping=True)
        if self.url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.Lock()  # SQLite allows one writer; versions must not interleave
        self._cache: tuple[int, list[StoredEntry]] = (-1, [])
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # entries and versions

    def apply(
        self,
        entry: SubnetEntry,
        *,
        source: str,
        evidence: dict[str, Any] | None = None,
        proposal_id: str | None = None,
        expected_version: int | None = None,
        now: datetime | None = None,
    ) -> VersionRecord | None:
        """Write `entry` as the subnet's new version, unless nothing changed. Returns the new version.

        `expected_version` guards against lost updates: a change computed on an older version fails
        with `StaleVersion` instead of silently overwriting the newer one.
        """
        now = (now or _now()).astimezone(timezone.utc)
        with self._write_lock, self.session() as session:
            row = session.get(SubnetRow, entry.netuid)
            old = _entry(row.entry) if row is not None else None
            if expected_version is not None and (row.version if row else 0) != expected_version:
                raise StaleVersion(
                    f"subnet {entry.netuid} is at version {row.version if row else 0}, not {expected_version}"
                )
            diff = diff_entries(old, entry)
            changes = [change.model_dump(mode="json") for change in diff.changes]
            if old is not None and old.verification is not entry.verification:
                changes.append(
                    {
                        "path": "verification",
                        "op": "changed",
                        "old": old.verification.value,
                        "new": entry.verification.value,
                        "compatibility": Compatibility.NONE.value,
                        "reason": "verification changed",
                    }
                )
            if not changes:
                return None
            version = (row.version if row else 0) + 1
            payload = entry.model_dump(mode="json")
            record = VersionRow(
                netuid=entry.netuid,
                version=version,
                entry=payload,
                changes=changes,
                compatibility=diff.compatibility.value,
                capabilities=list(entry.capabilities),
                source=source,
                evidence=evidence or {},
                evidence_digest=entry.provenance.evidence_digest,
                proposed_by=entry.provenance.proposed_by,
                proposal_id=proposal_id,
                created_at=now,
            )
            session.add(record)
            if row is None:
                row = SubnetRow(netuid=entry.netuid)
                session.add(row)
            row.name = entry.name
            row.status = entry.status.value
            row.verification = entry.verification.value
            row.version = version
            row.entry = payload
            row.updated_at = now
            session.flush()
            session.execute(sa.delete(CapabilityRow).where(CapabilityRow.netuid == entry.netuid))
            session.add_all(CapabilityRow(netuid=entry.netuid, capability=c) for c in entry.capabilities)
            session.flush()
            written = _version(record)
            _enqueue_deliveries(session, written, old, now)
            return written

    def seed(self, entries: Iterable[SubnetEntry], *, source: str) -> SeedReport:
        """Load seed facts. Idempotent, and never overwrites what a probe or a validator changed since."""
        added = updated = unchanged = 0
        for entry in entries:
            current = self.find(entry.netuid)
            if current is not None and current.entry.provenance.source != entry.provenance.source:
                unchanged += 1
                continue
            written = self.apply(entry, source=source)
            if written is None:
                unchanged += 1
            elif written.version == 1:
                added += 1
            else:
                updated += 1
        return SeedReport(added=added, updated=updated, unchanged=unchanged)

    def find(self, netuid: int) -> StoredEntry | None:
        with self.session() as session:
            row = session.get(SubnetRow, netuid)
            return _stored(row) if row is not None else None

    def get(self, netuid: int) -> StoredEntry:
        found = self.find(netuid)
        if found is None:
            raise UnknownSubnet(netuid)
        return found

    def select(self, where: SubnetFilter = SubnetFilter()) -> list[StoredEntry]:
        query = sa.select(SubnetRow).order_by(SubnetRow.netuid)
        if where.capability is not None:
            query = query.join(CapabilityRow, CapabilityRow.netuid == SubnetRow.netuid).where(
                CapabilityRow.capability == where.capability
            )
        if where.status is not None:
            query = query.where(SubnetRow.status == where.status.value)
        if where.verification is not None:
            query = query.where(SubnetRow.verification == where.verification.value)
        with self.session() as session:
            rows = [_stored(row) for row in session.scalars(query)]
        if where.route_kind is not None:
            rows = [s for s in rows if any(r.kind.value == where.route_kind for r in s.entry.routes)]
        return rows[where.offset : where.offset + where.limit]

    def entries(self) -> list[StoredEntry]:
        """Every current entry, cached until the next version is written (search and routing read this)."""
        head = self.head()
        cached_head, cached = self._cache  # one tuple: readers on other threads see a consistent pair
        if head != cached_head:
            with self.session() as session:
                rows = session.scalars(sa.select(SubnetRow).order_by(SubnetRow.netuid))
                cached = [_stored(row) for row in rows]
            self._cache = (head, cached)
        return cached

    def head(self) -> int:
        """The newest version id: the change feed's cursor for "everything so far"."""
        with self.session() as session:
            return int(session.scalar(sa.select(sa.func.coalesce(sa.func.max(VersionRow.id), 0))) or 0)

    def history(self, netuid: int, *, limit: int = 100, offset: int = 0) -> list[VersionRecord]:
        self.get(netuid)
        query = (
            sa.select(VersionRow)
            .where(VersionRow.netuid == netuid)
            .order_by(VersionRow.version.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.session() as session:
            return [_version(row) for row in session.scalars(query)]

    def version(self, netuid: int, version: int) -> VersionRecord:
        query = sa.select(VersionRow).where(VersionRow.netuid == netuid, VersionRow.version == version)
        with self.session() as session:
            row = session.scalars(query).first()
            if row is None:
                raise (
                    UnknownSubnet(netuid)
                    if self.find(netuid) is None
                    else InvalidEntry(f"subnet {netuid} has no version {version}")
                )
            return _version(row)

    def changes(
        self,
        *,
        since: int = 0,
        limit: int = 100,
        netuids: Sequence[int] | None = None,
        capability: str | None = None,
    ) -> list[VersionRecord]:
        """Versions written after cursor `since`, oldest first. Pass the last `id` back as `since`."""
        query = sa.select(VersionRow).where(VersionRow.id > since).order_by(VersionRow.id)
        if netuids:
            query = query.where(VersionRow.netuid.in_(list(netuids)))
        if capability is None:
            query = query.limit(limit)
        with self.session() as session:
            records = [_version(row) for row in session.scalars(query)]
        if capability is not None:
            # JSON containment differs across databases; the feed is read in pages, so filter here.
            records = [r for r in records if capability in r.entry.capabilities][:limit]
        return records

    def stats(self) -> LedgerStats:
        with self.session() as session:
            subnets = session.scalar(sa.select(sa.func.count()).select_from(SubnetRow)) or 0
            verified = (
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(SubnetRow)
                    .where(SubnetRow.verification == Verification.VERIFIED.value)
                )
                or 0
            )
            versions = session.scalar(sa.select(sa.func.count()).select_from(VersionRow)) or 0
        routes = sum(len(stored.entry.routes) for stored in self.entries())
        return LedgerStats(subnets=subnets, verified=verified, routes=routes, versions=versions)

    # health

    def record_sample(
        self,
        netuid: int,
        route: str,
        *,
        ok: bool,
        latency_ms: float | None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        self.record_samples([Sample(netuid, route, ok, latency_ms, error, at or _now())])

    def record_samples(self, samples: Sequence["Sample"]) -> None:
        if not samples:
            return
        with self.session() as session:
            session.add_all(
                HealthSampleRow(
                    netuid=s.netuid,
                    route=s.route,
                    ok=s.ok,
                    latency_ms=s.latency_ms,
                    error=s.error[:256] if s.error else None,
                    observed_at=s.at.astimezone(timezone.utc),
                )
                for s in samples
            )

    def health(self, netuid: int, *, now: datetime | None = None) -> list[Health]:
        """Health of each route of the subnet that has samples in the last 7 days."""
        now = (now or _now()).astimezone(timezone.utc)
        query = (
            sa.select(HealthSampleRow)
            .where(HealthSampleRow.netuid == netuid, HealthSampleRow.observed_at >= now - HEALTH_WINDOW)
            .order_by(HealthSampleRow.observed_at.desc())
        )
        by_route: dict[str, list[HealthSampleRow]] = {}
        with self.session() as session:
            for sample in session.scalars(query):
                samples = by_route.setdefault(sample.route, [])
                if len(samples) < MAX_SAMPLES_PER_ROUTE:
                    samples.append(sample)
        return [summarise(route, samples, now) for route, samples in sorted(by_route.items())]

    def prune_samples(self, *, older_than: timedelta = HEALTH_WINDOW, now: datetime | None = None) -> int:
        cutoff = (now or _now()).astimezone(timezone.utc) - older_than
        with self.session() as session:
            result = session.execute(sa.delete(HealthSampleRow).where(HealthSampleRow.observed_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)

    # proposals and verdicts

    def submit_proposal(
        self,
        *,
        proposal_id: str,
        kind: str,
        netuid: int,
        proposer: str,
        base_version: int | None,
        entry: dict[str, Any],
        evidence: dict[str, Any],
        now: datetime | None = None,
    ) -> tuple[ProposalRecord, bool]:
        """Record a proposal (or one more submitter of an identical one). Returns it and whether it is new."""
        now = (now or _now()).astimezone(timezone.utc)
        with self._write_lock, self.session() as session:
            row = session.get(ProposalRow, proposal_id)
            created = row is None
            if row is None:
                row = ProposalRow(
                    id=proposal_id,
                    kind=kind,
                    netuid=netuid,
                    proposer=proposer,
                    base_version=base_version,
                    entry=entry,
                    evidence=evidence,
                    submitted_at=now,
                    status="pending",
                    reason="",
                )
                session.add(row)
                session.flush()
            if session.get(SubmissionRow, (proposal_id, proposer)) is None:
                session.add(SubmissionRow(proposal_id=proposal_id, proposer=proposer, submitted_at=now))
            return _proposal(row), created

    def proposal(self, proposal_id: str) -> ProposalRecord:
        with self.session() as session:
            row = session.get(ProposalRow, proposal_id)
            if row is None:
                raise UnknownProposal(f"no proposal {proposal_id}")
            return _proposal(row)

    def proposals(
        self,
        *,
        status: str | None = None,
        proposer: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[ProposalRecord]:
        query = sa.select(ProposalRow).order_by(ProposalRow.submitted_at)
        if status is not None:
            query = query.where(ProposalRow.status == status)
        if proposer is not None:
            query = query.join(SubmissionRow, SubmissionRow.proposal_id == ProposalRow.id).where(
                SubmissionRow.proposer == proposer
            )
        if since is not None:
            query = query.where(ProposalRow.submitted_at >= since)
        with self.session() as session:
            return [_proposal(row) for row in session.scalars(query.limit(limit))]

    def submitters(self, proposal_id: str) -> list[tuple[str, datetime]]:
        """Who sent this proposal, first submitter first."""
        query = (
            sa.select(SubmissionRow)
            .where(SubmissionRow.proposal_id == proposal_id)
            .order_by(SubmissionRow.submitted_at, SubmissionRow.proposer)
        )
        with self.session() as session:
            return [(row.proposer, _utc(row.submitted_at)) for row in session.scalars(query)]

    def submissions_by(self, proposer: str, *, since: datetime) -> list[tuple[ProposalRecord, datetime]]:
        """Each proposal `proposer` sent since `since`, with when they sent it (for ledger scoring)."""
        query = (
            sa.select(ProposalRow, SubmissionRow.submitted_at)
            .join(SubmissionRow, SubmissionRow.proposal_id == ProposalRow.id)
            .where(SubmissionRow.proposer == proposer, SubmissionRow.submitted_at >= since)
            .order_by(SubmissionRow.submitted_at)
        )
        with self.session() as session:
            return [(_proposal(row), _utc(at)) for row, at in session.execute(query).all()]

    def add_verdict(
        self,
        proposal_id: str,
        *,
        validator: str,
        stake: float,
        accept: bool,
        reason: str,
        evidence_digest: str | None = None,
        now: datetime | None = None,
    ) -> VerdictRecord:
        """Record one validator's verdict; a second verdict from the same validator replaces the first."""
        now = (now or _now()).astimezone(timezone.utc)
        with self._write_lock, self.session() as session:
            if session.get(ProposalRow, proposal_id) is None:
                raise UnknownProposal(f"no proposal {proposal_id}")
            row = session.get(VerdictRow, (proposal_id, validator))
            if row is None:
                row = VerdictRow(proposal_id=proposal_id, validator=validator)
                session.add(row)
            row.stake = stake
            row.accept = accept
            row.reason = reason[:2_000]
            row.evidence_digest = evidence_digest
            row.created_at = now
            session.flush()
            return _verdict(row)

    def verdicts(self, proposal_id: str) -> list[VerdictRecord]:
        query = sa.select(VerdictRow).where(VerdictRow.proposal_id == proposal_id)
        with self.session() as session:
            return [_verdict(row) for row in session.scalars(query.order_by(VerdictRow.created_at))]

    def close_proposal(
        self,
        proposal_id: str,
        *,
        status: str,
        reason: str,
        version_id: int | None = None,
        now: datetime | None = None,
    ) -> ProposalRecord:
        with self._write_lock, self.session() as session:
            row = session.get(ProposalRow, proposal_id)
            if row is None:
                raise UnknownProposal(f"no proposal {proposal_id}")
            row.status = status
            row.reason = reason[:2_000]
            row.decided_at = now or _now()
            row.version_id = version_id
            return _proposal(row)


def _enqueue_deliveries(
    session: Session, written: VersionRecord, old: SubnetEntry | None, now: datetime
) -> None:
    """Queue the new version for every matching webhook, in the same transaction as the version."""
    capabilities = set(written.entry.capabilities) | set(old.capabilities if old else ())
    for hook in session.scalars(sa.select(WebhookRow).where(WebhookRow.active.is_(True))):
        if hook.netuids and written.netuid not in hook.netuids:
            continue
        if hook.capabilities and not capabilities & set(hook.capabilities):
            continue
        if written.compatibility.rank < Compatibility(hook.min_compatibility).rank:
            continue
        event_id = uuid.uuid4().hex
        session.add(
            DeliveryRow(
                event_id=event_id,
                webhook_id=hook.id,
                version_id=written.id,
                payload=change_event(written, event_id),
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )


def change_event(written: VersionRecord, event_id: str) -> dict[str, Any]:
    """The JSON body a webhook receives for one new version."""
    return {
        "event": "subnet.version",
        "event_id": event_id,
        "netuid": written.netuid,
        "version": written.version,
        "version_id": written.id,
        "compatibility": written.compatibility.value,
        "changes": written.changes,
        "source": written.source,
        "evidence_digest": written.evidence_digest,
        "proposed_by": written.proposed_by,
        "created_at": written.created_at.isoformat(),
        "entry": written.entry.model_dump(mode="json"),
    }


def summarise(route: str, samples: Sequence[HealthSampleRow], now: datetime) -> Health:
    """Latency percentiles and success over 24 h, uptime over 1 h / 24 h / 7 d, from raw samples."""

    def within(window: timedelta) -> list[HealthSampleRow]:
        return [s for s in samples if _utc(s.observed_at) >= now - window]

    def rate(chosen: list[HealthSampleRow]) -> float | None:
        return sum(1 for s in chosen if s.ok) / len(chosen) if chosen else None

    day = within(timedelta(days=1))
    latencies = sorted(s.latency_ms for s in day if s.ok and s.latency_ms is not None)
    last_ok = next((s for s in samples if s.ok), None)
    return Health(
        route=route,
        samples_1h=len(within(timedelta(hours=1))),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        latency_p99_ms=percentile(latencies, 99),
        success_rate=rate(day),
        uptime_1h=rate(within(timedelta(hours=1))),
        uptime_24h=rate(day),
        uptime_7d=rate(list(samples)),
        last_seen=_utc(last_ok.observed_at) if last_ok else None,
        last_checked=_utc(samples[0].observed_at) if samples else None,
    )


def percentile(ordered: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (None when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(float(ordered[rank - 1]), 3)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; everything is written in UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _entry(payload: dict[str, Any]) -> SubnetEntry:
    try:
        return SubnetEntry.model_validate(payload)
    except ValidationError as exc:
        raise InvalidEntry(f"stored entry does not validate: {exc}") from None


def _stored(row: SubnetRow) -> StoredEntry:
    return StoredEntry(entry=_entry(row.entry), version=row.version, updated_at=_utc(row.updated_at))


def _version(row: VersionRow) -> VersionRecord:
    return VersionRecord(
        id=row.id,
        netuid=row.netuid,
        version=row.version,
        entry=_entry(row.entry),
        changes=list(row.changes),
        compatibility=Compatibility(row.compatibility),
        source=row.source,
        evidence=dict(row.evidence),
        evidence_digest=row.evidence_digest,
        proposed_by=row.proposed_by,
        proposal_id=row.proposal_id,
        created_at=_utc(row.created_at),
    )


def _proposal(row: ProposalRow) -> ProposalRecord:
    return ProposalRecord(
        id=row.id,
        kind=row.kind,
        netuid=row.netuid,
        proposer=row.proposer,
        base_version=row.base_version,
        entry=dict(row.entry),
        evidence=dict(row.evidence),
        submitted_at=_utc(row.submitted_at),
        status=row.status,
        reason=row.reason,
        decided_at=_utc(row.decided_at) if row.decided_at else None,
        version_id=row.version_id,
    )


def _verdict(row: VerdictRow) -> VerdictRecord:
    return VerdictRecord(
        proposal_id=row.proposal_id,
        validator=row.validator,
        stake=row.stake,
        accept=row.accept,
        reason=row.reason,
        evidence_digest=row.evidence_digest,
        created_at=_utc(row.created_at),
    )


__all__ = [
    "LedgerStats",
    "LedgerStore",
    "ProposalRecord",
    "Sample",
    "SeedReport",
    "StoredEntry",
    "SubnetFilter",
    "VerdictRecord",
    "VersionRecord",
    "default_url",
]
