"""Synthesis against the validator's traps: exact chain values, item counts, price order, coerced prices,
enums and awkward field names, all from the evidence and nothing else."""

import asyncio
import json
import re
from importlib import resources
from typing import Any

import pytest

from orchestra.adapters.base import Record
from orchestra.adapters.blockmachine import BlockmachineAdapter
from orchestra.devnet.blockmachine import BlockmachineEmulator
from orchestra.devnet.corpus import load_corpus
from orchestra.errors import SynthesisError
from orchestra.planner import BlueprintPlanner, analyse, load_blueprints
from orchestra.planner.analysis import price_order
from orchestra.schema import Node, ObjectNode, ScalarNode, child_path, compile_schema
from orchestra.synthesis import LlmSynthesizer, RuleSynthesizer, Synthesis
from protocol.models import RouteKind, TaskSpec
from tests.orchestra.adapters.fakes import ScriptedCaller, candidate

MATERIAL: dict[str, Any] = json.loads(
    resources.files("orchestra.validator").joinpath("data/challenges.json").read_text(encoding="utf-8")
)
CHAIN, MARKET = MATERIAL["chain"], MATERIAL["market"]
ADDRESS = "0x" + "3c" * 20
EMULATOR = BlockmachineEmulator()  # answers in process; never started, so no socket is opened


def synthesise(objective: str, schema: dict[str, Any], records: list[Record]) -> Synthesis:
    compiled = compile_schema(schema)
    return RuleSynthesizer().synthesise(compiled, analyse(objective, compiled.root), records)


def at(result: Any, keys: list[str]) -> Any:
    """The value at a material key path such as `["block", "hash"]`."""
    for key in keys:
        result = result.get(key) if isinstance(result, dict) else None
    return result


def kind_at(node: Node, keys: list[str]) -> str:
    """The scalar kind ("str", "int", ...) the schema gives the value at `keys`."""
    for key in keys:
        assert isinstance(node, ObjectNode)
        spec = node.field(key)
        assert spec is not None
        node = spec.node
    assert isinstance(node, ScalarNode)
    return node.kind


def path_key(keys: list[str]) -> str:
    """A material key path in the provenance's spelling (`$["balance (wei)"]`, `$.block.hash`)."""
    out = "$"
    for key in keys:
        out = child_path(out, key)
    return out


# --------------------------------------------------------------------------------------------------
# Chain reads
# --------------------------------------------------------------------------------------------------


def chain_objective(chain: dict[str, Any], block: int, address: str = ADDRESS, index: int = 0) -> str:
    text: str = CHAIN["objectives"][index]["text"]
    return text.format(chain_label=chain["label"], block=block, address=address)


def chain_records(objective: str) -> list[Record]:
    """What the miner's chain_lookup plan gets from SN19: its batch, run by the real adapter."""
    spec = TaskSpec(task_id="t", objective=objective, target_schema={"a": "str"})
    plan = BlueprintPlanner(load_blueprints()).plan(
        spec, compile_schema({"a": "str"}), capabilities={"chain_rpc"}
    )
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "blockmachine", api_key=None),
        lambda path, body: EMULATOR.answer(path.rsplit("/", 1)[-1], body),
    )
    return asyncio.run(BlockmachineAdapter().run(plan.steps[0], caller))


def rpc(chain: str, method: str, params: list[Any]) -> Any:
    """A direct JSON-RPC read from the stand-in: the value the validator pre-queries."""
    return EMULATOR.answer(chain, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})["result"]


def expected_values(chain: str, address: str, block: int) -> dict[str, Any]:
    wei = int(rpc(chain, "eth_getBalance", [address, hex(block)]), 16)
    return {
        "chain": chain,
        "address": address,
        "block_number": block,
        "block_hash": rpc(chain, "eth_getBlockByNumber", [hex(block), False])["hash"],
        "balance_wei": wei,
        "balance_ether": wei / 10**18,
        "nonce": int(rpc(chain, "eth_getTransactionCount", [address, hex(block)]), 16),
    }


@pytest.mark.parametrize("schema", CHAIN["schemas"], ids=lambda s: s["id"])
@pytest.mark.parametrize("chain", CHAIN["chains"], ids=lambda c: c["id"])
def test_every_chain_schema_holds_exactly_what_a_direct_rpc_read_returns(
    chain: dict[str, Any], schema: dict[str, Any]
) -> None:
    block = chain["head"] - 1_234
    objective = chain_objective(chain, block)
    synthesis = synthesise(objective, schema["schema"], chain_records(objective))
    expected = expected_values(chain["id"], ADDRESS, block)
    for name, path in schema["fields"].items():
        found = at(synthesis.result, path)
        wanted = expected[name]
        if name == "balance_wei":
            # The exact integer, as text where the schema says str and as a JSON integer where it says int.
            if kind_at(compile_schema(schema["schema"]).root, path) == "str":
                assert found == str(wanted), path
            else:
                assert type(found) is int and found == wanted, path
        elif name == "balance_ether":
            assert found == pytest.approx(wanted, rel=1e-12)
        else:
            assert found == wanted, path
    # Every value names the receipt of the batch that stated it.
    assert set(synthesis.provenance) >= {path_key(p) for p in schema["fields"].values()}
    assert all(receipts == [0] for receipts in synthesis.provenance.values())


def test_a_wei_balance_is_copied_exactly_where_a_float_would_round_it() -> None:
    chain = CHAIN["chains"][0]
    block = chain["head"] - 77
    objective = chain_objective(chain, block)
    wei = expected_values("eth", ADDRESS, block)["balance_wei"]
    assert int(float(wei)) != wei  # the trap: a float cannot hold this balance
    awkward = next(s for s in CHAIN["schemas"] if s["id"] == "awkward_account")
    result = synthesise(objective, awkward["schema"], chain_records(objective)).result
    assert type(result["balance (wei)"]) is int and result["balance (wei)"] == wei


def test_records_that_disagree_leave_a_required_value_unknown_instead_of_picking_one() -> None:
    chain = CHAIN["chains"][0]
    block = chain["head"] - 300
    first = chain_records(chain_objective(chain, block))
    second = chain_records(chain_objective(chain, block, address="0x" + "7e" * 20))
    flat = next(s for s in CHAIN["schemas"] if s["id"] == "flat_account")
    with pytest.raises(SynthesisError, match="account"):
        synthesise(chain_objective(chain, block), flat["schema"], first + second)


def test_a_field_the_chain_reads_do_not_state_is_left_out_or_named_in_the_error() -> None:
    chain = CHAIN["chains"][1]
    objective = chain_objective(chain, chain["head"] - 10)
    records = chain_records(objective)
    result = synthesise(objective, {"nonce": "int", "gas_price_gwei": "float?"}, records).result
    assert set(result) == {"nonce"}
    with pytest.raises(SynthesisError, match="gas_price_gwei"):
        synthesise(objective, {"nonce": "int", "gas_price_gwei": "float"}, records)


class FailingChat:
    """A model that must not be asked: chain values are copied, not retold."""

    async def complete(
        self, messages: list[dict[str, str]], *, purpose: str, json_schema: dict[str, Any] | None = None
    ) -> str:
        raise AssertionError("the model was asked to retell block-pinned chain reads")


async def test_the_llm_synthesiser_hands_chain_reads_to_the_exact_rules() -> None:
    chain = CHAIN["chains"][2]
    block = chain["head"] - 4_000
    objective = chain_objective(chain, block, index=1)
    nested = next(s for s in CHAIN["schemas"] if s["id"] == "nested_account")
    compiled = compile_schema(nested["schema"])
    records = await asyncio.to_thread(chain_records, objective)
    synthesis = await LlmSynthesizer(FailingChat(), RuleSynthesizer()).synthesise(
        compiled, analyse(objective, compiled.root), records
    )
    assert synthesis.by == "rules"
    assert synthesis.result["chain"] == "base"
    assert synthesis.result["account"]["nonce"] == expected_values("base", ADDRESS, block)["nonce"]


# --------------------------------------------------------------------------------------------------
# Market research
# --------------------------------------------------------------------------------------------------


def corpus_records() -> list[Record]:
    """All three markets' pages and posts at once (receipt 0 web, 1 x, 2 reddit): the neighbouring
    markets are there to be left out."""
    corpus = load_corpus()
    records = [
        Record(
            kind="web_page", text=d["snippet"], title=d["title"], url=d["link"], source="web", receipt_index=0
        )
        for d in corpus.web
    ]
    records += [
        Record(kind="post", text=p["text"], url=p["url"], source="x", receipt_index=1) for p in corpus.x
    ]
    records += [
        Record(kind="post", text=p["body"], title=p["title"], url=p["url"], source="reddit", receipt_index=2)
        for p in corpus.reddit
    ]
    return records


def list_prices(topic: str) -> dict[str, float]:
    """The topic's price list as its comparison page states it ("VoltStack $1.99, ...")."""
    page = next(d for d in load_corpus().web if d["topic"] == topic and ":" in d["snippet"])
    return {name: float(price) for name, price in re.findall(r"([A-Z][\w ]*?) \$(\d+\.\d+)", page["snippet"])}


def vendor(name: str, topic: str) -> str:
    """The full vendor name an item's name stands for ("Parallax" for "Parallax AI")."""
    [full] = [v for v in list_prices(topic) if v == name or v.startswith(name + " ")]
    return full


def market_cases(trap: str) -> list[tuple[str, str, dict[str, Any], int]]:
    """(topic, objective, schema, count) for every objective with `trap`, every topic and fitting schema."""
    cases = []
    for topic in MARKET["topics"]:
        for objective in MARKET["objectives"]:
            if trap not in objective["traps"]:
                continue
            for schema in MARKET["schemas"]:
                if objective.get("needs") == "price" and schema["price"] is None:
                    continue
                for count in (3, 4):
                    text = objective["text"].format(market=topic["market"], offer=topic["offer"], count=count)
                    cases.append((topic["name"], text, schema, count))
    return cases


@pytest.mark.parametrize(("topic", "objective", "schema", "count"), market_cases("count"))
def test_the_main_list_holds_exactly_the_count_asked_for_and_only_the_market_asked_about(
    topic: str, objective: str, schema: dict[str, Any], count: int
) -> None:
    items = synthesise(objective, schema["schema"], corpus_records()).result[schema["list"]]
    assert len(items) == count
    names = [vendor(item[schema["name"]], topic) for item in items]  # fails for another market's vendor
    assert len(set(names)) == count


@pytest.mark.parametrize(
    ("topic", "objective", "schema", "count"), market_cases("order_asc") + market_cases("order_desc")
)
def test_an_ordered_list_picks_the_cheapest_or_dearest_and_sorts_them_by_their_own_prices(
    topic: str, objective: str, schema: dict[str, Any], count: int
) -> None:
    records = corpus_records()
    synthesis = synthesise(objective, schema["schema"], records)
    items = synthesis.result[schema["list"]]
    prices = [item[schema["price"]] for item in items]
    ascending = "cheapest to most expensive" in objective
    assert prices == sorted(prices, reverse=not ascending)
    listed = list_prices(topic)
    assert sorted(prices, reverse=not ascending) == sorted(listed.values(), reverse=not ascending)[:count]
    for index, item in enumerate(items):
        name, price = vendor(item[schema["name"]], topic), item[schema["price"]]
        assert isinstance(price, float) and price == listed[name]  # "$1.99/hr" became 1.99
        # ... taken from a record of the cited receipt that states this vendor's price.
        cited = synthesis.provenance[
            child_path(child_path(child_path("$", schema["list"]), index), schema["price"])
        ]
        assert any(
            r.receipt_index in cited and name in f"{r.title} {r.text}" and f"${price:.2f}" in r.text
            for r in records
        )


def test_enum_fields_hold_only_what_the_evidence_states() -> None:
    tiered = next(s for s in MARKET["schemas"] if s["id"] == "tiered_offers_enum")
    records = [
        Record(
            kind="web_page",
            text="Acme Cloud sells its premium plan with H100 at $3.10/hr.",
            source="web",
            receipt_index=0,
        ),
        Record(
            kind="web_page",
            text="Acme Cloud premium: fast disks.",
            title="Acme Cloud review",
            source="web",
            receipt_index=0,
        ),
        Record(
            kind="web_page",
            text="Bolt Cloud lists H100 at €2.10/hr.",
            title="Bolt Cloud pricing",
            source="web",
            receipt_index=1,
        ),
        Record(kind="post", text="Bolt Cloud has been reliable for us.", source="x", receipt_index=2),
    ]
    offers = synthesise("Compare H100 cloud offers by price", tiered["schema"], records).result["offers"]
    by_vendor = {offer["vendor"]: offer for offer in offers}
    assert by_vendor["Acme Cloud"] == {
        "vendor": "Acme Cloud",
        "price": 3.1,
        "currency": "USD",
        "tier": "premium",
    }
    assert by_vendor["Bolt Cloud"] == {
        "vendor": "Bolt Cloud",
        "price": 2.1,
        "currency": "EUR",
    }  # no tier stated


def test_awkward_field_names_are_filled_by_meaning() -> None:
    awkward = next(s for s in MARKET["schemas"] if s["id"] == "awkward_vendor_table")
    objective = "Rank the top 3 managed vector database vendors by the price of vector database storage"
    result = synthesise(objective, awkward["schema"], corpus_records()).result
    assert result["bottom-line"]
    for row in result["Top Vendors"]:
        assert row["List price ($)"] == list_prices("vector_db")[vendor(row["Vendor Name"], "vector_db")]
        assert row["pros & cons"]["pros"]


def test_an_optional_website_is_the_vendors_own_site_when_the_evidence_links_it() -> None:
    schema = next(s for s in MARKET["schemas"] if s["id"] == "vendors_optional_website")
    objective = (
        "Which GPU cloud vendors are cheapest for H100 GPU cloud rental? List the top 4 with their pricing."
    )
    vendors = synthesise(objective, schema["schema"], corpus_records()).result["vendors"]
    assert len(vendors) == 4
    for row in vendors:
        host = row["website"].split("/")[2]
        assert host.split(".")[0] in row["name"].lower().replace(" ", ""), row


def test_a_year_near_the_word_price_is_not_a_price() -> None:
    records = [
        Record(
            kind="web_page",
            text="Zeta Cloud price comparison, autumn 2026.",
            title="Zeta Cloud",
            source="web",
            receipt_index=0,
        ),
        Record(kind="post", text="Zeta Cloud boots fast.", source="x", receipt_index=1),
    ]
    result = synthesise(
        "List GPU cloud vendors", {"vendors": [{"name": "str", "price": "float?"}]}, records
    ).result
    assert result["vendors"] == [{"name": "Zeta Cloud"}]


@pytest.mark.parametrize(
    ("objective", "order"),
    [
        ("List the top 3 providers, ordered from cheapest to most expensive", "asc"),
        ("Rank them by price, most expensive first", "desc"),
        ("Which vendors are cheapest for H100 rental?", "asc"),
        ("Sort the offers by price, descending", "desc"),
        ("prices in ascending order", "asc"),
        ("from the priciest to the cheapest", "desc"),
        ("Compare providers on price and strengths", None),
        ("rank them in ascending order of uptime", None),
    ],
)
def test_the_price_order_an_objective_asks_for(objective: str, order: str | None) -> None:
    assert price_order(objective) == order
