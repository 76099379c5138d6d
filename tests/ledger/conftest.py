"""A fresh Ledger store per test, on SQLite and on PostgreSQL (`ORCHESTRA_TEST_PG_URL`).

PostgreSQL tests skip when the server is unreachable, except under `.ci/run`, which sets
ORCHESTRA_REQUIRE_PG=1 so a missing database fails CI instead of hiding the tests.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.store import LedgerStore

PG_URL = os.environ.get("ORCHESTRA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# One schema per test process, so two test runs sharing the database cannot trip over each other.
PG_SCHEMA = f"orchestra_test_{os.getpid()}"
PG_TEST_URL = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{PG_SCHEMA}"


def _reset_postgres() -> None:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            connection.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_schema() -> Iterator[None]:
    yield
    engine = sa.create_engine(PG_URL)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    except sa.exc.OperationalError:
        pass  # no server: nothing was created
    finally:
        engine.dispose()


def _postgres_or_skip() -> str:
    try:
        _reset_postgres()
    except sa.exc.OperationalError as exc:
        if os.environ.get("ORCHESTRA_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable")
    return PG_TEST_URL


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
