"""Account lookups: the chain_lookup blueprint plans one block-pinned SN19 batch, or says what is missing."""

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.adapters.blockmachine import CHAINS, chain_of, plan_calls
from orchestra.errors import PlanningError
from orchestra.planner import BlueprintPlanner, LlmPlanner, analyse, load_blueprints
from orchestra.planner.analysis import EVM_CHAIN_NAMES, ChainQuery, ChainQueryError, chain_query
from orchestra.schema import compile_schema
from protocol.models import ErrorCode, Plan, TaskSpec

MATERIAL: dict[str, Any] = json.loads(
    resources.files("orchestra.validator").joinpath("data/challenges.json").read_text(encoding="utf-8")
)
ROUTABLE = {"web_search", "social_search", "social_data", "llm_inference", "chain_rpc"}
ADDRESS = "0x" + "5a" * 20
SCHEMA = {"account": "str", "block_number": "int", "block_hash": "str", "balance_wei": "str", "nonce": "int"}


def spec(objective: str, schema: dict[str, Any] | None = None) -> TaskSpec:
    return TaskSpec(task_id="t-1", objective=objective, target_schema=schema or SCHEMA)


def plan(objective: str, schema: dict[str, Any] | None = None) -> Plan:
    target = schema or SCHEMA
    return BlueprintPlanner(load_blueprints()).plan(
        spec(objective, target), compile_schema(target), capabilities=ROUTABLE
    )


def chain_objectives() -> list[tuple[str, int, str]]:
    """Every chain objective of the challenge material, on every chain, as (objective, block, chain id)."""
    out = []
    for chain in MATERIAL["chain"]["chains"]:
        block = chain["head"] - MATERIAL["chain"]["max_depth"]
        for objective in MATERIAL["chain"]["objectives"]:
            text = objective["text"].format(chain_label=chain["label"], block=block, address=ADDRESS)
            out.append((text, block, chain["id"]))
    return out


@pytest.mark.parametrize(("objective", "block", "chain"), chain_objectives())
def test_every_chain_challenge_plans_one_pinned_batch_of_balance_nonce_and_block(
    objective: str, block: int, chain: str
) -> None:
    planned = plan(objective)
    assert planned.blueprint == "chain_lookup"
    [step] = planned.steps
    assert step.capability == "chain_rpc" and step.required
    served, calls = plan_calls(step.inputs, None)
    assert served.name == chain
    assert [(c.method, c.params) for c in calls] == [
        ("eth_getBalance", [ADDRESS, hex(block)]),
        ("eth_getTransactionCount", [ADDRESS, hex(block)]),
        ("eth_getBlockByNumber", [hex(block), False]),
    ]
    assert all(c.pinned and c.block == block for c in calls)


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        (
            f"Balance of {ADDRESS.upper().replace('0X', '0x')} on Ethereum at block 19000000",
            ("eth", 19_000_000),
        ),
        (f"On BNB Chain, block #34,999,000: nonce of {ADDRESS}", ("bsc", 34_999_000)),
        (f"Read {ADDRESS} on Binance Smart Chain at block number 0x2160e73", ("bsc", 0x2160E73)),
        (
            f"What did {ADDRESS} hold on Base mainnet as of block 9999000? Give the balance in ETH.",
            ("base", 9_999_000),
        ),
        (f"The ETH balance of {ADDRESS} at block 18000000", ("eth", 18_000_000)),
        (f"On Arbitrum One at block: 170000000, the nonce of {ADDRESS}", ("arbitrum", 170_000_000)),
    ],
)
def test_chain_address_and_block_are_read_however_they_are_written(
    objective: str, expected: tuple[str, int]
) -> None:
    assert chain_query(objective) == ChainQuery(chain=expected[0], address=ADDRESS, block=expected[1])


@pytest.mark.parametrize(
    ("objective", "part", "fragment"),
    [
        (f"Look up the balance and nonce of {ADDRESS} at block 5", "chain", "names no chain"),
        (f"Balance and nonce of {ADDRESS} on Ethereum and on Base at block 5", "chain", "2 chains"),
        (f"Balance and nonce of {ADDRESS} on Bittensor at block 5", "chain", "not an EVM chain"),
        ("Balance and nonce of account 0x12ab on Ethereum at block 5", "address", "0x12ab is not an account"),
        ("Balance and nonce of my wallet on Ethereum at block 5", "address", "names no account"),
        (f"Balance of {ADDRESS} and 0x{'77' * 20} on Ethereum at block 5", "address", "2 accounts"),
        (f"Balance and nonce of {ADDRESS} on Ethereum", "block", "names no block"),
        (f"Balance and nonce of {ADDRESS} on Ethereum at the latest block", "block", "latest block moves"),
        (f"Balance and nonce of {ADDRESS} on Ethereum at block 5 and block 6", "block", "2 blocks"),
    ],
)
def test_a_missing_or_ambiguous_piece_is_a_typed_planning_error_naming_it(
    objective: str, part: str, fragment: str
) -> None:
    with pytest.raises(ChainQueryError, match=fragment) as caught:
        plan(objective)
    assert caught.value.part == part
    assert caught.value.to_task_error().code is ErrorCode.PLANNING_FAILED
    # Analysis itself stays total: the objective is simply not an account read.
    assert analyse(objective).chain_query is None


def test_a_lookup_without_a_chain_rpc_route_fails_planning_instead_of_guessing() -> None:
    objective = chain_objectives()[0][0]
    with pytest.raises(PlanningError, match="no configured route provides"):
        BlueprintPlanner(load_blueprints()).plan(
            spec(objective), compile_schema(SCHEMA), capabilities={"web_search", "social_data"}
        )


def test_base_in_lower_case_is_a_word_and_eth_as_a_unit_yields_to_the_named_chain() -> None:
    assert chain_query(f"On Base at block 7, the balance of {ADDRESS} in ETH").chain == "base"
    with pytest.raises(ChainQueryError, match="names no chain"):
        chain_query(f"the base balance of {ADDRESS} at block 7")


def test_every_chain_name_maps_to_a_chain_the_blockmachine_adapter_serves() -> None:
    assert {chain_of(chain_id).name for chain_id in EVM_CHAIN_NAMES.values()} <= set(CHAINS)


@given(address=st.binary(min_size=20, max_size=20), block=st.integers(min_value=0, max_value=10**12))
def test_any_address_and_block_round_trip_through_the_objective(address: bytes, block: int) -> None:
    objective = f"On Ethereum at block {block}, look up 0x{address.hex().upper()}: balance and nonce."
    assert chain_query(objective) == ChainQuery(chain="eth", address="0x" + address.hex(), block=block)


def test_market_challenges_keep_the_blueprint_they_had_before_chain_lookup_existed() -> None:
    before = {name: b for name, b in load_blueprints().items() if name != "chain_lookup"}
    with_chain, without_chain = BlueprintPlanner(load_blueprints()), BlueprintPlanner(before)
    market = MATERIAL["market"]
    for topic in market["topics"]:
        for objective in market["objectives"]:
            text = objective["text"].format(market=topic["market"], offer=topic["offer"], count=3)
            for schema in market["schemas"]:
                terms = analyse(text, compile_schema(schema["schema"]).root).schema_terms
                chosen = with_chain.choose(text, schema_terms=terms).name
                assert chosen == without_chain.choose(text, schema_terms=terms).name != "chain_lookup"


def test_a_tie_with_an_everyday_blueprint_does_not_turn_a_question_into_an_account_lookup() -> None:
    # "balance" (chain_lookup) and "compare" (competitive_analysis) score the same.
    chosen = BlueprintPlanner(load_blueprints()).choose("compare the balance sheets of two banks")
    assert chosen.name == "competitive_analysis"


class FailingChat:
    """A model that must not be asked: a pinned read has nothing for it to plan."""

    async def complete(
        self, messages: list[dict[str, str]], *, purpose: str, json_schema: dict[str, Any] | None = None
    ) -> str:
        raise AssertionError("the model was asked to plan a block-pinned read")


async def test_the_llm_planner_keeps_the_pinned_plan_without_asking_the_model() -> None:
    objective, block, _ = chain_objectives()[0]
    planner = LlmPlanner(FailingChat(), BlueprintPlanner(load_blueprints()))
    outcome = await planner.plan_with_reason(spec(objective), compile_schema(SCHEMA), capabilities=ROUTABLE)
    assert outcome.source == "blueprint" and outcome.plan.blueprint == "chain_lookup"
    assert outcome.plan.steps[0].inputs["block"] == block
    assert outcome.fallback_reason is not None and "determined by the objective" in outcome.fallback_reason
