"""Every combination of the validator's challenge material, answered by an honest miner on a devnet.

The tasks are built straight from `orchestra/validator/data/challenges.json` (every topic, objective,
schema and count; every chain, objective and schema) and sent through `Validator.ask`. Each answer must
validate, its proof root and every receipt must verify, and it must meet the material's traps: the
main list's length, its price order, and chain values equal to a direct JSON-RPC read of the SN19
stand-in at the pinned block.
"""

import json
import random
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from orchestra.devnet.network import LocalNetwork
from orchestra.validator.neuron import Evaluation, Validator
from protocol.models import CallStatus, TaskSpec

MATERIAL: dict[str, Any] = json.loads(
    resources.files("orchestra.validator").joinpath("data/challenges.json").read_text(encoding="utf-8")
)
COUNTS = (3, 4)


@pytest_asyncio.fixture
async def devnet() -> AsyncIterator[tuple[LocalNetwork, Validator, int]]:
    """Every producer stand-in, one honest miner, one validator; yields the miner's uid too."""
    # 126 tasks in a row ask SN13 for more than the devnet's hourly allowance: this test is about the
    # answers, not about running out of it.
    net = LocalNetwork(sn13_requests_per_hour=10_000)
    try:
        net.start_producers(sn22_miners=2, extended=True)
        net.add_miner("honest")
        validator = net.add_validator()
        net.refresh()
        [uid] = validator.miner_uids()
        yield net, validator, uid
    finally:
        await net.aclose()


def market_tasks() -> Iterator[tuple[TaskSpec, dict[str, Any], dict[str, Any], int | None]]:
    """(task, objective, schema entry, count) for every market combination the generator can draw."""
    market = MATERIAL["market"]
    number = 0
    for topic in market["topics"]:
        for objective in market["objectives"]:
            for schema in market["schemas"]:
                if objective.get("needs") == "price" and schema["price"] is None:
                    continue
                counts: tuple[int | None, ...] = COUNTS if "{count}" in objective["text"] else (None,)
                for count in counts:
                    number += 1
                    text = objective["text"].format(market=topic["market"], offer=topic["offer"], count=count)
                    spec = TaskSpec(
                        task_id=f"market-{number}", objective=text, target_schema=schema["schema"]
                    )
                    yield spec, objective, schema, count


def chain_tasks() -> Iterator[tuple[TaskSpec, dict[str, Any], str, str, int]]:
    """(task, schema entry, chain id, address, block) for every chain, objective and schema."""
    chain_material = MATERIAL["chain"]
    rng = random.Random(19)
    number = 0
    for chain in chain_material["chains"]:
        for objective in chain_material["objectives"]:
            for schema in chain_material["schemas"]:
                number += 1
                block = chain["head"] - rng.randint(1, chain_material["max_depth"])
                address = "0x" + rng.randbytes(20).hex()
                text = objective["text"].format(chain_label=chain["label"], block=block, address=address)
                spec = TaskSpec(task_id=f"chain-{number}", objective=text, target_schema=schema["schema"])
                yield spec, schema, chain["id"], address, block


def assert_verified(evaluation: Evaluation, spec: TaskSpec) -> dict[str, Any]:
    """The answer is a valid result whose proof root verifies, as does every receipt of a call that
    answered; returns the result. (A hedged call that lost its race is receipted too, honestly, with
    no answer to prove: its only fault may be the missing proof.)"""
    response = evaluation.answer.response
    assert response is not None, f"{spec.task_id}: no answer ({evaluation.answer.failure})"
    assert response.error is None, f"{spec.task_id}: {response.error}"
    assert response.result is not None
    check = evaluation.check
    assert check.result_valid and check.root_ok, spec.task_id
    assert len(check.verdicts) == len(response.receipts)
    answered = [
        v for r, v in zip(response.receipts, check.verdicts, strict=True) if r.status is CallStatus.OK
    ]
    assert answered, spec.task_id
    assert all(v.ok for v in check.verdicts), f"{spec.task_id}: {check.verdicts}"
    return response.result


async def ask_all(validator: Validator, uid: int, specs: list[TaskSpec]) -> list[Evaluation]:
    """Each task asked on its own, one after the other."""
    evaluations = []
    for spec in specs:
        [evaluation] = await validator.ask([uid], spec)
        evaluations.append(evaluation)
    return evaluations


async def test_every_market_challenge_is_answered_with_the_count_and_order_asked_for(
    devnet: tuple[LocalNetwork, Validator, int],
) -> None:
    _, validator, uid = devnet
    tasks = list(market_tasks())
    assert len(tasks) == 126  # 3 topics x (3 x 6 x 2 + 6 + 2 x 3 x 2): every combination the generator draws
    evaluations = await ask_all(validator, uid, [spec for spec, _, _, _ in tasks])
    for (spec, objective, schema, count), evaluation in zip(tasks, evaluations, strict=True):
        result = assert_verified(evaluation, spec)
        items = result[schema["list"]]
        where = f"{spec.objective} / {schema['id']}"
        if count is not None:
            assert len(items) == count, where
        if schema["price"] is not None:
            prices = [item[schema["price"]] for item in items]
            assert all(isinstance(p, float) for p in prices), where
            if "order_asc" in objective["traps"]:
                assert prices == sorted(prices), where
            if "order_desc" in objective["traps"]:
                assert prices == sorted(prices, reverse=True), where


async def rpc(session: aiohttp.ClientSession, url: str, method: str, params: list[Any]) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with session.post(url, json=body) as reply:
        return (await reply.json())["result"]


def at(result: Any, keys: list[str]) -> Any:
    for key in keys:
        result = result.get(key) if isinstance(result, dict) else None
    return result


async def test_every_chain_challenge_holds_exactly_what_the_chain_says_at_that_block(
    devnet: tuple[LocalNetwork, Validator, int],
) -> None:
    net, validator, uid = devnet
    assert net.blockmachine is not None
    tasks = list(chain_tasks())
    assert len(tasks) == 18  # 3 chains x 2 objectives x 3 schemas
    evaluations = await ask_all(validator, uid, [spec for spec, _, _, _, _ in tasks])
    async with aiohttp.ClientSession() as session:
        for (spec, schema, chain, address, block), evaluation in zip(tasks, evaluations, strict=True):
            result = assert_verified(evaluation, spec)
            url = net.blockmachine.rpc_url(chain)
            wei = int(await rpc(session, url, "eth_getBalance", [address, hex(block)]), 16)
            truth = {
                "chain": chain,
                "address": address,
                "block_number": block,
                "block_hash": (await rpc(session, url, "eth_getBlockByNumber", [hex(block), False]))["hash"],
                "balance_wei": wei,
                "balance_ether": wei / 10**18,
                "nonce": int(await rpc(session, url, "eth_getTransactionCount", [address, hex(block)]), 16),
            }
            for name, keys in schema["fields"].items():
                found, wanted = at(result, keys), truth[name]
                where = f"{spec.task_id} {schema['id']} {'/'.join(keys)}"
                if name == "balance_ether":
                    assert found == pytest.approx(wanted, rel=1e-9), where
                elif name == "balance_wei":
                    assert not isinstance(found, float) and int(found) == wanted, where  # never via a float
                elif isinstance(wanted, str):
                    assert isinstance(found, str) and found.lower() == wanted.lower(), where
                else:
                    assert found == wanted, where
