"""Synthetic challenges: objective + target schema pairs that cannot be answered from a cache, some of
them with logic traps whose right answer the validator knows before it asks.

The material (`data/challenges.json`) has two families:

* **market**: research objectives over three markets, six target schemas. The schemas set *schema
  traps* (nested lists of objects, optional fields, numeric coercion, enums, awkward names such as
  `"List price ($)"`). Objectives that give a count set a **count** trap (the main list must hold
  exactly that many items); objectives that ask for an order set an **order** trap (the items must be
  sorted by their price field).
* **chain**: block-pinned account reads on SN19. Before asking, the validator reads the chain head and
  the account's balance, nonce and block hash itself through its own SN19 route (`ChainOracle`), so
  the **exact** trap knows every value the answer must hold. A block-pinned read is deterministic:
  anything else is wrong.

`trap_rate` is the share of challenges drawn from the trap templates (a chain read when an SN19 route
answers, else an ordered price list); count traps are checked wherever an objective gives a count.
Every task gets a fresh random id and the same deadline, so miners cannot tell synthetic tasks from
organic ones, nor trap challenges from the others.
"""

import itertools
import json
import logging
import math
import random
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from typing import Any

from orchestra.adapters.blockmachine import (
    GATEWAY_PATH,
    BlockmachineAdapter,
    chain_of,
    plan_calls,
    route_chain,
    rpc_body,
    rpc_results,
)
from orchestra.coercion import CoercionError, coerce_number
from orchestra.config import SN19_NETUID
from orchestra.errors import OrchestraError
from orchestra.planner.analysis import content_tokens
from orchestra.proofs import canonical_json
from orchestra.routing import RouteSpec
from orchestra.transports.base import TransportError
from orchestra.transports.http import HttpTransport
from protocol.models import Constraints, RouteKind, TaskSpec

log = logging.getLogger(__name__)

# A pinned block this far behind the head is final on every chain the material names.
MIN_CHAIN_DEPTH = 16
COUNTS = (3, 4)
MIN_ID_CHARS = 16


class TrapKind(str, Enum):
    COUNT = "count"
    ORDER_ASC = "order_asc"
    ORDER_DESC = "order_desc"
    EXACT = "exact"


@dataclass(frozen=True)
class TrapOutcome:
    """How well a result meets one trap: `score` in [0, 1], 1 when it holds."""

    kind: TrapKind
    score: float
    detail: str
    path: tuple[str, ...] = ()  # where the trap looked, from the result's root

    @property
    def passed(self) -> bool:
        return self.score >= 1.0


@dataclass(frozen=True)
class LogicTrap:
    """A property of the right answer the validator knows in advance.

    `path` is a key path from the result's root: the main list for count and order traps, the value's
    place for an exact trap. `expected` is the count, or the exact value; `item_field` is the list
    items' field an order trap sorts by.
    """

    kind: TrapKind
    path: tuple[str, ...]
    expected: Any = None
    item_field: str | None = None

    def check(self, result: dict[str, Any]) -> TrapOutcome:
        value = _at(result, self.path)
        if self.kind is TrapKind.COUNT:
            return self._count(value)
        if self.kind is TrapKind.EXACT:
            return self._exact(value)
        return self._order(value)

    def _count(self, value: Any) -> TrapOutcome:
        found = len(value) if isinstance(value, list) else 0
        wanted = int(self.expected)
        # Fewer items than asked is partly right (the sources may not name that many); more is not.
        score = 0.0 if found > wanted or wanted <= 0 else found / wanted
        return TrapOutcome(self.kind, score, f"{found} items for {wanted} asked", self.path)

    def _order(self, value: Any) -> TrapOutcome:
        items = value if isinstance(value, list) else []
        prices = [_number(item.get(self.item_field)) for item in items if isinstance(item, dict)]
        known = [p for p in prices if p is not None]
        if len(known) < 2:
            return TrapOutcome(self.kind, 0.0, f"{len(known)} priced items: nothing is ordered", self.path)
        ascending = self.kind is TrapKind.ORDER_ASC
        pairs = list(itertools.pairwise(known))
        right = sum(1 for a, b in pairs if (a <= b if ascending else a >= b))
        detail = f"{right} of {len(pairs)} neighbours in order"
        return TrapOutcome(self.kind, right / len(pairs), detail, self.path)

    def _exact(self, value: Any) -> TrapOutcome:
        ok = same_value(value, self.expected)
        shown = "/".join(self.path)
        detail = f"{shown}: {'as' if ok else 'not as'} pre-queried"
        return TrapOutcome(self.kind, 1.0 if ok else 0.0, detail, self.path)


def same_value(found: Any, expected: Any) -> bool:
    """Exact-trap equality: integers exactly (also written as decimal strings), floats within 1e-9
    relative, hex strings case-insensitively."""
    if found is None or isinstance(found, bool):
        return False
    if isinstance(expected, bool):
        return found is expected
    if isinstance(expected, int):
        if isinstance(found, int):
            return found == expected
        return isinstance(found, str) and found.strip().isdigit() and int(found.strip()) == expected
    if isinstance(expected, float):
        number = _number(found)
        return number is not None and math.isclose(number, expected, rel_tol=1e-9, abs_tol=1e-18)
    if isinstance(expected, str) and isinstance(found, str):
        return found.strip().lower() == expected.lower()
    return bool(found == expected)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return coerce_number(value)
    except CoercionError:
        return None


def _at(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class Challenge:
    """One task to send, what it tests, and the traps to check its answers against.

    Every miner gets the same objective and schema under its own task id (`for_miner`): an answer is
    then bound to the miner it was asked of, and a copy of another miner's answer cannot carry a
    proof for the right task.
    """

    spec: TaskSpec
    family: str  # "market" | "chain" | "organic"
    topic: str
    schema_id: str = ""
    schema_traps: tuple[str, ...] = ()
    traps: tuple[LogicTrap, ...] = ()
    # Words one of the answer's calls must carry for its receipts to count as made for this task.
    subject: tuple[str, ...] = ()

    def for_miner(self) -> TaskSpec:
        return self.spec.model_copy(update={"task_id": new_task_id()})

    def bound(self, requests: Sequence[Any]) -> bool:
        """Whether some call of an answer asked about this task's subject (always, without a subject).

        Receipts replayed from a task about something else fail this; so do calls made for nothing.
        """
        if not self.subject:
            return True
        text = " ".join(canonical_json(r).decode("utf-8", "replace") for r in requests).lower()
        words = set(content_tokens(text))
        # Words must be whole words ("api" is not in "capacity"); long identifiers may sit anywhere.
        return any(term in words or (len(term) >= MIN_ID_CHARS and term in text) for term in self.subject)

    def check_traps(self, result: dict[str, Any] | None) -> tuple[TrapOutcome, ...]:
        if result is None:
            return tuple(TrapOutcome(t.kind, 0.0, "no result", t.path) for t in self.traps)
        return tuple(trap.check(result) for trap in self.traps)


def new_task_id() -> str:
    """A random task id, drawn the same way for synthetic and organic tasks."""
    return uuid.UUID(bytes=secrets.token_bytes(16), version=4).hex


def organic(spec: TaskSpec) -> Challenge:
    """A gateway task: scored like a synthetic one, without traps (its right answer is not known)."""
    return Challenge(spec=spec, family="organic", topic="organic")


@dataclass(frozen=True)
class AccountFacts:
    """What the validator read on chain before asking: the exact answer of a chain challenge."""

    chain: str
    address: str
    block: int
    block_hash: str
    balance_wei: int
    nonce: int

    def value(self, name: str) -> Any:
        values: dict[str, Any] = {
            "chain": self.chain,
            "address": self.address,
            "block_number": self.block,
            "block_hash": self.block_hash,
            "balance_wei": self.balance_wei,
            "balance_ether": self.balance_wei / 10**18,
            "nonce": self.nonce,
        }
        if name not in values:
            raise KeyError(f"no pre-queried value named {name!r}")
        return values[name]


class OracleUnavailable(OrchestraError):
    """The validator could not read the chain itself: no SN19 route, or it failed."""


class ChainOracle:
    """Reads accounts at a pinned block through the validator's own SN19 (Blockmachine) route."""

    def __init__(
        self, http: HttpTransport, routes: Callable[[], Sequence[RouteSpec]], *, timeout_s: float = 10.0
    ) -> None:
        self.http = http
        self.routes = routes
        self.timeout_s = timeout_s

    def _route(self, chain: str) -> tuple[RouteSpec, str]:
        for route in self.routes():
            if route.netuid != SN19_NETUID or route.kind is not RouteKind.HTTP or route.endpoint is None:
                continue
            served = route_chain(route.endpoint)
            if served is None:
                return route, route.endpoint + GATEWAY_PATH.format(chain=chain)
            if served == chain:
                return route, route.endpoint
        raise OracleUnavailable(f"no SN19 route serves {chain}")

    async def _rpc(self, chain: str, inputs: dict[str, Any]) -> list[Any]:
        route, url = self._route(chain)
        _, calls = plan_calls({"chain": chain, **inputs}, route_chain(route.endpoint))
        headers = BlockmachineAdapter().auth_headers(route)
        try:
            reply = await self.http.request(
                "POST", url, json_body=rpc_body(calls), headers=headers, timeout=self.timeout_s
            )
            return rpc_results(reply.payload, calls, 0)
        except (TransportError, OrchestraError) as exc:
            raise OracleUnavailable(f"SN19 {chain} read failed: {exc}") from exc
        except Exception as exc:  # the adapter's parse errors: a garbled answer is no answer
            raise OracleUnavailable(f"SN19 {chain} answer unusable: {exc}") from exc

    async def head(self, chain: str) -> int:
        [number] = await self._rpc(chain, {"method": "eth_blockNumber", "params": []})
        return _quantity(number)

    async def account(self, chain: str, address: str, block: int) -> AccountFacts:
        balance, nonce, header = await self._rpc(
            chain,
            {
                "block": block,
                "calls": [
                    {"method": "eth_getBalance", "params": [address]},
                    {"method": "eth_getTransactionCount", "params": [address]},
                    {"method": "eth_getBlockByNumber", "params": [hex(block), False]},
                ],
            },
        )
        if not isinstance(header, dict) or not isinstance(header.get("hash"), str):
            raise OracleUnavailable(f"{chain} block {block} came back without a hash")
        return AccountFacts(
            chain=chain,
            address=address,
            block=block,
            block_hash=header["hash"].lower(),
            balance_wei=_quantity(balance),
            nonce=_quantity(nonce),
        )


def _quantity(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise OracleUnavailable(f"expected a hex quantity, got {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise OracleUnavailable(f"expected a hex quantity, got {value!r}") from None


@dataclass
class Material:
    market: dict[str, Any]
    chain: dict[str, Any]

    @classmethod
    def load(cls, data: dict[str, Any] | None = None) -> "Material":
        raw = data or json.loads(
            resources.files("orchestra.validator")
            .joinpath("data/challenges.json")
            .read_text(encoding="utf-8")
        )
        return cls(market=raw["market"], chain=raw["chain"])


@dataclass
class ChallengeGenerator:
    """Draws challenges: a topic or chain, an objective template, a count and a schema.

    `next()` draws a market challenge and needs no network; `draw()` mixes in trap challenges at
    `trap_rate`, pre-querying chain facts through `oracle` when it has one. With `seed` set the
    sequence is reproducible (tests, replays); without, task ids and choices are unpredictable.
    """

    seed: int | None = None
    deadline_ms: int = 30_000
    trap_rate: float = 0.3
    oracle: ChainOracle | None = None
    material: Material = field(default_factory=Material.load)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed) if self.seed is not None else random.SystemRandom()
        if not 0 <= self.trap_rate <= 1:
            raise ValueError("trap_rate must be within [0, 1]")

    def _task_id(self) -> str:
        if self.seed is None:
            return new_task_id()
        return uuid.UUID(int=self._rng.getrandbits(128), version=4).hex

    def _spec(self, objective: str, schema: dict[str, Any]) -> TaskSpec:
        return TaskSpec(
            task_id=self._task_id(),
            objective=objective,
            target_schema=schema,
            constraints=Constraints(deadline_ms=self.deadline_ms),
        )

    def next(self, *, ordered: bool | None = None) -> Challenge:
        """A market challenge; `ordered` forces (True) or forbids (False) an order trap."""
        return self.market_set(1, ordered=ordered)[0]

    def market_set(self, n: int, *, ordered: bool | None = None) -> list[Challenge]:
        """`n` market challenges on one topic, as different from each other as the material allows.

        Each miner of a step gets its own: a copy of another miner's answer then answers another
        question (another count, wording or schema).
        """
        market = self.material.market
        topic = self._rng.choice(market["topics"])
        objectives = [
            o
            for o in market["objectives"]
            if ordered is None or (("order_asc" in o["traps"] or "order_desc" in o["traps"]) == ordered)
        ]
        combos = [
            (objective, schema, count)
            for objective in objectives
            for schema in market["schemas"]
            if objective.get("needs") != "price" or schema.get("price")
            for count in COUNTS
        ]
        picks = self._rng.sample(combos, n) if n <= len(combos) else self._rng.choices(combos, k=n)
        subject = tuple(sorted(set(content_tokens(f"{topic['market']} {topic['offer']}"))))
        return [self._market(topic, objective, schema, count, subject) for objective, schema, count in picks]

    def _market(
        self,
        topic: dict[str, str],
        objective: dict[str, Any],
        schema: dict[str, Any],
        count: int,
        subject: tuple[str, ...],
    ) -> Challenge:
        text = objective["text"].format(market=topic["market"], offer=topic["offer"], count=count)
        traps = []
        list_path = (schema["list"],)
        for kind in objective["traps"]:
            if kind == "count":
                traps.append(LogicTrap(TrapKind.COUNT, list_path, expected=count))
            else:
                traps.append(LogicTrap(TrapKind(kind), list_path, item_field=schema["price"]))
        return Challenge(
            spec=self._spec(text, schema["schema"]),
            family="market",
            topic=topic["name"],
            schema_id=schema["id"],
            schema_traps=tuple(schema["traps"]),
            traps=tuple(traps),
            subject=subject,
        )

    async def draw(self) -> Challenge:
        """The next challenge: a trap challenge at `trap_rate`, else a plain market challenge."""
        return (await self.draw_set(1))[0]

    async def draw_set(self, n: int) -> list[Challenge]:
        """`n` variants of one challenge, one per miner: trap challenges at `trap_rate`."""
        if self._rng.random() >= self.trap_rate:
            return self.market_set(n, ordered=False)
        if self.oracle is not None and self._rng.random() < 0.5:
            try:
                return await self.chain_set(n)
            except OracleUnavailable as exc:
                log.info("no chain challenge this time: %s", exc)
        return self.market_set(n, ordered=True)

    async def chain_challenge(self) -> Challenge:
        """Read an account at a final block through the oracle, then ask for exactly those values."""
        return (await self.chain_set(1))[0]

    async def chain_set(self, n: int) -> list[Challenge]:
        """`n` chain reads at one pinned block, each of another account, all pre-queried."""
        if self.oracle is None:
            raise OracleUnavailable("this generator has no chain oracle")
        material = self.material.chain
        chain = self._rng.choice(material["chains"])
        chain_of(chain["id"])  # a material typo fails here, not at a miner
        head = await self.oracle.head(chain["id"])
        block = head - self._rng.randint(MIN_CHAIN_DEPTH, max(MIN_CHAIN_DEPTH, int(material["max_depth"])))
        if block < 1:
            raise OracleUnavailable(f"{chain['id']} head {head} is too young to pin a final block")
        out = []
        for _ in range(n):
            address = "0x" + "".join(self._rng.choice("0123456789abcdef") for _ in range(40))
            facts = await self.oracle.account(chain["id"], address, block)
            objective = self._rng.choice(material["objectives"])
            schema = self._rng.choice(material["schemas"])
            text = objective["text"].format(chain_label=chain["label"], block=block, address=address)
            traps = tuple(
                LogicTrap(TrapKind.EXACT, tuple(path), expected=facts.value(name))
                for name, path in schema["fields"].items()
            )
            out.append(
                Challenge(
                    spec=self._spec(text, schema["schema"]),
                    family="chain",
                    topic=chain["id"],
                    schema_id=schema["id"],
                    schema_traps=tuple(schema["traps"]),
                    traps=traps,
                    subject=(address[2:],),
                )
            )
        return out
