"""Probes: schema reconciliation, auth, real HTTP probes on 127.0.0.1, and the miner's probe loop."""

import copy
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.entry import AuthKind, ProbeRecipe, Provenance, Route, SubnetEntry, Verification
from ledger.probes import (
    Prober,
    ProbeRunner,
    SampleBuffer,
    auth_headers,
    content_id,
    drift_proposal,
    no_secrets,
    probeable,
    reconcile_schema,
)
from ledger.store import LedgerStore
from ledger.versioning import conforms, diff_entries, infer_schema
from orchestra.devnet.desearch import DesearchEmulator
from orchestra.devnet.ledger import open_devnet_ledger
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.ports import free_port
from orchestra.proofs import digest
from orchestra.transports.http import HttpTransport
from protocol.ledger_sync import ProposalKind
from protocol.models import RouteKind

ITEM = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "link": {"type": "string"},
        "snippet": {"type": "string"},
        "author": {"type": ["string", "null"]},
    },
    "required": ["link"],
}
DOCUMENTED = {  # the shape of the Desearch API's answer, as the Ledger documents it
    "type": "object",
    "properties": {
        "search": {"type": "array", "items": ITEM},
        "completion": {"type": "string"},
        "miner_link_scores": {"type": "object"},
    },
    "required": ["search"],
}
GOOD = {"search": [{"title": "H100 prices", "link": "https://a.example", "snippet": "..."}], "completion": ""}
DRIFTED = {
    "search": [{"title": "H100 prices", "url": "https://a.example", "snippet": "..."}],
    "completion": "",
}


# reconcile_schema


def test_a_schema_the_sample_still_matches_is_kept_as_documented() -> None:
    reconciled = reconcile_schema(DOCUMENTED, GOOD)

    assert reconciled == DOCUMENTED
    assert reconciled is not DOCUMENTED  # a copy: the stored schema is never edited in place


def test_a_missing_required_property_goes_and_a_new_one_comes_as_optional() -> None:
    reconciled = reconcile_schema(ITEM, {"title": "t", "url": "https://a.example"})

    assert "link" not in reconciled["properties"]
    assert reconciled["properties"]["url"] == {"type": "string"}
    assert "url" not in reconciled.get("required", [])
    assert reconciled["properties"]["title"] == {"type": "string"}
    assert conforms({"title": "t", "url": "https://a.example"}, reconciled) == []


def test_an_optional_property_the_sample_does_not_show_is_kept() -> None:
    reconciled = reconcile_schema(ITEM, {"url": "https://a.example"})

    assert {"title", "snippet", "author", "url"} <= set(reconciled["properties"])
    assert reconciled["properties"]["author"] == {"type": ["string", "null"]}


def test_a_property_whose_type_changed_is_inferred_again() -> None:
    reconciled = reconcile_schema(ITEM, {"link": "https://a.example", "title": 7})

    assert reconciled["properties"]["title"] == {"type": "integer"}
    assert reconciled["required"] == ["link"]


def test_list_of_object_items_are_reconciled_in_place() -> None:
    reconciled = reconcile_schema(DOCUMENTED, DRIFTED)

    items = reconciled["properties"]["search"]["items"]
    assert "link" not in items["properties"] and "url" in items["properties"]
    assert "link" not in items.get("required", [])
    assert items["properties"]["author"] == ITEM["properties"]["author"]  # untouched documentation stays
    assert reconciled["properties"]["miner_link_scores"] == {"type": "object"}
    assert reconciled["required"] == ["search"]
    assert conforms(DRIFTED, reconciled) == []


def test_without_a_documented_schema_the_sample_is_inferred() -> None:
    assert reconcile_schema(None, DRIFTED) == infer_schema(DRIFTED)


def test_reconciling_does_not_touch_the_stored_schema() -> None:
    before = copy.deepcopy(DOCUMENTED)
    reconcile_schema(DOCUMENTED, DRIFTED)
    reconcile_schema(DOCUMENTED, {"search": "now a string"})
    assert before == DOCUMENTED


KEYS = st.sampled_from(["search", "title", "link", "url", "snippet", "author", "completion"]) | st.text(
    max_size=4
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)


def _uniform_lists(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Every element of a list equal: one answer's items share their shape.
    return children.flatmap(lambda item: st.lists(st.just(item), max_size=3)) | st.dictionaries(
        KEYS, children, max_size=4
    )


UNIFORM_JSON = st.recursive(SCALARS, _uniform_lists, max_leaves=12)
JSON = st.recursive(
    SCALARS, lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4)
)
ANSWERS = st.fixed_dictionaries(
    {"search": st.lists(st.dictionaries(KEYS, SCALARS, max_size=5), max_size=1)},
    optional={"completion": SCALARS, "miner_link_scores": UNIFORM_JSON},
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(UNIFORM_JSON, ANSWERS), st.sampled_from([DOCUMENTED, ITEM, None]))
def test_the_sample_conforms_to_the_reconciled_schema(sample: Any, old: dict[str, Any] | None) -> None:
    assert conforms(sample, reconcile_schema(old, sample)) == []


@settings(max_examples=50, deadline=None)
@example(sample={"search": [{"link": "a", "author": None}, {"link": "b", "author": "x"}]}, old=DOCUMENTED)
@example(sample={"search": [{"link": "a", "title": 1}, {"link": "b", "title": "x"}]}, old=DOCUMENTED)
@given(JSON, st.sampled_from([DOCUMENTED, ITEM, None]))
def test_a_sample_with_mixed_list_items_conforms_to_the_reconciled_schema(
    sample: Any, old: dict[str, Any] | None
) -> None:
    assert conforms(sample, reconcile_schema(old, sample)) == []


# auth and what can be probed


def api_route(auth: AuthKind = AuthKind.API_KEY, **update: Any) -> Route:
    values: dict[str, Any] = {
        "name": "api",
        "kind": RouteKind.HTTP,
        "endpoint": "https://api.example.com",
        "auth": auth,
        "response_schema": DOCUMENTED,
        "probe": ProbeRecipe(path="/good", body={"prompt": "H100"}),
        **update,
    }
    return Route(**values)


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        (AuthKind.API_KEY, {"Authorization": "k"}),
        (AuthKind.BEARER, {"Authorization": "Bearer k"}),
        (AuthKind.NONE, {}),
        (AuthKind.VALIDATOR_PERMIT, {}),
    ],
)
def test_auth_headers_follow_the_route_auth_kind(auth: AuthKind, headers: dict[str, str]) -> None:
    assert auth_headers(api_route(auth), "k") == headers
    assert auth_headers(api_route(auth), None) == {}


def test_probeable_routes() -> None:
    with_key: Any = lambda netuid, route: "k"  # noqa: E731

    assert probeable(api_route(), with_key, 22)
    assert not probeable(api_route(), no_secrets, 22), "a keyed route without a key is not probed"
    assert probeable(api_route(AuthKind.NONE), no_secrets, 22)
    assert probeable(api_route(AuthKind.BEARER, kind=RouteKind.OPENAI), with_key, 22)
    assert not probeable(api_route(probe=None), with_key, 22)
    dendrite = Route(
        name="bucket", kind=RouteKind.DENDRITE, synapse="GetDataEntityBucket", probe=ProbeRecipe()
    )
    assert not probeable(dendrite, with_key, 13), "dendrite routes are measured from real traffic"
    signed = api_route(AuthKind.EPISTULA, kind=RouteKind.SIGNED_HTTP)
    assert not probeable(signed, with_key, 22)


# Prober against a real server


class Producer:
    """A hosted API on 127.0.0.1 that answers as documented, drifted, or failing."""

    def __init__(self) -> None:
        self.authorization: list[str | None] = []
        app = web.Application()
        app.router.add_post("/good", self.answer(GOOD))
        app.router.add_post("/drifted", self.answer(DRIFTED))
        app.router.add_post("/broken", self.broken)
        self.server = ThreadedAiohttpServer(app)

    def answer(self, payload: dict[str, Any]) -> Any:
        async def handler(request: web.Request) -> web.Response:
            self.authorization.append(request.headers.get("Authorization"))
            return web.json_response(payload)

        return handler

    async def broken(self, _: web.Request) -> web.Response:
        return web.json_response({"detail": "internal error"}, status=500)


@pytest.fixture(scope="module")
def producer() -> Iterator[Producer]:
    running = Producer()
    running.server.start()
    yield running
    running.server.stop()


@pytest.fixture
async def http() -> AsyncIterator[HttpTransport]:
    transport = HttpTransport()
    yield transport
    await transport.aclose()


def probe_route(endpoint: str, path: str, auth: AuthKind = AuthKind.API_KEY) -> Route:
    return api_route(auth, endpoint=endpoint, probe=ProbeRecipe(path=path, body={"prompt": "H100"}))


async def test_a_matching_answer_is_ok_without_violations(producer: Producer, http: HttpTransport) -> None:
    prober = Prober(http, lambda netuid, route: "secret-key")

    outcome = await prober.probe(22, probe_route(producer.server.url, "/good"))
    again = await prober.probe(22, probe_route(producer.server.url, "/good"))

    assert outcome.ok and not outcome.drifted
    assert (outcome.netuid, outcome.route) == (22, "api")
    assert outcome.payload == GOOD
    evidence = outcome.evidence
    assert evidence.violations == [] and evidence.error is None
    assert evidence.status_code == 200
    assert evidence.response_digest == digest(GOOD)
    assert evidence.inferred_schema == infer_schema(GOOD)
    assert evidence.request_digest == again.evidence.request_digest, "anyone can repeat the same call"
    assert outcome.latency_ms is not None and outcome.latency_ms >= 0
    assert producer.authorization[-1] == "secret-key"


async def test_a_bearer_route_sends_a_bearer_token(producer: Producer, http: HttpTransport) -> None:
    await Prober(http, lambda netuid, route: "k").probe(
        22, probe_route(producer.server.url, "/good", AuthKind.BEARER)
    )
    assert producer.authorization[-1] == "Bearer k"


async def test_a_drifted_answer_has_violations(producer: Producer, http: HttpTransport) -> None:
    prober = Prober(http, lambda netuid, route: "k")

    outcome = await prober.probe(22, probe_route(producer.server.url, "/drifted"))

    assert outcome.ok and outcome.drifted
    assert any("'link' is a required property" in v for v in outcome.evidence.violations)
    assert outcome.evidence.response_digest == digest(DRIFTED)
    assert outcome.payload == DRIFTED


async def test_an_expected_schema_overrides_the_stored_one(producer: Producer, http: HttpTransport) -> None:
    prober = Prober(http, lambda netuid, route: "k")
    route = probe_route(producer.server.url, "/drifted")

    outcome = await prober.probe(22, route, expect=reconcile_schema(DOCUMENTED, DRIFTED))

    assert outcome.ok and not outcome.drifted and outcome.evidence.violations == []


async def test_a_failing_producer_is_not_ok(producer: Producer, http: HttpTransport) -> None:
    outcome = await Prober(http, lambda netuid, route: "k").probe(
        22, probe_route(producer.server.url, "/broken")
    )

    assert not outcome.ok and not outcome.drifted
    assert outcome.evidence.status_code == 500
    assert outcome.evidence.error is not None and "500" in outcome.evidence.error
    assert outcome.latency_ms is not None and outcome.evidence.latency_ms is not None
    assert outcome.evidence.response_digest is None


async def test_an_unreachable_producer_is_not_ok(http: HttpTransport) -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    outcome = await Prober(http, lambda netuid, route: "k").probe(22, probe_route(dead, "/good"))

    assert not outcome.ok
    assert outcome.evidence.error is not None and "unreachable" in outcome.evidence.error
    assert outcome.evidence.status_code is None
    assert outcome.latency_ms is not None


async def test_a_route_without_an_http_probe_cannot_be_probed(http: HttpTransport) -> None:
    prober = Prober(http)
    with pytest.raises(ValueError, match="no HTTP probe recipe"):
        await prober.probe(22, api_route(probe=None))
    dendrite = Route(
        name="bucket", kind=RouteKind.DENDRITE, synapse="GetDataEntityBucket", probe=ProbeRecipe()
    )
    with pytest.raises(ValueError, match="no HTTP probe recipe"):
        await prober.probe(13, dendrite)


# proposals from drift


def test_content_id_ignores_provenance_and_verification() -> None:
    entry = SubnetEntry(netuid=22, name="Desearch", provenance=Provenance(source="probe", proposed_by="a"))
    other_miner = entry.model_copy(
        update={"provenance": Provenance(source="probe", proposed_by="b", evidence_digest="x")}
    )
    verified = entry.model_copy(update={"verification": Verification.VERIFIED})
    kind = ProposalKind.SCHEMA_CHANGE

    assert (
        content_id(kind, 22, 1, entry)
        == content_id(kind, 22, 1, other_miner)
        == content_id(kind, 22, 1, verified)
    )
    assert content_id(kind, 22, 1, entry) != content_id(kind, 22, 2, entry)
    assert content_id(kind, 22, 1, entry) != content_id(ProposalKind.ROUTE_CHANGE, 22, 1, entry)
    described = entry.model_copy(update={"description": "changed"})
    assert content_id(kind, 22, 1, entry) != content_id(kind, 22, 1, described)


@pytest.fixture
def emulator() -> Iterator[DesearchEmulator]:
    running = DesearchEmulator(api_key="k").start()
    yield running
    running.stop()


@pytest.fixture
def ledger(tmp_path: Path, emulator: DesearchEmulator) -> Iterator[LedgerStore]:
    store = open_devnet_ledger(tmp_path / "l.db", emulator.url)
    yield store
    store.close()


def with_key(_netuid: int, _route: Route) -> str:
    return "k"


async def test_drift_proposal_changes_only_that_route_response_schema(
    emulator: DesearchEmulator, ledger: LedgerStore, http: HttpTransport
) -> None:
    stored = ledger.get(22)
    route = stored.entry.route("desearch-api")
    assert route is not None
    prober = Prober(http, with_key)
    healthy = await prober.probe(22, route)
    assert drift_proposal(stored, healthy, proposer="miner") is None

    emulator.drifted = True
    outcome = await prober.probe(22, route)
    proposal = drift_proposal(stored, outcome, proposer="miner")

    assert proposal is not None
    assert (proposal.kind, proposal.netuid, proposal.base_version) == (ProposalKind.SCHEMA_CHANGE, 22, 1)
    assert proposal.evidence == outcome.evidence
    entry = SubnetEntry.model_validate(proposal.entry)
    assert entry.provenance.proposed_by == "miner" and entry.provenance.source == "probe"
    changes = diff_entries(stored.entry, entry).changes
    assert changes and all(c.path.startswith("routes/desearch-api/response_schema/") for c in changes)
    assert any(c.path.endswith("/items/properties/link") and c.op == "removed" for c in changes)
    new_route = entry.route("desearch-api")
    assert new_route is not None and new_route.response_schema is not None
    assert conforms(outcome.payload, new_route.response_schema) == []
    assert new_route.model_copy(update={"response_schema": None}) == route.model_copy(
        update={"response_schema": None}
    )


async def test_a_healthy_run_records_health_and_proposes_nothing(
    ledger: LedgerStore, http: HttpTransport
) -> None:
    runner = ProbeRunner(ledger, Prober(http, with_key), proposer="miner")

    report = await runner.run_once()

    assert (report.probed, report.failed, report.drifted, report.proposals) == (1, 0, 0, [])
    [health] = ledger.health(22)
    assert health.route == "desearch-api"
    assert health.samples_1h == 1 and health.success_rate == 1.0 and health.last_seen is not None
    assert ledger.health(13) == [], "dendrite routes are not probed"
    assert ledger.proposals() == []
    assert runner.outbox(10) == []


async def test_without_the_key_nothing_is_probed(ledger: LedgerStore, http: HttpTransport) -> None:
    report = await ProbeRunner(ledger, Prober(http), proposer="miner").run_once()

    assert report.probed == 0
    assert ledger.health(22) == []


async def test_a_drifted_route_gets_one_proposal_however_often_it_is_probed(
    emulator: DesearchEmulator, ledger: LedgerStore, http: HttpTransport
) -> None:
    runner = ProbeRunner(ledger, Prober(http, with_key), proposer="miner")
    emulator.drifted = True

    first = await runner.run_once()
    second = await runner.run_once()

    assert (first.probed, first.drifted, len(first.proposals)) == (1, 1, 1)
    assert second.proposals == first.proposals
    [record] = ledger.proposals()
    assert record.id == first.proposals[0]
    assert (record.kind, record.netuid, record.status) == ("schema_change", 22, "pending")
    assert [who for who, _ in ledger.submitters(record.id)] == ["miner"]
    assert ledger.health(22)[0].samples_1h == 2
    assert ledger.get(22).version == 1, "a miner's probe proposes; it never writes a version"

    [outgoing] = runner.outbox(10)
    assert (outgoing.kind, outgoing.netuid, outgoing.base_version) == (ProposalKind.SCHEMA_CHANGE, 22, 1)
    assert outgoing.entry == record.entry
    assert outgoing.evidence.violations
    assert runner.outbox(0) == []
    assert runner.outbox(10, now=datetime.now(timezone.utc) + timedelta(hours=25)) == []


async def test_two_miners_finding_the_same_drift_make_one_proposal(
    emulator: DesearchEmulator, ledger: LedgerStore, http: HttpTransport
) -> None:
    emulator.drifted = True
    first = await ProbeRunner(ledger, Prober(http, with_key), proposer="miner-a").run_once()
    second = await ProbeRunner(ledger, Prober(http, with_key), proposer="miner-b").run_once()

    assert first.proposals == second.proposals
    [record] = ledger.proposals()
    assert [who for who, _ in ledger.submitters(record.id)] == ["miner-a", "miner-b"]


async def test_an_unreachable_route_records_a_failed_sample(tmp_path: Path, http: HttpTransport) -> None:
    store = open_devnet_ledger(tmp_path / "dead.db", f"http://127.0.0.1:{free_port()}")
    try:
        report = await ProbeRunner(store, Prober(http, with_key), proposer="miner").run_once()

        assert (report.probed, report.failed, report.drifted) == (1, 1, 0)
        [health] = store.health(22)
        assert health.success_rate == 0.0 and health.last_seen is None
        assert store.proposals() == []
    finally:
        store.close()


# real traffic


def test_sample_buffer_writes_what_it_observed(sqlite_store: LedgerStore) -> None:
    buffer = SampleBuffer()
    buffer.observe(22, "desearch-api", ok=True, latency_ms=10.0, error=None)
    buffer.observe(22, "desearch-api", ok=False, latency_ms=None, error="timeout")
    buffer.observe(13, "bucket", ok=True, latency_ms=30.0, error=None)

    assert buffer.flush(sqlite_store) == 3
    assert buffer.flush(sqlite_store) == 0

    [sn22] = sqlite_store.health(22)
    assert sn22.samples_1h == 2 and sn22.success_rate == 0.5 and sn22.latency_p50_ms == 10.0
    [sn13] = sqlite_store.health(13)
    assert sn13.route == "bucket" and sn13.samples_1h == 1


def test_sample_buffer_is_bounded_and_drops_the_oldest(sqlite_store: LedgerStore) -> None:
    buffer = SampleBuffer(max_pending=2)
    for ms in (1.0, 2.0, 3.0):
        buffer.observe(22, "desearch-api", ok=True, latency_ms=ms, error=None)

    assert buffer.flush(sqlite_store) == 2
    [health] = sqlite_store.health(22)
    assert health.samples_1h == 2
    assert (health.latency_p50_ms, health.latency_p99_ms) == (2.0, 3.0)
