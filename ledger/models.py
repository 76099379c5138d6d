"""SQLAlchemy 2 tables of the Ledger. Alembic migrations in `ledger/migrations` create them.

Entries are stored whole as JSON (the pydantic model is the schema of record); the columns beside
them exist to filter and index. Versions are append-only: nothing updates or deletes a version row.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonValue = Any


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class SubnetRow(Base):
    """The current state of one subnet: its newest version, denormalised for filtering."""

    __tablename__ = "subnets"

    netuid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    verification: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer)
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CapabilityRow(Base):
    """Which capabilities a subnet offers now; rewritten with every version of the subnet."""

    __tablename__ = "subnet_capabilities"

    netuid: Mapped[int] = mapped_column(ForeignKey("subnets.netuid", ondelete="CASCADE"), primary_key=True)
    capability: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class VersionRow(Base):
    """One immutable version of a subnet. `id` is global and increasing: the change feed's cursor."""

    __tablename__ = "subnet_versions"
    __table_args__ = (UniqueConstraint("netuid", "version", name="uq_version_per_subnet"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    netuid: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)
    changes: Mapped[list[Any]] = mapped_column(JSON)
    compatibility: Mapped[str] = mapped_column(String(16), index=True)
    capabilities: Mapped[list[Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(256))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence_digest: Mapped[str | None] = mapped_column(String(128))
    proposed_by: Mapped[str | None] = mapped_column(String(64), index=True)
    proposal_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HealthSampleRow(Base):
    """One observed call to a route (probe or real traffic): the raw material of health figures."""

    __tablename__ = "health_samples"
    __table_args__ = (Index("ix_health_route_time", "netuid", "route", "observed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    netuid: Mapped[int] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(256))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProposalRow(Base):
    """A miner's proposed change, with its evidence, waiting for validators' verdicts."""

    __tablename__ = "proposals"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # digest of kind, netuid, entry
    kind: Mapped[str] = mapped_column(String(32))
    netuid: Mapped[int] = mapped_column(Integer, index=True)
    proposer: Mapped[str] = mapped_column(String(64), index=True)
    base_version: Mapped[int | None] = mapped_column(Integer)
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version_id: Mapped[int | None] = mapped_column(Integer)


class SubmissionRow(Base):
    """Every miner that sent a proposal; the first one of an accepted change gets discovery credit."""

    __tablename__ = "proposal_submissions"

    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    proposer: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VerdictRow(Base):
    """One validator's verdict on a proposal, after its own re-probe."""

    __tablename__ = "verdicts"

    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    validator: Mapped[str] = mapped_column(String(64), primary_key=True)
    stake: Mapped[float] = mapped_column(Float)
    accept: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    evidence_digest: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """An API key, stored only as its SHA-256; the key itself is shown once, when it is created."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    tier: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookRow(Base):
    """A subscription to the change feed, filtered by netuid and capability."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))  # needed in clear to sign deliveries (HMAC)
    netuids: Mapped[list[Any]] = mapped_column(JSON)
    capabilities: Mapped[list[Any]] = mapped_column(JSON)
    min_compatibility: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    """One event for one webhook; retried with backoff until delivered or dead."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_delivery_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
