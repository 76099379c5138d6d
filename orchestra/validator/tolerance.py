"""How close a re-queried answer must be to the answer a miner's evidence claims, per producer.

A spot check (`spotcheck.py`) repeats a sampled call and compares the producer's fresh answer with
the response in the miner's evidence. Producers differ in how reproducible they are (DESIGN.md), so
the comparison does too. Every policy here is pure: it returns a `Comparison` with a similarity in
[0, 1] (None when nothing could be compared) and whether it passes its threshold.

* `exact` (SN19 Blockmachine JSON-RPC): a read pinned to a block (by number or hash), a read by
  transaction hash and a chain constant give the same bytes on every node, so their `result`s must
  be equal (batches are matched by id; the `id`/`jsonrpc` envelope is ignored). Reads of moving
  state ("latest", `eth_blockNumber`, gas prices) fall back to a lenient `numeric` (25 %) when they
  are numbers and are left out otherwise: a head that moved between the two calls says nothing
  against the miner.
* `overlap` (SN22 Desearch, SN13 Data Universe): items are matched by link, url, uri or id (SN13
  index buckets by source, label and hour). Similarity is the share of the miner's items found again
  whose text agrees: every number of the item's text reappears and most of its words do. This is
  recall of the miner's claims, not Jaccard: a fresh search may list items the miner could not have
  seen, which says nothing against it, while an invented item is never found again. An item found
  under the same link whose text now disagrees is a contradiction, and only a small share of those
  is tolerated: keeping the links but inventing (or re-pricing) their content fails. Text outside
  items (a search's summary) must keep a lenient share of its words (figures aside), since hosted
  summaries are rewritten by a model on every call.
* `numeric`: numbers at the same place in both answers, equal within a relative tolerance.
* `text` (SN64 Chutes, SN4 Targon chat completions): sampling drifts even at temperature 0, so the
  measure is the share of the miner's content words found in the fresh message (combined with the
  share of its figures found again, when it has any), against a lenient threshold. Drift keeps most
  words and figures of an answer; invented text, or real text with its figures changed, does not.
* `generic` (anything else): the share of the miner's scalar values found again at the same place.

`ToleranceTable` maps a receipt to its policy by netuid, route kind and operation (`DEFAULT_RULES`);
thresholds are the policies' fields, so an operator can loosen or tighten each one.
"""

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from orchestra.adapters.blockmachine import METHODS, BlockParam
from orchestra.config import SN4_NETUID, SN13_NETUID, SN19_NETUID, SN22_NETUID, SN64_NETUID
from orchestra.errors import ConfigError
from orchestra.planner.analysis import content_tokens
from protocol.models import CallReceipt, RouteKind


class PolicyName(str, Enum):
    EXACT = "exact"
    OVERLAP = "overlap"
    NUMERIC = "numeric"
    TEXT = "text"
    GENERIC = "generic"


@dataclass(frozen=True)
class Comparison:
    """The verdict of one policy on one pair of answers."""

    policy: PolicyName
    similarity: float | None  # None: nothing in the two answers could be compared
    passed: bool
    reason: str

    @property
    def comparable(self) -> bool:
        return self.similarity is not None


class TolerancePolicy(Protocol):
    """Compares the response a miner claims (`claimed`) with the producer's `fresh` answer."""

    @property
    def name(self) -> PolicyName: ...

    def compare(self, claimed: Any, fresh: Any, *, request: Any = None) -> Comparison: ...


def _check_share(what: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} must be between 0 and 1, got {value}")


def _incomparable(policy: PolicyName, reason: str) -> Comparison:
    return Comparison(policy, None, False, reason)


# --------------------------------------------------------------------------- numbers and words

_HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,32}")  # up to 128 bits; hashes and addresses are longer
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?")


def as_number(value: Any) -> float | None:
    """A JSON number, or a JSON-RPC hex quantity (`"0x1b4"`), as a float; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _HEX_QUANTITY.fullmatch(value):
        return float(int(value, 16))
    return None


def numbers_in(text: str) -> set[float]:
    """The figures written in `text` ("$2,499.00" -> 2499.0); digits inside words (H100) are not figures."""
    return {float(match.replace(",", "")) for match in _NUMBER.findall(text)}


def words_in(text: str) -> set[str]:
    return set(content_tokens(text))


def recall(claimed: set[Any], fresh: set[Any]) -> float | None:
    """Share of `claimed` also in `fresh`; None when nothing is claimed."""
    return len(claimed & fresh) / len(claimed) if claimed else None


def text_similarity(claimed: str, fresh: str, *, weigh_figures: bool = True) -> float | None:
    """Share of the claimed text's content words found in the fresh text; with `weigh_figures` and
    figures in the claimed text, the geometric mean of that and the share of its figures found again.
    A figure is one word among many but it is what a fabricator changes, so both shares must be high.
    None when there is neither."""
    words = recall(words_in(claimed), words_in(fresh))
    figures = recall(numbers_in(claimed), numbers_in(fresh)) if weigh_figures else None
    if words is None:
        return figures
    return words if figures is None else math.sqrt(words * figures)


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON documents: `1` is not `true`, key order does not matter."""
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- numeric


@dataclass(frozen=True)
class NumericTolerance:
    """Numbers at the same JSON path, equal within `rel_tol` (or `abs_tol` near zero)."""

    rel_tol: float = 0.05
    abs_tol: float = 1e-9
    threshold: float = 1.0

    def __post_init__(self) -> None:
        _check_share("numeric threshold", self.threshold)
        if self.rel_tol < 0 or self.abs_tol < 0:
            raise ConfigError("numeric tolerances must not be negative")

    @property
    def name(self) -> PolicyName:
        return PolicyName.NUMERIC

    def close(self, a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def compare(self, claimed: Any, fresh: Any, *, request: Any = None) -> Comparison:
        wanted = {
            path: number for path, value in _leaves(claimed) if (number := as_number(value)) is not None
        }
        if not wanted:
            return _incomparable(self.name, "the miner's answer holds no numbers")
        found = dict(_leaves(fresh))
        kept = 0
        for path, number in wanted.items():
            again = as_number(found.get(path))
            kept += again is not None and self.close(number, again)
        similarity = kept / len(wanted)
        return Comparison(
            self.name,
            similarity,
            similarity >= self.threshold,
            f"{kept} of {len(wanted)} numbers within {self.rel_tol:.0%} of the producer's",
        )


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(path, scalar) for every scalar of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


# --------------------------------------------------------------------------- exact (JSON-RPC)

# Methods whose answer is fixed for a chain whatever its head (node versions are not: they differ
# between the nodes behind one gateway).
CHAIN_CONSTANTS = frozenset({"eth_chainId", "net_version", "system_chain", "system_properties"})
# Immutable once mined: a transaction and its receipt, looked up by hash.
BY_TRANSACTION_HASH = frozenset({"eth_getTransactionByHash", "eth_getTransactionReceipt"})


def pins_block(method: str, params: Any) -> bool:
    """Whether a JSON-RPC read names a fixed block (number or hash) or is otherwise reproducible.

    Follows the block positions of SN19's method table (`orchestra/adapters/blockmachine.py`): a block
    tag ("latest", "safe", ...) or an absent block argument reads moving state.
    """
    spec = METHODS.get(method)
    args = params if isinstance(params, list) else []
    if spec is None:
        return False
    if method in CHAIN_CONSTANTS or method in BY_TRANSACTION_HASH:
        return True
    if method == "eth_getLogs":
        log_filter = args[0] if args and isinstance(args[0], dict) else {}
        bounded = all(_is_quantity(log_filter.get(end)) for end in ("fromBlock", "toBlock"))
        return "blockHash" in log_filter or bounded
    if spec.block_index is None or len(args) <= spec.block_index:
        return False
    block = args[spec.block_index]
    if spec.block_param is BlockParam.NUMBER:
        return isinstance(block, int) and not isinstance(block, bool)
    if spec.block_param is BlockParam.HASH:
        return isinstance(block, str) and block.startswith("0x")
    if isinstance(block, dict):  # EIP-1898
        return _is_quantity(block.get("blockNumber")) or isinstance(block.get("blockHash"), str)
    return _is_quantity(block)


def _is_quantity(value: Any) -> bool:
    return isinstance(value, str) and _HEX_QUANTITY.fullmatch(value) is not None


@dataclass(frozen=True)
class _RpcCall:
    key: str  # the request id as JSON, so 1 and "1" stay apart
    method: str
    params: Any


def _rpc_calls(request: Any) -> tuple[list[_RpcCall], bool]:
    """The calls of a JSON-RPC request (an HTTP evidence record or a bare body) and whether it is a batch."""
    body = (
        request.get("body")
        if isinstance(request, dict) and "method" in request and "path" in request
        else request
    )
    batch = isinstance(body, list)
    entries = body if isinstance(body, list) else [body]
    calls = [
        _RpcCall(json.dumps(entry.get("id")), entry["method"], entry.get("params"))
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("method"), str)
    ]
    return calls, batch


def _answers(payload: Any, calls: list[_RpcCall], batch: bool) -> dict[str, dict[str, Any]]:
    """Response objects by request id; a single call's answer is its call's, whatever id it carries."""
    if not batch:
        return {calls[0].key: payload} if isinstance(payload, dict) and calls else {}
    out: dict[str, dict[str, Any]] = {}
    for entry in payload if isinstance(payload, list) else []:
        if isinstance(entry, dict):
            out.setdefault(json.dumps(entry.get("id")), entry)
    return out


def _error_code(answer: dict[str, Any]) -> Any:
    error = answer.get("error")
    return error.get("code") if isinstance(error, dict) else error


@dataclass(frozen=True)
class ExactRpc:
    """Reproducible JSON-RPC results must be equal; unpinned numeric reads go to `numeric`."""

    threshold: float = 1.0
    # Moving state moves fast: a head by a block every few seconds, a gas price by tens of percent in
    # minutes. Only a figure far from the producer's is a fabrication.
    unpinned: NumericTolerance = field(default_factory=lambda: NumericTolerance(rel_tol=0.25))

    def __post_init__(self) -> None:
        _check_share("exact threshold", self.threshold)

    @property
    def name(self) -> PolicyName:
        return PolicyName.EXACT

    def compare(self, claimed: Any, fresh: Any, *, request: Any = None) -> Comparison:
        calls, batch = _rpc_calls(request)
        if not calls:
            return _incomparable(self.name, "the request is not JSON-RPC")
        mine, theirs = _answers(claimed, calls, batch), _answers(fresh, calls, batch)
        same: list[str] = []
        differ: list[str] = []
        for call in calls:
            verdict = self._verdict(call, mine.get(call.key), theirs.get(call.key))
            if verdict is not None:
                (same if verdict else differ).append(f"{call.method} (id {call.key})")
        compared = len(same) + len(differ)
        skipped = len(calls) - compared
        left_out = f"; {skipped} unpinned or unanswered left out" if skipped else ""
        if not compared:
            return _incomparable(self.name, f"no reproducible result among {len(calls)} calls")
        similarity = len(same) / compared
        if differ:
            reason = (
                f"{len(differ)} of {compared} results differ from the producer's: {', '.join(differ[:3])}"
            )
        else:
            reason = f"{compared} of {compared} results match the producer's"
        return Comparison(self.name, similarity, similarity >= self.threshold, reason + left_out)

    def _verdict(
        self, call: _RpcCall, mine: dict[str, Any] | None, theirs: dict[str, Any] | None
    ) -> bool | None:
        """True or False for a compared call; None when the pair says nothing (left out)."""
        if mine is None or theirs is None:
            return None
        mine_failed, theirs_failed = mine.get("error") is not None, theirs.get("error") is not None
        if mine_failed and theirs_failed:
            return bool(_error_code(mine) == _error_code(theirs))
        if mine_failed or theirs_failed:  # the producer failing now proves nothing; nor does an error claimed
            return None
        if pins_block(call.method, call.params):
            return _same_json(mine.get("result"), theirs.get("result"))
        a, b = as_number(mine.get("result")), as_number(theirs.get("result"))
        if a is None or b is None:
            return None  # a moving object ("latest" block): nothing fair to compare
        return self.unpinned.close(a, b)


# --------------------------------------------------------------------------- overlap (search, data)

# Keys naming an item, most specific first; their values must be strings (SN13's numeric time
# bucket `id` is a request echo, not an item).
IDENTITY_KEYS = ("link", "url", "uri", "s3_path", "id")
# Keys holding an item's text.
ITEM_TEXT_KEYS = ("title", "snippet", "text", "body", "content", "description", "summary", "transcript")
MINER_INDEX_KEY = "compressed_index_serialized"  # SN13 GetMinerIndex


@dataclass(frozen=True)
class Items:
    """What an answer lists: items by identity with their text, and the text outside any item."""

    items: dict[str, str]
    loose_text: str


def collect_items(payload: Any) -> Items:
    """The items of a search or data answer, whatever its envelope (API JSON, synapse body, upload)."""
    items: dict[str, str] = {}
    loose: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            index = node.get(MINER_INDEX_KEY)
            if isinstance(index, str):
                items.update(dict.fromkeys(_index_buckets(index), ""))
            identity = _identity(node)
            if identity is not None:
                items.setdefault(identity, _item_text(node))
                return
            for key, value in node.items():
                if key != MINER_INDEX_KEY:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            loose.append(node)

    walk(payload)
    return Items(items, " ".join(loose))


def _identity(node: dict[str, Any]) -> str | None:
    for key in IDENTITY_KEYS:
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            text = value.strip().rstrip("/")
            return text.lower() if text.lower().startswith(("http://", "https://")) else text
    return None


def _item_text(node: dict[str, Any]) -> str:
    """An item's text. SN13 entities carry their post as a JSON string: its text fields count, not its
    keys (which every post shares) nor its engagement counts (which drift)."""
    parts = []
    for key in ITEM_TEXT_KEYS:
        value = node.get(key)
        inner = _json_object(value) if isinstance(value, str) else value
        if isinstance(inner, dict):
            parts.append(_item_text(inner))
        elif isinstance(value, str):
            parts.append(value)
    return " ".join(parts)


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _index_buckets(serialized: str) -> list[str]:
    """The bucket ids (source, label, hour) of an SN13 `CompressedMinerIndex`; sizes drift, ids do not."""
    try:
        index = json.loads(serialized)
    except ValueError:
        return []
    sources = index.get("sources") if isinstance(index, dict) else None
    buckets: list[str] = []
    for source, entries in sources.items() if isinstance(sources, dict) else ():
        for entry in entries if isinstance(entries, list) else ():
            hours = entry.get("time_bucket_ids") if isinstance(entry, dict) else None
            if isinstance(hours, list):
                buckets.extend(f"bucket:{source}:{entry.get('label')}:{hour}" for hour in hours)
    return buckets


@dataclass(frozen=True)
class SetOverlap:
    """Share of the miner's items found again with agreeing text; see the module docstring."""

    threshold: float = 0.5
    item_text_threshold: float = 0.6  # share of an item's words the fresh item must also have
    # Share of the items found again whose text may disagree. An item found under the same link with
    # other figures or words is a contradiction, not drift: that is what a fabricator leaves behind.
    max_contradicted: float = 0.1
    summary_threshold: float = 0.25  # share of the words outside items; hosted summaries are generated

    def __post_init__(self) -> None:
        for what, value in (
            ("overlap threshold", self.threshold),
            ("overlap item_text_threshold", self.item_text_threshold),
            ("overlap max_contradicted", self.max_contradicted),
            ("overlap summary_threshold", self.summary_threshold),
        ):
            _check_share(what, value)

    @property
    def name(self) -> PolicyName:
        return PolicyName.OVERLAP

    def text_agrees(self, claimed: str, fresh: str) -> bool:
        """Every figure of the claimed text reappears, and enough of its words do."""
        if numbers_in(claimed) - numbers_in(fresh):
            return False
        words = recall(words_in(claimed), words_in(fresh))
        return words is None or words >= self.item_text_threshold

    def compare(self, claimed: Any, fresh: Any, *, request: Any = None) -> Comparison:
        mine, theirs = collect_items(claimed), collect_items(fresh)
        # A hosted summary is rewritten by a model on every call, figures included: words only.
        summary = text_similarity(mine.loose_text, theirs.loose_text, weigh_figures=False)
        summary_ok = summary is None or summary >= self.summary_threshold
        if not mine.items:
            if summary is None:
                return _incomparable(self.name, "the miner's answer lists no items and no text")
            return Comparison(self.name, summary, summary_ok, f"text {summary:.2f} similar, no items listed")
        found = [key for key in mine.items if key in theirs.items]
        agreeing = [key for key in found if self.text_agrees(mine.items[key], theirs.items[key])]
        contradicted = len(found) - len(agreeing)
        similarity = len(agreeing) / len(mine.items)
        reason = f"{len(found)} of {len(mine.items)} items found again, {len(agreeing)} with the same text"
        consistent = contradicted <= self.max_contradicted * len(found)
        if not consistent:
            example = next(key for key in found if key not in agreeing)
            reason += f"; {contradicted} say something else now, e.g. {example[:100]}"
        if not summary_ok:
            reason += f"; the text outside them is only {summary:.2f} similar"
        passed = similarity >= self.threshold and consistent and summary_ok
        return Comparison(self.name, similarity, passed, reason)


# --------------------------------------------------------------------------- text (LLM output)


def message_text(payload: Any) -> str | None:
    """The assistant text of a chat completion (its lowest-index choice), or a bare string."""
    if isinstance(payload, str):
        return payload
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list):
        return None
    ranked = sorted(
        (c for c in choices if isinstance(c, dict)),
        key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0,
    )
    for choice in ranked:
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else choice.get("text")
        if isinstance(content, str):
            return content
    return None


@dataclass(frozen=True)
class TokenText:
    """Token-set similarity of two model answers with a lenient threshold; see the module docstring."""

    threshold: float = 0.5

    def __post_init__(self) -> None:
        _check_share("text threshold", self.threshold)

    @property
    def name(self) -> PolicyName:
        return PolicyName.TEXT

    def compare(self, claimed: Any, fresh: Any, *, request: Any = None) -> Comparison:
        mine, theirs = message_text(claimed), message_text(fresh)
        if mine is None or theirs is None:
            return _incomparable(self.name, "no assistant text on one side")
        similarity = text_similarity(mine, theirs)
        if similarity is None:
            return _incomparable(self.name, "the miner's answer has no words to compare")
        return Comparison(
            self.name,
            similarity,
            similarity >= self.threshold,
            f"{similarity:.2f} of the answer's words and figures found again",
        )


# --------------------------------------------------------------------------- generic


@dataclass(frozen=True)
class GenericLeaves:
    """Share of the miner's scalar values found again at the same place (list positions ignored)."""

    threshold: float = 0.5

    def __post_init__(self) -> None:
        _check_share("generic threshold", self.threshold)

    @property
    def name(self) -> PolicyName:
        return PolicyName.GENERIC

    def compare(self, claimed: Any, fresh: Any, *, request: Any = None) -> Comparison:
        mine, theirs = _leaf_counts(claimed), _leaf_counts(fresh)
        total = sum(mine.values())
        if not total:
            return _incomparable(self.name, "the miner's answer holds no values")
        kept = sum((mine & theirs).values())
        similarity = kept / total
        return Comparison(
            self.name, similarity, similarity >= self.threshold, f"{kept} of {total} values found again"
        )


def _leaf_counts(value: Any) -> Counter[tuple[str, str]]:
    return Counter(
        (".".join(str(p) for p in path if isinstance(p, str)), json.dumps(leaf))
        for path, leaf in _leaves(value)
    )


# --------------------------------------------------------------------------- the table

CHAT_COMPLETIONS = r"POST (?:/.*)?/chat/completions"


@dataclass(frozen=True)
class PolicyRule:
    """Receipts this rule covers: all given fields must match (`operation` is a full-match regex)."""

    policy: PolicyName
    netuid: int | None = None
    kind: RouteKind | None = None
    operation: str | None = None

    def __post_init__(self) -> None:
        if self.operation is not None:
            try:
                re.compile(self.operation)
            except re.error as exc:
                raise ConfigError(f"policy rule operation {self.operation!r} is no regex: {exc}") from None

    def covers(self, receipt: CallReceipt) -> bool:
        return (
            (self.netuid is None or receipt.netuid == self.netuid)
            and (self.kind is None or receipt.route is self.kind)
            and (self.operation is None or re.fullmatch(self.operation, receipt.operation) is not None)
        )


# First match wins. SN13 and SN22 are matched by netuid as a whole: every route they have (miner
# synapses, hosted APIs) answers with listed items. A validator that follows a producer under another
# netuid (a testnet, `ORCHESTRA_DATA_UNIVERSE_NETUID`) passes its own rules.
DEFAULT_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(PolicyName.EXACT, netuid=SN19_NETUID),
    PolicyRule(PolicyName.OVERLAP, netuid=SN22_NETUID),
    PolicyRule(PolicyName.OVERLAP, netuid=SN13_NETUID),
    PolicyRule(PolicyName.TEXT, netuid=SN64_NETUID, operation=CHAT_COMPLETIONS),
    PolicyRule(PolicyName.TEXT, netuid=SN4_NETUID, operation=CHAT_COMPLETIONS),
)


@dataclass(frozen=True)
class ToleranceTable:
    """The policy for each receipt: the first rule covering it, else `fallback`."""

    rules: tuple[PolicyRule, ...] = DEFAULT_RULES
    exact: ExactRpc = field(default_factory=ExactRpc)
    overlap: SetOverlap = field(default_factory=SetOverlap)
    numeric: NumericTolerance = field(default_factory=NumericTolerance)
    text: TokenText = field(default_factory=TokenText)
    generic: GenericLeaves = field(default_factory=GenericLeaves)
    fallback: PolicyName = PolicyName.GENERIC

    def policy(self, name: PolicyName) -> TolerancePolicy:
        policies: dict[PolicyName, TolerancePolicy] = {
            PolicyName.EXACT: self.exact,
            PolicyName.OVERLAP: self.overlap,
            PolicyName.NUMERIC: self.numeric,
            PolicyName.TEXT: self.text,
            PolicyName.GENERIC: self.generic,
        }
        return policies[name]

    def policy_for(self, receipt: CallReceipt) -> TolerancePolicy:
        rule = next((rule for rule in self.rules if rule.covers(receipt)), None)
        return self.policy(rule.policy if rule is not None else self.fallback)

    def compare(self, receipt: CallReceipt, request: Any, claimed: Any, fresh: Any) -> Comparison:
        return self.policy_for(receipt).compare(claimed, fresh, request=request)
