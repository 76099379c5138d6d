"""Scores: pure functions from a checked answer to numbers in [0, 1].

Weights (DESIGN.md): orchestration 0.60 = receipts 0.20 + schema 0.15 + completeness 0.10 + fidelity
0.10 + latency 0.05; Ledger 0.40 = accepted-update accuracy 0.20 + discovery 0.10 + freshness 0.05 +
coverage 0.05. The Ledger part comes from `ledger_score`, over what the miner contributed recently.

An answer without a schema-valid result, or whose proof root does not recompute, scores 0 in every
orchestration component: there is nothing a user could rely on in it, whatever calls were made.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ledger.curation import LedgerActivity
from orchestra.planner.analysis import content_tokens
from orchestra.schema import CompiledSchema, FreeNode, ListNode, ScalarNode, iter_leaf_paths
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
        return float(sum(WEIGHTS[name] * value for name, value in asdict(self).items()))

    def as_dict(self) -> dict[str, float]:
        return {**{k: round(v, 4) for k, v in asdict(self).items()}, "total": round(self.total, 4)}


def score_answer(
    check: ResponseCheck,
    schema: CompiledSchema,
    response: TaskResult | None,
    *,
    latency_s: float,
    deadline_s: float,
) -> ScoreBreakdown:
    if response is None or response.result is None or not check.result_valid or not check.root_ok:
        return ScoreBreakdown()
    receipts = check.receipts_verified / len(check.verdicts) if check.verdicts else 0.0
    verified_evidence = [
        item
        for item, verdict in zip(
            response.evidence or [None] * len(check.verdicts), check.verdicts, strict=True
        )
        if item is not None and verdict.ok
    ]
    return ScoreBreakdown(
        receipts=receipts,
        schema=1.0,
        completeness=completeness(schema, response.result),
        fidelity=fidelity(schema, response.result, verified_evidence),
        latency=max(0.0, min(1.0, 1.0 - latency_s / deadline_s)) if deadline_s > 0 else 0.0,
    )


def _filled(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def completeness(schema: CompiledSchema, result: dict[str, Any]) -> float:
    """Share of the schema's leaf fields (list-of-object items expanded) that hold a value."""
    leaves = [value for _, _, value in iter_leaf_paths(schema.root, result)]
    return sum(1 for value in leaves if _filled(value)) / len(leaves) if leaves else 0.0


class EvidenceText:
    """All strings and numbers in a set of evidence payloads, for tracing result values back to them."""

    def __init__(self, evidence: Iterable[CallEvidence]) -> None:
        strings: list[str] = []
        for item in evidence:
            _collect(item.response, strings)
        self.text = " ".join(strings).lower()
        self.tokens = set(content_tokens(self.text))
        self.numbers = {_as_number(m) for m in _NUMBER.findall(self.text)}

    def supports_text(self, value: str) -> bool:
        lowered = " ".join(value.lower().split())
        if len(lowered) < MIN_QUOTE_CHARS:  # "a" is in any text: short values must be whole words
            return lowered in self.tokens
        if lowered in self.text:
            return True
        figures = [_as_number(m) for m in _NUMBER.findall(lowered)]
        if any(not self.supports_number(f) for f in figures):
            return False
        words = content_tokens(lowered)
        return bool(words) and sum(1 for w in words if w in self.tokens) / len(words) >= MIN_TOKEN_COVERAGE

    def supports_number(self, value: float) -> bool:
        return any(math.isclose(value, n, rel_tol=1e-9, abs_tol=1e-9) for n in self.numbers)


def fidelity(schema: CompiledSchema, result: dict[str, Any], evidence: list[CallEvidence]) -> float:
    """Share of checkable result values (text, decimals, string list items, dict values) found in the
    verified evidence.

    Integers and booleans are left out: they are usually counts or judgements derived from evidence,
    not quoted from it.
    """
    corpus = EvidenceText(evidence)
    checked = supported = 0
    for _, node, value in iter_leaf_paths(schema.root, result):
        for item in _checkable(node, value):
            checked += 1
            ok = corpus.supports_number(item) if isinstance(item, float) else corpus.supports_text(item)
            supported += ok
    return supported / checked if checked else 1.0  # nothing quotable, nothing unsupported


def _checkable(node: Any, value: Any) -> list[str | float]:
    if value is None:
        return []
    if isinstance(node, ScalarNode):
        if node.kind == "str" and isinstance(value, str):
            return [value]
        if node.kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return [float(value)]
        return []
    if isinstance(node, (ListNode, FreeNode)):
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        out: list[str | float] = []
        for item in items:
            if isinstance(item, (str, float)):
                out.append(item)
        return out
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
