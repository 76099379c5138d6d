"""Step outputs -> the target schema, with provenance, then validation.

The rule-based synthesiser fills the schema field by field from the evidence records, guided by the
field's type and the words in its name:

* a list of objects becomes one item per entity found in the evidence (names that recur across
  records, objective names first), each item filled from the sentences that mention that entity;
* name-like fields take the entity's name; link-like fields its source URLs; date-like fields the
  newest publication date;
* price-like fields take amounts attributed to the entity ("H100 at $2.49/hr" -> {"H100": "$2.49/hr"});
  a price-like number outside an entity takes the lowest comparable price observed;
* strengths/weaknesses-like lists take the phrases that follow praise or complaint cues;
* other text fields take the most relevant sentence, or for rationale/summary fields an explanation
  composed from the extracted figures.

Every value records the receipts its sentences came from. Nothing is invented: a field with no
supporting evidence is left out (or null), and the result is validated against the schema before it
is returned; a result that does not validate raises `SynthesisError` carrying the JSON paths.
"""

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestra.adapters.base import Record
from orchestra.errors import ResultValidationError, SynthesisError
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
    json_path,
)

MAX_LIST_ITEMS = 5
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
    "analysis description explanation insight insights justification notes overview rationale reason "
    "reasoning reasons summary verdict"
)
SENTIMENT_FIELDS = words("mood opinion sentiment tone")
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


@dataclass
class Supported:
    """A value and the receipts that support it."""

    value: Any
    receipts: set[int] = field(default_factory=set)


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
        # A record about exactly one entity lends it the sentences that do not repeat its name
        # ("We have used NimbusGPU for months. Pricing: H100 at $2.49/hr.").
        mentioned: dict[int, set[str]] = defaultdict(set)
        for sentence in self.sentences:
            mentioned[sentence.record_number].update(e for e in self.entities if _mentions(sentence.text, e))
        self.sole_entity = {
            number: next(iter(names)) for number, names in mentioned.items() if len(names) == 1
        }
        self.subjects = self._find_subjects()
        self.amounts = [a for s in self.sentences for a in self._amounts(s)]

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
        """Entities the evidence is about, not merely mentions: named in a title, opening a sentence, or
        the only entity of a record. Lists of entities are drawn from these."""
        subjects = set(self.sole_entity.values())
        for sentence in self.sentences:
            for entity in self.entities:
                if sentence.text.startswith(entity) or (
                    sentence.record.title == sentence.text and _mentions(sentence.text, entity)
                ):
                    subjects.add(entity)
        return [e for e in self.entities if e in subjects]

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
            value = float(match.group("num").replace(",", ""))
            out.append(Amount(text=text, value=value, label=label, owner=owner, sentence=sentence))
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
    result: dict[str, Any]
    provenance: dict[str, list[int]]
    filled: int
    total: int


class RuleSynthesizer:
    """Deterministic, evidence-only synthesis. See the module docstring for the rules."""

    def synthesise(self, schema: CompiledSchema, facts: ObjectiveFacts, records: list[Record]) -> Synthesis:
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
            for name in self.evidence.subjects:
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
            found = [(a.value, a.sentence) for a in self._money(terms, scope, entity)] or self._figures(
                terms, scope
            )
            if node.item.kind == "int":
                found = [(value, sentence) for value, sentence in found if value.is_integer()]
            found = found[:limit]
            if not found:
                return None
            values = [int(value) if node.item.kind == "int" else value for value, _ in found]
            return Supported(values, {sentence.receipt for _, sentence in found})
        if isinstance(node.item, ScalarNode) and node.item.kind == "str":
            return self.phrases(terms, scope, entity, limit=limit)
        return None

    # ----------------------------------------------------------------- leaves

    def scalar(
        self, node: ScalarNode, terms: set[str], scope: list[Sentence], entity: str | None
    ) -> Supported | None:
        if node.enum is not None:
            return self._enum(node, terms, scope)
        if node.kind == "str":
            return _fit_text(node, self.text(terms, scope, entity))
        if node.kind == "bool":
            return self._boolean(terms, scope)
        if node.kind == "int" and terms & COUNT_FIELDS:
            records = {s.record.url or id(s.record): s.receipt for s in scope}
            return Supported(len(records), set(records.values())) if records else None
        amounts = self._money(terms, scope, entity)
        if amounts:
            chosen = self._lowest_comparable(amounts) if entity is None else _typical(amounts)
            number, receipt = chosen.value, chosen.sentence.receipt
        else:
            figures = self._figures(terms, scope)
            if not figures:
                return None
            number = Counter(value for value, _ in figures).most_common(1)[0][0]
            receipt = next(sentence.receipt for value, sentence in figures if value == number)
        if node.kind == "int":
            if not number.is_integer():
                return None
            return Supported(int(number), {receipt})
        return Supported(number, {receipt})

    def text(self, terms: set[str], scope: list[Sentence], entity: str | None) -> Supported | None:
        if not scope:
            return None
        if terms & NAME_TERMS:
            name = entity or (self.evidence.subjects[0] if self.evidence.subjects else None)
            if name is None:
                return None
            return Supported(name, {s.receipt for s in self.evidence.scope(name)})
        if terms & URL_TERMS:
            urls = self._urls(scope, entity)
            return Supported(urls[0][0], {urls[0][1]}) if urls else None
        if terms & DATE_TERMS:
            dated = sorted(
                ((s.record.published, s.receipt) for s in scope if s.record.published), reverse=True
            )
            return Supported(dated[0][0][:10], {dated[0][1]}) if dated else None
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
        self, terms: set[str], scope: list[Sentence], entity: str | None, *, limit: int = MAX_LIST_ITEMS
    ) -> Supported | None:
        if terms & NAME_TERMS and entity is None:
            names = self.evidence.subjects[:limit]
            receipts = {s.receipt for name in names for s in self.evidence.scope(name)}
            return Supported(names, receipts) if names else None
        if terms & URL_TERMS:
            urls = self._urls(scope, entity)[:limit]
            return Supported([u for u, _ in urls], {r for _, r in urls}) if urls else None
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
        items = _dedupe(found)[:limit]
        if not items:
            return None
        return Supported([text for text, _ in items], {r for _, receipts in items for r in receipts})

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
        lowered = {t.lower() for t in terms}
        if lowered & {a.label.lower() for a in self.evidence.amounts}:
            return [a for a in pool if a.label.lower() in lowered]
        return pool if terms & PRICE_TERMS else []

    def _figures(self, terms: set[str], scope: list[Sentence]) -> list[tuple[float, Sentence]]:
        """Plain numbers ("99.95% uptime", "512 GPUs") from sentences that use one of the field's words."""
        wanted = {t for t in terms if len(t) > 2}
        return [
            (float(match.group(0).replace(",", "")), sentence)
            for sentence in scope
            if sentence.words & wanted
            for match in _FIGURE.finditer(sentence.text)
        ]

    def _lowest_comparable(self, amounts: list[Amount]) -> Amount:
        """The cheapest price among entity-owned amounts sharing the most common label."""
        owned = [a for a in amounts if a.owner is not None] or amounts
        label = Counter(a.label for a in owned).most_common(1)[0][0]
        return min((a for a in owned if a.label == label), key=lambda a: (a.value, -len(a.text)))

    def _explanation(self, terms: set[str], scope: list[Sentence], entity: str | None) -> Supported | None:
        owned = [a for a in self.evidence.amounts if a.owner is not None and a.sentence in scope]
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
                text = (
                    f"{cheapest.owner} lists the lowest {label} price found, {cheapest.text}; the "
                    f"{len(per_entity)} providers priced in the evidence range from {cheapest.text} to "
                    f"{dearest.text} ({dearest.owner}). Matching {cheapest.text} prices at the bottom of the "
                    "observed market."
                )
                return Supported(text, {a.sentence.receipt for a in per_entity.values()})
        ranked = sorted(scope, key=lambda s: -self.evidence.relevance(s, terms))[:2]
        if not ranked:
            return None
        return Supported(" ".join(s.text for s in ranked), {s.receipt for s in ranked})

    def _urls(self, scope: list[Sentence], entity: str | None = None) -> list[tuple[str, int]]:
        """Source URLs, pages about the entity alone first, then web pages, then posts."""
        seen: dict[str, int] = {}

        def order(s: Sentence) -> tuple[bool, bool]:
            return self.evidence.sole_entity.get(s.record_number) != entity, s.record.kind != "web_page"

        for sentence in sorted(scope, key=order):
            if sentence.record.url:
                seen.setdefault(sentence.record.url, sentence.receipt)
        return list(seen.items())

    def _boolean(self, terms: set[str], scope: list[Sentence]) -> Supported | None:
        content = {t for t in terms if t not in {"is", "has", "supports", "offers", "available"}}
        for sentence in scope:
            if content and content <= sentence.words:
                negated = bool(re.search(r"\b(no|not|without|lacks?)\b", sentence.text, re.I))
                return Supported(not negated, {sentence.receipt})
        return None

    def _enum(self, node: ScalarNode, terms: set[str], scope: list[Sentence]) -> Supported | None:
        assert node.enum is not None
        counts: Counter[Any] = Counter()
        receipts: dict[Any, set[int]] = defaultdict(set)
        for sentence in scope:
            for option in node.enum:
                if isinstance(option, str) and option.lower() in sentence.words:
                    counts[option] += 1
                    receipts[option].add(sentence.receipt)
        if not counts:
            return None
        option = counts.most_common(1)[0][0]
        return Supported(option, receipts[option])


def _fit_text(node: ScalarNode, supported: Supported | None) -> Supported | None:
    """Shorten a quote to `maxLength` at a word boundary; refuse one the other constraints reject."""
    if supported is None:
        return None
    text = str(supported.value)
    if node.max_length is not None and len(text) > node.max_length:
        cut = text[: node.max_length]
        text = cut.rsplit(" ", 1)[0] if " " in cut.strip() else cut
    if node.min_length is not None and len(text) < node.min_length:
        return None
    if node.pattern is not None and not re.search(node.pattern, text):
        return None
    return Supported(text, supported.receipts)


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


def _dedupe(found: dict[str, set[int]]) -> list[tuple[str, set[int]]]:
    merged: dict[str, tuple[str, set[int]]] = {}
    for text, receipts in found.items():
        key = " ".join(content_tokens(text))
        if not text or not key:
            continue
        if key in merged:
            merged[key][1].update(receipts)
        else:
            merged[key] = (text, set(receipts))
    return sorted(merged.values(), key=lambda item: -len(item[1]))
