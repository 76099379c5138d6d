"""API keys of the Ledger API: created once, stored only as their SHA-256, looked up by that hash.

A key is `orc_` plus 43 URL-safe characters (256 random bits). Because keys are high-entropy, a plain
SHA-256 is enough to store them (a slow password hash buys nothing) and lets a request find its key
with one indexed equality lookup. The first characters are kept in clear so people can tell keys apart.
"""

import hashlib
import secrets
from datetime import datetime, timezone
from enum import Enum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from ledger.errors import LedgerError
from ledger.models import ApiKeyRow
from ledger.store import LedgerStore

KEY_PREFIX = "orc_"
SHOWN_CHARS = 12  # "orc_" and 8 random characters: enough to tell keys apart, useless to an attacker


class Tier(str, Enum):
    """What a caller pays for; each tier has its own rate limit (see `LedgerApiSettings`)."""

    FREE = "free"
    DEVELOPER = "developer"
    PRODUCTION = "production"


class UnknownKey(LedgerError):
    code = "unknown_api_key"
    http_status = 404


class ApiKey(BaseModel):
    """A stored key, without the key itself."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    tier: Tier
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None = None


class CreatedKey(ApiKey):
    key: str = Field(description="The key in clear. Shown once: the Ledger keeps only its SHA-256.")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """Create, find and revoke API keys in the Ledger's database."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    def create(self, name: str, tier: Tier) -> CreatedKey:
        name = name.strip()
        if not name or len(name) > 128:
            raise LedgerError("a key's name must be 1 to 128 characters")
        key = new_key()
        row = ApiKeyRow(
            key_hash=hash_key(key),
            prefix=key[:SHOWN_CHARS],
            name=name,
            tier=tier.value,
            created_at=datetime.now(timezone.utc),
            revoked_at=None,
        )
        with self._store.session() as session:
            session.add(row)
            session.flush()
            return CreatedKey(**_key(row).model_dump(), key=key)

    def lookup(self, key: str) -> ApiKey | None:
        """The active key `key` names, or None for an unknown or revoked key."""
        if not key.startswith(KEY_PREFIX) or len(key) > 256:
            return None
        query = sa.select(ApiKeyRow).where(
            ApiKeyRow.key_hash == hash_key(key), ApiKeyRow.revoked_at.is_(None)
        )
        with self._store.session() as session:
            row = session.scalars(query).first()
            return _key(row) if row is not None else None

    def revoke(self, key_id: int) -> ApiKey:
        with self._store.session() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownKey(f"no API key with id {key_id}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(timezone.utc)
            return _key(row)

    def all(self) -> list[ApiKey]:
        with self._store.session() as session:
            return [_key(row) for row in session.scalars(sa.select(ApiKeyRow).order_by(ApiKeyRow.id))]


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        tier=Tier(row.tier),
        prefix=row.prefix,
        created_at=_utc(row.created_at),
        revoked_at=_utc(row.revoked_at) if row.revoked_at else None,
    )


def _utc(value: datetime) -> datetime:
    # SQLite returns datetimes without their zone; everything is written in UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
