"""The bundled devnet corpus (synthetic; see its `notice`) and a small deterministic ranker over it."""

import functools
import json
import math
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import Any

from orchestra.planner.analysis import content_tokens


@dataclass(frozen=True)
class Corpus:
    notice: str
    web: tuple[dict[str, Any], ...]
    x: tuple[dict[str, Any], ...]
    reddit: tuple[dict[str, Any], ...]


@functools.lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    raw = json.loads(
        resources.files("orchestra.devnet").joinpath("data/corpus.json").read_text(encoding="utf-8")
    )
    return Corpus(notice=raw["notice"], web=tuple(raw["web"]), x=tuple(raw["x"]), reddit=tuple(raw["reddit"]))


def rank(query: str, documents: list[str]) -> list[int]:
    """Indices of the documents that share terms with `query`, best first (BM25, ties by position)."""
    terms = set(content_tokens(query))
    if not terms:
        return []
    tokenised = [content_tokens(doc) for doc in documents]
    average = sum(len(t) for t in tokenised) / max(1, len(tokenised))
    frequency = Counter(term for doc in tokenised for term in set(doc))
    scores = []
    for index, doc in enumerate(tokenised):
        counts = Counter(doc)
        score = 0.0
        for term in terms & counts.keys():
            idf = math.log(1 + (len(documents) - frequency[term] + 0.5) / (frequency[term] + 0.5))
            tf = counts[term]
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(doc) / max(average, 1)))
        if score > 0:
            scores.append((-score, index))
    return [index for _, index in sorted(scores)]
