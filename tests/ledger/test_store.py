"""`LedgerStore` on SQLite and PostgreSQL: versions, the change feed, filters, health and proposals."""

import copy
import functools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.entry import Provenance, Route, SubnetEntry, SubnetStatus, Verification
from ledger.errors import LedgerError, StaleVersion, UnknownProposal, UnknownSubnet
from ledger.models import DeliveryRow, WebhookRow
from ledger.seed import SEED_VERSION_SOURCE, ensure_seeded, load_seed_entries
from ledger.store import LedgerStore, Sample, SubnetFilter, change_event
from protocol.models import RouteKind

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=timezone.utc)
SN22_ITEMS = ("routes", "desearch-api", "response_schema", "properties", "search", "items")
LINK_PATH = "/".join((*SN22_ITEMS, "properties", "link"))


@functools.cache
def _seed() -> dict[int, SubnetEntry]:
    return {entry.netuid: entry for entry in load_seed_entries()}


def seeded(netuid: int) -> SubnetEntry:
    return _seed()[netuid]


def edited(entry: SubnetEntry, change: Any) -> SubnetEntry:
    """`entry` with `change(payload)` applied to its JSON form, validated again."""
    payload = copy.deepcopy(entry.model_dump(mode="json"))
    change(payload)
    return SubnetEntry.model_validate(payload)


def search_items(payload: dict[str, Any]) -> dict[str, Any]:
    route = next(r for r in payload["routes"] if r["name"] == "desearch-api")
    items: dict[str, Any] = route["response_schema"]["properties"]["search"]["items"]
    return items


def without_link(payload: dict[str, Any]) -> None:
    items = search_items(payload)
    del items["properties"]["link"]
    items["required"] = [r for r in items.get("required", []) if r != "link"]


def make_entry(
    netuid: int,
    *,
    capabilities: tuple[str, ...] = ("web_search",),
    kind: RouteKind = RouteKind.HTTP,
    status: SubnetStatus = SubnetStatus.ACTIVE,
    verification: Verification = Verification.UNVERIFIED,
    description: str = "",
    source: str = "test",
) -> SubnetEntry:
    route = (
        Route(name="axon", kind=kind, synapse="Query", capabilities=capabilities)
        if kind is RouteKind.DENDRITE
        else Route(
            name="api", kind=kind, endpoint=f"https://sn{netuid}.example.com", capabilities=capabilities
        )
    )
    return SubnetEntry(
        netuid=netuid,
        name=f"SN{netuid}",
        description=description,
        capabilities=capabilities,
        routes=(route,),
        status=status,
        verification=verification,
        provenance=Provenance(source=source),
    )


# migrations and seed


def test_a_fresh_database_gets_the_schema_and_reopening_it_keeps_the_data(store_url: str) -> None:
    first = LedgerStore(store_url)
    try:
        tables = set(sa.inspect(first.engine).get_table_names())
        assert {
            "subnets",
            "subnet_capabilities",
            "subnet_versions",
            "health_samples",
            "proposals",
            "proposal_submissions",
            "verdicts",
            "api_keys",
            "webhooks",
            "webhook_deliveries",
            "alembic_version",
        } <= tables
        written = first.apply(seeded(22), source="seed")
        assert written is not None
    finally:
        first.close()

    again = LedgerStore(store_url)  # migrating an up-to-date database is a no-op
    try:
        assert again.head() == written.id
        assert again.get(22).entry == seeded(22)
    finally:
        again.close()


def test_ensure_seeded_loads_the_seed_once(store: LedgerStore) -> None:
    added = ensure_seeded(store)

    assert added >= 50
    assert added == len(load_seed_entries())
    stats = store.stats()
    assert stats.subnets == stats.versions == added
    assert store.get(22).entry.name == "Desearch"
    assert store.history(22)[0].source == SEED_VERSION_SOURCE
    head = store.head()
    assert ensure_seeded(store) == 0
    assert store.head() == head


def test_seed_is_idempotent(store: LedgerStore) -> None:
    entries = [seeded(13), seeded(22)]

    first = store.seed(entries, source="seed")
    second = store.seed(entries, source="seed")

    assert (first.added, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.added, second.updated, second.unchanged) == (0, 0, 2)
    assert store.stats().versions == 2


def test_a_new_seed_updates_what_only_the_seed_wrote(store: LedgerStore) -> None:
    store.seed([seeded(22)], source="seed")
    newer = edited(seeded(22), lambda p: p.update(description="Desearch, now with more tools."))

    report = store.seed([newer], source="seed")

    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    assert store.get(22).version == 2
    assert store.get(22).entry.description == "Desearch, now with more tools."


def test_seed_never_overwrites_a_verified_version(store: LedgerStore) -> None:
    store.seed([seeded(22)], source="seed")
    verified = edited(seeded(22), without_link).model_copy(
        update={
            "verification": Verification.VERIFIED,
            "provenance": Provenance(source="proposal:schema_change", verified_by=("validator",)),
        }
    )
    assert store.apply(verified, source="proposal:schema_change") is not None

    report = store.seed([seeded(22)], source="seed")

    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
    current = store.get(22)
    assert current.version == 2
    assert current.entry == verified


# versions


def test_apply_writes_numbered_versions_with_changes_and_compatibility(store: LedgerStore) -> None:
    original = seeded(22)
    first = store.apply(original, source="seed")
    assert first is not None
    assert (first.version, first.compatibility.value) == (1, "additive")
    assert first.changes[0]["path"] == "" and first.changes[0]["op"] == "added"

    breaking = store.apply(edited(original, without_link), source="probe")
    assert breaking is not None
    assert (breaking.version, breaking.compatibility.value) == (2, "breaking")
    removed = [c for c in breaking.changes if c["path"] == LINK_PATH]
    assert removed and removed[0]["op"] == "removed" and removed[0]["compatibility"] == "breaking"

    def add_optional(payload: dict[str, Any]) -> None:
        search_items(payload)["properties"]["favicon"] = {"type": "string"}

    additive = store.apply(edited(breaking.entry, add_optional), source="probe")
    assert additive is not None
    assert (additive.version, additive.compatibility.value) == (3, "additive")
    assert any(c["path"].endswith("/properties/favicon") and c["op"] == "added" for c in additive.changes)

    described = store.apply(
        edited(additive.entry, lambda p: p.update(description="Search, reworded.")), source="seed"
    )
    assert described is not None
    assert (described.version, described.compatibility.value) == (4, "none")
    assert [c["path"] for c in described.changes] == ["description"]

    assert first.id < breaking.id < additive.id < described.id == store.head()
    assert store.get(22).version == 4


def test_apply_returns_none_when_nothing_changed(store: LedgerStore) -> None:
    store.apply(seeded(22), source="seed")
    head = store.head()

    again = seeded(22).model_copy(update={"provenance": Provenance(source="someone-else")})
    assert store.apply(again, source="probe") is None
    assert store.head() == head
    assert store.get(22).version == 1


def test_a_change_of_verification_alone_is_a_new_version(store: LedgerStore) -> None:
    store.apply(seeded(22), source="seed")

    written = store.apply(seeded(22).model_copy(update={"verification": Verification.VERIFIED}), source="x")

    assert written is not None and written.version == 2
    assert written.compatibility.value == "none"
    assert [c["path"] for c in written.changes] == ["verification"]


def test_a_stale_expected_version_is_refused_and_writes_nothing(store: LedgerStore) -> None:
    store.apply(seeded(22), source="seed")
    store.apply(edited(seeded(22), lambda p: p.update(description="v2")), source="seed")
    head = store.head()

    with pytest.raises(StaleVersion):
        store.apply(edited(seeded(22), without_link), source="probe", expected_version=1)
    with pytest.raises(StaleVersion):
        store.apply(seeded(13), source="seed", expected_version=1)  # a new subnet is at version 0
    assert store.head() == head

    written = store.apply(edited(seeded(22), without_link), source="probe", expected_version=2)
    assert written is not None and written.version == 3
    assert store.apply(seeded(13), source="seed", expected_version=0) is not None


def test_versions_are_immutable(store: LedgerStore) -> None:
    original = seeded(22)
    store.apply(original, source="seed")
    store.apply(edited(original, without_link), source="probe")

    assert store.version(22, 1).entry == original
    [newest, oldest] = store.history(22)
    assert oldest.entry == original
    assert "link" in search_items(oldest.entry.model_dump(mode="json"))["properties"]
    assert "link" not in search_items(newest.entry.model_dump(mode="json"))["properties"]


def test_history_is_newest_first_and_pages(store: LedgerStore) -> None:
    for n in range(1, 5):
        store.apply(make_entry(7, description=f"v{n}"), source="test")

    assert [v.version for v in store.history(7)] == [4, 3, 2, 1]
    assert [v.version for v in store.history(7, limit=2, offset=1)] == [3, 2]
    assert store.history(7)[0].entry.description == "v4"
    with pytest.raises(UnknownSubnet):
        store.history(99)


def test_version_by_number(store: LedgerStore) -> None:
    store.apply(make_entry(7, description="one"), source="test")
    store.apply(make_entry(7, description="two"), source="test")

    assert store.version(7, 1).entry.description == "one"
    assert store.version(7, 2).entry.description == "two"
    with pytest.raises(UnknownSubnet):
        store.version(99, 1)
    with pytest.raises(LedgerError):
        store.version(7, 3)


def test_change_feed_pages_in_id_order_and_filters(store: LedgerStore) -> None:
    store.apply(make_entry(1, capabilities=("web_search",)), source="test")
    store.apply(make_entry(2, capabilities=("llm_inference",)), source="test")
    store.apply(make_entry(1, capabilities=("web_search",), description="b"), source="test")
    store.apply(make_entry(3, capabilities=("llm_inference", "code_generation")), source="test")
    store.apply(make_entry(2, capabilities=("llm_inference",), description="b"), source="test")

    everything = store.changes()
    assert [(v.netuid, v.version) for v in everything] == [(1, 1), (2, 1), (1, 2), (3, 1), (2, 2)]
    ids = [v.id for v in everything]
    assert ids == sorted(ids)

    pages, cursor = [], 0
    while page := store.changes(since=cursor, limit=2):
        assert len(page) <= 2
        pages.append(page)
        cursor = page[-1].id
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [v.id for page in pages for v in page] == ids

    assert [(v.netuid, v.version) for v in store.changes(netuids=[2, 3])] == [(2, 1), (3, 1), (2, 2)]
    llm = store.changes(capability="llm_inference")
    assert [(v.netuid, v.version) for v in llm] == [(2, 1), (3, 1), (2, 2)]
    assert [v.netuid for v in store.changes(capability="llm_inference", limit=2)] == [2, 3]
    assert [v.netuid for v in store.changes(since=ids[1], capability="llm_inference")] == [3, 2]
    assert store.changes(since=store.head()) == []


def test_select_filters_by_capability_status_verification_and_route_kind(store: LedgerStore) -> None:
    store.apply(make_entry(1, capabilities=("web_search",)), source="test")
    store.apply(make_entry(2, capabilities=("llm_inference",), status=SubnetStatus.DEGRADED), source="test")
    store.apply(
        make_entry(3, capabilities=("web_search",), verification=Verification.VERIFIED), source="test"
    )
    store.apply(
        make_entry(4, capabilities=("social_data",), kind=RouteKind.DENDRITE, status=SubnetStatus.DEPRECATED),
        source="test",
    )
    store.apply(make_entry(5, capabilities=("llm_inference",), kind=RouteKind.OPENAI), source="test")

    def netuids(where: SubnetFilter) -> list[int]:
        return [s.entry.netuid for s in store.select(where)]

    assert netuids(SubnetFilter()) == [1, 2, 3, 4, 5]
    assert netuids(SubnetFilter(capability="web_search")) == [1, 3]
    assert netuids(SubnetFilter(capability="llm_inference")) == [2, 5]
    assert netuids(SubnetFilter(status=SubnetStatus.DEGRADED)) == [2]
    assert netuids(SubnetFilter(status=SubnetStatus.ACTIVE)) == [1, 3, 5]
    assert netuids(SubnetFilter(verification=Verification.VERIFIED)) == [3]
    assert netuids(SubnetFilter(route_kind="dendrite")) == [4]
    assert netuids(SubnetFilter(route_kind="openai")) == [5]
    assert netuids(SubnetFilter(route_kind="http", status=SubnetStatus.ACTIVE)) == [1, 3]
    assert netuids(SubnetFilter(capability="web_search", verification=Verification.UNVERIFIED)) == [1]
    assert netuids(SubnetFilter(limit=2)) == [1, 2]
    assert netuids(SubnetFilter(limit=2, offset=2)) == [3, 4]
    assert netuids(SubnetFilter(route_kind="http", limit=1, offset=1)) == [2]
    assert netuids(SubnetFilter(capability="chain_rpc")) == []


def test_select_follows_a_capability_that_a_new_version_removes(store: LedgerStore) -> None:
    store.apply(make_entry(1, capabilities=("web_search",)), source="test")
    store.apply(make_entry(1, capabilities=("llm_inference",)), source="test")

    assert store.select(SubnetFilter(capability="web_search")) == []
    assert [s.entry.netuid for s in store.select(SubnetFilter(capability="llm_inference"))] == [1]


def test_stats_count_subnets_verified_routes_and_versions(store: LedgerStore) -> None:
    store.apply(seeded(13), source="seed")
    store.apply(seeded(22), source="seed")
    store.apply(seeded(22).model_copy(update={"verification": Verification.VERIFIED}), source="x")

    stats = store.stats()

    assert stats.subnets == 2
    assert stats.verified == 1
    assert stats.routes == len(seeded(13).routes) + len(seeded(22).routes)
    assert stats.versions == 3
    assert stats.as_dict() == {"subnets": 2, "verified": 1, "routes": stats.routes, "versions": 3}


def test_entries_are_fresh_after_every_write(store: LedgerStore, store_url: str) -> None:
    store.apply(make_entry(1, description="one"), source="test")
    assert [s.entry.description for s in store.entries()] == ["one"]

    store.apply(make_entry(1, description="two"), source="test")
    store.apply(make_entry(2), source="test")
    assert [(s.entry.netuid, s.entry.description, s.version) for s in store.entries()] == [
        (1, "two", 2),
        (2, "", 1),
    ]

    other = LedgerStore(store_url)  # another process writing to the same database
    try:
        other.apply(make_entry(3), source="test")
    finally:
        other.close()
    assert [s.entry.netuid for s in store.entries()] == [1, 2, 3]


# health


def test_latency_percentiles_are_nearest_rank(store: LedgerStore) -> None:
    now = T0
    store.record_samples(
        [Sample(22, "api", True, float(ms), None, now - timedelta(seconds=ms)) for ms in range(100, 0, -1)]
    )

    [health] = store.health(22, now=now)

    assert health.route == "api"
    assert (health.latency_p50_ms, health.latency_p95_ms, health.latency_p99_ms) == (50.0, 95.0, 99.0)
    assert health.success_rate == 1.0
    assert health.samples_1h == 100


def test_failures_count_against_success_but_not_in_latency(store: LedgerStore) -> None:
    now = T0
    for ms in (10.0, 20.0, 30.0):
        store.record_sample(22, "api", ok=True, latency_ms=ms, at=now - timedelta(minutes=1))
    store.record_sample(22, "api", ok=False, latency_ms=5_000.0, error="timeout", at=now)

    [health] = store.health(22, now=now)

    assert health.success_rate == 0.75
    assert (health.latency_p50_ms, health.latency_p99_ms) == (20.0, 30.0)


def test_uptime_windows_last_seen_and_routes(store: LedgerStore) -> None:
    now = T0

    def at(**delta: float) -> datetime:
        return now - timedelta(**delta)

    store.record_samples(
        [
            Sample(22, "api", False, None, "refused", at(minutes=10)),
            Sample(22, "api", True, 100.0, None, at(minutes=30)),
            Sample(22, "api", True, 120.0, None, at(hours=3)),
            Sample(22, "api", False, None, "500", at(hours=5)),
            Sample(22, "api", True, 90.0, None, at(days=3)),
            Sample(22, "api", False, None, "500", at(days=6)),
            Sample(22, "api", True, 80.0, None, at(days=8)),  # outside every window
            Sample(22, "backup", True, 40.0, None, at(hours=30)),
            Sample(13, "bucket", True, 40.0, None, at(minutes=1)),
        ]
    )

    by_route = {h.route: h for h in store.health(22, now=now)}

    assert sorted(by_route) == ["api", "backup"]
    api = by_route["api"]
    assert api.samples_1h == 2
    assert api.uptime_1h == 0.5
    assert api.uptime_24h == api.success_rate == 0.5
    assert api.uptime_7d == pytest.approx(3 / 6)
    assert api.last_seen == at(minutes=30)
    assert api.last_checked == at(minutes=10)
    assert (api.latency_p50_ms, api.latency_p99_ms) == (100.0, 120.0)
    backup = by_route["backup"]
    assert backup.samples_1h == 0 and backup.uptime_1h is None and backup.success_rate is None
    assert backup.uptime_7d == 1.0 and backup.last_seen == at(hours=30)
    assert backup.latency_p50_ms is None
    assert store.health(99, now=now) == []


def test_prune_removes_only_old_samples(store: LedgerStore) -> None:
    now = T0
    store.record_samples(
        [
            Sample(22, "api", True, 1.0, None, now - timedelta(hours=1)),
            Sample(22, "api", True, 2.0, None, now - timedelta(days=2)),
            Sample(22, "api", True, 3.0, None, now - timedelta(days=9)),
        ]
    )

    assert store.prune_samples(older_than=timedelta(days=1), now=now) == 2
    assert store.prune_samples(older_than=timedelta(days=1), now=now) == 0
    [health] = store.health(22, now=now)
    assert health.uptime_7d == 1.0 and health.latency_p50_ms == 1.0
    assert health.last_checked == now - timedelta(hours=1)


def test_sample_times_in_another_time_zone_mean_the_same_instant(sqlite_store: LedgerStore) -> None:
    berlin_summer = timezone(timedelta(hours=2))
    observed = datetime(2026, 8, 1, 11, 0, tzinfo=berlin_summer)  # 09:00 UTC
    sqlite_store.record_sample(22, "api", ok=True, latency_ms=5.0, at=observed)

    [health] = sqlite_store.health(22, now=datetime(2026, 8, 1, 10, 30, tzinfo=timezone.utc))

    assert health.last_seen == observed
    assert health.samples_1h == 0  # 90 minutes old


# proposals and verdicts


def propose(store: LedgerStore, proposer: str, at: datetime, proposal_id: str = "p1") -> tuple[Any, bool]:
    return store.submit_proposal(
        proposal_id=proposal_id,
        kind="schema_change",
        netuid=22,
        proposer=proposer,
        base_version=1,
        entry={"netuid": 22},
        evidence={"route": "desearch-api"},
        now=at,
    )


def test_one_proposal_many_submitters(store: LedgerStore) -> None:
    first, created = propose(store, "miner-b", T0)
    again, created_again = propose(store, "miner-a", T0 + timedelta(minutes=1))
    propose(store, "miner-b", T0 + timedelta(minutes=2))  # the same miner again adds nothing

    assert created and not created_again
    assert first.id == again.id == "p1"
    assert again.proposer == "miner-b" and again.status == "pending"
    assert [p.id for p in store.proposals()] == ["p1"]
    assert store.submitters("p1") == [("miner-b", T0), ("miner-a", T0 + timedelta(minutes=1))]
    record = store.proposal("p1")
    assert (record.kind, record.netuid, record.base_version) == ("schema_change", 22, 1)
    assert record.entry == {"netuid": 22} and record.evidence == {"route": "desearch-api"}
    assert record.submitted_at == T0


def test_a_validator_verdict_replaces_its_earlier_one(store: LedgerStore) -> None:
    propose(store, "miner", T0)

    store.add_verdict("p1", validator="val-1", stake=10.0, accept=True, reason="ok", now=T0)
    store.add_verdict("p1", validator="val-2", stake=5.0, accept=True, reason="ok", now=T0)
    replaced = store.add_verdict(
        "p1", validator="val-1", stake=12.0, accept=False, reason="changed my mind", now=T0 + timedelta(1)
    )

    assert replaced.accept is False
    verdicts = {v.validator: v for v in store.verdicts("p1")}
    assert sorted(verdicts) == ["val-1", "val-2"]
    assert (verdicts["val-1"].accept, verdicts["val-1"].stake, verdicts["val-1"].reason) == (
        False,
        12.0,
        "changed my mind",
    )


def test_unknown_proposals_are_refused(store: LedgerStore) -> None:
    with pytest.raises(UnknownProposal):
        store.proposal("nope")
    with pytest.raises(UnknownProposal):
        store.add_verdict("nope", validator="v", stake=1.0, accept=True, reason="")
    with pytest.raises(UnknownProposal):
        store.close_proposal("nope", status="rejected", reason="")
    assert store.verdicts("nope") == [] and store.submitters("nope") == []


def test_closing_a_proposal(store: LedgerStore) -> None:
    propose(store, "miner", T0, "p1")
    propose(store, "miner", T0, "p2")

    closed = store.close_proposal(
        "p1", status="accepted", reason="quorum", version_id=7, now=T0 + timedelta(1)
    )

    assert (closed.status, closed.reason, closed.version_id) == ("accepted", "quorum", 7)
    assert closed.decided_at == T0 + timedelta(1)
    assert store.proposal("p1") == closed
    assert [p.id for p in store.proposals(status="pending")] == ["p2"]
    assert [p.id for p in store.proposals(status="accepted")] == ["p1"]


def test_submissions_by_a_proposer_since_a_time(store: LedgerStore) -> None:
    propose(store, "miner-a", T0, "old")
    propose(store, "miner-a", T0 + timedelta(hours=2), "new")
    propose(store, "miner-b", T0 + timedelta(hours=1), "new")
    propose(store, "miner-b", T0 + timedelta(hours=3), "theirs")

    mine = store.submissions_by("miner-b", since=T0 + timedelta(minutes=30))

    assert [(r.id, at) for r, at in mine] == [
        ("new", T0 + timedelta(hours=1)),
        ("theirs", T0 + timedelta(hours=3)),
    ]
    assert [r.id for r, _ in store.submissions_by("miner-a", since=T0)] == ["old", "new"]
    assert store.submissions_by("miner-a", since=T0 + timedelta(days=1)) == []
    assert [p.id for p in store.proposals(proposer="miner-b")] == ["new", "theirs"]
    assert [p.id for p in store.proposals(since=T0 + timedelta(hours=1))] == ["new", "theirs"]


# webhooks


def add_webhook(
    store: LedgerStore,
    *,
    netuids: list[int] | None = None,
    capabilities: list[str] | None = None,
    min_compatibility: str = "none",
    active: bool = True,
) -> int:
    with store.session() as session:
        row = WebhookRow(
            url="https://subscriber.example.com/hook",
            secret="s",
            netuids=netuids or [],
            capabilities=capabilities or [],
            min_compatibility=min_compatibility,
            active=active,
            created_at=T0,
        )
        session.add(row)
        session.flush()
        return row.id


def deliveries(store: LedgerStore) -> list[tuple[int, int, str, dict[str, Any], str]]:
    """(webhook id, version id, status, payload, event id) of every queued delivery."""
    with store.session() as session:
        rows = session.scalars(sa.select(DeliveryRow).order_by(DeliveryRow.id))
        return [(r.webhook_id, r.version_id, r.status, r.payload, r.event_id) for r in rows]


def test_matching_versions_are_queued_for_webhooks(store: LedgerStore) -> None:
    sn22 = add_webhook(store, netuids=[22])
    llm = add_webhook(store, capabilities=["llm_inference"])
    breaking_only = add_webhook(store, min_compatibility="breaking")
    add_webhook(store, active=False)

    new22 = store.apply(seeded(22), source="seed")  # additive
    broke22 = store.apply(edited(seeded(22), without_link), source="probe")  # breaking
    new_llm = store.apply(make_entry(4, capabilities=("llm_inference",)), source="test")  # additive
    assert new22 is not None and broke22 is not None and new_llm is not None

    queued = deliveries(store)
    assert sorted((hook, version) for hook, version, *_ in queued) == sorted(
        [
            (sn22, new22.id),
            (sn22, broke22.id),
            (breaking_only, broke22.id),
            (llm, new_llm.id),
        ]
    )
    written = {v.id: v for v in (new22, broke22, new_llm)}
    for _, version_id, status, payload, event_id in queued:
        assert status == "pending"
        assert payload == change_event(written[version_id], event_id)
    assert len({event_id for *_, event_id in queued}) == len(queued)


def test_a_removed_capability_still_reaches_its_subscribers(store: LedgerStore) -> None:
    store.apply(make_entry(1, capabilities=("web_search",)), source="test")
    hook = add_webhook(store, capabilities=["web_search"])

    moved = store.apply(make_entry(1, capabilities=("llm_inference",)), source="test")

    assert moved is not None
    assert [(h, v) for h, v, *_ in deliveries(store)] == [(hook, moved.id)]


def test_no_delivery_without_a_version(store: LedgerStore) -> None:
    add_webhook(store)
    store.apply(seeded(22), source="seed")
    before = deliveries(store)

    assert store.apply(seeded(22), source="seed") is None
    with pytest.raises(StaleVersion):
        store.apply(edited(seeded(22), without_link), source="probe", expected_version=5)

    assert deliveries(store) == before and len(before) == 1
