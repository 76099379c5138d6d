"""The Blockmachine stand-in speaks JSON-RPC 2.0 over loopback HTTP and answers pinned reads identically."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orchestra.devnet.blockmachine import BlockmachineEmulator
from orchestra.devnet.faults import Fault, FaultInjector, FaultKind

ADDRESS = "0xd8da6bf26964af9d7eed9e10e3b5b3b1c0ffee00"
KEY = "sk-devnet"
HEAD = 19_000_000


@pytest.fixture(scope="module")
def emulator() -> Iterator[BlockmachineEmulator]:
    running = BlockmachineEmulator(api_key=KEY).start()
    yield running
    running.stop()


def post(
    url: str, body: Any = None, *, content: bytes | None = None, key: str | None = KEY
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if content is not None:
        return httpx.post(url, content=content, headers=headers, timeout=5)
    return httpx.post(url, json=body, headers=headers, timeout=5)


def rpc(method: str, *params: Any, ident: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "method": method, "params": list(params)}


def result(emulator: BlockmachineEmulator, method: str, *params: Any, chain: str = "eth") -> Any:
    reply = post(emulator.rpc_url(chain), rpc(method, *params)).json()
    assert "error" not in reply, reply
    return reply["result"]


def test_answers_are_json_rpc_2_0_and_say_they_are_a_stand_in(emulator: BlockmachineEmulator) -> None:
    reply = post(emulator.url, rpc("eth_blockNumber", ident="abc"))
    assert reply.status_code == 200 and reply.headers["X-Orchestra-Devnet"] == "stand-in"
    assert reply.json() == {"jsonrpc": "2.0", "id": "abc", "result": hex(emulator.head())}
    assert "stand-in" in result(emulator, "web3_clientVersion")
    assert (
        result(emulator, "eth_chainId") == "0x1" and result(emulator, "eth_chainId", chain="base") == "0x2105"
    )


def test_block_pinned_reads_return_the_same_bytes_every_time(emulator: BlockmachineEmulator) -> None:
    calls = [
        rpc("eth_getBalance", ADDRESS, hex(HEAD - 10), ident=1),
        rpc("eth_getBlockByNumber", hex(HEAD - 10), True, ident=2),
        rpc("eth_getTransactionCount", ADDRESS, hex(HEAD - 10), ident=3),
        rpc("eth_getLogs", {"fromBlock": hex(HEAD - 20), "toBlock": hex(HEAD - 10)}, ident=4),
    ]
    first = post(emulator.url, calls).content
    emulator.advance(100)
    again = post(emulator.url, calls).content
    other = BlockmachineEmulator(api_key=KEY).start()  # same seed, fresh process state
    try:
        elsewhere = post(other.url, calls).content
    finally:
        other.stop()
    assert first == again == elsewhere
    assert len(post(emulator.url, calls).json()[3]["result"]) > 0


def test_another_seed_is_another_chain() -> None:
    one = BlockmachineEmulator(seed="a").start()
    two = BlockmachineEmulator(seed="b").start()
    try:
        body = rpc("eth_getBalance", ADDRESS, hex(HEAD))
        assert post(one.url, body).json() != post(two.url, body).json()
    finally:
        one.stop()
        two.stop()


def test_the_head_is_fixed_until_advanced_or_moved_by_the_clock() -> None:
    now = [100.0]
    emulator = BlockmachineEmulator(heads={"eth": 500, "tao": 40}, clock=lambda: now[0]).start()
    try:
        assert result(emulator, "eth_blockNumber") == hex(500)
        now[0] += 36  # three 12-second blocks
        assert result(emulator, "eth_blockNumber") == hex(503)
        emulator.advance(2, chain="eth")
        assert result(emulator, "eth_blockNumber") == hex(505)
        assert emulator.head("tao") == 43
        assert result(emulator, "eth_getBlockByNumber", hex(506), False) is None  # not mined yet
    finally:
        emulator.stop()


def test_blocks_chain_together_and_their_transactions_can_be_looked_up(
    emulator: BlockmachineEmulator,
) -> None:
    block = result(emulator, "eth_getBlockByNumber", hex(HEAD - 5), False)
    parent = result(emulator, "eth_getBlockByNumber", hex(HEAD - 6), False)
    assert block["parentHash"] == parent["hash"] and int(block["number"], 16) == HEAD - 5
    assert int(block["timestamp"], 16) - int(parent["timestamp"], 16) == 12
    assert result(emulator, "eth_getBlockByHash", block["hash"], False) == block
    assert result(emulator, "eth_getBlockTransactionCountByNumber", hex(HEAD - 5)) == hex(
        len(block["transactions"])
    )
    for tx_hash in block["transactions"]:
        tx = result(emulator, "eth_getTransactionByHash", tx_hash)
        receipt = result(emulator, "eth_getTransactionReceipt", tx_hash)
        assert tx["hash"] == receipt["transactionHash"] == tx_hash and tx["blockHash"] == block["hash"]
        assert receipt["status"] == "0x1" and len(receipt["logs"]) == (0 if tx["input"] == "0x" else 1)
    forged = block["hash"][:-1] + ("0" if block["hash"][-1] != "0" else "1")
    assert result(emulator, "eth_getBlockByHash", forged, False) is None


def test_contracts_have_code_storage_and_call_results_and_accounts_do_not(
    emulator: BlockmachineEmulator,
) -> None:
    logs = result(emulator, "eth_getLogs", {"fromBlock": hex(HEAD - 50), "toBlock": hex(HEAD)})
    token = logs[0]["address"]
    assert len(result(emulator, "eth_getCode", token, hex(HEAD))) > 2
    word = result(emulator, "eth_call", {"to": token, "input": "0x18160ddd"}, hex(HEAD))
    assert len(word) == 66 and int(word, 16) > 0
    only_token = result(
        emulator, "eth_getLogs", {"fromBlock": hex(HEAD - 50), "toBlock": hex(HEAD), "address": token}
    )
    assert only_token and all(entry["address"] == token for entry in only_token)
    plain = next(
        f"0x{n:040x}"
        for n in range(1, 100)
        if result(emulator, "eth_getCode", f"0x{n:040x}", "latest") == "0x"
    )
    assert result(emulator, "eth_call", {"to": plain, "input": "0x18160ddd"}, "latest") == "0x"


def test_a_batch_is_answered_per_id_and_notifications_are_not(emulator: BlockmachineEmulator) -> None:
    notification = {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []}
    replies = post(
        emulator.url, [rpc("eth_chainId", ident=7), notification, rpc("eth_nope", ident="x"), 42]
    ).json()
    assert replies == [
        {"jsonrpc": "2.0", "id": 7, "result": "0x1"},
        {
            "jsonrpc": "2.0",
            "id": "x",
            "error": {"code": -32601, "message": "the method eth_nope does not exist/is not available"},
        },
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Invalid Request: not an object"},
        },
    ]
    only_notifications = post(emulator.url, [notification])
    assert only_notifications.status_code == 204 and only_notifications.content == b""


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [NaN]}', -32700),
        (b"[]", -32600),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId", "params": []}', -32600),
        (b'{"id": 1, "method": "eth_chainId", "params": []}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 5, "params": []}', -32600),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId", "params": []}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0xf86c"]}', -32601),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": ["0x1234", "latest"]}', -32602),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": ["0x' + b"ab" * 20 + b'"]}',
            -32602,
        ),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": {"a": 1}}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [1]}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["12", false]}', -32602),
    ],
)
def test_each_standard_error_code(emulator: BlockmachineEmulator, body: bytes, code: int) -> None:
    reply = post(emulator.url, content=body)
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["jsonrpc"] == "2.0" and answer["error"]["code"] == code and "result" not in answer
    if code in (-32700,) or body == b"[]":
        assert answer["id"] is None


def test_node_errors_for_blocks_it_does_not_have(emulator: BlockmachineEmulator) -> None:
    future = hex(emulator.head() + 10)
    balance = post(emulator.url, rpc("eth_getBalance", ADDRESS, future)).json()
    assert balance["error"] == {"code": -32000, "message": "header not found"}
    wide = post(emulator.url, rpc("eth_getLogs", {"fromBlock": "0x1", "toBlock": hex(5_000)})).json()
    assert wide["error"]["code"] == -32005
    unknown = post(emulator.rpc_url("tao"), rpc("state_getStorage", "0x1234", "0x" + "11" * 32)).json()
    assert unknown["error"]["code"] == 4003


def test_tao_blocks_are_addressed_by_hash(emulator: BlockmachineEmulator) -> None:
    block_hash = result(emulator, "chain_getBlockHash", 3_999_000, chain="tao")
    header = result(emulator, "chain_getHeader", block_hash, chain="tao")
    assert header["number"] == hex(3_999_000)
    assert result(emulator, "chain_getBlockHash", 3_998_999, chain="tao") == header["parentHash"]
    signed = result(emulator, "chain_getBlock", block_hash, chain="tao")
    assert signed["block"]["header"] == header and signed["block"]["extrinsics"]
    keys = result(emulator, "state_getKeysPaged", "0x26aa", 1000, None, block_hash, chain="tao")
    values = [result(emulator, "state_getStorage", key, block_hash, chain="tao") for key in keys]
    assert values == [result(emulator, "state_getStorage", key, block_hash, chain="tao") for key in keys]
    assert any(v is not None for v in values)
    assert result(emulator, "chain_getBlockHash", emulator.head("tao") + 1, chain="tao") is None
    assert result(emulator, "system_chain", chain="tao") == "Bittensor"
    assert "stand-in" in result(emulator, "system_name", chain="tao")
    assert post(emulator.rpc_url("tao"), rpc("eth_blockNumber")).json()["error"]["code"] == -32601


@pytest.mark.parametrize("key", [None, "wrong", KEY])
def test_a_bearer_key_is_required_when_configured(emulator: BlockmachineEmulator, key: str | None) -> None:
    reply = httpx.post(
        emulator.url,
        json=rpc("eth_chainId"),
        headers={"Authorization": key} if key is not None else {},  # the key without "Bearer "
        timeout=5,
    )
    assert reply.status_code == 401 and reply.headers["X-Orchestra-Devnet"] == "stand-in"


def test_unknown_chains_are_404(emulator: BlockmachineEmulator) -> None:
    reply = post(emulator.rpc_url("dogecoin"), rpc("eth_chainId"))
    assert reply.status_code == 404 and "eth" in reply.json()["error"]


def test_injected_faults_apply() -> None:
    faults = FaultInjector(faults=(Fault(FaultKind.ERROR, 1.0),), seed=1)
    emulator = BlockmachineEmulator(faults=faults).start()
    try:
        reply = post(emulator.url, rpc("eth_chainId"), key=None)
        assert reply.status_code == 503
        faults.set(())
        assert post(emulator.url, rpc("eth_chainId"), key=None).json()["result"] == "0x1"
    finally:
        emulator.stop()
