"""A fresh Ledger store per test, on SQLite and on PostgreSQL (`ORCHESTRA_TEST_PG_URL`).

PostgreSQL tests skip when the server is unreachable, except under `.ci/run`, which sets
ORCHESTRA_REQUIRE_PG=1 so a missing database fails CI instead of hiding the tests.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.models import Base
from ledger.store import LedgerStore

PG_URL = os.environ.get("ORCHESTRA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()


def _postgres_or_skip() -> str:
    try:
        _reset_postgres(PG_URL)
    except sa.exc.OperationalError as exc:
        if os.environ.get("ORCHESTRA_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable")
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return _postgres_or_skip()


@pytest.fixture
def store(store_url: str) -> Iterator[LedgerStore]:
    ledger = LedgerStore(store_url)
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[LedgerStore]:
    """For tests whose behaviour does not depend on the database (API shape, webhooks, CLI)."""
    ledger = LedgerStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        yield ledger
    finally:
        ledger.close()
