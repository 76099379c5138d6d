"""The SN19 Blockmachine adapter: read-only, block-pinned JSON-RPC 2.0 with strict answer parsing."""

import contextlib
import copy
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from orchestra.adapters.base import AdapterError, Caller, Record
from orchestra.adapters.blockmachine import (
    MAX_BATCH_CALLS,
    BlockmachineAdapter,
    JsonRpcError,
    MethodNotAllowed,
    route_chain,
)
from orchestra.devnet.blockmachine import BlockmachineEmulator
from orchestra.routing import Candidate, RouteSpec
from orchestra.transports.base import CallReply
from orchestra.transports.http import HttpTransport
from protocol.models import Provider, RouteKind, Step
from tests.orchestra.adapters.fakes import ScriptedCaller, recorded

ETH_RPC = "https://rpc-eth.blockmachine.io"
ADDRESS = "0xd8da6bf26964af9d7eed9e10e3b5b3b1c0ffee00"
BLOCK = 19_000_000


def blockmachine(endpoint: str = ETH_RPC, *, api_key: str | None = None) -> Candidate:
    route = RouteSpec(
        name="sn19-eth-rpc",
        netuid=19,
        kind=RouteKind.HTTP,
        adapter="blockmachine",
        capabilities=("chain_rpc",),
        endpoint=endpoint,
        api_key=api_key,
    )
    return Candidate(route=route, provider=Provider(host=route_chain(endpoint) or "gateway"))


def answering(*payloads: Any) -> Callable[[str, Any], Any]:
    """Answers the calls in order with the given payloads."""
    queue = list(payloads)
    return lambda path, body: queue.pop(0)


async def run(inputs: dict[str, Any], caller: ScriptedCaller) -> list[Record]:
    return await BlockmachineAdapter().run(Step(id="rpc", capability="chain_rpc", inputs=inputs), caller)


# --- conformance with recorded request/response shapes ----------------------------------------------


async def test_a_pinned_balance_read_matches_the_recorded_exchange() -> None:
    exchange = recorded("sn19_eth_getBalance.json")
    caller = ScriptedCaller(blockmachine(), answering(exchange["response"]))
    [record] = await run(
        {"chain": "eth", "method": "eth_getBalance", "params": [ADDRESS], "block": BLOCK}, caller
    )
    [(operation, body, headers)] = caller.calls
    assert operation == "POST " and body == exchange["request"] and headers is None
    assert record.kind == "chain_data" and record.source == "eth" and record.receipt_index == 0
    assert record.text == f"eth_getBalance of {ADDRESS} at block 19000000 = 1.5 ETH (0x14d1120d7b160000 wei)"
    assert record.metrics == {
        "balance_wei": 1.5e18,
        "balance": 1.5,
        "block_number": 19_000_000.0,
        "verifiable": 1.0,
        "pinned": 1.0,
    }


async def test_a_recorded_block_becomes_its_decoded_numbers() -> None:
    exchange = recorded("sn19_eth_getBlockByNumber.json")
    caller = ScriptedCaller(blockmachine(), answering(exchange["response"]))
    [record] = await run({"method": "eth_getBlockByNumber", "block": BLOCK}, caller)
    assert caller.calls[0][1] == exchange["request"]  # full_transactions=false is filled in
    assert record.metrics["block_number"] == 19_000_000
    assert record.metrics["timestamp"] == 0x65A2A4B3
    assert record.metrics["gas_used"] == 15_000_000 and record.metrics["gas_limit"] == 30_000_000
    assert record.metrics["transaction_count"] == 3 and record.metrics["base_fee_per_gas"] == 20e9
    assert "block 19000000" in record.text and "2024-01-13T" in record.text


async def test_a_batch_answered_out_of_order_is_matched_by_id() -> None:
    exchange = recorded("sn19_eth_batch.json")
    caller = ScriptedCaller(blockmachine(), answering(exchange["response"]))
    records = await run(
        {
            "calls": [
                {"method": "eth_chainId"},
                {"method": "eth_getTransactionCount", "params": [ADDRESS]},
                {"method": "eth_getCode", "params": ["0xdac17f958d2ee523a2206206994597c13d831ec7"]},
            ],
            "block": BLOCK,
        },
        caller,
    )
    assert len(caller.calls) == 1 and caller.calls[0][1] == exchange["request"]
    assert [r.title for r in records] == ["eth eth_chainId", "eth eth_getTransactionCount", "eth eth_getCode"]
    assert records[0].metrics["chain_id"] == 1 and records[0].metrics["verifiable"] == 0.0
    assert records[1].metrics["nonce"] == 1000 and records[1].metrics["pinned"] == 1.0
    assert records[2].metrics["code_bytes"] == 64 and "contract code" in records[2].text


async def test_a_substrate_read_pinned_by_number_looks_up_the_block_hash_first() -> None:
    exchange = recorded("sn19_tao_getHeader.json")
    caller = ScriptedCaller(
        blockmachine("https://gateway.example"),
        answering(exchange["hash_response"], exchange["header_response"]),
    )
    [record] = await run({"chain": "tao", "method": "chain_getHeader", "block": 4_000_000}, caller)
    assert [(c[0], c[1]) for c in caller.calls] == [
        ("POST /rpc/tao", exchange["hash_request"]),
        ("POST /rpc/tao", exchange["header_request"]),
    ]
    assert record.source == "tao" and record.receipt_index == 1
    assert record.metrics == {"block_number": 4_000_000.0, "verifiable": 1.0, "pinned": 1.0}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("method_not_found", -32601),
        ("invalid_params", -32602),
        ("header_not_found", -32000),
        ("execution_reverted", 3),
        ("parse_error", -32700),
        ("invalid_request", -32600),
    ],
)
async def test_json_rpc_errors_raise_with_their_code_and_message(name: str, code: int) -> None:
    answer = recorded("sn19_jsonrpc_errors.json")[name]
    caller = ScriptedCaller(blockmachine(), answering(answer))
    with pytest.raises(JsonRpcError) as raised:
        await run({"method": "eth_getBalance", "params": [ADDRESS], "block": BLOCK}, caller)
    assert raised.value.code == code and raised.value.rpc_message == answer["error"]["message"]
    assert raised.value.method == "eth_getBalance" and raised.value.receipt_index == 0
    assert isinstance(raised.value, AdapterError)  # the executor moves on to the next candidate
    if name == "execution_reverted":
        assert raised.value.data.startswith("0x08c379a0")


async def test_an_error_inside_a_batch_names_the_failing_call() -> None:
    exchange = recorded("sn19_eth_batch.json")
    answer = copy.deepcopy(exchange["response"])
    answer[2] = {"jsonrpc": "2.0", "id": 2, "error": {"code": -32000, "message": "header not found"}}
    caller = ScriptedCaller(blockmachine(), answering(answer))
    calls = [{"method": "eth_chainId"}, {"method": "eth_getTransactionCount", "params": [ADDRESS]}]
    calls.append({"method": "eth_getCode", "params": [ADDRESS]})
    with pytest.raises(JsonRpcError, match="eth_getTransactionCount") as raised:
        await run({"calls": calls, "block": BLOCK}, caller)
    assert raised.value.code == -32000


@pytest.mark.parametrize(
    "answer",
    [
        {"jsonrpc": "2.0", "id": 2, "result": "0x1"},  # another call's answer
        {"jsonrpc": "2.0", "id": "1", "result": "0x1"},  # same digits, different type
        {"jsonrpc": "2.0", "id": True, "result": "0x1"},  # true == 1 in Python, not in JSON-RPC
        {"jsonrpc": "2.0", "id": None, "result": "0x1"},
        {"jsonrpc": "2.0", "result": "0x1"},
        {"jsonrpc": "2.0", "id": 1, "result": "0x1", "error": {"code": -32000, "message": "both"}},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "1.0", "id": 1, "result": "0x1"},
        {"id": 1, "result": "0x1"},
        {"jsonrpc": 2.0, "id": 1, "result": "0x1"},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": "-32000", "message": "code is a string"}},
        {"jsonrpc": "2.0", "id": 1, "error": {"message": "no code"}},
        {"jsonrpc": "2.0", "id": 1, "error": "a string"},
        {"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": "someone else's error"}},
        [{"jsonrpc": "2.0", "id": 1, "result": "0x1"}],  # a batch answer to a single call
        "0x1",
        None,
    ],
)
async def test_answers_that_break_json_rpc_2_0_are_refused(answer: Any) -> None:
    caller = ScriptedCaller(blockmachine(), answering(answer))
    with pytest.raises(AdapterError) as raised:
        await run({"method": "eth_getBalance", "params": [ADDRESS], "block": BLOCK}, caller)
    assert not isinstance(raised.value, JsonRpcError) and raised.value.receipt_index == 0


def _ok(ident: Any, result: Any = "0x1") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "result": result}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ([_ok(1)], "lacks ids"),
        ([_ok(1), _ok(1)], "repeats id 1"),
        ([_ok(1), _ok(2), _ok(3)], "unknown id 3"),
        ([_ok(1), _ok("2")], "unknown id '2'"),
        (_ok(1), "single response"),
        ({"batch": []}, "jsonrpc"),
    ],
)
async def test_batch_answers_must_answer_each_id_exactly_once(answer: Any, problem: str) -> None:
    caller = ScriptedCaller(blockmachine(), answering(answer))
    with pytest.raises(AdapterError, match=problem):
        await run({"calls": [{"method": "eth_chainId"}, {"method": "eth_blockNumber"}]}, caller)


async def test_a_batch_refused_as_a_whole_raises_its_error() -> None:
    answer = recorded("sn19_jsonrpc_errors.json")["invalid_request"]
    caller = ScriptedCaller(blockmachine(), answering(answer))
    with pytest.raises(JsonRpcError) as raised:
        await run({"calls": [{"method": "eth_chainId"}, {"method": "eth_blockNumber"}]}, caller)
    assert raised.value.code == -32600


# --- refusals: nothing is sent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chain", "method"),
    [
        ("eth", "eth_sendRawTransaction"),
        ("eth", "eth_sendTransaction"),
        ("eth", "eth_sign"),
        ("eth", "personal_unlockAccount"),
        ("eth", "debug_traceTransaction"),
        ("eth", "eth_newFilter"),
        ("tao", "author_submitExtrinsic"),
        ("tao", "author_insertKey"),
        ("eth", "chain_getHeader"),  # a substrate method on an EVM chain
    ],
)
async def test_methods_off_the_read_only_allow_list_are_refused_without_a_call(
    chain: str, method: str
) -> None:
    caller = ScriptedCaller(blockmachine("https://gateway.example"), answering())
    with pytest.raises(MethodNotAllowed, match=method) as raised:
        await run({"chain": chain, "method": method, "params": ["0xf86c"]}, caller)
    assert raised.value.method == method and raised.value.receipt_index is None
    assert caller.calls == []


async def test_one_write_in_a_batch_stops_the_whole_batch_before_sending() -> None:
    caller = ScriptedCaller(blockmachine(), answering())
    calls = [{"method": "eth_blockNumber"}, {"method": "eth_sendRawTransaction", "params": ["0xf86c"]}]
    with pytest.raises(MethodNotAllowed, match="eth_sendRawTransaction"):
        await run({"calls": calls}, caller)
    assert caller.calls == []


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({}, "needs a `method`"),
        ({"method": "eth_getBalance", "params": ["0x1234"], "block": BLOCK}, "20-byte hex address"),
        ({"method": "eth_getBalance", "params": [ADDRESS, "0x10"], "block": BLOCK}, "pins block 19000000"),
        ({"method": "eth_getBalance", "params": [ADDRESS, "latest", "extra"]}, "at most 2 params"),
        ({"method": "eth_getBalance"}, "needs params address"),
        ({"method": "eth_getBalance", "params": {"address": ADDRESS}}, "must be a list"),
        ({"method": "eth_getBalance", "params": [ADDRESS], "block": -1}, "negative"),
        ({"method": "eth_getBalance", "params": [ADDRESS], "block": True}, "block number"),
        ({"method": "eth_getBalance", "params": [ADDRESS], "block": "yesterday"}, "block number"),
        ({"chain": "tao", "method": "chain_getHeader", "block": "finalized"}, "block number or 'latest'"),
        ({"chain": "dogecoin", "method": "eth_blockNumber"}, "unknown chain"),
        ({"method": "eth_blockNumber", "calls": [{"method": "eth_chainId"}]}, "not both"),
        ({"calls": []}, "non-empty list"),
        ({"calls": [{"method": "eth_chainId"}] * (MAX_BATCH_CALLS + 1)}, f"at most {MAX_BATCH_CALLS} calls"),
        ({"method": "eth_getLogs", "params": [{"fromBlock": "0x1", "toBlock": "latest"}]}, "bounded range"),
        ({"method": "eth_getLogs", "params": [{"address": ADDRESS}]}, "bounded range"),
        ({"method": "eth_getLogs", "params": [{"fromBlock": "0x1", "toBlock": "0x5dc"}]}, "more than 1000"),
        ({"method": "eth_getLogs", "params": [{"fromBlock": "0x5", "toBlock": "0x1"}]}, "before fromBlock"),
        ({"method": "eth_call", "params": ["0xa9059cbb"], "block": BLOCK}, "transaction must be an object"),
    ],
)
async def test_inputs_that_cannot_form_a_safe_call_are_refused_without_a_call(
    inputs: dict[str, Any], problem: str
) -> None:
    caller = ScriptedCaller(blockmachine("https://gateway.example"), answering())
    with pytest.raises(AdapterError, match=problem):
        await run(inputs, caller)
    assert caller.calls == []


async def test_a_per_chain_route_refuses_steps_for_another_chain() -> None:
    caller = ScriptedCaller(blockmachine("https://rpc-eth.blockmachine.io"), answering())
    with pytest.raises(AdapterError, match="this route serves eth, the step asks for tao"):
        await run({"chain": "tao", "method": "chain_getHeader"}, caller)
    assert caller.calls == []


# --- pinning and decoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "params"),
    [
        ({"method": "eth_getBalance", "params": [ADDRESS, "latest"], "block": BLOCK}, [ADDRESS, "0x121eac0"]),
        ({"method": "eth_getBalance", "params": [ADDRESS], "block": "19000000"}, [ADDRESS, "0x121eac0"]),
        (
            {"method": "eth_getBalance", "params": [ADDRESS, "0x121eac0"], "block": BLOCK},
            [ADDRESS, "0x121eac0"],
        ),
        ({"method": "eth_getBalance", "params": [ADDRESS]}, [ADDRESS, "latest"]),
        ({"method": "eth_getBalance", "params": [ADDRESS], "block": "finalized"}, [ADDRESS, "finalized"]),
        ({"method": "eth_getStorageAt", "params": [ADDRESS, "0x0"], "block": 5}, [ADDRESS, "0x0", "0x5"]),
        (
            {"method": "eth_call", "params": [{"to": ADDRESS, "input": "0x06fdde03"}], "block": 5},
            [{"to": ADDRESS, "input": "0x06fdde03"}, "0x5"],
        ),
        ({"method": "eth_getBlockByNumber", "params": ["latest", True], "block": 5}, ["0x5", True]),
        (
            {"method": "eth_getLogs", "params": [{"address": ADDRESS}], "block": 5},
            [{"address": ADDRESS, "fromBlock": "0x5", "toBlock": "0x5"}],
        ),
    ],
)
async def test_reads_are_pinned_to_the_step_block_as_hex(inputs: dict[str, Any], params: list[Any]) -> None:
    caller = ScriptedCaller(blockmachine(), lambda path, body: {"jsonrpc": "2.0", "id": 1, "result": None})
    with contextlib.suppress(AdapterError):  # null is not every method's result shape; the request matters
        await run(inputs, caller)
    assert caller.calls[0][1]["params"] == params


async def test_a_latest_read_is_marked_unpinned_and_an_unlisted_chain_unverifiable() -> None:
    answer = {"jsonrpc": "2.0", "id": 1, "result": "0x0"}
    eth = await run(
        {"method": "eth_getBalance", "params": [ADDRESS]}, ScriptedCaller(blockmachine(), answering(answer))
    )
    base_route = blockmachine("https://gateway.example")
    base = await run(
        {"chain": "base", "method": "eth_getBalance", "params": [ADDRESS], "block": 7},
        ScriptedCaller(base_route, answering(answer)),
    )
    assert eth[0].metrics == {"balance_wei": 0.0, "balance": 0.0, "verifiable": 1.0, "pinned": 0.0}
    assert "at the latest block" in eth[0].text
    # methods.json covers ETH, BSC (by inheritance) and TAO only.
    assert base[0].metrics["verifiable"] == 0.0 and base[0].metrics["pinned"] == 1.0
    assert base[0].text.endswith("= 0 ETH (0x0 wei)")


@pytest.mark.parametrize("result", ["0x", "1234", "0xzz", 1500, None, "0x" + "f" * 65, ["0x1"]])
async def test_results_that_are_not_hex_quantities_are_refused(result: Any) -> None:
    caller = ScriptedCaller(blockmachine(), answering({"jsonrpc": "2.0", "id": 1, "result": result}))
    with pytest.raises(AdapterError, match="documented shape") as raised:
        await run({"method": "eth_getBalance", "params": [ADDRESS], "block": BLOCK}, caller)
    assert raised.value.receipt_index == 0


async def test_a_block_other_than_the_pinned_one_is_refused() -> None:
    exchange = recorded("sn19_eth_getBlockByNumber.json")
    caller = ScriptedCaller(blockmachine(), answering(exchange["response"]))
    with pytest.raises(AdapterError, match="asked for block 18999999, got block 19000000"):
        await run({"method": "eth_getBlockByNumber", "block": BLOCK - 1}, caller)


async def test_logs_outside_the_requested_range_are_refused() -> None:
    log = {"blockNumber": "0x10", "address": ADDRESS, "topics": [], "data": "0x"}
    caller = ScriptedCaller(blockmachine(), answering({"jsonrpc": "2.0", "id": 1, "result": [log]}))
    with pytest.raises(AdapterError, match="outside the requested range"):
        await run({"method": "eth_getLogs", "params": [{}], "block": 5}, caller)


async def test_decoded_quantities_for_gas_price_call_and_storage() -> None:
    word = "0x" + (10**18).to_bytes(32, "big").hex()
    caller = ScriptedCaller(
        blockmachine(),
        answering(
            [
                {"jsonrpc": "2.0", "id": 2, "result": word},
                {"jsonrpc": "2.0", "id": 1, "result": "0x4a817c800"},
                {"jsonrpc": "2.0", "id": 3, "result": word},
            ]
        ),
    )
    gas, call, slot = await run(
        {
            "calls": [
                {"method": "eth_gasPrice"},
                {"method": "eth_call", "params": [{"to": ADDRESS, "input": "0x18160ddd"}]},
                {"method": "eth_getStorageAt", "params": [ADDRESS, "0x2"]},
            ],
            "block": BLOCK,
        },
        caller,
    )
    assert gas.metrics["gas_price_wei"] == 20e9 and gas.metrics["gas_price_gwei"] == 20
    assert "20 gwei" in gas.text
    assert call.metrics["value"] == 1e18 and call.metrics["result_bytes"] == 32
    assert slot.metrics["value"] == 1e18 and slot.metrics["block_number"] == BLOCK


async def test_a_bearer_key_is_sent_when_the_route_has_one() -> None:
    caller = ScriptedCaller(
        blockmachine(api_key="sk-19"), answering({"jsonrpc": "2.0", "id": 1, "result": "0x1"})
    )
    await run({"method": "eth_chainId"}, caller)
    assert caller.calls[0][2] == {"Authorization": "Bearer sk-19"}


def test_the_route_chain_comes_from_a_per_chain_host_or_a_gateway_path() -> None:
    assert route_chain("https://rpc-eth.blockmachine.io") == "eth"
    assert route_chain("https://rpc-tao.blockmachine.io") == "tao"
    assert route_chain("http://127.0.0.1:8545/rpc/base") == "base"
    assert route_chain("https://gateway.blockmachine.io") is None
    assert route_chain("https://rpc-doge.example") is None


# --- against the live stand-in, through the real HTTP transport ----------------------------------


class TransportCaller:
    """A `Caller` that sends through `HttpTransport` the way the executor does, numbering receipts."""

    def __init__(self, candidate: Candidate, transport: HttpTransport) -> None:
        self._candidate = candidate
        self._transport = transport
        self.bodies: list[Any] = []

    @property
    def candidate(self) -> Candidate:
        return self._candidate

    async def dendrite(self, synapse: Any) -> CallReply:
        raise AssertionError("Blockmachine is an http route")

    async def http(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> CallReply:
        url = f"{self._candidate.route.endpoint}{path}"
        reply = await self._transport.request(method, url, json_body=json_body, headers=headers, timeout=5)
        self.bodies.append(json_body)
        return CallReply(payload=reply.payload, meta=reply.meta, receipt_index=len(self.bodies) - 1)


@pytest.fixture(scope="module")
def emulator() -> Iterator[BlockmachineEmulator]:
    running = BlockmachineEmulator(api_key="sk-19").start()
    yield running
    running.stop()


@pytest.fixture
async def transport() -> AsyncIterator[HttpTransport]:
    http = HttpTransport()
    yield http
    await http.aclose()


async def test_the_adapter_reads_the_live_stand_in_reproducibly(
    emulator: BlockmachineEmulator, transport: HttpTransport
) -> None:
    candidate = blockmachine(emulator.url, api_key="sk-19")
    step = Step(
        id="chain",
        capability="chain_rpc",
        inputs={
            "chain": "eth",
            "calls": [
                {"method": "eth_getBalance", "params": [ADDRESS]},
                {"method": "eth_getBlockByNumber"},
                {"method": "eth_blockNumber"},
            ],
            "block": 18_999_990,
        },
    )
    caller: Caller = TransportCaller(candidate, transport)
    first = await BlockmachineAdapter().run(step, caller)
    emulator.advance(50)  # the head moves on; the pinned reads must not
    second = await BlockmachineAdapter().run(step, TransportCaller(candidate, transport))
    assert [r.text for r in first[:2]] == [r.text for r in second[:2]]
    assert first[1].metrics["block_number"] == 18_999_990 and first[1].metrics["verifiable"] == 1.0
    assert second[2].metrics["block_number"] == first[2].metrics["block_number"] + 50


async def test_the_adapter_reads_tao_from_the_live_stand_in_by_hash(
    emulator: BlockmachineEmulator, transport: HttpTransport
) -> None:
    caller = TransportCaller(blockmachine(emulator.rpc_url("tao"), api_key="sk-19"), transport)
    step = Step(
        id="tao",
        capability="chain_rpc",
        inputs={"calls": [{"method": "chain_getBlock"}, {"method": "system_chain"}], "block": 3_999_000},
    )
    block, name = await BlockmachineAdapter().run(step, caller)
    assert caller.bodies[0] == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "chain_getBlockHash",
        "params": [3_999_000],
    }
    assert block.metrics["block_number"] == 3_999_000 and block.metrics["extrinsic_count"] >= 1
    assert name.text == "tao system_chain = Bittensor" and name.metrics["pinned"] == 0.0


async def test_a_write_never_reaches_the_live_stand_in(
    emulator: BlockmachineEmulator, transport: HttpTransport
) -> None:
    before = emulator.requests
    caller = TransportCaller(blockmachine(emulator.url, api_key="sk-19"), transport)
    with pytest.raises(MethodNotAllowed):
        await BlockmachineAdapter().run(
            Step(
                id="w", capability="chain_rpc", inputs={"method": "eth_sendRawTransaction", "params": ["0x"]}
            ),
            caller,
        )
    assert emulator.requests == before


async def test_the_stand_in_s_json_rpc_errors_reach_the_caller_typed(
    emulator: BlockmachineEmulator, transport: HttpTransport
) -> None:
    caller = TransportCaller(blockmachine(emulator.url, api_key="sk-19"), transport)
    step = Step(
        id="future",
        capability="chain_rpc",
        inputs={"method": "eth_getBalance", "params": [ADDRESS], "block": emulator.head() + 1_000},
    )
    with pytest.raises(JsonRpcError) as raised:
        await BlockmachineAdapter().run(step, caller)
    assert raised.value.code == -32000 and raised.value.rpc_message == "header not found"


async def test_a_tao_block_the_stand_in_has_not_produced_is_reported_as_unknown(
    emulator: BlockmachineEmulator, transport: HttpTransport
) -> None:
    caller = TransportCaller(blockmachine(emulator.rpc_url("tao"), api_key="sk-19"), transport)
    step = Step(
        id="tao",
        capability="chain_rpc",
        inputs={"method": "state_getStorage", "params": ["0x26aa"], "block": emulator.head("tao") + 5},
    )
    with pytest.raises(AdapterError, match="does not know tao block") as raised:
        await BlockmachineAdapter().run(step, caller)
    assert raised.value.receipt_index == 0 and len(caller.bodies) == 1
