"""A local stand-in for the SN19 Blockmachine RPC gateway: deterministic chains behind JSON-RPC 2.0.

It serves `POST /rpc/<chain>` (the gateway form the SN19 validator calls) and `POST /` (Ethereum, like
a per-chain host such as rpc-eth.blockmachine.io) over real JSON-RPC 2.0: single calls and batches,
notifications, and the standard error codes (-32700 parse error, -32600 invalid request, -32601
method not found, -32602 invalid params), plus the node errors a client meets (-32000 "header not
found" for a block beyond the head, substrate's 4003 for an unknown block hash).

The chains are made up but consistent: every block, transaction, balance, nonce, contract, storage
word and log is derived from a seed with sha256, so the same block-pinned call returns the same bytes
on every query and on every emulator built with the same seed, which is what re-query spot checks
rely on. Block hashes and transaction hashes carry their block number (and index), so lookups by hash
need no state. Heads are fixed unless a clock is given (then they advance by each chain's block time)
or `advance()` moves them. Only reads are served: submitting or signing methods do not exist here.

Every answer carries `X-Orchestra-Devnet: stand-in`, and the client/node names say so too.
"""

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from orchestra.devnet.faults import FaultInjector
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.transports.base import strict_json

STAND_IN_HEADER = {"X-Orchestra-Devnet": "stand-in"}
CLIENT_VERSION = "Orchestra-Devnet/blockmachine-stand-in"
MAX_BATCH = 100
MAX_LOG_RANGE = 1_000
MAX_KEYS_PAGE = 1_000
ANCHOR_TIME = 1_785_542_400  # 2026-08-01T00:00:00Z, the timestamp of each chain's default head
GWEI = 10**9
ETHER = 10**18
ZERO_HASH = "0x" + "00" * 32
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"  # ERC-20 Transfer

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
SERVER_ERROR, LIMIT_EXCEEDED, UNKNOWN_BLOCK = -32000, -32005, 4003


@dataclass(frozen=True)
class ChainSpec:
    name: str
    substrate: bool
    chain_id: int
    block_time_ms: int
    default_head: int


CHAIN_SPECS: dict[str, ChainSpec] = {
    spec.name: spec
    for spec in (
        ChainSpec("eth", False, 1, 12_000, 19_000_000),
        ChainSpec("bsc", False, 56, 3_000, 35_000_000),
        ChainSpec("base", False, 8453, 2_000, 10_000_000),
        ChainSpec("polygon", False, 137, 2_000, 52_000_000),
        ChainSpec("optimism", False, 10, 2_000, 115_000_000),
        ChainSpec("arbitrum", False, 42161, 250, 170_000_000),
        ChainSpec("tao", True, 0, 12_000, 4_000_000),
    )
}


class RpcError(Exception):
    """A JSON-RPC error object to answer with."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def _hex(value: int) -> str:
    return hex(value)


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _args(params: list[Any], names: tuple[str, ...], required: int) -> list[Any]:
    """Positional params padded with None; geth's messages for a wrong count."""
    if len(params) > len(names):
        raise RpcError(INVALID_PARAMS, f"too many arguments, want at most {len(names)}")
    if len(params) < required:
        raise RpcError(INVALID_PARAMS, f"missing value for required argument {len(params)}")
    return params + [None] * (len(names) - len(params))


def _without_args(value: Callable[[], Any]) -> Callable[[list[Any]], Any]:
    """A handler for a method that takes no params."""

    def handler(params: list[Any]) -> Any:
        _args(params, (), 0)
        return value()

    return handler


def _hex_bytes(value: Any, index: int, *, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcError(INVALID_PARAMS, f"invalid argument {index}: hex string without 0x prefix")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"invalid argument {index}: invalid hex string") from None
    if size is not None and len(raw) != size:
        raise RpcError(
            INVALID_PARAMS, f"invalid argument {index}: hex string has length {len(raw) * 2}, want {size * 2}"
        )
    return raw


def _quantity(value: Any, index: int) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcError(INVALID_PARAMS, f"invalid argument {index}: hex string without 0x prefix")
    try:
        return int(value[2:], 16)
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"invalid argument {index}: invalid hex number") from None


class _Derive:
    """Deterministic values for one chain: sha256 over the seed, the chain and the parts asked for."""

    def __init__(self, seed: str, chain: str) -> None:
        self._prefix = f"{seed}|{chain}|".encode()

    def bytes(self, *parts: object) -> bytes:
        return hashlib.sha256(self._prefix + "|".join(map(str, parts)).encode()).digest()

    def below(self, modulo: int, *parts: object) -> int:
        return int.from_bytes(self.bytes(*parts), "big") % modulo

    def block_hash(self, number: int) -> str:
        # 24 derived bytes + the number: hash -> number needs no index, and forged hashes do not match.
        return "0x" + (self.bytes("block", number)[:24] + number.to_bytes(8, "big")).hex()

    def block_of_hash(self, value: Any) -> int | None:
        if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
            return None
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            return None
        number = int.from_bytes(raw[24:], "big")
        return number if self.block_hash(number) == value.lower() else None


class _Chain:
    """Heads, timestamps and the method table shared by both dialects."""

    def __init__(self, spec: ChainSpec, seed: str, head: Callable[[], int]) -> None:
        self.spec = spec
        self.derive = _Derive(seed, spec.name)
        self.head = head
        self.methods: dict[str, Callable[[list[Any]], Any]] = {}

    def call(self, method: str, params: list[Any]) -> Any:
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        return handler(params)

    def timestamp(self, number: int) -> int:
        offset_ms = (number - self.spec.default_head) * self.spec.block_time_ms
        return max(0, ANCHOR_TIME + offset_ms // 1000)

    def known_hash(self, value: Any) -> int | None:
        number = self.derive.block_of_hash(value)
        return number if number is not None and number <= self.head() else None


class EvmChain(_Chain):
    """An Ethereum-like chain: blocks with transfers and ERC-20 calls, accounts, contracts and logs."""

    def __init__(self, spec: ChainSpec, seed: str, head: Callable[[], int]) -> None:
        super().__init__(spec, seed, head)
        self.contracts = [self._address("contract", k) for k in range(8)]
        self.methods = {
            "eth_blockNumber": _without_args(lambda: _hex(self.head())),
            "eth_chainId": _without_args(lambda: _hex(self.spec.chain_id)),
            "net_version": _without_args(lambda: str(self.spec.chain_id)),
            "web3_clientVersion": _without_args(lambda: CLIENT_VERSION),
            "eth_syncing": _without_args(lambda: False),
            "eth_gasPrice": _without_args(lambda: _hex(self.base_fee(self.head()) + GWEI)),
            "eth_maxPriorityFeePerGas": _without_args(lambda: _hex(GWEI)),
            "eth_getBalance": self._get_balance,
            "eth_getTransactionCount": self._get_transaction_count,
            "eth_getCode": self._get_code,
            "eth_getStorageAt": self._get_storage_at,
            "eth_call": self._call,
            "eth_getBlockByNumber": self._get_block_by_number,
            "eth_getBlockByHash": self._get_block_by_hash,
            "eth_getBlockTransactionCountByNumber": self._get_block_tx_count,
            "eth_getTransactionByHash": self._get_transaction,
            "eth_getTransactionReceipt": self._get_receipt,
            "eth_getLogs": self._get_logs,
        }

    # --- derived chain contents -----------------------------------------------------------------

    def _address(self, *parts: object) -> str:
        return "0x" + self.derive.bytes("account", *parts)[:20].hex()

    def base_fee(self, number: int) -> int:
        return 5 * GWEI + self.derive.below(45 * GWEI, "basefee", number)

    def is_contract(self, address: str) -> bool:
        return address in self.contracts or self.derive.below(8, "kind", address) == 0

    def balance(self, address: str, number: int) -> int:
        # Balances move every 256 blocks, so neighbouring blocks usually agree as on a real chain.
        return self.derive.below(100 * ETHER, "balance", address, number // 256)

    def nonce(self, address: str, number: int) -> int:
        period = 5_000 + self.derive.below(5_000, "nonce-period", address)
        return self.derive.below(1_000, "nonce", address) + number // period

    def code(self, address: str) -> str:
        if not self.is_contract(address):
            return "0x"
        size = 64 + self.derive.below(448, "code-size", address)
        body = b"".join(self.derive.bytes("code", address, k) for k in range(size // 32 + 1))[:size]
        return "0x6080604052" + body.hex()

    def tx_count(self, number: int) -> int:
        return 0 if number == 0 else self.derive.below(9, "tx-count", number)

    def tx_hash(self, number: int, index: int) -> str:
        tail = number.to_bytes(8, "big") + index.to_bytes(4, "big")
        return "0x" + (self.derive.bytes("tx", number, index)[:20] + tail).hex()

    def tx_of_hash(self, value: Any) -> tuple[int, int] | None:
        if not isinstance(value, str) or len(value) != 66:
            return None
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            return None
        number, index = int.from_bytes(raw[20:28], "big"), int.from_bytes(raw[28:], "big")
        if (
            number > self.head()
            or index >= self.tx_count(number)
            or self.tx_hash(number, index) != value.lower()
        ):
            return None
        return number, index

    def transaction(self, number: int, index: int) -> dict[str, Any]:
        sender = self._address("sender", number, index)
        token_call = index % 3 == 0  # every third transaction is an ERC-20 transfer
        amount = self.derive.below(5 * ETHER, "value", number, index)
        tip = GWEI + self.derive.below(2 * GWEI, "tip", number, index)
        if token_call:
            recipient = self._address("recipient", number, index)
            to = self.contracts[self.derive.below(len(self.contracts), "token", number, index)]
            data = "0xa9059cbb" + "00" * 12 + recipient[2:] + amount.to_bytes(32, "big").hex()
            value, gas = 0, 90_000
        else:
            to, data, value, gas = self._address("recipient", number, index), "0x", amount, 21_000
        return {
            "blockHash": self.derive.block_hash(number),
            "blockNumber": _hex(number),
            "chainId": _hex(self.spec.chain_id),
            "from": sender,
            "gas": _hex(gas),
            "gasPrice": _hex(self.base_fee(number) + tip),
            "hash": self.tx_hash(number, index),
            "input": data,
            "maxFeePerGas": _hex(2 * self.base_fee(number) + tip),
            "maxPriorityFeePerGas": _hex(tip),
            "nonce": _hex(self.derive.below(5_000, "sender-nonce", number, index)),
            "to": to,
            "transactionIndex": _hex(index),
            "type": "0x2",
            "value": _hex(value),
        }

    def gas_used(self, number: int, index: int) -> int:
        return 21_000 if index % 3 else 40_000 + self.derive.below(20_000, "gas", number, index)

    def logs_of(self, number: int, index: int, first_log_index: int) -> list[dict[str, Any]]:
        tx = self.transaction(number, index)
        if tx["input"] == "0x":
            return []
        data = tx["input"]
        return [
            {
                "address": tx["to"],
                "topics": [TRANSFER_TOPIC, "0x" + "00" * 12 + tx["from"][2:], "0x" + data[10:74]],
                "data": "0x" + data[74:],
                "blockNumber": tx["blockNumber"],
                "blockHash": tx["blockHash"],
                "transactionHash": tx["hash"],
                "transactionIndex": tx["transactionIndex"],
                "logIndex": _hex(first_log_index),
                "removed": False,
            }
        ]

    def block(self, number: int, full: bool) -> dict[str, Any]:
        count = self.tx_count(number)
        transactions = [
            self.transaction(number, i) if full else self.tx_hash(number, i) for i in range(count)
        ]
        return {
            "baseFeePerGas": _hex(self.base_fee(number)),
            "difficulty": "0x0",
            "extraData": "0x" + b"orchestra devnet".hex(),
            "gasLimit": _hex(30_000_000),
            "gasUsed": _hex(sum(self.gas_used(number, i) for i in range(count))),
            "hash": self.derive.block_hash(number),
            "logsBloom": "0x" + "00" * 256,
            "miner": self._address("miner", number % 16),
            "mixHash": "0x" + self.derive.bytes("mix", number).hex(),
            "nonce": "0x0000000000000000",
            "number": _hex(number),
            "parentHash": self.derive.block_hash(number - 1) if number else ZERO_HASH,
            "receiptsRoot": "0x" + self.derive.bytes("receipts", number).hex(),
            "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
            "size": _hex(600 + 120 * count),
            "stateRoot": "0x" + self.derive.bytes("state", number).hex(),
            "timestamp": _hex(self.timestamp(number)),
            "transactions": transactions,
            "transactionsRoot": "0x" + self.derive.bytes("transactions", number).hex(),
            "uncles": [],
        }

    # --- argument parsing -----------------------------------------------------------------------

    def block_number(self, value: Any, index: int) -> int:
        """A block argument (tag, hex number or EIP-1898 object) -> number; may lie beyond the head."""
        head = self.head()
        tags = {"latest": head, "pending": head, "safe": max(0, head - 32), "finalized": max(0, head - 64)}
        tags["earliest"] = 0
        if isinstance(value, str) and value in tags:
            return tags[value]
        if isinstance(value, dict) and "blockHash" in value:
            number = self.known_hash(value["blockHash"])
            if number is None:
                raise RpcError(SERVER_ERROR, f"header for hash {value['blockHash']} not found")
            return number
        if isinstance(value, dict):
            value = value.get("blockNumber")
        return _quantity(value, index)

    def state_block(self, value: Any, index: int) -> int:
        number = self.block_number(value, index)
        if number > self.head():
            raise RpcError(SERVER_ERROR, "header not found")
        return number

    @staticmethod
    def address(value: Any, index: int) -> str:
        return "0x" + _hex_bytes(value, index, size=20).hex()

    # --- methods --------------------------------------------------------------------------------

    def _get_balance(self, params: list[Any]) -> str:
        address, block = _args(params, ("address", "block"), 2)
        return _hex(self.balance(self.address(address, 0), self.state_block(block, 1)))

    def _get_transaction_count(self, params: list[Any]) -> str:
        address, block = _args(params, ("address", "block"), 2)
        return _hex(self.nonce(self.address(address, 0), self.state_block(block, 1)))

    def _get_code(self, params: list[Any]) -> str:
        address, block = _args(params, ("address", "block"), 2)
        self.state_block(block, 1)
        return self.code(self.address(address, 0))

    def _get_storage_at(self, params: list[Any]) -> str:
        address, slot, block = _args(params, ("address", "slot", "block"), 3)
        account, key, number = self.address(address, 0), _quantity(slot, 1), self.state_block(block, 2)
        if not self.is_contract(account):
            return _word(0)
        return "0x" + self.derive.bytes("storage", account, key, number // 256).hex()

    def _call(self, params: list[Any]) -> str:
        tx, block = _args(params, ("transaction", "block"), 2)
        if not isinstance(tx, dict):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: transaction must be an object")
        number = self.state_block(block, 1)
        if tx.get("to") is None:
            return "0x"
        to = self.address(tx["to"], 0)
        data = "0x" + _hex_bytes(tx.get("input", tx.get("data", "0x")), 0).hex()
        if not self.is_contract(to):
            return "0x"
        # A uint256 that moves every 256 blocks, like a token balance or a price feed.
        return _word(self.derive.below(10**24, "call", to, data, number // 256))

    def _get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        block, full = _args(params, ("block", "full_transactions"), 2)
        if not isinstance(full, bool):
            raise RpcError(INVALID_PARAMS, "invalid argument 1: full_transactions must be a boolean")
        number = self.block_number(block, 0)
        return self.block(number, full) if number <= self.head() else None

    def _get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        block_hash, full = _args(params, ("block_hash", "full_transactions"), 2)
        _hex_bytes(block_hash, 0, size=32)
        if not isinstance(full, bool):
            raise RpcError(INVALID_PARAMS, "invalid argument 1: full_transactions must be a boolean")
        number = self.known_hash(block_hash)
        return None if number is None else self.block(number, full)

    def _get_block_tx_count(self, params: list[Any]) -> str | None:
        (block,) = _args(params, ("block",), 1)
        number = self.block_number(block, 0)
        return _hex(self.tx_count(number)) if number <= self.head() else None

    def _get_transaction(self, params: list[Any]) -> dict[str, Any] | None:
        (tx_hash,) = _args(params, ("transaction_hash",), 1)
        _hex_bytes(tx_hash, 0, size=32)
        found = self.tx_of_hash(tx_hash)
        return None if found is None else self.transaction(*found)

    def _get_receipt(self, params: list[Any]) -> dict[str, Any] | None:
        (tx_hash,) = _args(params, ("transaction_hash",), 1)
        _hex_bytes(tx_hash, 0, size=32)
        found = self.tx_of_hash(tx_hash)
        if found is None:
            return None
        number, index = found
        tx = self.transaction(number, index)
        log_index = sum(len(self.logs_of(number, i, 0)) for i in range(index))
        return {
            "blockHash": tx["blockHash"],
            "blockNumber": tx["blockNumber"],
            "contractAddress": None,
            "cumulativeGasUsed": _hex(sum(self.gas_used(number, i) for i in range(index + 1))),
            "effectiveGasPrice": tx["gasPrice"],
            "from": tx["from"],
            "gasUsed": _hex(self.gas_used(number, index)),
            "logs": self.logs_of(number, index, log_index),
            "logsBloom": "0x" + "00" * 256,
            "status": "0x1",
            "to": tx["to"],
            "transactionHash": tx["hash"],
            "transactionIndex": tx["transactionIndex"],
            "type": tx["type"],
        }

    def _get_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        (log_filter,) = _args(params, ("filter",), 1)
        if not isinstance(log_filter, dict):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: filter must be an object")
        if "blockHash" in log_filter:
            if "fromBlock" in log_filter or "toBlock" in log_filter:
                raise RpcError(
                    INVALID_PARAMS, "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock"
                )
            number = self.known_hash(log_filter["blockHash"])
            if number is None:
                raise RpcError(SERVER_ERROR, "unknown block")
            first = last = number
        else:
            first = self.block_number(log_filter.get("fromBlock", "latest"), 0)
            last = min(self.block_number(log_filter.get("toBlock", "latest"), 0), self.head())
            if first > last:
                return []
            if last - first + 1 > MAX_LOG_RANGE:
                raise RpcError(LIMIT_EXCEEDED, f"block range is too wide (max {MAX_LOG_RANGE} blocks)")
        addresses = log_filter.get("address")
        wanted = {addresses.lower()} if isinstance(addresses, str) else {a.lower() for a in addresses or []}
        topics = log_filter.get("topics") or []
        if not isinstance(topics, list):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: topics must be a list")
        logs = []
        for number in range(first, last + 1):
            log_index = 0
            for index in range(self.tx_count(number)):
                for entry in self.logs_of(number, index, log_index):
                    log_index += 1
                    if wanted and entry["address"] not in wanted:
                        continue
                    if _topics_match(entry["topics"], topics):
                        logs.append(entry)
        return logs


def _topics_match(topics: list[str], wanted: list[Any]) -> bool:
    for position, choice in enumerate(wanted):
        if choice is None:
            continue
        options = {choice.lower()} if isinstance(choice, str) else {c.lower() for c in choice}
        if position >= len(topics) or topics[position] not in options:
            return False
    return True


class SubstrateChain(_Chain):
    """A subset of a subtensor node's RPC: blocks, headers, storage, runtime version, system info."""

    SPEC_VERSION = 300

    def __init__(self, spec: ChainSpec, seed: str, head: Callable[[], int]) -> None:
        super().__init__(spec, seed, head)
        self.methods = {
            "chain_getBlockHash": self._get_block_hash,
            "chain_getHeader": lambda p: self._by_hash(p, self.header),
            "chain_getBlock": lambda p: self._by_hash(p, self.signed_block),
            "chain_getFinalizedHead": _without_args(lambda: self.derive.block_hash(max(0, self.head() - 2))),
            "chain_getRuntimeVersion": self._runtime_version,
            "state_getRuntimeVersion": self._runtime_version,
            "state_getStorage": self._storage,
            "state_getStorageHash": self._storage_hash,
            "state_getStorageSize": self._storage_size,
            "state_getKeysPaged": self._keys_paged,
            "state_call": self._state_call,
            "system_chain": _without_args(lambda: "Bittensor"),
            "system_name": _without_args(lambda: "Orchestra devnet stand-in (subtensor)"),
            "system_version": _without_args(lambda: "0.0.0-orchestra-devnet"),
            "system_properties": _without_args(
                lambda: {"ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO"}
            ),
            "system_health": _without_args(
                lambda: {"isSyncing": False, "peers": 0, "shouldHavePeers": False}
            ),
        }
        self.methods["rpc_methods"] = _without_args(lambda: {"methods": sorted(self.methods)})

    def header(self, number: int) -> dict[str, Any]:
        slot = self.timestamp(number) // (self.spec.block_time_ms // 1000)
        return {
            "parentHash": self.derive.block_hash(number - 1) if number else ZERO_HASH,
            "number": _hex(number),
            "stateRoot": "0x" + self.derive.bytes("state", number).hex(),
            "extrinsicsRoot": "0x" + self.derive.bytes("extrinsics", number).hex(),
            "digest": {"logs": ["0x0661757261" + "20" + slot.to_bytes(8, "little").hex()]},
        }

    def signed_block(self, number: int) -> dict[str, Any]:
        count = 1 + self.derive.below(4, "extrinsic-count", number)
        extrinsics = ["0x" + self.derive.bytes("extrinsic", number, i).hex() for i in range(count)]
        return {"block": {"header": self.header(number), "extrinsics": extrinsics}, "justifications": None}

    def _at(self, value: Any, index: int) -> int:
        """The block a state query reads at: the head when no hash is given."""
        if value is None:
            return self.head()
        _hex_bytes(value, index, size=32)
        number = self.known_hash(value)
        if number is None:
            raise RpcError(UNKNOWN_BLOCK, f"Client error: Api called for an unknown Block: {value}")
        return number

    def _get_block_hash(self, params: list[Any]) -> str | None:
        (value,) = _args(params, ("block_number",), 0)
        if value is None:
            return self.derive.block_hash(self.head())
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: block number must be an integer")
        number = value if isinstance(value, int) else _quantity(value, 0)
        if number < 0:
            raise RpcError(INVALID_PARAMS, "invalid argument 0: block number must not be negative")
        return self.derive.block_hash(number) if number <= self.head() else None

    def _by_hash(self, params: list[Any], build: Callable[[int], dict[str, Any]]) -> dict[str, Any] | None:
        (value,) = _args(params, ("block_hash",), 0)
        if value is None:
            return build(self.head())
        _hex_bytes(value, 0, size=32)
        number = self.known_hash(value)
        return None if number is None else build(number)

    def _runtime_version(self, params: list[Any]) -> dict[str, Any]:
        (at,) = _args(params, ("block_hash",), 0)
        self._at(at, 0)
        return {
            "specName": "node-subtensor",
            "implName": "node-subtensor",
            "authoringVersion": 1,
            "specVersion": self.SPEC_VERSION,
            "implVersion": 1,
            "apis": [],
            "transactionVersion": 1,
            "stateVersion": 1,
        }

    def _value(self, key: bytes, number: int) -> bytes | None:
        if self.derive.below(4, "present", key.hex()) == 0:
            return None  # a quarter of keys hold nothing, as absent map entries do
        return self.derive.bytes("storage", key.hex(), number // 100)[:16]

    def _read(self, params: list[Any]) -> bytes | None:
        key, at = _args(params, ("key", "block_hash"), 1)
        raw = _hex_bytes(key, 0)
        return self._value(raw, self._at(at, 1))

    def _storage(self, params: list[Any]) -> str | None:
        value = self._read(params)
        return None if value is None else "0x" + value.hex()

    def _storage_hash(self, params: list[Any]) -> str | None:
        value = self._read(params)
        return None if value is None else "0x" + hashlib.sha256(value).hexdigest()

    def _storage_size(self, params: list[Any]) -> int | None:
        value = self._read(params)
        return None if value is None else len(value)

    def _keys_paged(self, params: list[Any]) -> list[str]:
        prefix, count, start, at = _args(params, ("prefix", "count", "start_key", "block_hash"), 2)
        raw = _hex_bytes(prefix, 0)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_KEYS_PAGE:
            raise RpcError(INVALID_PARAMS, f"invalid argument 1: count must be between 0 and {MAX_KEYS_PAGE}")
        self._at(at, 3)
        after = "0x" + _hex_bytes(start, 2).hex() if start is not None else ""
        total = self.derive.below(50, "key-count", raw.hex())
        keys = sorted("0x" + raw.hex() + self.derive.bytes("key", raw.hex(), k).hex() for k in range(total))
        return [key for key in keys if key > after][:count]

    def _state_call(self, params: list[Any]) -> str:
        method, data, at = _args(params, ("runtime_method", "data", "block_hash"), 2)
        if not isinstance(method, str):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: runtime method must be a string")
        payload = _hex_bytes(data, 1)
        number = self._at(at, 2)
        return "0x" + self.derive.bytes("state-call", method, payload.hex(), number).hex()


class BlockmachineEmulator:
    """Serves the Blockmachine gateway's JSON-RPC on 127.0.0.1 for the devnet and the tests.

    `heads` overrides chains' head blocks (defaults in `CHAIN_SPECS`); with `clock` (seconds, e.g.
    `time.monotonic`) heads advance by each chain's block time from the moment of construction.
    With `api_key`, calls need `Authorization: Bearer <api_key>`.
    """

    def __init__(
        self,
        *,
        seed: str = "orchestra-devnet",
        heads: Mapping[str, int] | None = None,
        clock: Callable[[], float] | None = None,
        api_key: str | None = None,
        faults: FaultInjector | None = None,
        port: int | None = None,
    ) -> None:
        unknown = set(heads or {}) - set(CHAIN_SPECS)
        if unknown:
            raise ValueError(
                f"unknown chains {sorted(unknown)}; the stand-in serves {', '.join(CHAIN_SPECS)}"
            )
        self.seed = seed
        self.api_key = api_key
        self._clock = clock
        self._started = clock() if clock is not None else 0.0
        self._lock = threading.Lock()
        self._heads = {name: spec.default_head for name, spec in CHAIN_SPECS.items()} | dict(heads or {})
        self.chains: dict[str, _Chain] = {}
        for name, spec in CHAIN_SPECS.items():
            kind = SubstrateChain if spec.substrate else EvmChain
            self.chains[name] = kind(spec, seed, self._head_reader(name))
        self.requests = 0
        middlewares = [faults.middleware] if faults is not None else []
        app = web.Application(client_max_size=1024 * 1024, middlewares=middlewares)
        app.router.add_post("/", self._serve)
        app.router.add_post("/rpc/{chain}", self._serve)
        self.server = ThreadedAiohttpServer(app, port=port)

    @property
    def url(self) -> str:
        return self.server.url

    def rpc_url(self, chain: str) -> str:
        """The gateway URL of one chain, `<url>/rpc/<chain>`."""
        return f"{self.url}/rpc/{chain}"

    def start(self) -> "BlockmachineEmulator":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def head(self, chain: str = "eth") -> int:
        """The chain's current head block."""
        spec = CHAIN_SPECS[chain]
        with self._lock:
            head = self._heads[chain]
        if self._clock is not None:
            head += int((self._clock() - self._started) * 1000) // spec.block_time_ms
        return head

    def advance(self, blocks: int = 1, *, chain: str | None = None) -> None:
        """Move one chain's head (or every chain's) forward by `blocks`."""
        if blocks < 0:
            raise ValueError("heads only move forward")
        with self._lock:
            for name in [chain] if chain is not None else list(self._heads):
                self._heads[name] += blocks

    def _head_reader(self, chain: str) -> Callable[[], int]:
        return lambda: self.head(chain)

    def answer(self, chain: str, payload: Any) -> Any:
        """The JSON-RPC reply to a decoded request body: an object, a list, or None (notifications only)."""
        target = self.chains[chain]
        if isinstance(payload, list):
            if not payload:
                return _error(None, RpcError(INVALID_REQUEST, "Invalid Request: empty batch"))
            if len(payload) > MAX_BATCH:
                return _error(None, RpcError(INVALID_REQUEST, f"batch too large (max {MAX_BATCH})"))
            replies = [reply for reply in (_one(target, item) for item in payload) if reply is not None]
            return replies or None
        return _one(target, payload)

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        chain = request.match_info.get("chain", "eth").lower()
        if chain not in self.chains:
            known = ", ".join(self.chains)
            return _json({"error": f"unknown chain {chain!r}; this stand-in serves {known}"}, status=404)
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _json({"error": "missing or invalid bearer token"}, status=401)
        try:
            payload = strict_json(await request.read())
        except ValueError:
            return _json(_error(None, RpcError(PARSE_ERROR, "Parse error")))
        reply = self.answer(chain, payload)
        if reply is None:
            return web.Response(status=204, headers=STAND_IN_HEADER)
        return _json(reply)


def _one(chain: _Chain, item: Any) -> dict[str, Any] | None:
    """Answer one request object; None for a notification (a request without an id)."""
    if not isinstance(item, dict):
        return _error(None, RpcError(INVALID_REQUEST, "Invalid Request: not an object"))
    ident = item.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int, type(None))):
        return _error(
            None, RpcError(INVALID_REQUEST, "Invalid Request: id must be a string, an integer or null")
        )
    if item.get("jsonrpc") != "2.0":
        return _error(ident, RpcError(INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"'))
    method = item.get("method")
    if not isinstance(method, str) or not method:
        return _error(ident, RpcError(INVALID_REQUEST, "Invalid Request: method must be a string"))
    params = item.get("params", [])
    try:
        if not isinstance(params, list):
            raise RpcError(INVALID_PARAMS, "invalid params: this node takes positional (array) params")
        result = chain.call(method, params)
    except RpcError as exc:
        return None if "id" not in item else _error(ident, exc)
    if "id" not in item:
        return None
    return {"jsonrpc": "2.0", "id": ident, "result": result}


def _error(ident: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "error": error.to_json()}


def _json(body: Any, *, status: int = 200) -> web.Response:
    # Compact, key-ordered as built: the same answer is the same bytes every time.
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json", headers=STAND_IN_HEADER)
