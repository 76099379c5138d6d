"""Capability search: rank subnets for a free-text query such as "social sentiment" or "gpu rental".

Pure and deterministic. A query word is matched against each capability's name, definition and the
search terms users type for it (`ledger.vocabulary`), and against the subnet's own name, tags and
description. Capability evidence dominates, so a query finds subnets by what they can do even when
their names say nothing about it. Verified, active subnets with a route for the matched capability
rank a little higher, deprecated ones lower. Ties break by netuid.
"""

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from ledger.entry import SubnetStatus, Verification
from ledger.errors import LedgerError
from ledger.store import StoredEntry
from ledger.vocabulary import DEFINITIONS, SEARCH_TERMS, Capability

MAX_QUERY_CHARS = 512
MAX_QUERY_TOKENS = 32

# Weights of one query word matching a capability's name, its search terms, or its definition.
NAME_WEIGHT = 3.0
TERM_WEIGHT = 2.0
DEFINITION_WEIGHT = 1.0
# A partial match ("rental" ~ "rent", "sentim" ~ "sentiment") counts for this share of a full one.
PREFIX_FACTOR = 0.5
MIN_PREFIX_CHARS = 4
# A subnet's best capability counts fully; the others add this share, so generalists do not win by
# listing many loosely matching capabilities.
OTHER_CAPABILITY_FACTOR = 0.25
# Weights of one query word matching the subnet's own name, tags or description.
SUBNET_NAME_WEIGHT = 2.0
TAG_WEIGHT = 1.5
DESCRIPTION_WEIGHT = 0.5
VERIFIED_BONUS = 0.5
# A route that declares a matched capability: the Ledger knows how to call the subnet for it.
ROUTE_BONUS = 0.5
ACTIVE_BONUS = 0.25
DEPRECATED_FACTOR = 0.5

# Words so common in definitions and descriptions that matching them says nothing.
_STOP_WORDS_TEXT = """
a an and are as at be by can for from how i in into is it its me my of on or our that the their them
then these this to via we what when where which who with you your
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"[a-z0-9]+")


class InvalidQuery(LedgerError):
    code = "invalid_query"
    http_status = 422


class SearchHit(BaseModel):
    """One subnet that matches a query, with why it matched."""

    model_config = ConfigDict(frozen=True)

    netuid: int
    name: str
    score: float = Field(description="Relevance; higher is better. Comparable within one query only.")
    matched_capabilities: tuple[str, ...] = Field(description="The subnet's capabilities that matched.")
    matched_terms: tuple[str, ...] = Field(description="The query words that matched this subnet.")
    status: SubnetStatus
    verification: Verification


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-cased, stemmed words of `text` without stop words, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS:
            seen.setdefault(stem(word), None)
    return tuple(seen)


def stem(word: str) -> str:
    """A light plural stemmer: enough for "tweets" to meet "tweet" without mangling short words."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def search(query: str, entries: Sequence[StoredEntry], *, limit: int = 20) -> list[SearchHit]:
    """The subnets that match `query`, best first. Raises `InvalidQuery` for an empty query."""
    words = query_tokens(query)
    if limit < 1:
        raise InvalidQuery("limit must be at least 1")
    capability_scores = {capability.value: _capability_score(words, capability) for capability in Capability}
    scored: list[tuple[float, SearchHit]] = []
    for stored in entries:
        hit = _score_entry(stored, words, capability_scores)
        if hit is not None:
            scored.append((hit.score, hit))
    scored.sort(key=lambda pair: (-pair[0], pair[1].netuid))
    return [hit for _, hit in scored[:limit]]


def query_tokens(query: str) -> tuple[str, ...]:
    """The words of a query that search uses. Raises `InvalidQuery` when there are none to use."""
    if not query.strip():
        raise InvalidQuery("the search query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"the search query is longer than {MAX_QUERY_CHARS} characters")
    words = tokenize(query)[:MAX_QUERY_TOKENS]
    if not words:
        raise InvalidQuery("the search query has no searchable words (only punctuation or stop words)")
    return words


@dataclass(frozen=True)
class _Field:
    words: frozenset[str]
    ordered: tuple[str, ...]  # sorted, to find words that extend a query word by bisection
    weight: float


def _fields(*pairs: tuple[Iterable[str], float]) -> tuple[_Field, ...]:
    return tuple(_Field(frozenset(words), tuple(sorted(set(words))), weight) for words, weight in pairs)


_CAPABILITY_FIELDS: dict[Capability, tuple[_Field, ...]] = {
    capability: _fields(
        (tokenize(capability.value), NAME_WEIGHT),
        (tokenize(" ".join(SEARCH_TERMS.get(capability, ()))), TERM_WEIGHT),
        (tokenize(DEFINITIONS.get(capability, "")), DEFINITION_WEIGHT),
    )
    for capability in Capability
}


def _word_score(word: str, fields: Sequence[_Field]) -> float:
    """The best weight with which `word` matches any field: fully, or as a prefix either way."""
    best = 0.0
    for field in fields:
        if field.weight <= best:
            continue
        if word in field.words:
            best = field.weight
        elif len(word) >= MIN_PREFIX_CHARS and _partial_match(word, field):
            best = max(best, field.weight * PREFIX_FACTOR)
    return best


def _partial_match(word: str, field: _Field) -> bool:
    """Whether a field word extends `word` or is a prefix of it (both at least MIN_PREFIX_CHARS long)."""
    at = bisect_left(field.ordered, word)
    if at < len(field.ordered) and field.ordered[at].startswith(word):
        return True
    return any(word[:end] in field.words for end in range(MIN_PREFIX_CHARS, len(word)))


def _capability_score(words: Sequence[str], capability: Capability) -> dict[str, float]:
    """Per query word, how well it matches the capability (only words that match)."""
    fields = _CAPABILITY_FIELDS[capability]
    scores = {word: _word_score(word, fields) for word in words}
    return {word: score for word, score in scores.items() if score > 0}


@lru_cache(maxsize=4096)
def _text_fields(name: str, tags: tuple[str, ...], description: str) -> tuple[_Field, ...]:
    # Entries change rarely and are searched often; tokenising descriptions dominated a search.
    return _fields(
        (tokenize(name), SUBNET_NAME_WEIGHT),
        (tokenize(" ".join(tags)), TAG_WEIGHT),
        (tokenize(description), DESCRIPTION_WEIGHT),
    )


def _score_entry(
    stored: StoredEntry, words: Sequence[str], capability_scores: dict[str, dict[str, float]]
) -> SearchHit | None:
    entry = stored.entry
    per_capability = sorted(
        ((sum(capability_scores[c].values()), c) for c in entry.capabilities if capability_scores[c]),
        key=lambda pair: (-pair[0], pair[1]),
    )
    capability_part = 0.0
    if per_capability:
        rest = sum(score for score, _ in per_capability[1:])
        capability_part = per_capability[0][0] + OTHER_CAPABILITY_FACTOR * rest
    text_fields = _text_fields(entry.name, entry.tags, entry.description)
    text_scores = {word: _word_score(word, text_fields) for word in words}
    relevance = capability_part + sum(text_scores.values())
    if relevance <= 0:
        return None
    matched_capabilities = tuple(c for _, c in per_capability)
    matched_words = {w for w, s in text_scores.items() if s > 0}
    for capability in matched_capabilities:
        matched_words.update(capability_scores[capability])
    score = relevance * (DEPRECATED_FACTOR if entry.status is SubnetStatus.DEPRECATED else 1.0)
    if entry.verification is Verification.VERIFIED:
        score += VERIFIED_BONUS
    if entry.status is SubnetStatus.ACTIVE:
        score += ACTIVE_BONUS
    if any(set(route.capabilities) & set(matched_capabilities) for route in entry.routes):
        score += ROUTE_BONUS
    return SearchHit(
        netuid=entry.netuid,
        name=entry.name,
        score=round(score, 4),
        matched_capabilities=matched_capabilities,
        matched_terms=tuple(w for w in words if w in matched_words),
        status=entry.status,
        verification=entry.verification,
    )


__all__ = ["InvalidQuery", "SearchHit", "query_tokens", "search", "tokenize"]
