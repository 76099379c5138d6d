import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from jsonschema import Draft202012Validator

from ledger.entry import AuthKind, SubnetEntry, Verification
from ledger.seed import SEED_PATH, load_seed_entries
from protocol.models import RouteKind

BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_ledger_seed.py"


@pytest.fixture(scope="module")
def entries() -> list[SubnetEntry]:
    return load_seed_entries()


@pytest.fixture(scope="module")
def by_netuid(entries: list[SubnetEntry]) -> dict[int, SubnetEntry]:
    return {entry.netuid: entry for entry in entries}


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_ledger_seed", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_packaged_seed_loads_many_distinct_subnets(entries: list[SubnetEntry]) -> None:
    netuids = [entry.netuid for entry in entries]
    assert len(entries) >= 50
    assert len(netuids) == len(set(netuids))
    assert netuids == sorted(netuids)


def test_every_entry_is_an_unverified_capability_with_its_source(entries: list[SubnetEntry]) -> None:
    for entry in entries:
        assert entry.capabilities, entry.netuid
        assert entry.verification is Verification.UNVERIFIED, entry.netuid
        assert entry.provenance.source in ("public-facts-2026-08", "producer-subnets-2026-08"), entry.netuid
        digest = entry.provenance.evidence_digest
        assert digest is not None and len(digest) == 64 and int(digest, 16) >= 0, entry.netuid


def test_sn13_miners_are_reached_with_the_bucket_synapse(by_netuid: dict[int, SubnetEntry]) -> None:
    route = by_netuid[13].route("bucket")
    assert route is not None
    assert route.kind is RouteKind.DENDRITE
    assert route.synapse == "GetDataEntityBucket"
    assert route.adapter == "data_universe"
    assert route.auth is AuthKind.VALIDATOR_PERMIT
    assert route.synapse_fields is not None and "data_entity_bucket_id" in route.synapse_fields
    assert "social_data" in route.capabilities


def test_sn22_is_reached_through_the_desearch_api(by_netuid: dict[int, SubnetEntry]) -> None:
    routes = [r for r in by_netuid[22].routes if r.kind is RouteKind.HTTP and r.adapter == "desearch"]
    assert len(routes) == 1
    route = routes[0]
    assert route.endpoint == "https://api.desearch.ai"
    assert route.response_schema is not None
    assert {"search", "tweets"} <= set(route.response_schema["properties"])
    assert {"web_search", "social_search"} <= set(route.capabilities)


def test_search_capabilities_have_a_route_that_offers_them(entries: list[SubnetEntry]) -> None:
    for capability in ("web_search", "social_search", "social_data"):
        assert any(capability in entry.capabilities for entry in entries), capability
        assert any(capability in route.capabilities for entry in entries for route in entry.routes), (
            capability
        )


def test_route_schemas_are_valid_and_probes_send_what_the_route_accepts(entries: list[SubnetEntry]) -> None:
    for entry in entries:
        for route in entry.routes:
            for schema in (route.request_schema, route.response_schema):
                if schema is not None:
                    Draft202012Validator.check_schema(schema)
            if route.probe is not None and route.probe.body is not None and route.request_schema is not None:
                errors = list(Draft202012Validator(route.request_schema).iter_errors(route.probe.body))
                assert not errors, (entry.netuid, route.name, errors)


def test_a_bad_seed_entry_is_reported_by_netuid(tmp_path: Path) -> None:
    good = json.loads(SEED_PATH.read_text(encoding="utf-8"))[0]
    bad = {**good, "netuid": 4242, "capabilities": ["telepathy"]}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps([good, bad]), encoding="utf-8")
    with pytest.raises(ValueError, match="netuid 4242"):
        load_seed_entries(path)
    path.write_text(json.dumps([good, good]), encoding="utf-8")
    with pytest.raises(ValueError, match=f"netuid {good['netuid']} twice"):
        load_seed_entries(path)


def test_the_build_is_deterministic_and_matches_the_committed_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _build_script()
    if not script.DEFAULT_CSV.is_file():
        pytest.skip(f"the public-facts CSV is not at {script.DEFAULT_CSV} in this checkout")
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert script.main(["--out", str(first)]) == 0
    assert script.main(["--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == SEED_PATH.read_bytes(), (
        "seed.json is stale: run scripts/build_ledger_seed.py"
    )
    assert "subnets" in capsys.readouterr().out
