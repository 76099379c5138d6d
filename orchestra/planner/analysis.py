"""Objective analysis: the terms, names, counts, order, dates and chain reads a plan and a synthesis need
from an objective.

`analyse` is pure and total: any text gives an `ObjectiveFacts` (possibly empty), never an exception,
because it runs on untrusted objectives before anything else can report a typed error. `chain_query`
is the strict reading of an account lookup ("on Ethereum at block N, look up 0x..."): it raises a
`ChainQueryError` naming the missing or ambiguous piece, for the planner to return as a typed error.
"""

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from orchestra.errors import PlanningError
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

# Words that say *when*, not *what*: kept out of entities (a capitalised "March" is not a company).
_CALENDAR_WORDS = words(
    """
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday
    q1 q2 q3 q4 h1 h2 today yesterday tomorrow last past previous this since until before after
    """
)

# Capitalised words that are not names: verbs opening a request ("Collect tweets ..."), generic
# acronyms ("GPU clouds") and the platforms posts come from ("Reddit posts about Solana"), which would
# otherwise each get a search of their own. The verbs are also
# left out of search queries: they say what to do with the results, not what to look for.
_REQUEST_WORDS = words(
    """
    collect gather track monitor fetch show tell get aggregate draft deep outline explain prepare rank
    scan search map estimate forecast calculate check investigate audit generate plan design implement
    fix debug upgrade migrate refactor document test deploy benchmark profile measure count name
    summary overview brief note let lets like etc
    """
)
_GENERIC_NAMES = words(
    """
    ai ml llm llms gpu gpus cpu cpus tpu api apis sdk cli ui ux saas paas iaas b2b b2c ceo cto cfo seo kpi
    kpis roi usd eur gbp faq json http https url urls pdf csv sql nft nfts dao defi tvl apy apr etf etfs
    x twitter reddit youtube tiktok instagram linkedin facebook github hackernews
    """
)
_NOT_NAMES = _REQUEST_WORDS | _GENERIC_NAMES

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
    "eleven": 11,
    "twelve": 12,
}
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
MAX_ENTITIES = 16
MAX_QUERY_CHARS = 200

# Desearch's `date_filter` windows (SN22 API), smallest first, with the days each one covers.
DATE_FILTERS: tuple[tuple[int, str], ...] = (
    (1, "PAST_24_HOURS"),
    (2, "PAST_2_DAYS"),
    (7, "PAST_WEEK"),
    (14, "PAST_2_WEEKS"),
    (31, "PAST_MONTH"),
    (62, "PAST_2_MONTHS"),
    (366, "PAST_YEAR"),
    (731, "PAST_2_YEARS"),
)


PriceOrder = Literal["asc", "desc"]


class ChainQueryError(PlanningError):
    """An account lookup whose chain, address or block is missing or ambiguous; `part` names which."""

    def __init__(self, message: str, *, part: Literal["chain", "address", "block"]) -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class ChainQuery:
    """An account read pinned to a block: `chain` is the SN19 chain id ("eth"), `address` lower-case."""

    chain: str
    address: str
    block: int


@dataclass(frozen=True)
class ObjectiveFacts:
    """What an objective (and its target schema) says about the work to do.

    `count` is the count the objective asks for ("top 5"); `schema_count` the length the schema's
    first bounded list asks for. `start_date`/`end_date` are ISO dates (inclusive) of the period the
    objective names, `date_filter` the smallest Desearch window reaching back to `start_date`. `order`
    is the price order the objective asks items in ("cheapest first": "asc"); `chain_query` the
    account read it asks for, when it names a chain, an address and a block unambiguously.
    """

    keywords: tuple[str, ...]
    entities: tuple[str, ...]
    count: int | None
    years: tuple[str, ...]
    schema_terms: tuple[str, ...]
    start_date: str | None = None
    end_date: str | None = None
    date_filter: str | None = None
    schema_count: int | None = None
    order: PriceOrder | None = None
    chain_query: ChainQuery | None = None

    @property
    def wanted_count(self) -> int | None:
        """The objective's count, else the schema's."""
        return self.count if self.count is not None else self.schema_count

    @property
    def query(self) -> str:
        """A compact search query: the keywords, then entity words they miss, then the years."""
        parts: list[str] = [k for k in self.keywords if k not in _REQUEST_WORDS]
        seen = set(self.keywords)
        for entity in self.entities:
            if not set(tokens(entity)) <= seen:
                parts.append(entity)
                seen.update(tokens(entity))
        parts.extend(y for y in self.years if y not in seen)
        out = ""
        for part in parts:
            candidate = f"{out} {part}".strip()
            if len(candidate) > MAX_QUERY_CHARS:
                break
            out = candidate
        return out


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, keeping model names like `h100`, `gpt-4o` and `vast.ai` whole."""
    return [t.lower() for t in _WORD.findall(text)]


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS and len(t) > 1]


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def analyse(
    objective: str,
    schema: ObjectNode | None = None,
    *,
    max_keywords: int = 8,
    today: dt.date | None = None,
) -> ObjectiveFacts:
    """Extract keywords, entities, counts, years, a date range and schema terms. Never raises.

    Relative periods ("last 30 days", "this quarter") are measured back from `today` (UTC by default).
    """
    now = today or utc_today()
    period = find_period(objective, now)
    # Date phrases are about when, not what: they must not become search terms or entity names.
    text = period.remainder
    keywords = list(dict.fromkeys(t for t in content_tokens(text) if not t.isdigit()))
    count_match = _COUNT.search(objective)
    count = None
    if count_match:
        raw = count_match.group(1).lower()
        count = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
    return ObjectiveFacts(
        keywords=tuple(keywords[:max_keywords]),
        entities=tuple(list(dict.fromkeys(_entities(text)))[:MAX_ENTITIES]),
        count=count,
        years=tuple(dict.fromkeys(m.group(0) for m in _YEAR.finditer(objective))),
        schema_terms=tuple(dict.fromkeys(_schema_terms(schema))) if schema is not None else (),
        start_date=period.start.isoformat() if period.start else None,
        end_date=period.end.isoformat() if period.end else None,
        date_filter=date_filter(period.start, now),
        schema_count=schema_count(schema) if schema is not None else None,
        order=price_order(objective),
        chain_query=_chain_query_or_none(objective),
    )


def _entities(objective: str) -> list[str]:
    found = [m.group(1).strip() for m in _QUOTED.finditer(objective)]
    for sentence in re.split(r"(?<=[.!?])\s+", objective):
        for match in _NAME.finditer(sentence):
            name = match.group(0)
            if match.start() == 0 and name.lower() in STOPWORDS:
                continue  # "Research ..." at the start of a sentence is a verb, not a name
            kept = [
                w for w in name.split() if w.lower() not in STOPWORDS and w.lower() not in _CALENDAR_WORDS
            ]
            while kept and kept[0].lower() in _NOT_NAMES:
                kept.pop(0)
            while kept and kept[-1].lower() in _NOT_NAMES:
                kept.pop()
            if kept:
                found.append(" ".join(kept))
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


def schema_count(root: ObjectNode) -> int | None:
    """The length the schema asks for: the first bounded list, lists of objects first, nearest first.

    A list's `maxItems` wins over its `minItems` (it is the length a full answer has).
    """
    lists: list[ListNode] = []
    frontier: list[Node] = [root]
    while frontier:
        nxt: list[Node] = []
        for node in frontier:
            if isinstance(node, ObjectNode):
                nxt.extend(spec.node for spec in node.fields)
            elif isinstance(node, ListNode):
                lists.append(node)
                nxt.append(node.item)
        frontier = nxt
    bounded = [n for n in lists if n.max_items is not None or n.min_items]
    bounded.sort(key=lambda n: not isinstance(n.item, ObjectNode))  # stable: keeps nearest-first order
    if not bounded:
        return None
    first = bounded[0]
    return first.max_items if first.max_items is not None else first.min_items


# --------------------------------------------------------------------------------------------------
# Price order
# --------------------------------------------------------------------------------------------------

_CHEAP = r"(?:cheapest|least[- ]expensive|lowest[- ]priced|lowest(?:\s+price)?|cheaper)"
_DEAR = r"(?:most[- ]expensive|priciest|highest[- ]priced|highest(?:\s+price)?|dearest|pricier)"
_TO = r"\s+(?:to|through|thru|until)\s+(?:the\s+)?"
_PRICE_WORD = r"(?:price|prices|pricing|cost|costs)"


def _near(first: str, second: str) -> re.Pattern[str]:
    """`first` and `second` within one sentence, in either order."""
    gap = r"\b[^.?!]{0,40}\b"
    return re.compile(rf"\b{first}{gap}{second}\b|\b{second}{gap}{first}\b", re.I)


# Strongest signal first: a range says which end comes first, then "X first", then a sort direction
# next to a price word, then a bare superlative ("Which vendors are cheapest?").
_ORDER_RULES: tuple[tuple[re.Pattern[str], PriceOrder], ...] = (
    (re.compile(rf"\b{_CHEAP}{_TO}{_DEAR}\b", re.I), "asc"),
    (re.compile(rf"\b{_DEAR}{_TO}{_CHEAP}\b", re.I), "desc"),
    (re.compile(rf"\b{_CHEAP}\s+(?:ones?\s+)?first\b", re.I), "asc"),
    (re.compile(rf"\b{_DEAR}\s+(?:ones?\s+)?first\b", re.I), "desc"),
    (_near(_PRICE_WORD, r"(?:ascending|increasing)"), "asc"),
    (_near(_PRICE_WORD, r"(?:descending|decreasing)"), "desc"),
    (re.compile(r"\b(?:cheapest|least[- ]expensive|lowest[- ]priced)\b", re.I), "asc"),
    (re.compile(r"\b(?:most[- ]expensive|priciest|highest[- ]priced)\b", re.I), "desc"),
)


def price_order(objective: str) -> PriceOrder | None:
    """The price order an objective asks for: "from cheapest to most expensive" is "asc", "most
    expensive first" is "desc", "Which vendors are cheapest?" is "asc" (the cheapest ones first)."""
    for pattern, order in _ORDER_RULES:
        if pattern.search(objective):
            return order
    return None


# --------------------------------------------------------------------------------------------------
# Chain reads
# --------------------------------------------------------------------------------------------------

# How people name the EVM chains SN19 serves -> the chain id the Blockmachine adapter uses. "Base" is
# also an English word, so it counts only capitalised; every other name is matched in any case.
EVM_CHAIN_NAMES: dict[str, str] = {
    "ethereum mainnet": "eth",
    "ethereum": "eth",
    "eth mainnet": "eth",
    "eth": "eth",
    "bnb smart chain": "bsc",
    "binance smart chain": "bsc",
    "bnb chain": "bsc",
    "binance chain": "bsc",
    "bsc": "bsc",
    "base mainnet": "base",
    "base": "base",
    "polygon pos": "polygon",
    "polygon": "polygon",
    "op mainnet": "optimism",
    "optimism": "optimism",
    "arbitrum one": "arbitrum",
    "arbitrum": "arbitrum",
}
_CASE_SENSITIVE_NAMES = frozenset({"base", "base mainnet"})
# "ETH" is also the unit balances on Base, Optimism and Arbitrum are given in: it names the chain only
# when no other chain is named.
_WEAK_NAMES = frozenset({"eth"})
# Chains SN19 serves whose accounts are not read with eth_getBalance: named, so the error can say so.
_OTHER_CHAIN_NAMES = {"bittensor": "tao", "subtensor": "tao", "finney": "tao"}
_CHAIN_NAME = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(n) for n in sorted([*EVM_CHAIN_NAMES, *_OTHER_CHAIN_NAMES], key=len, reverse=True))
    + r")(?![\w-])",
    re.I,
)
_HEX_WORD = re.compile(r"(?<![0-9A-Za-z])0[xX][0-9A-Za-z]+")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HASH = re.compile(r"0[xX][0-9a-fA-F]{64}")
_BLOCK = re.compile(
    r"\bblock(?:\s+(?:number|height|no\.?))?\s*(?:#|:|=)?\s*"
    r"(0x[0-9a-fA-F]{1,16}|\d{1,3}(?:,\d{3})+|\d+)(?!\w|[.,]\d)",
    re.I,
)
_LATEST = re.compile(r"\b(?:latest|current|newest|most recent)\s+block\b", re.I)


def chain_query(objective: str) -> ChainQuery:
    """The chain, account and block an account lookup names. Raises `ChainQueryError` saying which piece
    is missing, malformed or ambiguous (two chains, two addresses, two blocks)."""
    return ChainQuery(chain=_chain(objective), address=_address(objective), block=_block(objective))


def _chain_query_or_none(objective: str) -> ChainQuery | None:
    try:
        return chain_query(objective)
    except ChainQueryError:
        return None


def _chain(objective: str) -> str:
    strong: dict[str, str] = {}
    weak: dict[str, str] = {}
    for match in _CHAIN_NAME.finditer(objective):
        name = match.group(1)
        key = name.lower()
        if key in _CASE_SENSITIVE_NAMES and not name[0].isupper():
            continue
        if key in _OTHER_CHAIN_NAMES:
            raise ChainQueryError(
                f"{name} is not an EVM chain: account lookups read EVM chains "
                f"({', '.join(sorted(set(EVM_CHAIN_NAMES.values())))})",
                part="chain",
            )
        (weak if key in _WEAK_NAMES else strong).setdefault(EVM_CHAIN_NAMES[key], name)
    found = strong or weak
    if not found:
        raise ChainQueryError(
            "the objective names no chain to read; name one, e.g. 'on Ethereum' or 'on BNB Smart Chain'",
            part="chain",
        )
    if len(found) > 1:
        raise ChainQueryError(
            f"the objective names {len(found)} chains ({', '.join(found.values())}); an account lookup "
            "reads one",
            part="chain",
        )
    return next(iter(found))


def _address(objective: str) -> str:
    blocks = [m.span(1) for m in _BLOCK.finditer(objective)]
    words = [
        m.group(0)
        for m in _HEX_WORD.finditer(objective)
        if not any(start <= m.start() < end for start, end in blocks)  # "block 0x2160e73" is a number
    ]
    addresses = list(dict.fromkeys(w.lower() for w in words if _ADDRESS.fullmatch(w)))
    if len(addresses) == 1:
        return addresses[0]
    if len(addresses) > 1:
        raise ChainQueryError(
            f"the objective names {len(addresses)} accounts; an account lookup reads one", part="address"
        )
    # A 0x-word that is not 20 bytes of hex is the commonest typo: say what is wrong with it. A 32-byte
    # word is a block or transaction hash, not a mistyped address.
    malformed = [w for w in words if not _HASH.fullmatch(w)]
    if malformed:
        shown = malformed[0] if len(malformed[0]) <= 50 else malformed[0][:47] + "..."
        raise ChainQueryError(
            f"{shown} is not an account address (0x followed by 40 hex digits)", part="address"
        )
    raise ChainQueryError(
        "the objective names no account address (0x followed by 40 hex digits)", part="address"
    )


def _block(objective: str) -> int:
    numbers = list(dict.fromkeys(_block_number(m.group(1)) for m in _BLOCK.finditer(objective)))
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) > 1:
        raise ChainQueryError(
            f"the objective names {len(numbers)} blocks ({', '.join(map(str, numbers))}); an account "
            "lookup reads at one",
            part="block",
        )
    if _LATEST.search(objective):
        raise ChainQueryError(
            "the latest block moves: name the block number to read at, so the answer can be checked",
            part="block",
        )
    raise ChainQueryError(
        "the objective names no block number to read at (e.g. 'at block 19000000')", part="block"
    )


def _block_number(raw: str) -> int:
    return int(raw, 16) if raw.lower().startswith("0x") else int(raw.replace(",", ""))


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------

_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = r"(?<![\d-])\d{4}-\d{2}-\d{2}(?![\d-])"
_MONTH_YEAR = rf"\b(?:{_MONTH_NAMES})\.?\s+\d{{4}}\b"
_QUARTER = r"\b[Qq][1-4]\s*(?:of\s+)?\d{4}\b|\b\d{4}\s*[Qq][1-4]\b"
_HALF = r"\b[Hh][12]\s*(?:of\s+)?\d{4}\b"
_BARE_YEAR = r"\b(?:19|20)\d{2}\b"
# A point in time that is a period: a day, a month, a quarter, a half or a year.
_POINT = rf"(?:{_ISO}|{_MONTH_YEAR}|{_QUARTER}|{_HALF}|{_BARE_YEAR})"
_LONE_POINT = re.compile(rf"{_ISO}|{_MONTH_YEAR}|{_QUARTER}|{_HALF}", re.I)
_RANGE = re.compile(
    rf"\b(?:from|between)\s+({_POINT})\s*(?:to|and|until|till|through|thru|-|\u2013)\s*({_POINT})", re.I
)
_SINCE = re.compile(rf"\b(?:since|after|from|starting(?:\s+in)?)\s+({_POINT})", re.I)
_UNTIL = re.compile(rf"\b(?:before|until|till|through|up\s+to)\s+({_POINT})", re.I)
_AMOUNT = r"\d{1,4}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|couple\s+of|few"
_RELATIVE = re.compile(
    rf"\b(?:last|past|previous|recent|prior)\s+(?:({_AMOUNT})\s+)?(hours?|days?|weeks?|months?|quarters?|years?)\b",
    re.I,
)
_THIS = re.compile(r"\b(?:this|current)\s+(week|month|quarter|year)\b|\b(year[- ]to[- ]date|ytd)\b", re.I)
_DAY_WORDS = re.compile(r"\b(today|yesterday)\b", re.I)
_MAX_UNITS = 1_000


@dataclass(frozen=True)
class Period:
    """The date range an objective names, and the objective with the date phrases blanked out."""

    start: dt.date | None
    end: dt.date | None
    remainder: str


def find_period(text: str, today: dt.date) -> Period:
    """Find the period `text` talks about; several periods combine into the range covering them all."""
    ranges: list[tuple[dt.date | None, dt.date | None]] = []
    remainder = text

    def consume(pattern: re.Pattern[str], handle: Callable[[re.Match[str]], object]) -> None:
        nonlocal remainder

        def replace(match: re.Match[str]) -> str:
            handle(match)
            # A separator the name pattern cannot cross, so "Solana since May 2026 Avalanche" stays two names.
            return " | "

        remainder = pattern.sub(replace, remainder)

    def on_range(m: re.Match[str]) -> None:
        first, second = point_range(m.group(1)), point_range(m.group(2))
        if first and second:
            ranges.append((first[0], second[1]))

    def on_since(m: re.Match[str]) -> None:
        point = point_range(m.group(1))
        if point:
            ranges.append((point[0], today))

    def on_until(m: re.Match[str]) -> None:
        point = point_range(m.group(1))
        if point:
            ranges.append((None, point[1]))

    def on_point(m: re.Match[str]) -> None:
        point = point_range(m.group(0))
        if point:
            ranges.append(point)

    def on_relative(m: re.Match[str]) -> None:
        start = _back(today, _amount(m.group(1)), m.group(2).lower().rstrip("s"))
        if start:
            ranges.append((start, today))

    def on_this(m: re.Match[str]) -> None:
        unit = (m.group(1) or "year").lower()
        ranges.append((_period_start(today, unit), today))

    def on_day(m: re.Match[str]) -> None:
        day = today if m.group(1).lower() == "today" else today - dt.timedelta(days=1)
        ranges.append((day, day))

    consume(_RANGE, on_range)
    consume(_SINCE, on_since)
    consume(_UNTIL, on_until)
    consume(_LONE_POINT, on_point)
    consume(_RELATIVE, on_relative)
    consume(_THIS, on_this)
    consume(_DAY_WORDS, on_day)
    if not ranges:
        return Period(None, None, text)
    starts = [s for s, _ in ranges if s is not None]
    ends = [e for _, e in ranges if e is not None]
    start, end = (min(starts) if starts else None), (max(ends) if ends else None)
    if start and end and start > end:
        start, end = end, start
    return Period(start, end, remainder)


def point_range(text: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day of a point such as `2026-03-01`, `March 2026`, `Q3 2026`, `H1 2026`, `2026`."""
    text = text.strip().lower()
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
            day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return day, day
        if m := re.fullmatch(rf"({_MONTH_NAMES})\.?\s+(\d{{4}})", text):
            return _month_range(int(m.group(2)), _MONTHS[m.group(1)], 1)
        if m := re.fullmatch(r"q([1-4])\s*(?:of\s+)?(\d{4})", text) or re.fullmatch(
            r"(\d{4})\s*q([1-4])", text
        ):
            year, quarter = (
                (int(m.group(2)), int(m.group(1)))
                if text.startswith("q")
                else (int(m.group(1)), int(m.group(2)))
            )
            return _month_range(year, 3 * quarter - 2, 3)
        if m := re.fullmatch(r"h([12])\s*(?:of\s+)?(\d{4})", text):
            return _month_range(int(m.group(2)), 6 * int(m.group(1)) - 5, 6)
        if m := re.fullmatch(r"(\d{4})", text):
            return _month_range(int(m.group(1)), 1, 12)
    except ValueError:  # 2026-02-31, year 0000: not a date
        return None
    return None


def _month_range(year: int, month: int, months: int) -> tuple[dt.date, dt.date]:
    last_month = month + months - 1
    return dt.date(year, month, 1), dt.date(year, last_month, calendar.monthrange(year, last_month)[1])


def _amount(raw: str | None) -> int:
    if raw is None:
        return 1
    raw = " ".join(raw.lower().split())
    if raw.isdigit():
        return min(int(raw), _MAX_UNITS)
    if raw in ("a", "an"):
        return 1
    if raw == "couple of":
        return 2
    if raw == "few":
        return 3
    return _NUMBER_WORDS[raw]


def _back(today: dt.date, amount: int, unit: str) -> dt.date | None:
    """`today` minus `amount` units (months clamp to the month's last day); None before year 1."""
    try:
        if unit == "hour":
            return today - dt.timedelta(days=-(-amount // 24))
        if unit == "day":
            return today - dt.timedelta(days=amount)
        if unit == "week":
            return today - dt.timedelta(weeks=amount)
        months = amount * {"month": 1, "quarter": 3, "year": 12}[unit]
        index = today.year * 12 + today.month - 1 - months
        year, month = divmod(index, 12)
        month += 1
        return dt.date(year, month, min(today.day, calendar.monthrange(year, month)[1]))
    except (OverflowError, ValueError, KeyError):
        return None


def _period_start(today: dt.date, unit: str) -> dt.date:
    if unit == "week":
        return today - dt.timedelta(days=today.weekday())
    if unit == "month":
        return today.replace(day=1)
    if unit == "quarter":
        return today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
    return today.replace(month=1, day=1)


def date_filter(start: dt.date | None, today: dt.date) -> str | None:
    """The smallest search window (Desearch `date_filter`) that reaches back to `start`, if any does."""
    if start is None:
        return None
    days = (today - start).days
    if days < 0:
        return None
    return next((name for limit, name in DATE_FILTERS if days <= limit), None)
