import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from orchestra.devnet.blockmachine import BlockmachineEmulator
from orchestra.routing import RouteSpec
from orchestra.schema import compile_schema
from orchestra.transports.http import HttpTransport
from orchestra.validator.challenges import (
    ChainOracle,
    ChallengeGenerator,
    LogicTrap,
    OracleUnavailable,
    TrapKind,
    same_value,
)
from protocol.models import RouteKind

ADDRESS = "0x" + "ab" * 20


def test_a_count_trap_wants_exactly_the_count_asked() -> None:
    trap = LogicTrap(TrapKind.COUNT, ("vendors",), expected=3)
    assert trap.check({"vendors": [{}, {}, {}]}).passed
    assert trap.check({"vendors": [{}, {}]}).score == pytest.approx(2 / 3)
    assert trap.check({"vendors": [{}, {}, {}, {}]}).score == 0  # ignoring the count is not partly right
    assert trap.check({"vendors": "three"}).score == 0


def test_an_order_trap_reads_prices_in_any_written_form() -> None:
    cheapest_first = LogicTrap(TrapKind.ORDER_ASC, ("ranking",), item_field="price")
    ordered = {"ranking": [{"price": 1.99}, {"price": "$2.25/hr"}, {"price": 2.89}]}
    assert cheapest_first.check(ordered).passed
    forged = {"ranking": [{"price": 2.89}, {"price": 1.99}, {"price": 2.25}]}
    assert cheapest_first.check(forged).score == pytest.approx(1 / 2)
    dearest_first = LogicTrap(TrapKind.ORDER_DESC, ("ranking",), item_field="price")
    assert dearest_first.check({"ranking": list(reversed(ordered["ranking"]))}).passed
    # One priced item orders nothing: a miner cannot pass by dropping prices.
    assert cheapest_first.check({"ranking": [{"price": 1.0}, {"price": None}]}).score == 0


@pytest.mark.parametrize(
    ("found", "expected", "same"),
    [
        (123456789012345678901234567890, 123456789012345678901234567890, True),
        ("123456789012345678901234567890", 123456789012345678901234567890, True),
        (123456789012345678901234567891, 123456789012345678901234567890, False),
        (1.2345678901234568e29, 123456789012345678901234567890, False),  # through a float: not exact
        ("0xABCDEF", "0xabcdef", True),
        (0.5, 0.5000000000001, True),
        (0.5, 0.51, False),
        (True, 1, False),
        (None, 0, False),
    ],
)
def test_exact_values_compare_without_rounding(found: Any, expected: Any, same: bool) -> None:
    assert same_value(found, expected) is same


def test_an_exact_trap_reads_awkward_and_nested_keys() -> None:
    trap = LogicTrap(TrapKind.EXACT, ("account", "balance (wei)"), expected=10**20)
    assert trap.check({"account": {"balance (wei)": "100000000000000000000"}}).passed
    assert not trap.check({"account": {"balance (wei)": "99999999999999999999"}}).passed
    assert not trap.check({"account": None}).passed
    # The outcome says where it looked, so scoring can count a value it proved as supported.
    assert trap.check({}).path == ("account", "balance (wei)")


def test_market_challenges_vary_carry_their_traps_and_are_reproducible() -> None:
    generator = ChallengeGenerator(seed=4)
    challenges = [generator.next() for _ in range(40)]
    again = ChallengeGenerator(seed=4)
    assert [c.spec for c in challenges] == [again.next().spec for _ in range(40)]
    assert len({c.spec.task_id for c in challenges}) == 40
    assert len({c.schema_id for c in challenges}) >= 5
    assert {"awkward_names", "enum", "optional", "nested_list", "numeric_coercion"} <= {
        trap for c in challenges for trap in c.schema_traps
    }
    for challenge in challenges:
        compile_schema(challenge.spec.target_schema)
        kinds = {trap.kind for trap in challenge.traps}
        if kinds & {TrapKind.ORDER_ASC, TrapKind.ORDER_DESC}:
            # An order trap is only set on a schema whose items have a price to sort by.
            assert all(trap.item_field for trap in challenge.traps if trap.kind is not TrapKind.COUNT)
        if TrapKind.COUNT in kinds:
            [count] = [t.expected for t in challenge.traps if t.kind is TrapKind.COUNT]
            assert f"top {count}" in challenge.spec.objective


def test_each_miner_gets_its_own_task_id_for_the_same_challenge() -> None:
    challenge = ChallengeGenerator(seed=1).next()
    first, second = challenge.for_miner(), challenge.for_miner()
    assert first.task_id != second.task_id != challenge.spec.task_id
    assert first.objective == second.objective and first.target_schema == second.target_schema


def test_without_a_seed_task_ids_are_unpredictable() -> None:
    assert ChallengeGenerator().next().spec.task_id != ChallengeGenerator().next().spec.task_id


async def test_no_traps_at_rate_zero_and_only_trap_challenges_at_rate_one() -> None:
    plain = ChallengeGenerator(seed=2, trap_rate=0.0)
    for _ in range(10):
        kinds = {t.kind for t in (await plain.draw()).traps}
        assert kinds <= {TrapKind.COUNT}
    trapped = ChallengeGenerator(seed=2, trap_rate=1.0)  # no oracle: ordered price lists
    for _ in range(10):
        kinds = {t.kind for t in (await trapped.draw()).traps}
        assert kinds & {TrapKind.ORDER_ASC, TrapKind.ORDER_DESC}


@pytest.fixture
def blockmachine() -> Iterator[BlockmachineEmulator]:
    emulator = BlockmachineEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[HttpTransport]:
    transport = HttpTransport()
    try:
        yield transport
    finally:
        await transport.aclose()


def sn19_route(endpoint: str) -> RouteSpec:
    return RouteSpec(
        name="sn19",
        netuid=19,
        kind=RouteKind.HTTP,
        adapter="blockmachine",
        capabilities=("chain_rpc",),
        endpoint=endpoint,
    )


async def raw_rpc(http: HttpTransport, url: str, method: str, params: list[Any]) -> Any:
    reply = await http.request(
        "POST", url, json_body={"jsonrpc": "2.0", "id": 7, "method": method, "params": params}, timeout=5
    )
    return reply.payload["result"]


async def test_the_oracle_reads_exactly_what_the_chain_says(
    blockmachine: BlockmachineEmulator, http: HttpTransport
) -> None:
    oracle = ChainOracle(http, lambda: [sn19_route(blockmachine.url)])
    head = await oracle.head("eth")
    facts = await oracle.account("eth", ADDRESS, head - 100)
    url = f"{blockmachine.url}/rpc/eth"
    block = hex(head - 100)
    assert facts.balance_wei == int(await raw_rpc(http, url, "eth_getBalance", [ADDRESS, block]), 16)
    assert facts.nonce == int(await raw_rpc(http, url, "eth_getTransactionCount", [ADDRESS, block]), 16)
    header = await raw_rpc(http, url, "eth_getBlockByNumber", [block, False])
    assert facts.block_hash == header["hash"].lower()


async def test_a_chain_challenge_asks_for_the_values_the_oracle_read(
    blockmachine: BlockmachineEmulator, http: HttpTransport
) -> None:
    oracle = ChainOracle(http, lambda: [sn19_route(blockmachine.url)])
    generator = ChallengeGenerator(seed=3, oracle=oracle)
    challenge = await generator.chain_challenge()
    assert challenge.family == "chain"
    exact = {trap.path: trap.expected for trap in challenge.traps if trap.kind is TrapKind.EXACT}
    assert exact
    address = next(v for v in exact.values() if isinstance(v, str) and len(v) == 42)
    assert address in challenge.spec.objective
    block = next(v for p, v in exact.items() if p[-1] in ("block_number", "at-block", "number"))
    assert str(block) in challenge.spec.objective
    compile_schema(challenge.spec.target_schema)
    # The right answer passes every trap; one wrong digit fails.
    right: dict[str, Any] = {}
    for path, value in exact.items():
        node = right
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    assert all(o.passed for o in challenge.check_traps(right))
    wrong = json.loads(json.dumps(right))
    for path, value in exact.items():
        if isinstance(value, int) and value > 1000:
            node = wrong
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value + 1
            break
    assert not all(o.passed for o in challenge.check_traps(wrong))


async def test_without_an_sn19_route_the_generator_falls_back_to_a_market_trap(http: HttpTransport) -> None:
    oracle = ChainOracle(http, lambda: [])
    with pytest.raises(OracleUnavailable):
        await oracle.head("eth")
    generator = ChallengeGenerator(seed=5, trap_rate=1.0, oracle=oracle)
    families = {(await generator.draw()).family for _ in range(8)}
    assert families == {"market"}


async def test_a_dead_sn19_route_is_oracle_unavailable(http: HttpTransport) -> None:
    dead = BlockmachineEmulator().start()
    url = dead.url
    dead.stop()
    oracle = ChainOracle(http, lambda: [sn19_route(url)], timeout_s=2)
    with pytest.raises(OracleUnavailable):
        await oracle.account("eth", ADDRESS, 100)
