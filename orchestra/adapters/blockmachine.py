"""SN19 Blockmachine over the `http` route: read-only JSON-RPC 2.0 through the Blockmachine gateway.

Blockmachine (formerly Nineteen) is a blockchain-RPC marketplace: customers send JSON-RPC to a gateway
that routes each call to a miner's node for TAO (substrate), ETH, BSC, Base, Polygon, Optimism or
Arbitrum. SN19 validators re-execute sampled calls *at the same block* against reference nodes and
compare response hashes, so a call pinned to a block number is exactly reproducible, and Orchestra's
validators can re-query it too. This adapter therefore:

* sends only methods from a read-only allow-list; anything else (a write such as
  `eth_sendRawTransaction`, a key operation, an unknown method) is refused before a byte is sent;
* pins a read to the step's block where the method takes a block argument, at the position and in
  the form (hex number, block hash, plain number) that taostat/blockmachine-validator's
  `data/methods.json` gives; substrate reads take a block *hash*, which is looked up first;
* parses JSON-RPC 2.0 answers strictly (version "2.0", the id it sent, exactly one of result/error;
  batch answers are matched by id in any order) and turns each result into a `chain_data` record with
  a one-line statement and the hex quantities decoded into `metrics`. Every record says whether
  SN19's method table marks the call verifiable (`metrics["verifiable"]`) and whether it was pinned.

Endpoints come in two forms: a per-chain host called at its root (the seed Ledger's
`https://rpc-eth.blockmachine.io`), or a gateway base URL called at `/rpc/<chain>`, the form the SN19
validator's gateway client uses. A route key goes in `Authorization: Bearer <key>`, as on the gateway
and on the miners' nginx.
"""

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record
from orchestra.routing import RouteSpec
from protocol.models import RouteKind, Step

GATEWAY_PATH = "/rpc/{chain}"
MAX_BATCH_CALLS = 20
MAX_LOG_BLOCK_RANGE = 1_000
MAX_KEYS_PAGE = 1_000
MAX_PARAMS_CHARS = 16_384
EVM_BLOCK_TAGS = ("latest", "safe", "finalized", "pending", "earliest")

_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class Family(str, Enum):
    """Which RPC dialect a chain speaks."""

    EVM = "evm"
    SUBSTRATE = "substrate"


@dataclass(frozen=True)
class Chain:
    name: str
    family: Family
    symbol: str
    decimals: int
    # SN19's methods.json lists TAO and ETH and lets BSC inherit ETH's table; other chains are absent,
    # so the SN19 validator does not verify their calls.
    in_method_table: bool


CHAINS: dict[str, Chain] = {
    chain.name: chain
    for chain in (
        Chain("tao", Family.SUBSTRATE, "TAO", 9, True),
        Chain("eth", Family.EVM, "ETH", 18, True),
        Chain("bsc", Family.EVM, "BNB", 18, True),
        Chain("base", Family.EVM, "ETH", 18, False),
        Chain("polygon", Family.EVM, "POL", 18, False),
        Chain("optimism", Family.EVM, "ETH", 18, False),
        Chain("arbitrum", Family.EVM, "ETH", 18, False),
    )
}
CHAIN_ALIASES = {
    "ethereum": "eth",
    "bnb": "bsc",
    "binance": "bsc",
    "matic": "polygon",
    "op": "optimism",
    "arb": "arbitrum",
    "bittensor": "tao",
    "subtensor": "tao",
    "finney": "tao",
}


class BlockParam(str, Enum):
    """How a method names the block it reads at (methods.json `block_param_type`)."""

    HEX_NUMBER = "hex_number"
    HASH = "hash"
    NUMBER = "number"


@dataclass(frozen=True)
class MethodSpec:
    """One allow-listed read-only method: its positional parameters and its methods.json entry."""

    name: str
    family: Family
    params: tuple[str, ...]
    required: int  # leading params that must be given (a pinned block fills the block param itself)
    verifiable: bool = False
    block_index: int | None = None
    block_param: BlockParam | None = None
    defaults: Mapping[int, Any] = field(default_factory=dict)  # trailing params a node insists on


def _evm(name: str, *params: str, required: int = 0, block: int | None = None, **kw: Any) -> MethodSpec:
    kind = BlockParam.HEX_NUMBER if block is not None else None
    return MethodSpec(name, Family.EVM, params, required, block_index=block, block_param=kind, **kw)


def _sub(name: str, *params: str, required: int = 0, block: int | None = None, **kw: Any) -> MethodSpec:
    kind = kw.pop("block_param", BlockParam.HASH if block is not None else None)
    return MethodSpec(name, Family.SUBSTRATE, params, required, block_index=block, block_param=kind, **kw)


# `verifiable`, block positions and kinds restate taostat/blockmachine-validator data/methods.json.
METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        _evm("eth_blockNumber"),
        _evm("eth_chainId"),
        _evm("eth_gasPrice"),
        _evm("eth_maxPriorityFeePerGas"),
        _evm("eth_syncing"),
        _evm("net_version"),
        _evm("web3_clientVersion"),
        _evm("eth_getBalance", "address", "block", required=1, block=1, verifiable=True),
        _evm("eth_getTransactionCount", "address", "block", required=1, block=1, verifiable=True),
        _evm("eth_getCode", "address", "block", required=1, block=1, verifiable=True),
        _evm("eth_getStorageAt", "address", "slot", "block", required=2, block=2, verifiable=True),
        _evm("eth_call", "transaction", "block", required=1, block=1, verifiable=True),
        _evm(
            "eth_getBlockByNumber",
            "block",
            "full_transactions",
            block=0,
            verifiable=True,
            defaults={1: False},
        ),
        _evm("eth_getBlockTransactionCountByNumber", "block", block=0, verifiable=True),
        MethodSpec(
            "eth_getBlockByHash",
            Family.EVM,
            ("block_hash", "full_transactions"),
            1,
            verifiable=True,
            block_index=0,
            block_param=BlockParam.HASH,
            defaults={1: False},
        ),
        _evm("eth_getLogs", "filter", required=1),
        _evm("eth_getTransactionByHash", "transaction_hash", required=1),
        _evm("eth_getTransactionReceipt", "transaction_hash", required=1),
        _sub("chain_getBlockHash", "block_number", block=0, verifiable=True, block_param=BlockParam.NUMBER),
        _sub("chain_getHeader", "block_hash", block=0, verifiable=True),
        _sub("chain_getBlock", "block_hash", block=0, verifiable=True),
        _sub("chain_getFinalizedHead"),
        _sub("chain_getRuntimeVersion", "block_hash", block=0, verifiable=True),
        _sub("state_getRuntimeVersion", "block_hash", block=0, verifiable=True),
        _sub("state_getStorage", "key", "block_hash", required=1, block=1, verifiable=True),
        _sub("state_getStorageHash", "key", "block_hash", required=1, block=1, verifiable=True),
        _sub("state_getStorageSize", "key", "block_hash", required=1, block=1, verifiable=True),
        _sub(
            "state_getKeysPaged",
            "prefix",
            "count",
            "start_key",
            "block_hash",
            required=2,
            block=3,
            verifiable=True,
        ),
        _sub("state_call", "runtime_method", "data", "block_hash", required=2, block=2, verifiable=True),
        _sub("system_chain"),
        _sub("system_name"),
        _sub("system_version"),
        _sub("system_properties"),
        _sub("system_health"),
    )
}

# Namespaces of methods that submit transactions, sign, hold keys or administer a node.
WRITE_PREFIXES = (
    "eth_send",
    "eth_sign",
    "eth_submit",
    "eth_fillTransaction",
    "personal_",
    "admin_",
    "miner_",
    "engine_",
    "author_",
    "transaction_",
    "transactionWatch_",
    "offchain_localStorageSet",
    "offchain_localStorageClear",
)


class MethodNotAllowed(AdapterError):
    """A step asked for a method Orchestra does not send; nothing was sent."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"{method}: {reason}")
        self.method = method


class JsonRpcError(AdapterError):
    """The producer answered a call with a JSON-RPC error object."""

    def __init__(
        self, method: str, code: int, message: str, data: Any = None, *, receipt_index: int | None
    ) -> None:
        super().__init__(
            f"{method} failed with JSON-RPC error {code}: {message}", receipt_index=receipt_index
        )
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class _BadShape(Exception):
    """A result that does not have its method's documented shape (becomes an AdapterError)."""


@dataclass(frozen=True)
class RpcCall:
    """One JSON-RPC call ready to send, with what is known about the block it reads at."""

    method: str
    params: list[Any]
    spec: MethodSpec
    block: int | None = None  # the block number it reads at, when known
    pinned: bool = False  # reads a fixed block (by number or hash), not "latest"
    at: str = "at the latest block"  # for the record's statement
    resolve_hash_of: int | None = None  # substrate: fill params[block_index] with this block's hash


def allowed_method(chain: Chain, method: Any) -> MethodSpec:
    """The spec of an allow-listed method for `chain`, or `MethodNotAllowed` naming it."""
    if not isinstance(method, str) or not method:
        raise AdapterError("a chain_rpc call needs a method name")
    if method.startswith(WRITE_PREFIXES):
        raise MethodNotAllowed(
            method, "submits, signs or administers; Orchestra sends read-only calls only, so it was not sent"
        )
    spec = METHODS.get(method)
    if spec is None:
        raise MethodNotAllowed(method, "is not on Orchestra's read-only allow-list, so it was not sent")
    if spec.family is not chain.family:
        raise MethodNotAllowed(
            method, f"is a {spec.family.value} method and {chain.name} is a different chain"
        )
    return spec


def chain_of(name: Any) -> Chain:
    key = str(name).strip().lower()
    key = CHAIN_ALIASES.get(key, key)
    chain = CHAINS.get(key)
    if chain is None:
        raise AdapterError(f"unknown chain {name!r}; Blockmachine serves {', '.join(CHAINS)}")
    return chain


def route_chain(endpoint: str | None) -> str | None:
    """The chain a per-chain endpoint serves (`https://rpc-eth.<host>` or `<base>/rpc/eth`), else None."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[-2] == "rpc" and segments[-1].lower() in CHAINS:
        return segments[-1].lower()
    label = (parts.hostname or "").split(".")[0].lower()
    if label.startswith("rpc-") and label[4:] in CHAINS:
        return label[4:]
    return None


def _block_input(value: Any, chain: Chain) -> int | str | None:
    """A step's `block`: a number (pins the read), a tag, or absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise AdapterError("block must be a block number or 'latest'")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lower() in EVM_BLOCK_TAGS:
        tag = value.strip().lower()
        if chain.family is Family.SUBSTRATE and tag != "latest":
            raise AdapterError(f"{chain.name} reads take a block number or 'latest', not {value!r}")
        return tag
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, str) and _QUANTITY.fullmatch(value.strip()):
        number = int(value.strip(), 16)
    else:
        raise AdapterError(f"block must be a block number or 'latest', not {value!r}")
    if number < 0:
        raise AdapterError("block must not be negative")
    return number


def _explicit_number(value: Any) -> int | None:
    """The block number a block argument names (hex quantity or EIP-1898 `{"blockNumber"}`), else None."""
    if isinstance(value, dict):
        value = value.get("blockNumber")
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        return int(value, 16)
    return None


def _check_params(spec: MethodSpec, params: list[Any]) -> None:
    if len(params) > len(spec.params):
        raise AdapterError(f"{spec.name} takes at most {len(spec.params)} params ({', '.join(spec.params)})")
    if len(params) < spec.required:
        missing = ", ".join(spec.params[len(params) : spec.required])
        raise AdapterError(f"{spec.name} needs params {missing}")
    if len(json.dumps(params, default=str)) > MAX_PARAMS_CHARS:
        raise AdapterError(f"{spec.name} params are longer than {MAX_PARAMS_CHARS} characters")
    for name, value in zip(spec.params, params, strict=False):  # params may be shorter
        if spec.family is Family.EVM and name == "address" and not _matches(_ADDRESS, value):
            raise AdapterError(f"{spec.name}: {value!r} is not a 20-byte hex address")
        if (
            name in ("transaction_hash", "block_hash")
            and spec.family is Family.EVM
            and not _matches(_HASH, value)
        ):
            raise AdapterError(f"{spec.name}: {value!r} is not a 32-byte hex hash")
        if name in ("key", "prefix") and not _matches(_DATA, value):
            raise AdapterError(f"{spec.name}: {name} must be 0x-prefixed hex bytes")
        if name == "transaction" and not (
            isinstance(value, dict) and ("to" not in value or _matches(_ADDRESS, value["to"]))
        ):
            raise AdapterError(f"{spec.name}: transaction must be an object with a hex `to` address")
        if name == "count" and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise AdapterError(f"{spec.name}: count must be a positive integer")
        if name == "count" and value > MAX_KEYS_PAGE:
            raise AdapterError(f"{spec.name}: count must be at most {MAX_KEYS_PAGE}")


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def prepare_call(chain: Chain, method: Any, params: Any, block: Any) -> RpcCall:
    """Validate one call against the allow-list and pin it to `block` where the method reads at one."""
    spec = allowed_method(chain, method)
    if params is None:
        params = []
    if not isinstance(params, list):
        raise AdapterError(f"{spec.name}: params must be a list (positional parameters)")
    params = list(params)
    _check_params(spec, params)
    wanted = _block_input(block, chain)
    if spec.name == "eth_getLogs":
        return _pin_logs(spec, params, wanted)
    if spec.block_index is None:
        # A step-wide block applies to the calls that read at one; eth_chainId has nothing to pin.
        return RpcCall(spec.name, params, spec, at="")
    if spec.block_param is BlockParam.HEX_NUMBER:
        call = _pin_hex(spec, params, wanted)
    elif spec.block_param is BlockParam.NUMBER:
        call = _pin_number(spec, params, wanted)
    elif spec.family is Family.EVM:  # eth_getBlockByHash: the hash names the block, a number cannot
        call = RpcCall(spec.name, params, spec, pinned=True, at=f"at block {_short(params[0])}")
    else:
        call = _pin_substrate_hash(spec, params, wanted)
    for index, default in sorted(spec.defaults.items()):
        if len(call.params) == index:
            call.params.append(default)
    return call


def _pin_hex(spec: MethodSpec, params: list[Any], wanted: int | str | None) -> RpcCall:
    index = spec.block_index
    assert index is not None
    current = params[index] if len(params) > index else None
    explicit = _explicit_number(current)
    if isinstance(wanted, int):
        if current is not None and current not in EVM_BLOCK_TAGS and explicit != wanted:
            raise AdapterError(f"{spec.name}: params name block {current!r} but the step pins block {wanted}")
        params[index:] = [hex(wanted), *params[index + 1 :]]
        return RpcCall(spec.name, params, spec, block=wanted, pinned=True, at=f"at block {wanted}")
    if current is None:
        params.append(wanted or "latest")
        current = params[index]
    if explicit is not None:
        return RpcCall(spec.name, params, spec, block=explicit, pinned=True, at=f"at block {explicit}")
    if isinstance(current, dict) and isinstance(current.get("blockHash"), str):
        return RpcCall(spec.name, params, spec, pinned=True, at=f"at block {_short(current['blockHash'])}")
    tag = current if isinstance(current, str) else "latest"
    return RpcCall(spec.name, params, spec, at=f"at the {tag} block")


def _pin_number(spec: MethodSpec, params: list[Any], wanted: int | str | None) -> RpcCall:
    current = params[0] if params else None
    if isinstance(wanted, int):
        if current is not None and current != wanted:
            raise AdapterError(f"{spec.name}: params name block {current!r} but the step pins block {wanted}")
        return RpcCall(spec.name, [wanted], spec, block=wanted, pinned=True, at=f"at block {wanted}")
    if isinstance(current, int) and not isinstance(current, bool):
        return RpcCall(spec.name, params, spec, block=current, pinned=True, at=f"at block {current}")
    return RpcCall(spec.name, params, spec)


def _pin_substrate_hash(spec: MethodSpec, params: list[Any], wanted: int | str | None) -> RpcCall:
    index = spec.block_index
    assert index is not None
    current = params[index] if len(params) > index else None
    if isinstance(wanted, int):
        if current is not None:
            raise AdapterError(f"{spec.name}: give a block number or a block hash, not both")
        padded = params + [None] * (index - len(params))
        return RpcCall(
            spec.name,
            padded,
            spec,
            block=wanted,
            pinned=True,
            at=f"at block {wanted}",
            resolve_hash_of=wanted,
        )
    if isinstance(current, str):
        return RpcCall(spec.name, params, spec, pinned=True, at=f"at block {_short(current)}")
    return RpcCall(spec.name, params, spec)


def _pin_logs(spec: MethodSpec, params: list[Any], wanted: int | str | None) -> RpcCall:
    """eth_getLogs only over a fixed, bounded range: unbounded log scans are slow, costly and drift."""
    if not isinstance(params[0], dict):
        raise AdapterError("eth_getLogs takes one filter object")
    log_filter = dict(params[0])
    if "blockHash" in log_filter:
        if isinstance(wanted, int) or "fromBlock" in log_filter or "toBlock" in log_filter:
            raise AdapterError("eth_getLogs: a blockHash filter excludes fromBlock, toBlock and `block`")
        at = f"in block {_short(log_filter['blockHash'])}"
        return RpcCall(spec.name, [log_filter], spec, pinned=True, at=at)
    if isinstance(wanted, int):
        log_filter.setdefault("fromBlock", hex(wanted))
        log_filter.setdefault("toBlock", hex(wanted))
    first, last = _explicit_number(log_filter.get("fromBlock")), _explicit_number(log_filter.get("toBlock"))
    if first is None or last is None:
        raise MethodNotAllowed(
            "eth_getLogs",
            "needs a bounded range: hex fromBlock and toBlock, a blockHash, or the step's block; not sent",
        )
    if last < first:
        raise AdapterError(f"eth_getLogs: toBlock {last} is before fromBlock {first}")
    if last - first + 1 > MAX_LOG_BLOCK_RANGE:
        raise MethodNotAllowed(
            "eth_getLogs", f"spans {last - first + 1} blocks, more than {MAX_LOG_BLOCK_RANGE}; not sent"
        )
    at = f"in block {first}" if first == last else f"over blocks {first}-{last}"
    return RpcCall(spec.name, [log_filter], spec, block=last, pinned=True, at=at)


def plan_calls(inputs: Mapping[str, Any], route: str | None) -> tuple[Chain, list[RpcCall]]:
    """Step inputs -> the chain and the validated, pinned calls to send. Sends nothing."""
    raw_calls = inputs.get("calls")
    if raw_calls is not None:
        if inputs.get("method") is not None:
            raise AdapterError("give either `method` or `calls`, not both")
        if not isinstance(raw_calls, list) or not raw_calls:
            raise AdapterError("`calls` must be a non-empty list of {method, params}")
        if len(raw_calls) > MAX_BATCH_CALLS:
            raise AdapterError(f"at most {MAX_BATCH_CALLS} calls per step, got {len(raw_calls)}")
        if not all(isinstance(c, dict) for c in raw_calls):
            raise AdapterError("every entry of `calls` must be an object with a method")
        entries: list[Mapping[str, Any]] = raw_calls
    else:
        if not inputs.get("method"):
            raise AdapterError("a chain_rpc step needs a `method`")
        entries = [inputs]
    chain_name = inputs.get("chain") or route
    if chain_name is None:
        first = entries[0].get("method")
        spec = METHODS.get(first) if isinstance(first, str) else None
        chain_name = "tao" if spec is not None and spec.family is Family.SUBSTRATE else "eth"
    chain = chain_of(chain_name)
    if route is not None and route != chain.name:
        raise AdapterError(f"this route serves {route}, the step asks for {chain.name}")
    step_block = inputs.get("block")
    calls = [
        prepare_call(chain, entry.get("method"), entry.get("params"), entry.get("block", step_block))
        for entry in entries
    ]
    return chain, calls


class BlockmachineAdapter(Adapter):
    """`chain_rpc` from the Blockmachine gateway: read-only, block-pinned JSON-RPC 2.0."""

    name = "blockmachine"
    route_kinds = frozenset({RouteKind.HTTP})

    def auth_headers(self, route: RouteSpec) -> dict[str, str] | None:
        """The gateway and the miners' nginx take the key as a bearer token."""
        return {"Authorization": f"Bearer {route.api_key.get_secret_value()}"} if route.api_key else None

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        route = caller.candidate.route
        served = route_chain(route.endpoint)
        chain, calls = plan_calls(step.inputs, served)
        path = "" if served is not None else GATEWAY_PATH.format(chain=chain.name)
        headers = self.auth_headers(route)

        calls = await _resolve_hashes(chain, calls, caller, path, headers)
        results, receipt_index = await _exchange(caller, path, headers, calls)
        records = []
        for call, result in zip(calls, results, strict=True):
            try:
                text, metrics = describe(chain, call, result)
            except _BadShape as exc:
                raise AdapterError(
                    f"{call.method} answer does not have its documented shape: {exc}",
                    receipt_index=receipt_index,
                ) from None
            metrics["verifiable"] = 1.0 if call.spec.verifiable and chain.in_method_table else 0.0
            metrics["pinned"] = 1.0 if call.pinned else 0.0
            if call.block is not None:
                metrics.setdefault("block_number", float(call.block))
            records.append(
                Record(
                    kind="chain_data",
                    text=text,
                    source=chain.name,
                    title=f"{chain.name} {call.method}",
                    metrics=metrics,
                    receipt_index=receipt_index,
                )
            )
        return records


async def _resolve_hashes(
    chain: Chain, calls: list[RpcCall], caller: Caller, path: str, headers: dict[str, str] | None
) -> list[RpcCall]:
    """Substrate reads name their block by hash: ask the producer for the hashes of the pinned blocks."""
    numbers = sorted({c.resolve_hash_of for c in calls if c.resolve_hash_of is not None})
    if not numbers:
        return calls
    lookups = [prepare_call(chain, "chain_getBlockHash", [], number) for number in numbers]
    results, receipt_index = await _exchange(caller, path, headers, lookups)
    hashes: dict[int, str] = {}
    for number, value in zip(numbers, results, strict=True):
        if value is None:
            raise AdapterError(
                f"the producer does not know {chain.name} block {number}", receipt_index=receipt_index
            )
        if not _matches(_HASH, value):
            raise AdapterError(
                f"chain_getBlockHash({number}) answered {_short(value)!r}, not a block hash",
                receipt_index=receipt_index,
            )
        hashes[number] = value
    resolved = []
    for call in calls:
        if call.resolve_hash_of is None:
            resolved.append(call)
            continue
        index = call.spec.block_index
        assert index is not None
        params = [*call.params[:index], hashes[call.resolve_hash_of], *call.params[index + 1 :]]
        resolved.append(replace(call, params=params, resolve_hash_of=None))
    return resolved


def rpc_body(calls: list[RpcCall]) -> Any:
    """The JSON-RPC 2.0 body for `calls`: one request object, or a batch with ids 1..n."""
    requests = [
        {"jsonrpc": "2.0", "id": i + 1, "method": call.method, "params": call.params}
        for i, call in enumerate(calls)
    ]
    return requests[0] if len(requests) == 1 else requests


def rpc_results(payload: Any, calls: list[RpcCall], receipt_index: int) -> list[Any]:
    """The results of an answer to `rpc_body(calls)`, in request order; `JsonRpcError`/`AdapterError`."""
    if len(calls) == 1:
        return [parse_response(payload, 1, calls[0].method, receipt_index)]
    return parse_batch(payload, [c.method for c in calls], receipt_index)


async def _exchange(
    caller: Caller, path: str, headers: dict[str, str] | None, calls: list[RpcCall]
) -> tuple[list[Any], int]:
    """Send calls (one object, or a batch with ids 1..n) and return their results in order."""
    reply = await caller.http("POST", path, json_body=rpc_body(calls), headers=headers)
    assert reply.receipt_index is not None
    return rpc_results(reply.payload, calls, reply.receipt_index), reply.receipt_index


def _same_id(answered: Any, sent: int) -> bool:
    # JSON-RPC ids match by value *and* type: "1" is not 1, and neither is true.
    return type(answered) is int and answered == sent


def _envelope(payload: Any, receipt_index: int) -> tuple[Any, Any, dict[str, Any] | None]:
    """(id, result, error) of one JSON-RPC 2.0 response object, checked strictly."""
    if not isinstance(payload, dict):
        raise AdapterError("JSON-RPC answer is not a JSON object", receipt_index=receipt_index)
    if payload.get("jsonrpc") != "2.0":
        raise AdapterError(
            f"JSON-RPC answer says jsonrpc={payload.get('jsonrpc')!r}, not '2.0'", receipt_index=receipt_index
        )
    if "id" not in payload:
        raise AdapterError("JSON-RPC answer has no id", receipt_index=receipt_index)
    if ("result" in payload) == ("error" in payload):
        raise AdapterError(
            "JSON-RPC answer must carry exactly one of result and error", receipt_index=receipt_index
        )
    error = payload.get("error")
    if "error" in payload and not (
        isinstance(error, dict) and type(error.get("code")) is int and isinstance(error.get("message"), str)
    ):
        raise AdapterError(
            "JSON-RPC error object needs an integer code and a string message", receipt_index=receipt_index
        )
    return payload["id"], payload.get("result"), error


def _raise_error(method: str, error: dict[str, Any], receipt_index: int) -> None:
    raise JsonRpcError(
        method, error["code"], error["message"], error.get("data"), receipt_index=receipt_index
    )


def parse_response(payload: Any, request_id: int, method: str, receipt_index: int) -> Any:
    """The result of a single call, or `JsonRpcError`/`AdapterError`."""
    answered, result, error = _envelope(payload, receipt_index)
    if error is not None:
        if answered is not None and not _same_id(answered, request_id):
            raise AdapterError(
                f"JSON-RPC error answers id {answered!r}, not {request_id}", receipt_index=receipt_index
            )
        _raise_error(method, error, receipt_index)
    if not _same_id(answered, request_id):
        raise AdapterError(
            f"JSON-RPC answer has id {answered!r}, not {request_id}", receipt_index=receipt_index
        )
    return result


def parse_batch(payload: Any, methods: list[str], receipt_index: int) -> list[Any]:
    """Results in request order (ids 1..n), from a batch answer in any order."""
    if isinstance(payload, dict):
        _, _, error = _envelope(payload, receipt_index)
        if error is not None:  # the server refused the batch as a whole (parse error, invalid request)
            _raise_error("batch", error, receipt_index)
        raise AdapterError("a batch was answered with a single response", receipt_index=receipt_index)
    if not isinstance(payload, list):
        raise AdapterError("a batch answer must be a JSON array", receipt_index=receipt_index)
    by_id: dict[int, tuple[Any, dict[str, Any] | None]] = {}
    for item in payload:
        answered, result, error = _envelope(item, receipt_index)
        if answered is None and error is not None:
            _raise_error("batch", error, receipt_index)
        if type(answered) is not int or not 1 <= answered <= len(methods):
            raise AdapterError(f"batch answer has an unknown id {answered!r}", receipt_index=receipt_index)
        if answered in by_id:
            raise AdapterError(f"batch answer repeats id {answered}", receipt_index=receipt_index)
        by_id[answered] = (result, error)
    missing = [i for i in range(1, len(methods) + 1) if i not in by_id]
    if missing:
        raise AdapterError(f"batch answer lacks ids {missing}", receipt_index=receipt_index)
    results = []
    for request_id, method in enumerate(methods, start=1):
        result, error = by_id[request_id]
        if error is not None:
            _raise_error(method, error, receipt_index)
        results.append(result)
    return results


# --- results -> statements and metrics --------------------------------------------------------------


def _quantity(value: Any, what: str) -> int:
    if not _matches(_QUANTITY, value):
        raise _BadShape(f"{what} must be a hex quantity, got {_short(value)!r}")
    return int(value, 16)


def _data(value: Any, what: str) -> bytes:
    if not _matches(_DATA, value):
        raise _BadShape(f"{what} must be 0x-prefixed hex bytes, got {_short(value)!r}")
    return bytes.fromhex(value[2:])


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _BadShape(f"{what} must be an object")
    return value


def _short(value: Any, limit: int = 66) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else f"{text[: limit - 9]}…{text[-8:]}"


def _amount(units: int, decimals: int) -> str:
    value = (Decimal(units).scaleb(-decimals)).normalize()
    return format(value, "f")


def _at(call: RpcCall) -> str:
    return f" {call.at}" if call.at else ""


Describer = Callable[[Chain, RpcCall, Any], tuple[str, dict[str, float]]]


def _head(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    number = _quantity(result, "block number")
    return f"{chain.name} head block is {number}", {"block_number": float(number)}


def _chain_id(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    value = _quantity(result, "chain id")
    return f"{chain.name} chain id is {value}", {"chain_id": float(value)}


def _gas_price(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    wei = _quantity(result, "gas price")
    what = "priority fee" if call.method == "eth_maxPriorityFeePerGas" else "gas price"
    return (
        f"{chain.name} {what} is {_amount(wei, 9)} gwei ({result} wei)",
        {"gas_price_wei": float(wei), "gas_price_gwei": float(Decimal(wei).scaleb(-9))},
    )


def _balance(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    wei = _quantity(result, "balance")
    amount = _amount(wei, chain.decimals)
    return (
        f"eth_getBalance of {call.params[0]}{_at(call)} = {amount} {chain.symbol} ({result} wei)",
        {"balance_wei": float(wei), "balance": float(Decimal(wei).scaleb(-chain.decimals))},
    )


def _nonce(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    count = _quantity(result, "transaction count")
    return f"{call.params[0]} has sent {count} transactions{_at(call)} (nonce {result})", {
        "nonce": float(count)
    }


def _code(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    code = _data(result, "code")
    what = f"has {len(code)} bytes of contract code" if code else "has no code (not a contract)"
    return f"{call.params[0]}{_at(call)} {what}", {"code_bytes": float(len(code))}


def _storage_word(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    word = _data(result, "storage value")
    return (
        f"storage slot {call.params[1]} of {call.params[0]}{_at(call)} = {_short(result)}",
        {"value": float(int.from_bytes(word, "big"))},
    )


def _call_result(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    data = _data(result, "call result")
    target = call.params[0].get("to", "a new contract")
    metrics = {"result_bytes": float(len(data))}
    if len(data) == 32:
        metrics["value"] = float(int.from_bytes(data, "big"))
    return f"eth_call to {target}{_at(call)} returned {len(data)} bytes: {_short(result)}", metrics


def _block(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if result is None:
        return f"{chain.name} block not found{_at(call)}", {}
    block = _object(result, "block")
    number = _quantity(block.get("number"), "block.number")
    if call.block is not None and number != call.block:
        raise _BadShape(f"asked for block {call.block}, got block {number}")
    timestamp = _quantity(block.get("timestamp"), "block.timestamp")
    used, limit = (
        _quantity(block.get("gasUsed"), "block.gasUsed"),
        _quantity(block.get("gasLimit"), "block.gasLimit"),
    )
    transactions = block.get("transactions")
    if not isinstance(transactions, list):
        raise _BadShape("block.transactions must be a list")
    metrics = {
        "block_number": float(number),
        "timestamp": float(timestamp),
        "gas_used": float(used),
        "gas_limit": float(limit),
        "transaction_count": float(len(transactions)),
    }
    if block.get("baseFeePerGas") is not None:
        metrics["base_fee_per_gas"] = float(_quantity(block["baseFeePerGas"], "block.baseFeePerGas"))
    moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{chain.name} block {number} ({_short(block.get('hash'))}) at {moment}: {len(transactions)} "
        f"transactions, gas used {used} of {limit}",
        metrics,
    )


def _tx_count(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if result is None:
        return f"{chain.name} block not found{_at(call)}", {}
    count = _quantity(result, "transaction count")
    return f"{chain.name} has {count} transactions{_at(call)}", {"transaction_count": float(count)}


def _logs(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if not isinstance(result, list):
        raise _BadShape("eth_getLogs result must be a list")
    log_filter = call.params[0]
    first, last = _explicit_number(log_filter.get("fromBlock")), _explicit_number(log_filter.get("toBlock"))
    for entry in result:
        number = _quantity(_object(entry, "log").get("blockNumber"), "log.blockNumber")
        if first is not None and last is not None and not first <= number <= last:
            raise _BadShape(f"a log from block {number} is outside the requested range {first}-{last}")
    metrics = {"log_count": float(len(result))}
    if first is not None and last is not None:
        metrics |= {"from_block": float(first), "to_block": float(last)}
    source = log_filter.get("address")
    of = f" of {source}" if isinstance(source, str) else ""
    return f"eth_getLogs{of} {call.at}: {len(result)} logs", metrics


def _transaction(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    tx_hash = call.params[0]
    if result is None:
        return f"transaction {tx_hash} not found on {chain.name}", {}
    tx = _object(result, "transaction")
    value, nonce = (
        _quantity(tx.get("value"), "transaction.value"),
        _quantity(tx.get("nonce"), "transaction.nonce"),
    )
    metrics = {
        "value_wei": float(value),
        "value": float(Decimal(value).scaleb(-chain.decimals)),
        "nonce": float(nonce),
        "gas": float(_quantity(tx.get("gas"), "transaction.gas")),
    }
    where = "pending"
    if tx.get("blockNumber") is not None:
        number = _quantity(tx["blockNumber"], "transaction.blockNumber")
        metrics["block_number"] = float(number)
        where = f"in block {number}"
    recipient = tx.get("to") or "contract creation"
    return (
        f"transaction {tx_hash}: {_amount(value, chain.decimals)} {chain.symbol} from {tx.get('from')} "
        f"to {recipient}, {where}",
        metrics,
    )


def _receipt(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    tx_hash = call.params[0]
    if result is None:
        return f"no receipt for transaction {tx_hash} on {chain.name} (unknown or pending)", {}
    receipt = _object(result, "receipt")
    status = _quantity(receipt.get("status"), "receipt.status")
    number = _quantity(receipt.get("blockNumber"), "receipt.blockNumber")
    used = _quantity(receipt.get("gasUsed"), "receipt.gasUsed")
    logs = receipt.get("logs")
    if not isinstance(logs, list):
        raise _BadShape("receipt.logs must be a list")
    outcome = "succeeded" if status == 1 else "failed"
    return (
        f"transaction {tx_hash} {outcome} in block {number}, gas used {used}, {len(logs)} logs",
        {
            "status": float(status),
            "block_number": float(number),
            "gas_used": float(used),
            "log_count": float(len(logs)),
        },
    )


def _block_hash(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if result is None:
        return f"{chain.name} has no block yet{_at(call)}", {}
    if not _matches(_HASH, result):
        raise _BadShape(f"block hash must be 32 hex bytes, got {_short(result)!r}")
    if call.block is None:
        return f"{chain.name} head block hash is {result}", {}
    return f"{chain.name} block {call.block} has hash {result}", {}


def _header_number(header: dict[str, Any], call: RpcCall) -> int:
    number = _quantity(header.get("number"), "header.number")
    if call.block is not None and number != call.block:
        raise _BadShape(f"asked for block {call.block}, got block {number}")
    return number


def _header(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if result is None:
        return f"{chain.name} block not found{_at(call)}", {}
    header = _object(result, "header")
    number = _header_number(header, call)
    return (
        f"{chain.name} block {number} header: parent {header.get('parentHash')}, "
        f"state root {header.get('stateRoot')}",
        {"block_number": float(number)},
    )


def _substrate_block(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if result is None:
        return f"{chain.name} block not found{_at(call)}", {}
    block = _object(_object(result, "signed block").get("block"), "block")
    number = _header_number(_object(block.get("header"), "block.header"), call)
    extrinsics = block.get("extrinsics")
    if not isinstance(extrinsics, list):
        raise _BadShape("block.extrinsics must be a list")
    return (
        f"{chain.name} block {number} has {len(extrinsics)} extrinsics",
        {"block_number": float(number), "extrinsic_count": float(len(extrinsics))},
    )


def _finalized(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if not _matches(_HASH, result):
        raise _BadShape("finalized head must be a block hash")
    return f"{chain.name} finalized head is {result}", {}


def _runtime(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    version = _object(result, "runtime version")
    spec, tx = version.get("specVersion"), version.get("transactionVersion")
    if type(spec) is not int or type(tx) is not int:
        raise _BadShape("runtime version needs integer specVersion and transactionVersion")
    return (
        f"{chain.name} runtime{_at(call)} is {version.get('specName')} spec version {spec}, "
        f"transaction version {tx}",
        {"spec_version": float(spec), "transaction_version": float(tx)},
    )


def _storage(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    key = _short(call.params[0], 40)
    if result is None:
        return f"{chain.name} storage {key}{_at(call)} is empty", {"storage_bytes": 0.0}
    value = _data(result, "storage value")
    if call.method == "state_getStorageHash":
        return f"{chain.name} storage {key}{_at(call)} has hash {result}", {}
    return f"{chain.name} storage {key}{_at(call)} = {_short(result)}", {"storage_bytes": float(len(value))}


def _storage_size(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    key = _short(call.params[0], 40)
    if result is None:
        return f"{chain.name} storage {key}{_at(call)} is empty", {"storage_bytes": 0.0}
    if type(result) is not int or result < 0:
        raise _BadShape("storage size must be a non-negative integer")
    return f"{chain.name} storage {key}{_at(call)} holds {result} bytes", {"storage_bytes": float(result)}


def _keys(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if not isinstance(result, list) or not all(_matches(_DATA, key) for key in result):
        raise _BadShape("storage keys must be a list of hex strings")
    return (
        f"{chain.name} has {len(result)} storage keys under {_short(call.params[0], 40)}{_at(call)} "
        f"(page of {call.params[1]})",
        {"key_count": float(len(result))},
    )


def _runtime_call(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    data = _data(result, "runtime call result")
    return (
        f"{chain.name} runtime call {call.params[0]}{_at(call)} returned {len(data)} bytes: {_short(result)}",
        {"result_bytes": float(len(data))},
    )


def _text(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if not isinstance(result, str):
        raise _BadShape(f"{call.method} result must be a string")
    metrics = {"network_id": float(result)} if call.method == "net_version" and result.isdigit() else {}
    return f"{chain.name} {call.method} = {_short(result, 120)}", metrics


def _syncing(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    if result is False:
        return f"{chain.name} node is not syncing", {"syncing": 0.0}
    progress = _object(result, "sync status")
    current = _quantity(progress.get("currentBlock"), "currentBlock")
    highest = _quantity(progress.get("highestBlock"), "highestBlock")
    return (
        f"{chain.name} node is syncing: block {current} of {highest}",
        {"syncing": 1.0, "current_block": float(current), "highest_block": float(highest)},
    )


def _object_numbers(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    values = _object(result, f"{call.method} result")
    metrics = {
        re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): float(value)
        for name, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    metrics |= {
        re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): 1.0 if value else 0.0
        for name, value in values.items()
        if isinstance(value, bool)
    }
    return f"{chain.name} {call.method} = {_short(values, 160)}", metrics


DESCRIBERS: dict[str, Describer] = {
    "eth_blockNumber": _head,
    "eth_chainId": _chain_id,
    "eth_gasPrice": _gas_price,
    "eth_maxPriorityFeePerGas": _gas_price,
    "eth_syncing": _syncing,
    "net_version": _text,
    "web3_clientVersion": _text,
    "eth_getBalance": _balance,
    "eth_getTransactionCount": _nonce,
    "eth_getCode": _code,
    "eth_getStorageAt": _storage_word,
    "eth_call": _call_result,
    "eth_getBlockByNumber": _block,
    "eth_getBlockByHash": _block,
    "eth_getBlockTransactionCountByNumber": _tx_count,
    "eth_getLogs": _logs,
    "eth_getTransactionByHash": _transaction,
    "eth_getTransactionReceipt": _receipt,
    "chain_getBlockHash": _block_hash,
    "chain_getHeader": _header,
    "chain_getBlock": _substrate_block,
    "chain_getFinalizedHead": _finalized,
    "chain_getRuntimeVersion": _runtime,
    "state_getRuntimeVersion": _runtime,
    "state_getStorage": _storage,
    "state_getStorageHash": _storage,
    "state_getStorageSize": _storage_size,
    "state_getKeysPaged": _keys,
    "state_call": _runtime_call,
    "system_chain": _text,
    "system_name": _text,
    "system_version": _text,
    "system_properties": _object_numbers,
    "system_health": _object_numbers,
}


def describe(chain: Chain, call: RpcCall, result: Any) -> tuple[str, dict[str, float]]:
    """A one-line statement of a result and its numbers; raises `_BadShape` for a malformed result."""
    text, metrics = DESCRIBERS[call.method](chain, call, result)
    return text, dict(metrics)


# --- statements -> exact values ---------------------------------------------------------------------
# `metrics` are floats, which cannot hold a wei balance exactly. The statements above write every value
# exactly (hex quantities, decimal counts, whole hashes), so the exact values are read back from them
# here, next to the code that writes them (tests/orchestra/test_synthesis_traps.py reads every value of
# real statements back and compares it with a direct JSON-RPC read).

_ADDRESS_TEXT = r"(?P<address>0x[0-9a-fA-F]{40})"
_AT_BLOCK = r"(?: at block (?P<block_number>\d+)| at the \w+ block)?"
_BLOCK_STATEMENT = re.compile(r"\w+ block (?P<block_number>\d+) \((?P<block_hash>0x[0-9a-fA-F]{64})\) at .+")
_STATEMENTS: dict[str, re.Pattern[str]] = {
    "eth_getBalance": re.compile(
        rf"eth_getBalance of {_ADDRESS_TEXT}{_AT_BLOCK} = \S+ \S+ "
        r"\((?P<balance_wei>0x[0-9a-fA-F]{1,64}) wei\)"
    ),
    "eth_getTransactionCount": re.compile(
        rf"{_ADDRESS_TEXT} has sent (?P<nonce>\d+) transactions{_AT_BLOCK} \(nonce 0x[0-9a-fA-F]+\)"
    ),
    "eth_getBlockByNumber": _BLOCK_STATEMENT,
    "eth_getBlockByHash": _BLOCK_STATEMENT,
}


def exact_values(record: Record) -> dict[str, int | str]:
    """The exact values a `chain_data` record of this adapter states: `chain` (its id), `address` and
    `block_hash` (lower-case hex), `block_number`, `balance_wei` and `nonce` (integers, never floats).
    Only what the record states is returned; a record of another method or adapter gives {}."""
    if record.kind != "chain_data" or not record.title or record.source not in CHAINS:
        return {}
    method = record.title.removeprefix(f"{record.source} ")
    pattern = _STATEMENTS.get(method)
    match = pattern.fullmatch(record.text) if pattern is not None else None
    if match is None:
        return {}
    values: dict[str, int | str] = {"chain": record.source}
    for name, raw in match.groupdict().items():
        if raw is None:
            continue
        if name in ("address", "block_hash"):
            values[name] = raw.lower()
        elif raw.startswith("0x"):
            values[name] = int(raw, 16)
        else:
            values[name] = int(raw)
    return values
