"""Step outputs -> the target schema, with provenance, then validation.

The rule-based synthesiser fills the schema field by field from the evidence records, guided by the
field's type and the words in its name:

* a list of objects becomes one item per entity the evidence is about (names that recur across
  records, objective names first; entities of a neighbouring market that a search also returned are
  left out), each item filled from the sentences that mention that entity. "The top 3" gives exactly
  three items when the evidence supports three; "cheapest first" / "most expensive first" picks and
  sorts them by the price each item states;
* name-like fields take the entity's name; link-like fields its source URLs; date-like fields the
  newest publication date; unit-like fields what the entity's price is per;
* price-like fields take amounts attributed to the entity ("H100 at $2.49/hr" -> {"H100": "$2.49/hr"},
  or 2.49 for a number field), preferring a label the objective names ("H100"), never a bare figure
  (a year is not a price); a price-like number outside an entity takes the lowest comparable price
  observed (same label, currency and unit);
* enum fields take an allowed value the evidence states, a currency code also as the currency of the
  entity's prices ("$" states USD); none stated, the field is left out;
* strengths/weaknesses-like lists take the phrases that follow praise or complaint cues;
* other text fields take the most relevant sentence, or for rationale/summary fields an explanation
  composed from the extracted figures.

Block-pinned chain reads (`chain_data` records of SN19) are not read as prose: each field takes, by the
meaning of its name, the exact value the records state (balance in wei as an integer, or as decimal
text where the schema wants text; nonce; block number and hash; account; chain), never through a float.

Values pass through `orchestra.coercion` on their way in (figures, money, dates, bounds, formats), and
list items that say the same thing or name the same URL are merged. Every value records the receipts
its sentences came from, list items each their own. Nothing is invented: a field with no supporting
evidence is left out (or null), and the result is validated against the schema before it is returned;
a result that does not validate raises `SynthesisError` carrying the JSON paths.

`LlmSynthesizer` (the last section) asks a language model instead, checks every value of its answer
against the records it cites, re-asks with the problems, and falls back to the rules. Both are called
through the async `Synthesizer` interface (`AsyncRuleSynthesizer` wraps the rules).
"""

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from orchestra.adapters.base import Record
from orchestra.adapters.blockmachine import exact_values
from orchestra.coercion import (
    CoercionError,
    coerce,
    coerce_date,
    coerce_datetime,
    coerce_list,
    coerce_number,
    coerce_scalar,
    dates_in,
    figures_in,
    normalise_text,
    numbers_in,
    parse_money,
    parse_when,
)
from orchestra.errors import FieldError, ResultValidationError, SynthesisError
from orchestra.llm import ChatModel, LlmUnavailable
from orchestra.planner.analysis import STOPWORDS, ObjectiveFacts, content_tokens, field_terms, tokens, words
from orchestra.schema import (
    CompiledSchema,
    FieldSpec,
    FreeNode,
    ListNode,
    Node,
    ObjectNode,
    ScalarNode,
    child_path,
    iter_leaf_paths,
    json_path,
)

log = logging.getLogger(__name__)

MAX_LIST_ITEMS = 5
MIN_TOPIC_TERMS = 2  # objective keywords the best subject's record must share before others are judged by it
MAX_ITEM_CHARS = 200
REPAIR_ROUNDS = 4

NAME_TERMS = words(
    "brand brands companies company competitor competitors entity firm name names organisation "
    "organization platform product products provider providers service title vendor vendors"
)
URL_TERMS = words(
    "citation citations evidence homepage link links reference references site source sources url "
    "urls website"
)
DATE_TERMS = words("date day published timestamp updated when")
PRICE_TERMS = words("budget charge charges cost costs fee fees price prices pricing rate rates spend tariff")
POSITIVE_FIELDS = words(
    "advantage advantages benefits highlights opportunities positives praise pros strength strengths upsides"
)
NEGATIVE_FIELDS = words(
    "complaints concerns cons disadvantages downsides drawbacks issues limitations negatives risk "
    "risks threats weakness weaknesses"
)
EXPLANATION_FIELDS = words(
    "analysis bottom conclusion description explanation insight insights justification notes overview "
    "rationale reason reasoning reasons summary takeaway verdict"
)
SENTIMENT_FIELDS = words("mood opinion sentiment tone")
UNIT_TERMS = words("unit units billing per")
SITE_TERMS = words("homepage site website")
# Words of an objective that say what to report about a market, not which market it is.
REPORT_WORDS = (
    words(
        "cheap cheaper cheapest expensive pricier priciest dear ordered order rank ranked ranking point "
        "points newcomer recommend recommendation rental access service services"
    )
    | NAME_TERMS
    | PRICE_TERMS
    | POSITIVE_FIELDS
    | NEGATIVE_FIELDS
)
COUNT_FIELDS = words("count mentions num total volume")

_POSITIVE_CUES = [
    r"stands? out for (?P<x>.+)",
    r"praised? (?:for )?(?P<x>.+)",
    r"praises (?P<x>.+)",
    r"great for (?P<x>.+)",
    r"because of (?P<x>.+)",
    r"the good:? (?P<x>.+)",
    r"(?:known|loved) for (?P<x>.+)",
    r"excels? at (?P<x>.+)",
    r"strengths? (?:are|is|include)?:? ?(?P<x>.+)",
]
_NEGATIVE_CUES = [
    r"drawbacks? (?:are|is|include)?:? ?(?P<x>.+)",
    r"watch out for (?P<x>.+)",
    r"complaints?:? (?P<x>.+)",
    r"the bad:? (?P<x>.+)",
    r"downsides? (?:are|is)?:? ?(?P<x>.+)",
    r"suffers? from (?P<x>.+)",
    r"struggles? with (?P<x>.+)",
    r"weakness(?:es)? (?:are|is|include)?:? ?(?P<x>.+)",
]
_POSITIVE = [re.compile(r"\b" + cue, re.I) for cue in _POSITIVE_CUES]
_NEGATIVE = [re.compile(r"\b" + cue, re.I) for cue in _NEGATIVE_CUES]
_PHRASE_END = re.compile(r",\s+but\s|;\s|\.\s|\s+but\s|\.$|\s+the (?:bad|good):|\s+only complaint", re.I)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'@#$(])")
_HASHTAGS = re.compile(r"(?:\s+#\w+)+\s*$")
_MONEY = re.compile(
    r"(?P<cur>[$€£])\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<unit>\s?/\s?[A-Za-z][A-Za-z-]*|\s+per\s+(?:[A-Za-z0-9-]+\s+){0,2}[A-Za-z0-9-]+)?"
)
_FIGURE = re.compile(r"(?<![\w$€£.,/])\d+(?:,\d{3})*(?:\.\d+)?(?![\w.,]\d|\w)")
_UNIT_TEXT = re.compile(r"^[$€£]\s?[\d,]+(?:\.\d+)?")  # the amount of "$2.49/hr", leaving "/hr"
_UNIT_BEFORE = re.compile(r"(?:\bper\s+|/\s?)$", re.I)
_PRODUCT = re.compile(r"\b[A-Z]{1,5}\d{2,5}[A-Za-z]?\b")
_NAME = re.compile(
    r"(?<![@#\w])[A-Z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)*(?:\s+[A-Z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)*){0,3}"
)
_UNIT_LABELS = words(
    "egress inference input output queries query read request requests seat storage training user write"
)
_GENERIC_NAMES = words(
    "a100 ai also and any anyone api april august bad but compared cpu current december eu "
    "experiences february for friday good gpu great h100 has how i is it its january july june just "
    "llm main managed march may monday november october only our per price prices pricing reddit "
    "review saturday september still sunday that the their these they this thursday tried tuesday "
    "twitter uk us usd user users we wednesday what when where which who why with x"
)


# --------------------------------------------------------------------------------------------------
# Evidence: records split into sentences, entities, amounts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    text: str
    record: Record
    words: frozenset[str]
    record_number: int

    @property
    def receipt(self) -> int:
        return self.record.receipt_index


@dataclass(frozen=True)
class Amount:
    text: str  # as written: "$2.49/hr"
    value: float
    label: str
    owner: str | None
    sentence: Sentence
    currency: str = "USD"
    per: str | None = None  # "hour", "month", "gb", ...: prices are compared only per the same unit
    listed: bool = False  # written right after its owner's name, as in a price list ("VoltStack $1.99")


@dataclass
class Supported:
    """A value and the receipts that support it; for a list of scalars, `items` holds each item's own."""

    value: Any
    receipts: set[int] = field(default_factory=set)
    items: list[set[int]] | None = None


class Evidence:
    def __init__(self, records: Iterable[Record], facts: ObjectiveFacts) -> None:
        self.records = [r for r in records if r.text or r.title]
        self.facts = facts
        self.sentences: list[Sentence] = []
        for number, record in enumerate(self.records):
            for part in ([record.title] if record.title else []) + _sentences(record.text):
                cleaned = _HASHTAGS.sub("", part).strip()
                if cleaned:
                    self.sentences.append(Sentence(cleaned, record, frozenset(tokens(cleaned)), number))
        self.entities = self._find_entities()
        self.sole_entity = self._sole_entities(self.entities)
        self.amounts = [a for s in self.sentences for a in self._amounts(s)]
        # Only what the evidence is about can own a record: "InfiniBand" in a post about NimbusGPU is a
        # feature, and must not keep NimbusGPU's "Only complaint: ..." from NimbusGPU.
        self.sole_entity = self._sole_entities(self._find_subjects())
        self.amounts = [a for s in self.sentences for a in self._amounts(s)]
        self.subjects = self._on_topic(self._find_subjects())

    def _sole_entities(self, candidates: list[str]) -> dict[int, str]:
        """Records about exactly one of `candidates`, by record number. Such a record lends its entity the
        sentences that do not repeat its name ("We have used NimbusGPU for months. Pricing: H100 at
        $2.49/hr.")."""
        mentioned: dict[int, set[str]] = defaultdict(set)
        for sentence in self.sentences:
            mentioned[sentence.record_number].update(e for e in candidates if _mentions(sentence.text, e))
        return {number: next(iter(names)) for number, names in mentioned.items() if len(names) == 1}

    def _find_entities(self) -> list[str]:
        mentions: Counter[str] = Counter()
        records_of: dict[str, set[int]] = defaultdict(set)
        for sentence in self.sentences:
            for name in _names(sentence.text):
                mentions[name] += 1
                records_of[name].add(sentence.record_number)
        candidates = [n for n in mentions if len(records_of[n]) >= 2]
        # "CoreForge" inside "CoreForge Cloud": keep the longer name when it accounts for most mentions.
        for short in list(candidates):
            longer = [n for n in candidates if n != short and n.startswith(short + " ")]
            if any(mentions[n] * 2 >= mentions[short] for n in longer):
                candidates.remove(short)
        priced = Counter(owner for s in self.sentences for owner in self._owners_with_prices(s, candidates))
        wanted = {e.lower() for e in self.facts.entities}
        candidates.sort(key=lambda n: (n.lower() not in wanted, -len(records_of[n]) - 2 * priced[n], n))
        return candidates

    def _find_subjects(self) -> list[str]:
        """Entities the evidence is about, not merely mentions: named in a title, opening a sentence, the
        only entity of a record, or listed with a price ("Helixbase $0.25" in a price roundup). Lists of
        entities are drawn from these."""
        subjects = set(self.sole_entity.values())
        subjects.update(a.owner for a in self.amounts if a.listed and a.owner is not None)
        for sentence in self.sentences:
            for entity in self.entities:
                if sentence.text.startswith(entity) or (
                    sentence.record.title == sentence.text and _mentions(sentence.text, entity)
                ):
                    subjects.add(entity)
        return [e for e in self.entities if e in subjects]

    def _on_topic(self, subjects: list[str]) -> list[str]:
        """The subjects the objective is about. A search returns neighbouring markets too (GPU clouds for
        a vector database question); a subject whose best record shares less than half as many of the
        objective's topic words as the best subject's does is left out. Its own name's words do not count,
        nor words that say what to report ("pricing", "strengths"): every market has those."""
        wanted = set(self.facts.keywords) - REPORT_WORDS
        if not wanted or not subjects:
            return subjects
        record_words = [frozenset(tokens(f"{r.title or ''} {r.text}")) for r in self.records]
        score: dict[str, int] = {}
        for subject in subjects:
            own = set(tokens(subject))
            numbers = {s.record_number for s in self.scope(subject)}
            score[subject] = max((len((record_words[n] - own) & wanted) for n in numbers), default=0)
        best = max(score.values())
        if best < MIN_TOPIC_TERMS:  # too little overlap anywhere to tell neighbouring markets apart
            return subjects
        return [s for s in subjects if 2 * score[s] >= best]

    def _owners_with_prices(self, sentence: Sentence, names: list[str]) -> list[str]:
        return [
            owner
            for match in _MONEY.finditer(sentence.text)
            if (owner := _owner(sentence.text, match.start(), names))
        ]

    def _amounts(self, sentence: Sentence) -> list[Amount]:
        out = []
        products = _PRODUCT.findall(sentence.text)
        for match in _MONEY.finditer(sentence.text):
            unit = _trim_unit(match.group("unit") or "")
            text = f"{match.group('cur')}{match.group('num')}{unit}"
            owner = _owner(sentence.text, match.start(), self.entities) or self.sole_entity.get(
                sentence.record_number
            )
            label = _label(sentence.text, match.start(), unit, products, self.entities)
            listed = owner is not None and _listed_before(sentence.text, match.start(), owner)
            try:
                money = parse_money(text)
            except CoercionError:  # a figure the money rules cannot read is not offered as a price
                continue
            out.append(
                Amount(
                    text=text,
                    value=money.amount,
                    label=label,
                    owner=owner,
                    sentence=sentence,
                    currency=money.currency,
                    per=money.per,
                    listed=listed,
                )
            )
        return out

    def scope(self, entity: str) -> list[Sentence]:
        """Sentences about `entity`: those naming it, and the rest of the records only about it."""
        return [
            s
            for s in self.sentences
            if _mentions(s.text, entity) or self.sole_entity.get(s.record_number) == entity
        ]

    def relevance(self, sentence: Sentence, terms: Iterable[str]) -> int:
        wanted = set(terms) | set(self.facts.keywords)
        return len(sentence.words & wanted)


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_SPLIT.split(text or "") if part.strip()]


def _names(text: str) -> list[str]:
    out = []
    for match in _NAME.finditer(text):
        if _UNIT_BEFORE.search(text, 0, match.start()):  # "per GB-month", "/TB": a unit, not a name
            continue
        words = match.group(0).split()
        while words and (words[0].lower() in _GENERIC_NAMES or words[0].lower() in STOPWORDS):
            words = words[1:]
        while words and (words[-1].lower() in _GENERIC_NAMES or words[-1].lower() in STOPWORDS):
            words = words[:-1]
        name = " ".join(words)
        # "GPUs", "SLAs": acronyms in the plural are things, not names.
        if len(name) > 2 and any(c.islower() for c in name.removesuffix("s")):
            out.append(name)
    return out


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w@#]){re.escape(name)}(?!\w)", text, re.I) is not None


def _own_site(url: str, entity: str) -> bool:
    """The URL's host is named after `entity` ("coreforge.example" for "CoreForge Cloud")."""
    host = (urlsplit(url).hostname or "").removeprefix("www.").split(".")[0]
    name = re.sub(r"[^a-z0-9]", "", entity.lower())
    return len(host) >= 3 and (name.startswith(host) or host.startswith(name))


def _listed_before(text: str, position: int, name: str) -> bool:
    """`name` stands right before `position` ("VoltStack $1.99", "VoltStack: $1.99", "VoltStack at $1.99")."""
    return (
        re.search(
            rf"(?<![\w@#]){re.escape(name)}\s*(?:[:\-\u2013\u2014]|\s+at|\s+from)?\s*$", text[:position]
        )
        is not None
    )


def _owner(text: str, position: int, names: list[str]) -> str | None:
    """The entity mentioned last before `position` in `text`."""
    best: tuple[int, str] | None = None
    for name in names:
        for match in re.finditer(rf"(?<![\w@#]){re.escape(name)}(?!\w)", text[:position]):
            if best is None or match.start() > best[0]:
                best = (match.start(), name)
    return best[1] if best else None


def _trim_unit(unit: str) -> str:
    words = unit.split()
    if words and words[0].lower() == "per":
        kept = ["per"]
        for word in words[1:]:
            if word.lower() in STOPWORDS:
                break
            kept.append(word)
        return " " + " ".join(kept) if len(kept) > 1 else ""
    return unit.replace(" ", "")


def _label(text: str, position: int, unit: str, products: list[str], entities: list[str]) -> str:
    before = text[:position]
    owner_end = 0
    for name in entities:
        found = before.rfind(name)
        if found >= 0:
            owner_end = max(owner_end, found + len(name))
    nearby: list[str] = _PRODUCT.findall(before[owner_end:])
    if nearby:
        return nearby[-1]
    unit_words: list[str] = [w.lower() for w in re.findall(r"[A-Za-z]+", unit)]
    for word in unit_words:
        if word in _UNIT_LABELS:
            return word
    preceding: list[str] = [
        w for w in re.findall(r"[A-Za-z][A-Za-z-]+", before[owner_end:])[-3:] if w.lower() not in STOPWORDS
    ]
    if (
        preceding
        and preceding[-1].islower()
        and preceding[-1] not in {"lists", "charges", "costs", "is", "at"}
    ):
        return preceding[-1]
    if len(set(products)) == 1:
        return products[0]
    if unit_words:
        return "per_" + "_".join(w for w in unit_words if w != "per")
    return "price"


# --------------------------------------------------------------------------------------------------
# Phrase extraction
# --------------------------------------------------------------------------------------------------


def _cue_phrases(sentence: Sentence, cues: list[re.Pattern[str]]) -> list[str]:
    out = []
    for cue in cues:
        for match in cue.finditer(sentence.text):
            phrase = _PHRASE_END.split(match.group("x"))[0].strip(" .:;,")
            out.extend(_split_list(phrase))
    return out


def _split_list(phrase: str) -> list[str]:
    parts = [p.strip(" .,;") for p in re.split(r",\s+(?:and\s+)?|\s+and\s+", phrase)]
    if len(parts) > 1 and all(len(p.split()) >= 2 for p in parts):
        return [p[:MAX_ITEM_CHARS] for p in parts if p]
    return [phrase[:MAX_ITEM_CHARS]] if phrase else []


def _polarity(sentence: Sentence) -> int:
    return (1 if any(c.search(sentence.text) for c in _POSITIVE) else 0) - (
        1 if any(c.search(sentence.text) for c in _NEGATIVE) else 0
    )


# --------------------------------------------------------------------------------------------------
# The synthesiser
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Synthesis:
    """A schema-valid result; `provenance` maps JSON paths of its values (fields, and list items) to the
    indices of the receipts whose evidence states them. `by` names the synthesiser that built it."""

    result: dict[str, Any]
    provenance: dict[str, list[int]]
    filled: int
    total: int
    by: Literal["rules", "llm"] = "rules"


class RuleSynthesizer:
    """Deterministic, evidence-only synthesis. See the module docstring for the rules."""

    def synthesise(self, schema: CompiledSchema, facts: ObjectiveFacts, records: list[Record]) -> Synthesis:
        filler: _Filler | _ChainFiller
        if chain_reads_only(records):
            filler = _ChainFiller(records)
            result = filler.fill_object(schema.root, "$", frozenset())
        else:
            evidence = Evidence(records, facts)
            if not evidence.sentences:
                raise SynthesisError("the producers returned no usable evidence to build a result from")
            filler = _Filler(evidence)
            result = filler.fill_object(schema.root, "$", evidence.sentences, entity=None)
        for _ in range(REPAIR_ROUNDS):
            try:
                normalised = schema.validate(result)
                break
            except ResultValidationError as exc:
                # What breaks a constraint and is not required is dropped, then the rest is checked again.
                if not _drop_optional(schema.root, result, [e.loc for e in exc.errors], filler.provenance):
                    raise SynthesisError(
                        f"the evidence does not support every required field: {exc.message}"
                    ) from None
        else:
            raise SynthesisError("the result could not be made to fit the target schema")
        return Synthesis(
            result=normalised,
            provenance={path: sorted(receipts) for path, receipts in filler.provenance.items() if receipts},
            filled=filler.filled,
            total=filler.total,
        )


class _Filler:
    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.provenance: dict[str, set[int]] = {}
        self.filled = 0
        self.total = 0

    # ----------------------------------------------------------------- structure

    def fill_object(
        self, node: ObjectNode, path: str, scope: list[Sentence], entity: str | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in node.fields:
            child = child_path(path, spec.name)
            supported = self.value(spec, spec.node, child, scope, entity)
            self.total += 1
            if supported is None:
                if spec.nullable and spec.required:
                    out[spec.name] = None
                continue
            self.filled += 1
            out[spec.name] = supported.value
            self.provenance[child] = supported.receipts
            for index, receipts in enumerate(supported.items or []):
                self.provenance[child_path(child, index)] = receipts
        return out

    def value(
        self, spec: FieldSpec, node: Node, path: str, scope: list[Sentence], entity: str | None
    ) -> Supported | None:
        terms = set(field_terms(spec))
        if isinstance(node, ObjectNode):
            inner = self.fill_object(node, path, scope, entity)
            return Supported(inner, set()) if inner else None
        if isinstance(node, ListNode):
            return self.sequence(spec, node, path, scope, entity, terms)
        if isinstance(node, FreeNode):
            if node.kind == "list":
                return self.phrases(terms, scope, entity)
            if node.kind == "dict":
                return self.mapping(terms, scope, entity)
            return self.text(terms, scope, entity)
        return self.scalar(node, terms, scope, entity)

    def sequence(
        self,
        spec: FieldSpec,
        node: ListNode,
        path: str,
        scope: list[Sentence],
        entity: str | None,
        terms: set[str],
    ) -> Supported | None:
        limit = min(node.max_items or MAX_LIST_ITEMS, MAX_LIST_ITEMS)
        if isinstance(node.item, ObjectNode):
            # "the top 3" sets the length, within the schema bounds; otherwise every subject up to the limit.
            wanted = self.evidence.facts.count or limit
            if node.max_items is not None:
                wanted = min(wanted, node.max_items)
            wanted = max(wanted, node.min_items or 0)
            items: list[dict[str, Any]] = []
            for name in self._in_asked_order(self.evidence.subjects, node.item):
                if len(items) >= wanted:
                    break
                item_path = child_path(path, len(items))
                counters = (self.filled, self.total)
                item = self.fill_object(node.item, item_path, self.evidence.scope(name), name)
                if _complete(node.item, item):
                    items.append(item)
                else:  # an entity the evidence says too little about is left out, not padded
                    self.filled, self.total = counters
                    for key in [k for k in self.provenance if k.startswith(item_path)]:
                        del self.provenance[key]
            return Supported(items, set()) if items or not spec.required else None
        if isinstance(node.item, ScalarNode) and node.item.kind in ("int", "float"):
            found = [(a.value, a.sentence) for a in self._money(terms, scope, entity)]
            if not found and not terms & PRICE_TERMS:  # a price is money; a year is not a price
                found = self._figures(terms, scope)
            coerced = [
                (value, sentence)
                for number, sentence in found
                if (value := _coerced(node.item, number)) is not None
            ][:limit]
            if not coerced:
                return None
            return Supported(
                [value for value, _ in coerced],
                {sentence.receipt for _, sentence in coerced},
                [{sentence.receipt} for _, sentence in coerced],
            )
        if isinstance(node.item, ScalarNode) and node.item.kind == "str":
            phrases = self.phrases(terms, scope, entity, limit=limit, item=node.item)
            return phrases if phrases is None or phrases.value else None
        return None

    # ----------------------------------------------------------------- leaves

    def scalar(
        self, node: ScalarNode, terms: set[str], scope: list[Sentence], entity: str | None
    ) -> Supported | None:
        if node.enum is not None:
            return _fit(node, self._enum(node, scope, entity))
        if node.kind == "str":
            return _fit(node, self.text(terms, scope, entity, date_time=node.format == "date-time"))
        if node.kind == "bool":
            return _fit(node, self._boolean(terms, scope))
        if node.kind == "int" and terms & COUNT_FIELDS:
            records = {s.record.url or id(s.record): s.receipt for s in scope}
            return _fit(node, Supported(len(records), set(records.values()))) if records else None
        amounts = self._money(terms, scope, entity)
        if amounts:
            chosen = self._lowest_comparable(amounts) if entity is None else self._entity_price(amounts)
            number, receipt = chosen.value, chosen.sentence.receipt
        elif terms & PRICE_TERMS:  # a price is money: "autumn 2026" near the word price is not one
            return None
        else:
            figures = self._figures(terms, scope)
            if not figures:
                return None
            number = Counter(value for value, _ in figures).most_common(1)[0][0]
            receipt = next(sentence.receipt for value, sentence in figures if value == number)
        return _fit(node, Supported(number, {receipt}))

    def text(
        self, terms: set[str], scope: list[Sentence], entity: str | None, *, date_time: bool = False
    ) -> Supported | None:
        """The text a field's words ask for; a date-like field gets the newest publication date, as a
        date-time when `date_time`."""
        if not scope:
            return None
        if terms & NAME_TERMS:
            name = entity or (self.evidence.subjects[0] if self.evidence.subjects else None)
            if name is None:
                return None
            return Supported(name, {s.receipt for s in self.evidence.scope(name)})
        if terms & URL_TERMS:
            urls = self._urls(scope, entity)
            if entity is not None and terms & SITE_TERMS:  # its own site before pages about it
                urls.sort(key=lambda found: not _own_site(found[0], entity))
            return Supported(urls[0][0], urls[0][1]) if urls else None
        if terms & UNIT_TERMS and entity is not None:
            return self._unit(scope, entity)
        if terms & DATE_TERMS:
            return _newest(scope, date_time=date_time)
        if terms & SENTIMENT_FIELDS:
            polarities = [(_polarity(s), s.receipt) for s in scope]
            score = sum(p for p, _ in polarities)
            positive = sum(1 for p, _ in polarities if p > 0)
            negative = sum(1 for p, _ in polarities if p < 0)
            label = (
                "mixed"
                if positive and negative and abs(score) <= 1
                else "positive"
                if score > 0
                else "negative"
                if score < 0
                else "neutral"
            )
            return Supported(label, {r for p, r in polarities if p})
        if terms & EXPLANATION_FIELDS:
            return self._explanation(terms, scope, entity)
        best = max(scope, key=lambda s: (self.evidence.relevance(s, terms), -scope.index(s)))
        return Supported(best.text[: MAX_ITEM_CHARS * 2], {best.receipt})

    def phrases(
        self,
        terms: set[str],
        scope: list[Sentence],
        entity: str | None,
        *,
        limit: int = MAX_LIST_ITEMS,
        item: ScalarNode | None = None,
    ) -> Supported | None:
        """A list of short texts; items that say the same thing (or are the same URL) are merged, with the
        union of their receipts, and with `item` each must fit that node or is left out."""
        if terms & NAME_TERMS and entity is None:
            named = [
                (name, {s.receipt for s in self.evidence.scope(name)}) for name in self.evidence.subjects
            ]
            return _listed(_fit_items(item, named)[:limit])
        if terms & URL_TERMS:
            return _listed(_fit_items(item, self._urls(scope, entity))[:limit])
        cues = _NEGATIVE if terms & NEGATIVE_FIELDS else _POSITIVE if terms & POSITIVE_FIELDS else None
        found: dict[str, set[int]] = {}
        if cues is not None:
            for sentence in scope:
                for phrase in _cue_phrases(sentence, cues):
                    found.setdefault(_clean_phrase(phrase, entity), set()).add(sentence.receipt)
        else:
            ranked = sorted(scope, key=lambda s: -self.evidence.relevance(s, terms))
            for sentence in ranked:
                found.setdefault(sentence.text[:MAX_ITEM_CHARS], set()).add(sentence.receipt)
        merged = sorted(
            dedupe((t, r) for t, r in found.items() if content_tokens(t)), key=lambda i: -len(i[1])
        )
        return _listed(_fit_items(item, merged)[:limit])

    def mapping(self, terms: set[str], scope: list[Sentence], entity: str | None) -> Supported | None:
        amounts = [
            a for a in self.evidence.amounts if a.sentence in scope and (entity is None or a.owner == entity)
        ]
        if amounts and (terms & PRICE_TERMS or not terms):
            by_label: dict[str, list[Amount]] = defaultdict(list)
            for amount in amounts:
                by_label[amount.label].append(amount)
            prices = {label: _typical(group).text for label, group in by_label.items()}
            return Supported(prices, {a.sentence.receipt for a in amounts})
        if not scope:
            return None
        best = max(scope, key=lambda s: self.evidence.relevance(s, terms))
        details: dict[str, Any] = {"excerpt": best.text[:MAX_ITEM_CHARS]}
        if best.record.url:
            details["source"] = best.record.url
        return Supported(details, {best.receipt})

    # ----------------------------------------------------------------- helpers

    def _money(self, terms: set[str], scope: list[Sentence], entity: str | None) -> list[Amount]:
        """Money amounts in scope, for price-like fields; a field naming a label ("h100_price") gets
        only the amounts with that label."""
        pool = [
            a for a in self.evidence.amounts if a.sentence in scope and (entity is None or a.owner == entity)
        ]
        # "price" is the label of an amount nothing more specific names: it names no label of its own.
        lowered = {t.lower() for t in terms} - PRICE_TERMS
        if lowered & {a.label.lower() for a in self.evidence.amounts}:
            return [a for a in pool if a.label.lower() in lowered]
        return pool if terms & PRICE_TERMS else []

    def _figures(self, terms: set[str], scope: list[Sentence]) -> list[tuple[float, Sentence]]:
        """Plain numbers ("99.95% uptime", "512 GPUs") from sentences that use one of the field's words."""
        wanted = {t for t in terms if len(t) > 2}
        found = []
        for sentence in scope:
            if sentence.words & wanted:
                for match in _FIGURE.finditer(sentence.text):
                    try:
                        found.append((coerce_number(match.group(0)), sentence))
                    except CoercionError:  # "10000,000": no single reading, so no figure
                        continue
        return found

    def _unit(self, scope: list[Sentence], entity: str) -> Supported | None:
        """What the entity's price is per, as written after it ("hr" of "$2.49/hr"); None when its
        price states no unit."""
        amounts = self._money({"price"}, scope, entity)
        if not amounts:
            return None
        price = self._entity_price(amounts)
        unit = _UNIT_TEXT.sub("", price.text).strip(" /")
        return Supported(unit, {price.sentence.receipt}) if unit else None

    def _entity_price(self, amounts: list[Amount]) -> Amount:
        """One entity's price: of the amounts labelled with an objective word ("H100" for "H100 GPU
        rental"), if any, the most often stated."""
        asked = {k.lower() for k in self.evidence.facts.keywords}
        return _typical([a for a in amounts if a.label.lower() in asked] or amounts)

    def _in_asked_order(self, names: list[str], item: ObjectNode) -> list[str]:
        """`names` by price when the objective asks for an order ("cheapest first": ascending), each at
        the price its item will state; those without a price follow in evidence order."""
        order = self.evidence.facts.order
        if order is None:
            return names
        terms = _price_terms(item)
        priced: list[tuple[float, int, str]] = []
        unpriced: list[str] = []
        for index, name in enumerate(names):
            amounts = self._money(terms, self.evidence.scope(name), name)
            if amounts:
                priced.append((self._entity_price(amounts).value, index, name))
            else:
                unpriced.append(name)
        priced.sort(key=lambda p: (p[0] if order == "asc" else -p[0], p[1]))
        return [name for _, _, name in priced] + unpriced

    def _lowest_comparable(self, amounts: list[Amount]) -> Amount:
        """The cheapest price among entity-owned amounts sharing the most common label, currency and unit
        ($1.99/hr and €1.50/hr, or $1.99/hr and $900/mo, are not compared)."""
        owned = (
            [a for a in amounts if a.owner in self.evidence.subjects]
            or [a for a in amounts if a.owner is not None]
            or amounts
        )
        kind = Counter((a.label, a.currency, a.per) for a in owned).most_common(1)[0][0]
        return min(
            (a for a in owned if (a.label, a.currency, a.per) == kind), key=lambda a: (a.value, -len(a.text))
        )

    def _explanation(self, terms: set[str], scope: list[Sentence], entity: str | None) -> Supported | None:
        owned = [a for a in self.evidence.amounts if a.owner is not None and a.sentence in scope]
        owned = [a for a in owned if a.owner in self.evidence.subjects] or owned
        if entity is None and owned:
            label = Counter(a.label for a in owned).most_common(1)[0][0]
            by_owner: dict[str, list[Amount]] = defaultdict(list)
            for amount in owned:
                if amount.label == label and amount.owner is not None:
                    by_owner[amount.owner].append(amount)
            per_entity = {owner: _typical(group) for owner, group in by_owner.items()}
            if per_entity:
                cheapest = min(per_entity.values(), key=lambda a: a.value)
                dearest = max(per_entity.values(), key=lambda a: a.value)
                what = "price" if label == "price" else f"{label} price"
                text = (
                    f"{cheapest.owner} lists the lowest {what} found, {cheapest.text}; the "
                    f"{len(per_entity)} providers priced in the evidence range from {cheapest.text} to "
                    f"{dearest.text} ({dearest.owner}). Matching {cheapest.text} prices at the bottom of the "
                    "observed market."
                )
                return Supported(text, {a.sentence.receipt for a in per_entity.values()})
        ranked = sorted(scope, key=lambda s: -self.evidence.relevance(s, terms))[:2]
        if not ranked:
            return None
        return Supported(" ".join(s.text for s in ranked), {s.receipt for s in ranked})

    def _urls(self, scope: list[Sentence], entity: str | None = None) -> list[tuple[str, set[int]]]:
        """Source URLs, pages about the entity alone first, then web pages, then posts; one URL seen in
        several records (or written differently: "www.", a trailing slash) once, with all their receipts."""

        def order(s: Sentence) -> tuple[bool, bool]:
            return self.evidence.sole_entity.get(s.record_number) != entity, s.record.kind != "web_page"

        return dedupe((s.record.url, {s.receipt}) for s in sorted(scope, key=order) if s.record.url)

    def _boolean(self, terms: set[str], scope: list[Sentence]) -> Supported | None:
        content = {t for t in terms if t not in {"is", "has", "supports", "offers", "available"}}
        for sentence in scope:
            if content and content <= sentence.words:
                negated = bool(re.search(r"\b(no|not|without|lacks?)\b", sentence.text, re.I))
                return Supported(not negated, {sentence.receipt})
        return None

    def _enum(self, node: ScalarNode, scope: list[Sentence], entity: str | None) -> Supported | None:
        """The allowed value the evidence states most often: as a word, or, for a currency code, as the
        currency of the entity's prices ("$2.49/hr" states USD). None when no option is stated."""
        assert node.enum is not None
        counts: Counter[Any] = Counter()
        receipts: dict[Any, set[int]] = defaultdict(set)
        currencies: dict[int, set[str]] = defaultdict(set)  # by id(): sentences hold unhashable records
        for amount in self.evidence.amounts:
            if entity is None or amount.owner == entity:
                currencies[id(amount.sentence)].add(amount.currency)
        for sentence in scope:
            for option in node.enum:
                if isinstance(option, str) and (
                    option.lower() in sentence.words or option in currencies.get(id(sentence), ())
                ):
                    counts[option] += 1
                    receipts[option].add(sentence.receipt)
        if not counts:
            return None
        option = counts.most_common(1)[0][0]
        return Supported(option, receipts[option])


def _price_terms(item: ObjectNode) -> set[str]:
    """The words of the item's price field (its first numeric field with a price word), else "price"."""
    for spec in item.fields:
        terms = set(field_terms(spec))
        if isinstance(spec.node, ScalarNode) and spec.node.kind in ("int", "float") and terms & PRICE_TERMS:
            return terms
    return {"price"}


def _fit(node: ScalarNode, supported: Supported | None) -> Supported | None:
    """The value coerced to what `node` asks for (a quote shortened to `maxLength` at a word boundary); None
    when it cannot meet the node's constraints, so the field is left out rather than bent to fit."""
    if supported is None:
        return None
    value = _coerced(node, supported.value, shorten=True)
    return None if value is None else Supported(value, supported.receipts)


def _coerced(node: ScalarNode, value: Any, *, shorten: bool = False) -> Any:
    try:
        return coerce_scalar(node, value, shorten=shorten)
    except CoercionError:
        return None


def _fit_items(item: ScalarNode | None, found: list[tuple[Any, set[int]]]) -> list[tuple[Any, set[int]]]:
    if item is None:
        return found
    fitted = [(_coerced(item, value), receipts) for value, receipts in found]
    return [(value, receipts) for value, receipts in fitted if value is not None]


def _listed(items: list[tuple[Any, set[int]]]) -> Supported | None:
    if not items:
        return None
    return Supported(
        [value for value, _ in items], {r for _, receipts in items for r in receipts}, [r for _, r in items]
    )


def _newest(scope: list[Sentence], *, date_time: bool) -> Supported | None:
    """The newest publication date in scope (a record's own `published`, never a date guessed from text)."""
    dated: list[tuple[dt.datetime, str, int]] = []
    for sentence in scope:
        if sentence.record.published:
            try:
                when = _instant(parse_when(sentence.record.published))
            except CoercionError:
                continue
            dated.append((when, sentence.record.published, sentence.receipt))
    if not dated:
        return None
    newest = max(when for when, _, _ in dated)
    raw = next(text for when, text, _ in dated if when == newest)
    value = coerce_datetime(raw) if date_time else coerce_date(raw)
    return Supported(value, {receipt for when, _, receipt in dated if when == newest})


def _instant(when: dt.date | dt.datetime) -> dt.datetime:
    """A comparable UTC instant: a date is its midnight, a time without a zone is taken as UTC."""
    if not isinstance(when, dt.datetime):
        return dt.datetime(when.year, when.month, when.day, tzinfo=dt.timezone.utc)
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def _drop_optional(
    root: ObjectNode, result: dict[str, Any], locs: list[tuple[str | int, ...]], provenance: dict[str, Any]
) -> bool:
    """Remove the values at `locs` that the schema lets go: optional fields and list items, keeping the
    provenance in step. False when a failing location is required (nothing to drop there)."""
    dropped = False
    # Deepest and highest indices first, so removing one list item does not move the next one.
    for loc in sorted(set(locs), key=_loc_key, reverse=True):
        if not loc:
            return False
        node: Node = root
        container: Any = result
        for part in loc[:-1]:
            node = _child(node, part)
            container = container[part]
        last = loc[-1]
        if isinstance(last, int) and isinstance(container, list) and last < len(container):
            container.pop(last)
            _renumber(provenance, json_path(loc[:-1]), last)
        elif isinstance(last, str) and isinstance(node, ObjectNode) and isinstance(container, dict):
            spec = node.field(last)
            if spec is None or spec.required:
                return False
            container.pop(last, None)
            _forget(provenance, json_path(loc))
        else:
            return False
        dropped = True
    return dropped


def _loc_key(loc: tuple[str | int, ...]) -> tuple[tuple[int, str | int], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in loc)


def _forget(provenance: dict[str, Any], path: str) -> None:
    for key in [k for k in provenance if k == path or k.startswith((path + ".", path + "["))]:
        del provenance[key]


def _renumber(provenance: dict[str, Any], list_path: str, removed: int) -> None:
    """Item `removed` left the list at `list_path`: forget its provenance, move later items down one."""
    _forget(provenance, child_path(list_path, removed))
    moved = {}
    for key in list(provenance):
        head, _, rest = key[len(list_path) + 1 :].partition("]")
        if key.startswith(list_path + "[") and head.isdigit() and int(head) > removed:
            moved[f"{child_path(list_path, int(head) - 1)}{rest}"] = provenance.pop(key)
    provenance.update(moved)


def _child(node: Node, part: str | int) -> Node:
    if isinstance(node, ObjectNode) and isinstance(part, str):
        spec = node.field(part)
        return spec.node if spec is not None else FreeNode(kind="any")
    if isinstance(node, ListNode):
        return node.item
    return FreeNode(kind="any")


def _complete(node: ObjectNode, value: dict[str, Any]) -> bool:
    """Every required field is present (recursively): a list item must be whole or absent."""
    for spec in node.fields:
        if spec.name not in value:
            if spec.required:
                return False
            continue
        inner = value[spec.name]
        if isinstance(spec.node, ObjectNode) and isinstance(inner, dict) and not _complete(spec.node, inner):
            return False
    return bool(value)


def _typical(amounts: list[Amount]) -> Amount:
    """The most often stated value, written the most completely ("$1.99/hr" over "$1.99")."""
    value = Counter(a.value for a in amounts).most_common(1)[0][0]
    return max((a for a in amounts if a.value == value), key=lambda a: len(a.text))


def _clean_phrase(phrase: str, entity: str | None) -> str:
    cleaned = _HASHTAGS.sub("", phrase).strip(" .,:;")
    if entity:
        cleaned = re.sub(rf"^{re.escape(entity)}\s+", "", cleaned)
    return cleaned[:1].upper() + cleaned[1:] if cleaned else cleaned


def dedupe(items: Iterable[tuple[Any, set[int]]]) -> list[tuple[Any, set[int]]]:
    """List items merged when they say the same thing: the same URL (ignoring scheme, "www.", a trailing
    slash, fragments and utm_ parameters), the same words (ignoring case and punctuation), or the same
    value. The first wording is kept, with the union of every duplicate's receipts, in first-seen order."""
    merged: dict[str, tuple[Any, set[int]]] = {}
    for value, receipts in items:
        key = item_key(value)
        if key in merged:
            merged[key][1].update(receipts)
        else:
            merged[key] = (value, set(receipts))
    return list(merged.values())


def item_key(value: Any) -> str:
    """What two list items must share to count as one (see `dedupe`)."""
    if isinstance(value, str):
        url = url_key(value)
        if url is not None:
            return "url:" + url
        return "text:" + (" ".join(tokens(value)) or " ".join(value.casefold().split()))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"number:{float(value)!r}"
    return "json:" + json.dumps(value, sort_keys=True, default=str)


def url_key(text: str) -> str | None:
    """A URL in the form two links to the same page share; None when `text` is not an http(s) URL."""
    candidate = text.strip()
    if " " in candidate:
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc.lower().removeprefix("www.")
    query = "&".join(sorted(q for q in parts.query.split("&") if q and not q.lower().startswith("utm_")))
    return host + (parts.path.rstrip("/") or "") + (f"?{query}" if query else "")


# --------------------------------------------------------------------------------------------------
# Chain reads: exact values, copied
# --------------------------------------------------------------------------------------------------

# Field words -> the chain value they mean. A block-pinned read has one right answer, so a value is only
# ever copied, never estimated: integers stay integers (a wei balance does not fit a float), and text
# fields get the decimal or hex form the records state.
_HASH_TERMS = words("hash blockhash")
_NONCE_TERMS = words("nonce nonces")
_TX_TERMS = words("tx txs txn txns transaction transactions")
_COUNTING_TERMS = words("count counts number num total")
_BALANCE_TERMS = words("balance balances wei funds holdings")
_NATIVE_UNIT_TERMS = words("eth ether ethers bnb pol matic native decimal")
_CHAIN_TERMS = words("chain network blockchain")
_ACCOUNT_TERMS = words("address account wallet holder owner")
_BLOCK_TERMS = words("block height")


def chain_reads_only(records: Iterable[Record]) -> bool:
    """True when the evidence is block-pinned chain reads alone: they are synthesised by copying."""
    usable = [r for r in records if r.text or r.title]
    return bool(usable) and all(r.kind == "chain_data" for r in usable) and any(map(exact_values, usable))


def chain_meaning(terms: set[str], context: set[str]) -> str | None:
    """The chain value a field means, from its own words and (for "block.number", "account.nonce") the
    words of the objects around it: one of `exact_values`' names, or "balance_ether"."""
    if terms & _HASH_TERMS:
        return "block_hash"
    if terms & _NONCE_TERMS or (terms & _TX_TERMS and terms & _COUNTING_TERMS and not context & _BLOCK_TERMS):
        return "nonce"
    if terms & _BALANCE_TERMS:
        return "balance_ether" if terms & _NATIVE_UNIT_TERMS else "balance_wei"
    if terms & _CHAIN_TERMS:
        return "chain"
    if terms & _ACCOUNT_TERMS:
        return "address"
    if terms & _BLOCK_TERMS or (context & _BLOCK_TERMS and terms & _COUNTING_TERMS):
        return "block_number"
    return None


class _ChainFiller:
    """Fills a schema from `chain_data` records by meaning, with the exact values they state."""

    def __init__(self, records: list[Record]) -> None:
        stated: dict[str, dict[int | str, set[int]]] = defaultdict(lambda: defaultdict(set))
        for record in records:
            for name, value in exact_values(record).items():
                stated[name][value].add(record.receipt_index)
        # Two records disagreeing on a value (two accounts, two blocks) leave it unknown, not guessed.
        self.values: dict[str, tuple[int | str, set[int]]] = {
            name: next(iter(found.items())) for name, found in stated.items() if len(found) == 1
        }
        if "balance_wei" in self.values:
            wei, receipts = self.values["balance_wei"]
            self.values["balance_ether"] = (wei, receipts)  # converted per field type in `_typed`
        self.provenance: dict[str, set[int]] = {}
        self.filled = 0
        self.total = 0

    def fill_object(self, node: ObjectNode, path: str, context: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in node.fields:
            child = child_path(path, spec.name)
            terms = set(field_terms(spec))
            value: Any = None
            self.total += 1
            if isinstance(spec.node, ObjectNode):
                inner = self.fill_object(spec.node, child, context | terms)
                value = inner or None
            elif isinstance(spec.node, ScalarNode):
                meaning = chain_meaning(terms, set(context))
                found = self.values.get(meaning) if meaning else None
                if found is not None:
                    value = _typed(spec.node, meaning, found[0])
                    if value is not None:
                        self.provenance[child] = set(found[1])
            elif isinstance(spec.node, FreeNode) and spec.node.kind in ("dict", "any") and self.values:
                value = {n: v for n, (v, _) in self.values.items() if n != "balance_ether"}
                self.provenance[child] = {r for _, receipts in self.values.values() for r in receipts}
            if value is None:
                if spec.nullable and spec.required:
                    out[spec.name] = None
                continue
            self.filled += 1
            out[spec.name] = value
        return out


def _typed(node: ScalarNode, meaning: str | None, value: int | str) -> Any:
    """`value` in the form `node` takes, exactly, or None when it has no exact form there."""
    typed: Any
    if meaning == "balance_ether" and isinstance(value, int):
        # Decimal places of the native unit: exact as text, the nearest double as a number.
        typed = format(Decimal(value).scaleb(-18).normalize(), "f") if node.kind == "str" else value / 10**18
    elif node.kind == "str":
        typed = str(value)
    elif node.kind == "int":
        typed = value if isinstance(value, int) else None
    elif node.kind == "float":
        typed = float(value) if isinstance(value, int) else None
    else:
        typed = None
    if typed is None:
        return None
    try:
        return coerce_scalar(node, typed)
    except CoercionError:  # outside the node's bounds, pattern or enum: left out, not bent to fit
        return None


# ==================================================================================================
# The async interface the miner calls, and the LLM synthesiser
# ==================================================================================================


class Synthesizer(Protocol):
    """Evidence records -> a schema-valid `Synthesis`, or `SynthesisError` when none can be built."""

    async def synthesise(
        self, schema: CompiledSchema, facts: ObjectiveFacts, records: list[Record]
    ) -> Synthesis: ...


class AsyncRuleSynthesizer:
    """The rule synthesiser behind the async `Synthesizer` interface. It is CPU-bound, so it runs in a
    worker thread and the event loop keeps serving other requests meanwhile."""

    def __init__(self, rules: RuleSynthesizer | None = None) -> None:
        self.rules = rules or RuleSynthesizer()

    async def synthesise(
        self, schema: CompiledSchema, facts: ObjectiveFacts, records: list[Record]
    ) -> Synthesis:
        return await asyncio.to_thread(self.rules.synthesise, schema, facts, records)


MAX_RECORD_CHARS = 1_500  # of one record's text in the prompt
MAX_EVIDENCE_CHARS = 24_000  # of all records in the prompt; the first records that fit are shown
MAX_ANSWER_CHARS = 256 * 1024
MAX_LISTED_PROBLEMS = 20  # per kind, in a re-ask
MIN_QUOTE_CHARS = 4  # shorter text must be a whole word of a record ("AI" is inside too many words)
MIN_TOKEN_OVERLAP = 0.8  # of a paraphrase's words that must occur in the records it cites
_WILDCARD = -1  # "[*]" in a cited path: any item of that list

_SYSTEM_PROMPT = """You turn research evidence into JSON that matches a target JSON Schema.
Rules:
- Use only what the numbered evidence records state. Add no outside knowledge, estimates or guesses.
- If no record supports a value, leave an optional field out (or null where the schema allows null).
- Copy names, quotes, prices and dates as the records write them; give numbers as JSON numbers.
- Cite the records behind every value in "sources": each key is a JSON path into "result", such as
  "$.competitors[0].name" or "$.tags[2]", and each value is the list of record numbers it comes from.
- Reply with one JSON object {"result": {...}, "sources": {...}} and nothing else."""


class LlmSynthesizer:
    """Synthesis by a language model with structured output, checked like untrusted input.

    The model sees the evidence records numbered [0..n] (bounded in size), the target JSON Schema and
    the objective's facts, and answers `{"result": ..., "sources": {json path: [record numbers]}}`. Every
    leaf is then coerced (`orchestra.coercion`) and must be supported by the records it cites: text as a
    quote or a close paraphrase whose figures the records state, numbers and dates as stated there,
    booleans and enum values by at least one cited record. An unsupported or uncoercible optional value
    (an optional field, an item of a list of scalars) is dropped; a required one is an error. A result
    with errors, or one that does not validate, is re-asked with the problems listed, at most
    `max_reasks` times; after that, or at once when the model is unavailable, the rule synthesiser
    answers instead; block-pinned chain reads go to the rules at once, which copy their values exactly
    (a model retelling a wei balance could only make it wrong). The one leniency is in the last answer:
    a list item (or optional object) whose required value is unsupported is left out whole instead of
    failing the answer. Whatever is returned has been validated against the schema.
    """

    def __init__(
        self,
        chat: ChatModel,
        fallback: RuleSynthesizer,
        *,
        max_reasks: int = 2,
        max_evidence_chars: int = MAX_EVIDENCE_CHARS,
    ) -> None:
        if max_reasks < 0:
            raise ValueError("max_reasks must be >= 0")
        self.chat = chat
        self.fallback = fallback
        self.max_reasks = max_reasks
        self.max_evidence_chars = max_evidence_chars

    async def synthesise(
        self, schema: CompiledSchema, facts: ObjectiveFacts, records: list[Record]
    ) -> Synthesis:
        if chain_reads_only(records):
            return await self._fall_back(schema, facts, records, "chain reads are copied exactly, not retold")
        shown, evidence = _evidence_prompt(records, self.max_evidence_chars)
        if not shown:
            return await self._fall_back(schema, facts, records, "no evidence to show the model")
        messages = [
            {"role": "system", "content": _SYSTEM_PROMPT},
            {"role": "user", "content": _task_prompt(schema, facts, evidence)},
        ]
        answer_schema = _answer_schema(schema, len(shown))
        for attempt in range(1, self.max_reasks + 2):
            try:
                content = await self.chat.complete(messages, purpose="synthesis", json_schema=answer_schema)
            except LlmUnavailable as exc:
                return await self._fall_back(
                    schema, facts, records, f"the model is unavailable: {exc.message}"
                )
            review = _review(schema, content, shown, last=attempt == self.max_reasks + 1)
            if review.synthesis is not None:
                return _checked(schema, review.synthesis)
            log.info("synthesis answer %d rejected: %s", attempt, "; ".join(map(str, review.errors[:5])))
            messages.append({"role": "assistant", "content": content[:MAX_ANSWER_CHARS]})
            messages.append({"role": "user", "content": _reask_prompt(review)})
        return await self._fall_back(
            schema, facts, records, f"{self.max_reasks + 1} answers of the model did not hold up"
        )

    async def _fall_back(
        self, schema: CompiledSchema, facts: ObjectiveFacts, records: list[Record], reason: str
    ) -> Synthesis:
        log.info("rule synthesis instead of the model: %s", reason)
        synthesis = await asyncio.to_thread(self.fallback.synthesise, schema, facts, records)
        return _checked(schema, synthesis)


def _checked(schema: CompiledSchema, synthesis: Synthesis) -> Synthesis:
    """The last gate: whatever a synthesiser built, only a result that validates leaves this module."""
    try:
        result = schema.validate(synthesis.result)
    except ResultValidationError as exc:
        raise SynthesisError(f"synthesis produced an invalid result: {exc.message}") from None
    return replace(synthesis, result=result)


# -------------------------------------------------------------------------------------------- prompt


def _evidence_prompt(records: list[Record], budget: int) -> tuple[list[Record], str]:
    """The records the model is shown, numbered by position, and their text; the first ones that fit."""
    shown: list[Record] = []
    parts: list[str] = []
    used = 0
    for record in records:
        if not (record.text or record.title):
            continue
        head = [f"[{len(shown)}] {record.kind} from {record.source}"]
        if record.title:
            head.append(f"title: {_clip(normalise_text(record.title), 300)}")
        if record.url:
            head.append(f"url: {_clip(record.url, 300)}")
        if record.author:
            head.append(f"author: {_clip(record.author, 80)}")
        if record.published:
            head.append(f"published: {_clip(record.published, 40)}")
        if record.metrics:
            head.append("metrics: " + ", ".join(f"{k}={v:g}" for k, v in list(record.metrics.items())[:12]))
        entry = " | ".join(head) + "\n" + _clip(normalise_text(record.text), MAX_RECORD_CHARS)
        if used + len(entry) > budget:
            break
        shown.append(record)
        parts.append(entry)
        used += len(entry) + 2
    return shown, "\n\n".join(parts)


def _task_prompt(schema: CompiledSchema, facts: ObjectiveFacts, evidence: str) -> str:
    about = []
    if facts.keywords:
        about.append("keywords: " + ", ".join(facts.keywords))
    if facts.entities:
        about.append("names: " + ", ".join(facts.entities))
    if facts.wanted_count is not None:
        about.append(f"items wanted: {facts.wanted_count}")
    if facts.order is not None:
        first = "cheapest" if facts.order == "asc" else "most expensive"
        about.append(f"items ordered by their price, {first} first")
    if facts.start_date:
        about.append(f"period: {facts.start_date} to {facts.end_date or 'now'}")
    return "\n\n".join(
        [
            "The objective is about " + ("; ".join(about) if about else "the evidence below") + ".",
            'Target schema (JSON Schema) of "result":\n'
            + json.dumps(schema.json_schema(), separators=(",", ":")),
            "Evidence records:\n" + evidence,
            'Answer with {"result": <object valid against the schema>, '
            '"sources": {"<JSON path in result>": [<record numbers>]}}.',
        ]
    )


def _answer_schema(schema: CompiledSchema, record_count: int) -> dict[str, Any]:
    """The structured-output schema of an answer: the target schema's result plus its citations."""
    citation = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": record_count - 1}}
    return {
        "type": "object",
        "properties": {
            "result": schema.json_schema(),
            "sources": {"type": "object", "additionalProperties": citation},
        },
        "required": ["result", "sources"],
        "additionalProperties": False,
    }


def _reask_prompt(review: "_Review") -> str:
    lines = [
        "Your answer cannot be used yet. Fix these problems and answer again with the whole JSON object:"
    ]
    lines += _listed_problems(review.errors)
    if review.dropped:
        lines.append(
            "These values were left out because the records you cited do not state them or they do not fit "
            "the schema; cite the records that state them, or leave them out:"
        )
        lines += _listed_problems(review.dropped)
    lines.append("Use only what the numbered records state.")
    return "\n".join(lines)


def _listed_problems(problems: list[FieldError]) -> list[str]:
    lines = [f"- {p.path}: {p.message}" for p in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"- ... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return lines


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# -------------------------------------------------------------------------------------------- answer

Loc = tuple[str | int, ...]


@dataclass
class _Review:
    synthesis: Synthesis | None
    errors: list[FieldError] = field(default_factory=list)
    dropped: list[FieldError] = field(default_factory=list)


def _review(schema: CompiledSchema, content: str, records: list[Record], *, last: bool) -> _Review:
    """Parse, coerce, verify and validate one answer: a `Synthesis`, or the problems to re-ask about.

    Parts left out because a required value inside them is unsupported (a list item with a made-up
    price) are problems while the model can still be asked again; in the `last` answer they are simply
    left out, as what remains is supported and valid."""
    try:
        answer = _parse_answer(content)
    except ValueError as exc:
        return _Review(None, [FieldError("$", str(exc))])
    check = _AnswerCheck(records, _parse_sources(answer.get("sources"), len(records)))
    try:
        result = check.object(schema.root, answer["result"], (), "$")
    except _Rejected as exc:
        return _Review(None, exc.errors + check.broken, check.dropped)
    try:
        normalised = schema.validate(result)
    except ResultValidationError as exc:
        return _Review(None, exc.errors + check.broken, check.dropped)
    if check.broken and not last:
        return _Review(None, check.broken, check.dropped)
    leaves = [value for _, _, value in iter_leaf_paths(schema.root, normalised)]
    synthesis = Synthesis(
        result=normalised,
        provenance={path: sorted(receipts) for path, receipts in check.provenance.items() if receipts},
        filled=sum(1 for value in leaves if value not in (None, [], {}, "")),
        total=len(leaves),
        by="llm",
    )
    if not synthesis.filled:  # nothing left that the records support: the rules may still find something
        return _Review(
            None, [FieldError("$", "no field is filled with a value the cited records state")], check.dropped
        )
    return _Review(synthesis, [], check.dropped)


def _parse_answer(content: str) -> dict[str, Any]:
    if len(content) > MAX_ANSWER_CHARS:
        raise ValueError(f"the answer is {len(content)} characters long; the limit is {MAX_ANSWER_CHARS}")
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    if not text.startswith("{"):
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            raise ValueError("the answer holds no JSON object")
        text = text[start : end + 1]
    try:
        answer = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the answer is not valid JSON: {exc}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), dict):
        raise ValueError('the answer must be an object {"result": {...}, "sources": {...}}')
    return answer


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_sources(raw: Any, count: int) -> list[tuple[Loc, set[int]]]:
    """The citations of an answer as (path, record numbers); unreadable paths and numbers are ignored,
    which leaves the values they were meant for without support."""
    if not isinstance(raw, dict):
        return []
    out: list[tuple[Loc, set[int]]] = []
    for key, cited in raw.items():
        loc = _parse_path(key)
        if loc is None:
            continue
        numbers: set[int] = set()
        for item in cited if isinstance(cited, list) else [cited]:
            number = item
            if isinstance(item, str) and item.strip().strip("[]").isdigit():
                number = int(item.strip().strip("[]"))
            if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < count:
                numbers.add(number)
        if numbers:
            out.append((loc, numbers))
    return out


_PATH_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]|\[\"((?:[^\"\\]|\\.)*)\"\]|\['([^']*)'\]")


def _parse_path(key: str) -> Loc | None:
    """`$.a[0].b`, `a[0].b`, `$.a.0.b`, `$["odd key"]`, `$.a[*].b` or the JSON pointer `/a/0/b`."""
    key = key.strip()
    if key.startswith("/"):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in key[1:].split("/")] if key != "/" else []
        return tuple(int(p) if p.isdigit() else p for p in parts)
    key = key[1:] if key.startswith("$") else key if key.startswith((".", "[")) or not key else "." + key
    loc: list[str | int] = []
    position = 0
    while position < len(key):
        match = _PATH_PART.match(key, position)
        if match is None:
            return None
        dotted, index, quoted, single = match.groups()
        if dotted is not None:
            loc.append(int(dotted) if dotted.isdigit() else dotted)
        elif index is not None:
            loc.append(_WILDCARD if index == "*" else int(index))
        elif quoted is not None:
            try:
                loc.append(json.loads(f'"{quoted}"'))
            except ValueError:
                return None
        else:
            loc.append(single)
        position = match.end()
    return tuple(loc)


def _covers(prefix: Loc, loc: Loc) -> bool:
    """A citation for `prefix` covers `loc` inside it ("[*]" standing for any list index)."""
    head = loc[: len(prefix)]
    return len(prefix) <= len(loc) and all(
        p == q or (p == _WILDCARD and isinstance(q, int)) for p, q in zip(prefix, head, strict=True)
    )


class _Rejected(Exception):
    """Values that cannot stay, raised up to the nearest part of the result the schema lets go."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(map(str, errors)))
        self.errors = errors


@dataclass(frozen=True)
class _RecordView:
    """One record as the support checks read it."""

    text: str  # title, text, url, author and date, case-folded, whitespace collapsed
    words: frozenset[str]
    numbers: frozenset[float]
    dates: frozenset[dt.date]

    @classmethod
    def of(cls, record: Record) -> "_RecordView":
        prose = f"{record.title or ''} {record.text}"
        text = normalise_text(" ".join(p for p in (prose, record.url, record.author, record.published) if p))
        dates = dates_in(prose)
        if record.published:
            with contextlib.suppress(CoercionError):
                dates.add(dt.date.fromisoformat(coerce_date(record.published)))
        return cls(
            text=text.casefold(),
            words=frozenset(tokens(text)),
            numbers=frozenset(numbers_in(prose) | set(record.metrics.values())),
            dates=frozenset(dates),
        )

    def states(self, number: float) -> bool:
        return any(math.isclose(number, n, rel_tol=1e-9, abs_tol=1e-9) for n in self.numbers)


class _AnswerCheck:
    """Walks a model's result along the schema, building the result that may be returned: coerced
    leaves that the cited records support, and their provenance as receipt indices."""

    def __init__(self, records: list[Record], sources: list[tuple[Loc, set[int]]]) -> None:
        self.records = records
        self.views = [_RecordView.of(r) for r in records]
        self.sources = sources
        self.provenance: dict[str, set[int]] = {}
        self.dropped: list[FieldError] = []  # optional values left out: the schema lets them go
        self.broken: list[FieldError] = []  # required values inside a part that was left out whole

    def absorb(self, loc: Loc, path: str, exc: "_Rejected") -> None:
        """The part at `loc` is left out. A problem with that value itself is a plain drop; one with a
        required value inside it (an item whose price is made up) is worth asking the model about."""
        _forget(self.provenance, path)
        for error in exc.errors:
            (self.dropped if error.loc == loc else self.broken).append(error)

    def object(self, node: ObjectNode, value: Any, loc: Loc, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Rejected([_problem(loc, f"expected an object, got {_json_kind(value)}")])
        out: dict[str, Any] = {}
        failures: list[FieldError] = []
        for spec in node.fields:
            inner_loc, inner_path = (*loc, spec.name), child_path(path, spec.name)
            if value.get(spec.name) is None:
                if spec.nullable and (spec.required or spec.name in value):
                    out[spec.name] = None  # null says "unknown": it asserts nothing that needs support
                elif spec.required:
                    failures.append(_problem(inner_loc, "a required field is missing or null"))
                continue
            try:
                out[spec.name] = self.value(spec.node, value[spec.name], inner_loc, inner_path)
            except _Rejected as exc:
                if spec.required and not spec.nullable:
                    _forget(self.provenance, inner_path)
                    failures.extend(exc.errors)
                    continue
                self.absorb(inner_loc, inner_path, exc)
                if spec.required:
                    out[spec.name] = None
        if not node.additional:
            self.dropped += [
                _problem((*loc, k), "not a field of the schema") for k in value if node.field(k) is None
            ]
        if failures:
            raise _Rejected(failures)
        return out

    def value(self, node: Node, value: Any, loc: Loc, path: str) -> Any:
        if isinstance(node, ObjectNode):
            return self.object(node, value, loc, path)
        if isinstance(node, ListNode):
            return self.sequence(node, value, loc, path)
        kept, receipts = self.leaf(node, value, loc)
        self.provenance[path] = receipts
        return kept

    def sequence(self, node: ListNode, value: Any, loc: Loc, path: str) -> list[Any]:
        if isinstance(value, list):
            items = value
        elif isinstance(node.item, ScalarNode | FreeNode):
            try:  # "a, b and c" or one scalar, where the schema wants a list of them
                items = coerce_list(value)
            except CoercionError as exc:
                raise _Rejected([_problem(loc, str(exc))]) from None
        else:
            raise _Rejected([_problem(loc, f"expected a list, got {_json_kind(value)}")])
        if isinstance(node.item, ObjectNode | ListNode):
            out: list[Any] = []
            for index, item in enumerate(items):
                item_path = child_path(path, len(out))
                try:
                    out.append(self.value(node.item, item, (*loc, index), item_path))
                except _Rejected as exc:  # an item that cannot stand whole is left out of the list
                    self.absorb((*loc, index), item_path, exc)
            return out
        supported: list[tuple[Any, set[int]]] = []
        for index, item in enumerate(items):
            try:
                supported.append(self.leaf(node.item, item, (*loc, index)))
            except _Rejected as exc:
                self.dropped.extend(exc.errors)
        merged = dedupe(supported)
        for index, (_, receipts) in enumerate(merged):
            self.provenance[child_path(path, index)] = receipts
        self.provenance[path] = {r for _, receipts in merged for r in receipts}
        return [item for item, _ in merged]

    def leaf(self, node: ScalarNode | FreeNode, value: Any, loc: Loc) -> tuple[Any, set[int]]:
        """The value as the schema wants it, and the receipts of the cited records that state it."""
        cited = self.cited(loc, descendants=isinstance(node, FreeNode))
        if isinstance(node, FreeNode):
            try:
                value = coerce(node, value)
            except CoercionError as exc:
                raise _Rejected([_problem(loc, str(exc))]) from None
            found = self.free(value, cited)
            if found is None:
                raise _Rejected([self.unsupported(loc, value, cited)])
            return found
        try:
            coerced = coerce_scalar(node, value, shorten=True)
        except CoercionError as exc:
            raise _Rejected([_problem(loc, str(exc))]) from None
        if node.enum is not None or node.kind == "bool":
            numbers = cited  # a judgement or a label: what counts is that records were cited for it
        elif node.kind in ("int", "float"):
            numbers = {n for n in cited if self.views[n].states(float(coerced))}
        elif node.format in ("date", "date-time"):
            day = dt.date.fromisoformat(coerce_date(coerced))
            numbers = {n for n in cited if day in self.views[n].dates}
        else:
            numbers = self.text_support(coerced, cited)
        if not numbers:
            raise _Rejected([self.unsupported(loc, coerced, cited)])
        return coerced, self.receipts(numbers)

    def free(self, value: Any, cited: set[int]) -> tuple[Any, set[int]] | None:
        """A free-form value with the parts no cited record states pruned away; None if nothing is left."""
        if isinstance(value, dict | list):
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            kept: list[tuple[Any, Any, set[int]]] = []
            for key, inner in pairs:
                found = self.free(inner, cited)
                if found is not None:
                    kept.append((key, found[0], found[1]))
            if not kept:
                return None
            receipts = {r for _, _, rs in kept for r in rs}
            if isinstance(value, dict):
                return {key: inner for key, inner, _ in kept}, receipts
            return [inner for _, inner, _ in kept], receipts
        if isinstance(value, str):
            text = normalise_text(value)
            numbers = self.text_support(text, cited) if text else set()
            return (text, self.receipts(numbers)) if numbers else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers = {n for n in cited if self.views[n].states(float(value))}
            return (value, self.receipts(numbers)) if numbers else None
        return (value, self.receipts(cited)) if cited else None  # booleans and nulls: cited is enough

    def text_support(self, value: str, cited: set[int]) -> set[int]:
        """The cited records that state `value`: as a quote (a whole word when short), as the same date
        when it is one, or, for longer text, as a paraphrase most of whose words and all of whose figures
        they contain."""
        needle = normalise_text(value).casefold()
        if len(needle) < MIN_QUOTE_CHARS:
            words = set(tokens(needle))
            return {n for n in cited if words and words <= self.views[n].words}
        quoted = {n for n in cited if needle in self.views[n].text}
        if quoted or not cited:
            return quoted
        with contextlib.suppress(CoercionError):  # "March 3, 2026" against a record dated 2026-03-03
            day = dt.date.fromisoformat(coerce_date(value))
            return {n for n in cited if day in self.views[n].dates}
        words = set(content_tokens(needle))
        pool = set().union(*(self.views[n].words for n in cited))
        if not words or len(words & pool) < MIN_TOKEN_OVERLAP * len(words):
            return set()
        for readings in figures_in(needle):
            if not any(self.views[n].states(reading) for n in cited for reading in readings):
                return set()
        return {n for n in cited if self.views[n].words & words}

    def cited(self, loc: Loc, *, descendants: bool) -> set[int]:
        """Records cited for `loc` or for a part of the result containing it (and, for a free-form
        value, for parts inside it)."""
        out: set[int] = set()
        for source, numbers in self.sources:
            if _covers(source, loc) or (descendants and _covers(loc, source)):
                out |= numbers
        return out

    def receipts(self, numbers: set[int]) -> set[int]:
        return {self.records[n].receipt_index for n in numbers}

    def unsupported(self, loc: Loc, value: Any, cited: set[int]) -> FieldError:
        shown = json.dumps(value, default=str)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        if not cited:
            return _problem(loc, f"{shown} cites no evidence record")
        return _problem(loc, f"{shown} is not stated in the cited records {sorted(cited)}")


def _problem(loc: Loc, message: str) -> FieldError:
    return FieldError(json_path(loc), message, loc)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list"}.get(
        type(value), "an object" if isinstance(value, dict) else type(value).__name__
    )
