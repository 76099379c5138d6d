"""`orchestra ledger ...` as a user runs it: output, exit codes, idempotent seeding."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.api.keys import KeyStore
from ledger.cli import add_ledger_parser, run_ledger
from ledger.store import LedgerStore

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="orchestra")
    add_ledger_parser(parser.add_subparsers(dest="command", required=True))
    return run_ledger(parser.parse_args(["ledger", *argv]))


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert run(*argv, "--json") == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def seeded_db(db: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert run("seed", "--db", db) == 0
    capsys.readouterr()
    return db


def test_seeding_twice_adds_nothing_the_second_time(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("seed", "--db", store_url) == 0
    first = capsys.readouterr().out
    stats = run_json(capsys, "stats", "--db", store_url)
    assert run("seed", "--db", store_url) == 0
    second = capsys.readouterr().out
    assert f"{stats['subnets']} added, 0 updated, 0 unchanged" in first
    assert f"0 added, 0 updated, {stats['subnets']} unchanged" in second
    assert run_json(capsys, "stats", "--db", store_url) == stats


def test_stats_json_has_exactly_the_documented_shape(
    seeded_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = run_json(capsys, "stats", "--db", seeded_db)
    assert set(stats) == {"subnets", "verified", "routes", "versions"}
    assert all(type(value) is int for value in stats.values())
    assert stats["subnets"] >= 50
    assert stats["versions"] == stats["subnets"]


def test_search_lists_data_universe_and_desearch_first_for_social_sentiment(
    seeded_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hits = run_json(capsys, "search", "social sentiment", "--db", seeded_db)
    assert {hit["netuid"] for hit in hits[:2]} == {13, 22}
    assert run("search", "social", "sentiment", "--db", seeded_db) == 0
    table = capsys.readouterr().out
    assert table.index("Desearch") < table.index("Gopher")
    assert table.index("Data Universe") < table.index("Gopher")


def test_show_unknown_netuid_exits_2_with_one_clear_line(
    seeded_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("show", "4242", "--db", seeded_db) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == ["error: no subnet with netuid 4242 in the Ledger"]
    assert run("history", "4242", "--db", seeded_db) == 2
    assert "4242" in capsys.readouterr().err


def test_an_unknown_capability_exits_2(seeded_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("list", "--capability", "telepathy", "--db", seeded_db) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: unknown capability 'telepathy'") and "social_search" in line


def test_list_show_and_history(seeded_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    listed = run_json(capsys, "list", "--capability", "compute", "--db", seeded_db)
    assert listed and all("compute" in item["entry"]["capabilities"] for item in listed)

    store = LedgerStore(seeded_db)
    try:
        store.record_sample(22, store.get(22).entry.routes[0].name, ok=True, latency_ms=80.0)
    finally:
        store.close()
    shown = run_json(capsys, "show", "22", "--db", seeded_db)
    assert shown["entry"]["name"] == "Desearch" and shown["version"] == 1
    assert shown["health"][0]["latency_p50_ms"] == 80.0
    assert run("show", "22", "--db", seeded_db) == 0
    human = capsys.readouterr().out
    assert "Desearch" in human and "desearch-api" in human

    history = run_json(capsys, "history", "22", "--db", seeded_db)
    assert [version["version"] for version in history] == [1]


def test_keys_create_prints_the_key_once_and_it_works(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keys", "create", "--name", "dashboard", "--tier", "production", "--db", db) == 0
    out = capsys.readouterr().out
    [key] = [line for line in out.splitlines() if line.startswith("orc_")]
    store = LedgerStore(db)
    try:
        found = KeyStore(store).lookup(key)
        assert found is not None and found.name == "dashboard" and found.tier.value == "production"
    finally:
        store.close()
    assert run("keys", "list", "--db", db) == 0
    assert key not in capsys.readouterr().out


def test_the_database_comes_from_the_environment(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRA_LEDGER_URL", db)
    assert run("seed") == 0
    capsys.readouterr()
    assert run_json(capsys, "stats", "--db", db)["subnets"] >= 50


def test_runs_as_a_module(seeded_db: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "stats", "--json", "--db", seeded_db],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["subnets"] >= 50
