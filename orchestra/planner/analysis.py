"""Objective analysis: the terms, names and counts a plan and a synthesis need from an objective."""

import re
from dataclasses import dataclass

from orchestra.schema import FieldSpec, ListNode, Node, ObjectNode


def words(text: str) -> frozenset[str]:
    """A word set written as one whitespace-separated string."""
    return frozenset(text.split())


STOPWORDS = words(
    """
    a an the and or but if then than of for to in on at by with from into onto about over under as
    is are was were be been being it its this that these those their there here what which who whom
    whose how why when where we our us you your they them he she his her i me my mine do does did
    done doing can could should would will shall may might must not no nor so such too very just
    also only own same other each few more most some any all both per via vs versus up down out off
    again further once new research analyse analyze analysis find list give make build create
    identify determine compare describe provide produce write report recommend suggest summarise
    summarize study explore evaluate assess review top best main key major leading current latest
    recent based using use including include between among across within without please need needs
    want wants
    """
)

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+#-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)*(?:\s+[A-Z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)*)*")
_QUOTED = re.compile(r"[\"“]([^\"”]{2,60})[\"”]")
_COUNT = re.compile(
    r"\b(?:top|best|leading|main|(?:the\s+)?first)\s+(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)\b",
    re.I,
)
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_YEAR = re.compile(r"\b(19|20)\d{2}\b")


@dataclass(frozen=True)
class ObjectiveFacts:
    keywords: tuple[str, ...]
    entities: tuple[str, ...]
    count: int | None
    years: tuple[str, ...]
    schema_terms: tuple[str, ...]


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, keeping model names like `h100`, `gpt-4o` and `vast.ai` whole."""
    return [t.lower() for t in _WORD.findall(text)]


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS and len(t) > 1]


def analyse(objective: str, schema: ObjectNode | None = None, *, max_keywords: int = 8) -> ObjectiveFacts:
    keywords = list(dict.fromkeys(t for t in content_tokens(objective) if not t.isdigit()))
    count_match = _COUNT.search(objective)
    count = None
    if count_match:
        raw = count_match.group(1).lower()
        count = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
    return ObjectiveFacts(
        keywords=tuple(keywords[:max_keywords]),
        entities=tuple(dict.fromkeys(_entities(objective))),
        count=count,
        years=tuple(dict.fromkeys(m.group(0) for m in _YEAR.finditer(objective))),
        schema_terms=tuple(dict.fromkeys(_schema_terms(schema))) if schema is not None else (),
    )


def _entities(objective: str) -> list[str]:
    found = [m.group(1).strip() for m in _QUOTED.finditer(objective)]
    for sentence in re.split(r"(?<=[.!?])\s+", objective):
        for match in _NAME.finditer(sentence):
            name = match.group(0)
            if match.start() == 0 and name.lower() in STOPWORDS:
                continue  # "Research ..." at the start of a sentence is a verb, not a name
            words = [w for w in name.split() if w.lower() not in STOPWORDS]
            if words:
                found.append(" ".join(words))
    return found


def _schema_terms(node: Node) -> list[str]:
    out: list[str] = []
    if isinstance(node, ObjectNode):
        for spec in node.fields:
            out.extend(field_terms(spec))
            out.extend(_schema_terms(spec.node))
    elif isinstance(node, ListNode):
        out.extend(_schema_terms(node.item))
    return out


def field_terms(spec: FieldSpec) -> list[str]:
    """`price_point` -> ["price", "point"]; `numberOfUsers` -> ["number", "users"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", spec.name).replace("_", " ").replace("-", " ")
    return [t for t in content_tokens(spaced)]
