"""Scores: pure functions from a checked answer to numbers in [0, 1].

Weights (DESIGN.md): orchestration 0.60 = receipts 0.20 + schema 0.15 + completeness 0.10 + fidelity
0.10 + latency 0.05; Ledger 0.40 = accepted-update accuracy 0.20 + discovery 0.10 + freshness 0.05 +
coverage 0.05. The Ledger part comes from `ledger_score`, over what the miner contributed recently.

Gates, before any component counts: an answer without a schema-valid result, or whose proof root does
not recompute, scores 0 in every orchestration component (there is nothing a user could rely on in
it); so does an answer with a receipt the validator re-queried and found answered differently
(`fabricated`): invented content behind real receipts is fraud, not a partial answer. Logic traps
scale fidelity by their mean score; exact traps (values the validator pre-queried) scale every
orchestration component by the share of those values the answer got right.
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ledger.curation import LedgerActivity
from orchestra.planner.analysis import content_tokens
from orchestra.proofs import ReceiptFault
from orchestra.schema import (
    CompiledSchema,
    FreeNode,
    ListNode,
    ScalarNode,
    child_path,
    iter_leaf_paths,
    json_path,
)
from orchestra.validator.challenges import TrapKind, TrapOutcome
from orchestra.validator.verification import ResponseCheck
from protocol.models import CallEvidence, TaskResult

WEIGHTS = {
    "receipts": 0.20,
    "schema": 0.15,
    "completeness": 0.10,
    "fidelity": 0.10,
    "latency": 0.05,
    "ledger": 0.40,
}
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
MIN_TOKEN_COVERAGE = 0.5
MIN_QUOTE_CHARS = 4
MAX_OWN_COUNT = 20


@dataclass(frozen=True)
class ScoreBreakdown:
    receipts: float = 0.0
    schema: float = 0.0
    completeness: float = 0.0
    fidelity: float = 0.0
    latency: float = 0.0
    ledger: float = 0.0

    @property
    def total(self) -> float:
        return float(sum(WEIGHTS[f.name] * getattr(self, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, float]:
        return {**{k: round(v, 4) for k, v in asdict(self).items()}, "total": round(self.total, 4)}


def is_fabricated(check: ResponseCheck) -> bool:
    """A re-queried receipt came back with another answer than the miner's evidence."""
    return any(ReceiptFault.SPOT_MISMATCH in v.faults for v in check.verdicts)


def score_answer(
    check: ResponseCheck,
    schema: CompiledSchema,
    response: TaskResult | None,
    *,
    latency_s: float,
    deadline_s: float,
    traps: Sequence[TrapOutcome] = (),
) -> ScoreBreakdown:
    """Score one checked answer. `traps` are the challenge's logic-trap outcomes for this result."""
    if response is None or response.result is None or not check.usable or is_fabricated(check):
        return ScoreBreakdown()
    receipts = check.receipts_verified / len(check.verdicts) if check.verdicts else 0.0
    evidence = response.evidence or [None] * len(check.verdicts)
    verified = {
        index: item
        for index, (item, verdict) in enumerate(zip(evidence, check.verdicts, strict=True))
        if item is not None and verdict.ok
    }
    trap_factor = sum(t.score for t in traps) / len(traps) if traps else 1.0
    # A value the validator pre-queried is the truth: an answer that contradicts it is wrong, and
    # earns only the share of those values it got right, in every orchestration component.
    exact = [t.score for t in traps if t.kind is TrapKind.EXACT]
    right = sum(exact) / len(exact) if exact else 1.0
    return ScoreBreakdown(
        receipts=receipts * right,
        schema=right,
        completeness=completeness(schema, response.result) * right,
        fidelity=fidelity(schema, response.result, response.provenance, verified, known=_proven(traps))
        * trap_factor
        * right,
        latency=(max(0.0, min(1.0, 1.0 - latency_s / deadline_s)) if deadline_s > 0 else 0.0) * right,
    )


def _filled(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def completeness(schema: CompiledSchema, result: dict[str, Any]) -> float:
    """Share of the schema's leaf fields (list-of-object items expanded) that hold a value."""
    leaves = [value for _, _, value in iter_leaf_paths(schema.root, result)]
    return sum(1 for value in leaves if _filled(value)) / len(leaves) if leaves else 0.0


class EvidenceText:
    """All strings and numbers in a set of evidence payloads, for tracing result values back to them."""

    def __init__(self, evidence: Iterable[CallEvidence] = ()) -> None:
        strings: list[str] = []
        for item in evidence:
            _collect(item.response, strings)
        self.text = " ".join(strings).lower()
        self.tokens = set(content_tokens(self.text))
        self.numbers = {_as_number(m) for m in _NUMBER.findall(self.text)}

    @classmethod
    def union(cls, parts: Sequence["EvidenceText"]) -> "EvidenceText":
        """The evidence of several receipts together, without re-reading any of it."""
        if len(parts) == 1:
            return parts[0]
        joined = cls()
        joined.text = " ".join(part.text for part in parts)
        joined.tokens = set().union(*(part.tokens for part in parts))
        joined.numbers = set().union(*(part.numbers for part in parts))
        return joined

    def supports_text(self, value: str) -> bool:
        lowered = " ".join(value.lower().split())
        if len(lowered) < MIN_QUOTE_CHARS:  # "a" is in any text: short values must be whole words
            return lowered in self.tokens
        if lowered in self.text:
            return True
        # Composed text must not carry a figure the evidence lacks; small counts ("the 3 providers")
        # are the writer's own, not quotes.
        figures = [
            _as_number(match)
            for match in _NUMBER.findall(lowered)
            if "." in match or _as_number(match) > MAX_OWN_COUNT
        ]
        if any(not self.supports_number(f) for f in figures):
            return False
        words = content_tokens(lowered)
        return bool(words) and sum(1 for w in words if w in self.tokens) / len(words) >= MIN_TOKEN_COVERAGE

    def supports_number(self, value: float) -> bool:
        if value in self.numbers:
            return True
        return any(math.isclose(value, n, rel_tol=1e-9, abs_tol=1e-9) for n in self.numbers)


def _proven(traps: Sequence[TrapOutcome]) -> frozenset[str]:
    """JSON paths of values an exact trap found equal to what the validator pre-queried."""
    return frozenset(json_path(t.path) for t in traps if t.kind is TrapKind.EXACT and t.passed)


def fidelity(
    schema: CompiledSchema,
    result: dict[str, Any],
    provenance: dict[str, list[int]],
    verified: dict[int, CallEvidence],
    *,
    known: frozenset[str] = frozenset(),
) -> float:
    """Share of checkable result values (text, decimals, string list items, dict values) found in the
    evidence of the verified receipts their provenance names.

    A value's provenance is the entry for its own path, else for the nearest enclosing path (a list's
    or a dict's entry covers its items). A value with no provenance, or whose receipts all failed
    verification, is unsupported: content must be traceable to a call that really happened. Integers
    and booleans are left out (counts and judgements derived from evidence, not quoted from it; logic
    traps check those). Values at `known` paths, which the validator checked against the truth
    itself, count as supported. With nothing checkable, fidelity is 1 when some verified evidence
    backs the answer and 0 when none does.
    """
    # Read each receipt's evidence once, and only if something cites it.
    texts: dict[int, EvidenceText] = {}
    corpora: dict[frozenset[int], EvidenceText] = {}
    checked = supported = 0
    for path, node, value in iter_leaf_paths(schema.root, result):
        for item_path, item in _checkable(node, value, path):
            checked += 1
            if item_path in known:
                supported += 1
                continue
            cited = frozenset(i for i in _cited(provenance, item_path) if i in verified)
            if not cited:
                continue
            if cited not in corpora:
                for index in cited - texts.keys():
                    texts[index] = EvidenceText([verified[index]])
                corpora[cited] = EvidenceText.union([texts[i] for i in sorted(cited)])
            corpus = corpora[cited]
            supported += (
                corpus.supports_number(item) if isinstance(item, float) else corpus.supports_text(item)
            )
    if not checked:
        return 1.0 if verified else 0.0
    return supported / checked


def _cited(provenance: dict[str, list[int]], path: str) -> list[int]:
    """The receipts cited for `path` or, failing that, for the nearest enclosing path."""
    while True:
        if path in provenance:
            return provenance[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return provenance.get("$", [])
        path = path[:cut]


def _checkable(node: Any, value: Any, path: str) -> list[tuple[str, str | float]]:
    """(path, value) of each quotable value in one leaf: the scalar itself, or a list's or dict's items."""
    if value is None:
        return []
    if isinstance(node, ScalarNode):
        if node.enum is not None:  # a choice among the schema's own values, not a quote
            return []
        if node.kind == "str" and isinstance(value, str):
            return [(path, value)]
        if node.kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return [(path, float(value))]
        return []
    if isinstance(node, (ListNode, FreeNode)):
        if isinstance(value, dict):
            items: list[tuple[str | int, Any]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            items = [("", value)]
        return [
            (child_path(path, key) if key != "" else path, item)
            for key, item in items
            if isinstance(item, (str, float))
        ]
    return []


def _collect(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, (int, float)):
        out.append(str(value))
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, out)
    elif isinstance(value, list):
        for item in value:
            _collect(item, out)


def _as_number(text: str) -> float:
    return float(text.replace(",", ""))


def ema(
    scores: NDArray[np.float64], uids: list[int], rewards: list[float], alpha: float
) -> NDArray[np.float64]:
    """Exponential moving average of rewards, per uid; uids not in `uids` keep their score."""
    updated: NDArray[np.float64] = scores.copy()
    for uid, reward in zip(uids, rewards, strict=True):
        updated[uid] = alpha * (reward if math.isfinite(reward) else 0.0) + (1 - alpha) * updated[uid]
    return updated


LEDGER_PARTS = {"accuracy": 0.20, "discovery": 0.10, "freshness": 0.05, "coverage": 0.05}
FRESHNESS_HALF_LIFE_S = 24 * 3_600.0
DISCOVERY_SCALE = 2.0


def ledger_score(activity: LedgerActivity, *, coverage_target: int) -> dict[str, float]:
    """The Ledger part of a miner's score, each component and `total` in [0, 1].

    accuracy: accepted / (accepted + rejected + 1), so one lucky proposal is not a perfect record and
    spam that validators reject pulls it down; discovery: 1 - exp(-discoveries / 2), first finds of
    accepted changes; freshness: halves every 24 h since the newest accepted proposal; coverage:
    distinct subnets with accepted proposals over `coverage_target`.
    """
    parts = {
        "accuracy": activity.accepted / (activity.accepted + activity.rejected + 1),
        "discovery": 1.0 - math.exp(-activity.discoveries / DISCOVERY_SCALE),
        "freshness": (
            0.5 ** (max(0.0, activity.last_accepted_age_s) / FRESHNESS_HALF_LIFE_S)
            if activity.last_accepted_age_s is not None
            else 0.0
        ),
        "coverage": min(1.0, len(activity.netuids) / max(1, coverage_target)),
    }
    total = sum(LEDGER_PARTS[name] * value for name, value in parts.items()) / sum(LEDGER_PARTS.values())
    return {**{k: round(v, 4) for k, v in parts.items()}, "total": round(total, 4)}
