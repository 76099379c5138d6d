"""Initial Ledger schema: subnets, versions, health samples, proposals, verdicts, keys, webhooks.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 15:55:07.192100
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "health_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=256), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("health_samples", schema=None) as batch_op:
        batch_op.create_index("ix_health_route_time", ["netuid", "route", "observed_at"], unique=False)

    op.create_table(
        "proposals",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("proposer", sa.String(length=64), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposals_netuid"), ["netuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_proposer"), ["proposer"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_status"), ["status"], unique=False)

    op.create_table(
        "subnet_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("compatibility", sa.String(length=16), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("evidence_digest", sa.String(length=128), nullable=True),
        sa.Column("proposed_by", sa.String(length=64), nullable=True),
        sa.Column("proposal_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("netuid", "version", name="uq_version_per_subnet"),
    )
    with op.batch_alter_table("subnet_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnet_versions_compatibility"), ["compatibility"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnet_versions_netuid"), ["netuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnet_versions_proposed_by"), ["proposed_by"], unique=False)

    op.create_table(
        "subnets",
        sa.Column("netuid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verification", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("netuid"),
    )
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnets_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnets_verification"), ["verification"], unique=False)

    op.create_table(
        "proposal_submissions",
        sa.Column("proposal_id", sa.String(length=128), nullable=False),
        sa.Column("proposer", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proposal_id", "proposer"),
    )
    with op.batch_alter_table("proposal_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_submissions_proposer"), ["proposer"], unique=False)

    op.create_table(
        "subnet_capabilities",
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("capability", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["netuid"], ["subnets.netuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("netuid", "capability"),
    )
    with op.batch_alter_table("subnet_capabilities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnet_capabilities_capability"), ["capability"], unique=False)

    op.create_table(
        "verdicts",
        sa.Column("proposal_id", sa.String(length=128), nullable=False),
        sa.Column("validator", sa.String(length=64), nullable=False),
        sa.Column("stake", sa.Float(), nullable=False),
        sa.Column("accept", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence_digest", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proposal_id", "validator"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("netuids", sa.JSON(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("min_compatibility", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhooks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_webhook_id"), ["webhook_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_webhook_id"))
        batch_op.drop_index("ix_delivery_due")

    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("verdicts")
    with op.batch_alter_table("subnet_capabilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnet_capabilities_capability"))

    op.drop_table("subnet_capabilities")
    with op.batch_alter_table("proposal_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_submissions_proposer"))

    op.drop_table("proposal_submissions")
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnets_verification"))
        batch_op.drop_index(batch_op.f("ix_subnets_status"))

    op.drop_table("subnets")
    with op.batch_alter_table("subnet_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnet_versions_proposed_by"))
        batch_op.drop_index(batch_op.f("ix_subnet_versions_netuid"))
        batch_op.drop_index(batch_op.f("ix_subnet_versions_compatibility"))

    op.drop_table("subnet_versions")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposals_status"))
        batch_op.drop_index(batch_op.f("ix_proposals_proposer"))
        batch_op.drop_index(batch_op.f("ix_proposals_netuid"))

    op.drop_table("proposals")
    with op.batch_alter_table("health_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_health_route_time")

    op.drop_table("health_samples")
    op.drop_table("api_keys")
