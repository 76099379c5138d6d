"""Coercion rules: a raw value extracted from evidence -> the value a schema scalar asks for.

Pure functions. Each returns the coerced value or raises `CoercionError`; none clamps, guesses or
fills in: a value that is ambiguous or outside the schema's bounds is refused, so a caller can drop it
or ask again instead of publishing something the evidence does not say.

Decisions a reader should know:

* **Numbers** keep the figure as written. ``"$1.99/hr"`` -> 1.99, ``"1,299.50"`` -> 1299.5,
  ``"1.299,50"`` -> 1299.5, ``"2,49"`` -> 2.49 (a decimal comma has one or two digits; three digits
  after a comma group thousands, so ``"1,299"`` -> 1299 and ``"1.299"`` -> 1.299), ``"-4"`` -> -4 (also
  with the U+2212 minus sign),
  ``"1e3"`` -> 1000. Scale suffixes multiply: ``k`` 10³, ``M``/``m``/``mn``/``million`` 10⁶,
  ``B``/``b``/``bn``/``billion`` 10⁹, ``T``/``tn``/``trillion`` 10¹² (single letters only when written
  against the digits: ``"5 m"`` is five of a unit called m, ``"5m"`` five million).
* **Percentages** keep the number before the sign: ``"12%"`` -> 12.0, not 0.12. That is the figure a
  reader sees in the source (and what a verifier finds in it), and a field holding "uptime" or "share"
  is conventionally stated in percent.
* A number may carry a currency (symbol or ISO code, before or after) and a unit (``/hr``,
  ``per 1M tokens``, ``GPUs``); a second figure, stray words before the number, or two decimal points
  (``"1.2.3"``) make the text ambiguous and it is refused.
* **Dates** accept ISO 8601, ``2026/03/03``, ``20260303``, ``March 3, 2026``, ``3 Mar 2026`` and Unix
  timestamps (seconds, or milliseconds from 10¹¹ on; smaller numbers are refused as they may be years
  or counts). ``03/04/2026`` is refused as ambiguous; ``13/04/2026`` is not. A date-time without a zone
  is taken as UTC; a date-only value for a date-time field becomes midnight UTC; a date field takes
  the date as written (no zone conversion).
* **Lists** from a string split on semicolons or new lines when there are any, else on commas (except
  ones grouping thousands, ``1,299``) and on "and"; a single scalar becomes a one-item list.
* **Enums** match case-, space-, hyphen- and underscore-insensitively; two allowed values that match
  equally well make the value ambiguous.
* **Strings** are trimmed and their whitespace collapsed; one longer than ``maxLength`` is refused unless
  the caller asks to shorten it (at a word boundary).

`coerce_scalar` applies the node's own bounds, pattern and format last, with the same validator a
result model uses, so whatever it returns validates in place.
"""

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import ValidationError

from orchestra.schema import ListNode, Node, ObjectNode, ScalarNode, scalar_adapter

T = TypeVar("T")

MAX_TEXT_CHARS = 200  # longer text is not a number or a date: refuse it before any regex runs


class CoercionError(ValueError):
    """A value that cannot be turned into what the schema asks for, and why."""


# --------------------------------------------------------------------------------------------------
# Numbers and money
# --------------------------------------------------------------------------------------------------

_SYMBOLS = {
    "US$": "USD",
    "C$": "CAD",
    "A$": "AUD",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₿": "BTC",
    "τ": "TAO",
}
# Fiat and crypto codes a price is commonly written with (TAO for Bittensor's own prices).
_CODES = frozenset(
    re.findall(r"\w+", "USD EUR GBP JPY CNY INR CAD AUD CHF KRW RUB BRL TRY SEK NOK DKK PLN HKD SGD NZD MXN")
    + re.findall(r"\w+", "ZAR BTC ETH TAO USDC USDT")
)
_SCALES = {
    **dict.fromkeys(("k", "K", "thousand"), 3),
    **dict.fromkeys(("M", "m", "mn", "million"), 6),
    **dict.fromkeys(("B", "b", "bn", "billion"), 9),
    **dict.fromkeys(("T", "tn", "trillion"), 12),
}
_PER = {
    "hour": ("h", "hr", "hrs", "hour", "hours", "hourly"),
    "minute": ("min", "mins", "minute", "minutes"),
    "second": ("s", "sec", "secs", "second", "seconds"),
    "day": ("d", "day", "days", "daily"),
    "week": ("wk", "week", "weeks", "weekly"),
    "month": ("mo", "mos", "mth", "month", "months", "monthly"),
    "year": ("y", "yr", "yrs", "year", "years", "yearly", "annum", "annually"),
}
_PER_ALIASES = {alias: name for name, aliases in _PER.items() for alias in aliases}

_SYMBOL_RE = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_CODE_RE = "|".join(sorted(_CODES))
_SIGN = "[+\\-\u2212]"
_NUMBER_BODY = (
    r"(?P<us>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?)"  # 1,299.50
    r"|(?P<eu>[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+)"  # 1.299,50
    r"|(?P<sp>[0-9]{1,3}(?:[ \u00a0\u202f\u2009][0-9]{3})+(?:[.,][0-9]+)?)"  # 1 299,50
    r"|(?P<dc>[0-9]+,[0-9]{1,2})"  # 2,49
    r"|(?P<plain>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+\-]?[0-9]{1,3})?)"  # 1299.50, 1e3, .5
)
_SCALE_RE = r"(?:[kKmMbBT]|mn|bn|tn)(?![A-Za-z])|\s?(?:thousand|million|billion|trillion)\b"
_UNIT_RE = (
    r"\s*(?:/|\bper\b)\s*(?:[0-9]{1,3}(?:,[0-9]{3})*(?:\.[0-9]+)?\s?(?:[kKmMbB]\b)?\s*)?[A-Za-z][A-Za-z .\-]*"
    r"|\s+[A-Za-z][A-Za-z .\-/]*"
)
_NUMBER_TEXT = re.compile(
    rf"(?P<sign1>{_SIGN})?\s*"
    rf"(?:(?P<cur1>{_SYMBOL_RE}|(?:{_CODE_RE})(?=[\s0-9.+\-\u2212]))\s*)?"
    rf"(?P<sign2>{_SIGN})?"
    rf"(?:{_NUMBER_BODY})"
    rf"(?P<scale>{_SCALE_RE})?"
    r"(?P<pct>\s?%)?"
    rf"(?:\s*(?P<cur2>{_SYMBOL_RE}|(?:{_CODE_RE})(?![A-Za-z])))?"
    rf"(?P<unit>{_UNIT_RE})?",
)


@dataclass(frozen=True)
class Money:
    """An amount of money as a price is written: `parse_money("$1.99/hr")` ->
    `Money(amount=1.99, currency="USD", per="hour")`. `per` is a normalised time unit ("hour", "month")
    or the unit as written, lower-cased ("1m tokens", "gb"); None when the text names none."""

    amount: float
    currency: str
    per: str | None = None


@dataclass(frozen=True)
class _Parsed:
    value: Decimal
    unscaled: Decimal  # the figure before a scale suffix: 2.5 in "2.5k"
    currency: str | None
    percent: bool
    unit: str


def _parse(text: str) -> _Parsed:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise CoercionError("empty text is not a number")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise CoercionError(f"text of {len(cleaned)} characters is not a number")
    match = _NUMBER_TEXT.fullmatch(cleaned)
    if match is None:
        raise CoercionError(f"{_show(text)} is not a single number")
    if match["sign1"] and match["sign2"]:
        raise CoercionError(f"{_show(text)} has two signs")
    if match["us"]:
        digits = match["us"].replace(",", "")
    elif match["eu"]:
        digits = match["eu"].replace(".", "").replace(",", ".")
    elif match["sp"]:
        digits = re.sub(r"[ \u00a0\u202f\u2009]", "", match["sp"]).replace(",", ".")
    elif match["dc"]:
        digits = match["dc"].replace(",", ".")
    else:
        digits = match["plain"]
    unscaled = Decimal(digits)
    if (match["sign1"] or match["sign2"] or "+") in "-\u2212":
        unscaled = -unscaled
    scale = (match["scale"] or "").strip()
    value = unscaled.scaleb(_SCALES[scale]) if scale else unscaled
    currency = _currency(match["cur1"], match["cur2"], text)
    percent = bool(match["pct"])
    if percent and currency:
        raise CoercionError(f"{_show(text)} is both a percentage and an amount of money")
    return _Parsed(
        value=value, unscaled=unscaled, currency=currency, percent=percent, unit=(match["unit"] or "").strip()
    )


def _currency(before: str | None, after: str | None, text: str) -> str | None:
    first = _SYMBOLS.get(before, before) if before else None
    second = _SYMBOLS.get(after, after) if after else None
    if first and second and first != second:
        if before == "$":  # "$5 CAD": the code says which dollar
            return second
        raise CoercionError(f"{_show(text)} names two currencies")
    return second or first


def parse_money(text: str) -> Money:
    """An amount with its currency and unit. Text without a currency is a number, not money."""
    if not isinstance(text, str):
        raise CoercionError(f"expected text stating an amount of money, got {_kind(text)}")
    parsed = _parse(text)
    if parsed.currency is None:
        raise CoercionError(f"{_show(text)} names no currency")
    return Money(amount=_finite(parsed.value, text), currency=parsed.currency, per=_per(parsed.unit))


def _per(unit: str) -> str | None:
    if not unit:
        return None
    lowered = unit.lower()
    if lowered.startswith("/"):
        lowered = lowered[1:]
    elif lowered.startswith("per "):
        lowered = lowered[4:]
    elif lowered not in _PER_ALIASES:  # "$5 credit": a word after the amount, not a rate
        return None
    lowered = " ".join(lowered.split()).strip(" .-")
    return _PER_ALIASES.get(lowered, lowered) or None


def coerce_number(value: Any) -> float:
    """A finite number from a number or from text ("$1.99/hr", "1,299.50", "2.5k", "12%")."""
    if isinstance(value, bool):
        raise CoercionError("a boolean is not a number")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise CoercionError("integer too large for a number") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CoercionError(f"{value} is not a finite number")
        return value
    if isinstance(value, str):
        return _finite(_parse(value).value, value)
    raise CoercionError(f"expected a number, got {_kind(value)}")


def coerce_integer(value: Any) -> int:
    """A whole number; 2.0 is 2, 2.5 is refused rather than rounded."""
    if isinstance(value, bool):
        raise CoercionError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise CoercionError(f"{value} is not a whole number")
        return int(value)
    if isinstance(value, str):
        parsed = _parse(value).value
        if parsed != parsed.to_integral_value():
            raise CoercionError(f"{_show(value)} is not a whole number")
        return int(parsed)
    raise CoercionError(f"expected an integer, got {_kind(value)}")


def _finite(value: Decimal, text: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise CoercionError(f"{_show(text)} is too large a number")
    return number


_FIND_NUMBER = re.compile(
    rf"(?<![\w.,])(?:{_SYMBOL_RE})?\s?{_SIGN}?"
    r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?(?:[eE][+\-]?[0-9]{1,3})?)"
    rf"(?:{_SCALE_RE})?(?:\s?%)?(?![0-9])"
)


def figures_in(text: str) -> list[set[float]]:
    """Each figure a text states, with the values it may be quoted as: "2.5k" as 2500 or 2.5, "12%" as
    12 or 0.12 (a value taken from a source may be written either way)."""
    figures: list[set[float]] = []
    for match in _FIND_NUMBER.finditer(text or ""):
        try:
            parsed = _parse(match.group(0).strip())
        except CoercionError:
            continue
        value, unscaled = float(parsed.value), float(parsed.unscaled)
        readings = {v for v in (value, unscaled) if math.isfinite(v)}
        if parsed.percent and math.isfinite(value):
            readings.add(value / 100)
        if readings:
            figures.append(readings)
    return figures


def numbers_in(text: str) -> set[float]:
    """Every value the figures of a text may be quoted as (see `figures_in`)."""
    return {value for readings in figures_in(text) for value in readings}


# --------------------------------------------------------------------------------------------------
# Booleans
# --------------------------------------------------------------------------------------------------

_TRUE = frozenset(re.findall(r"\w+", "true t yes y on 1 enabled enable supported available active included"))
_FALSE = frozenset(
    re.findall(r"\w+", "false f no n off 0 disabled disable unsupported unavailable inactive excluded")
)


def coerce_boolean(value: Any) -> bool:
    """True/false from a boolean, 0/1, or words like "yes", "enabled", "off"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise CoercionError(f"{_show(value)} is not a yes/no value")


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY = re.compile(r"^(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+", re.I)
_ISO = re.compile(
    r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[T ](?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?)?"
    r"\s*(?P<tz>[Zz]|UTC|GMT|[+\-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_YMD = re.compile(r"(?P<y>[0-9]{4})[/.](?P<m>[0-9]{1,2})[/.](?P<d>[0-9]{1,2})|(?P<basic>[0-9]{8})")
_MONTH_FIRST = re.compile(
    rf"(?P<mon>{_MONTH_RE})\.?\s+(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>[0-9]{{4}})", re.I
)
_DAY_FIRST = re.compile(
    rf"(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{_MONTH_RE})\.?,?\s+(?P<y>[0-9]{{4}})", re.I
)
_NUMERIC = re.compile(r"(?P<a>[0-9]{1,2})(?P<sep>[/.\-])(?P<b>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4})")
_TIMESTAMP = re.compile(r"[0-9]{9,14}(?:\.[0-9]+)?")
MIN_TIMESTAMP = 10**8  # 1973-03-03: smaller numbers are more likely years or counts than instants
MS_TIMESTAMP = 10**11  # from here on a timestamp counts milliseconds (10**11 s would be the year 5138)
MAX_TIMESTAMP = 10**14


def parse_when(value: Any) -> dt.date | dt.datetime:
    """A calendar date or an instant from the accepted forms (see the module docstring)."""
    if isinstance(value, bool):
        raise CoercionError("a boolean is not a date")
    if isinstance(value, dt.datetime | dt.date):
        return value
    try:
        if isinstance(value, int | float):
            return _from_timestamp(value)
        if not isinstance(value, str):
            raise CoercionError(f"expected a date, got {_kind(value)}")
        text = _WEEKDAY.sub("", " ".join(value.split()))
        if len(text) > MAX_TEXT_CHARS:
            raise CoercionError(f"text of {len(text)} characters is not a date")
        return _parse_when(text, value)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, CoercionError):
            raise
        raise CoercionError(f"{_show(value)} is not a real date: {exc}") from None


def _parse_when(text: str, original: str) -> dt.date | dt.datetime:
    if match := _ISO.fullmatch(text):
        day = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
        if match["H"] is None:
            return day
        fraction = (match["f"] or "").ljust(6, "0")[:6]
        return dt.datetime(
            day.year,
            day.month,
            day.day,
            int(match["H"]),
            int(match["M"]),
            int(match["S"] or 0),
            int(fraction),
            tzinfo=_zone(match["tz"]),
        )
    if match := _YMD.fullmatch(text):
        if match["basic"]:
            basic = match["basic"]
            return dt.date(int(basic[:4]), int(basic[4:6]), int(basic[6:]))
        return dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
    if (match := _MONTH_FIRST.fullmatch(text)) or (match := _DAY_FIRST.fullmatch(text)):
        return dt.date(int(match["y"]), _MONTHS[match["mon"].lower()], int(match["d"]))
    if match := _NUMERIC.fullmatch(text):
        first, second = int(match["a"]), int(match["b"])
        if first <= 12 and second <= 12 and first != second:
            raise CoercionError(f"{_show(original)} could be day-first or month-first")
        day_of_month, month = (first, second) if first > 12 else (second, first)
        return dt.date(int(match["y"]), month, day_of_month)
    if _TIMESTAMP.fullmatch(text):
        return _from_timestamp(float(text))
    raise CoercionError(f"{_show(original)} is not a date in a recognised form")


def _zone(text: str | None) -> dt.tzinfo | None:
    if text is None:
        return None
    if text in ("Z", "z", "UTC", "GMT"):
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if minutes >= 60:
        raise CoercionError(f"{text!r} is not a time zone offset")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _from_timestamp(value: float) -> dt.datetime:
    if not math.isfinite(value) or not MIN_TIMESTAMP <= value < MAX_TIMESTAMP:
        raise CoercionError(f"{value} is not a plausible Unix timestamp")
    seconds = value / 1000 if value >= MS_TIMESTAMP else value
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


def coerce_date(value: Any) -> str:
    """An ISO calendar date, YYYY-MM-DD."""
    parsed = parse_when(value)
    day = parsed.date() if isinstance(parsed, dt.datetime) else parsed
    return day.isoformat()


def coerce_datetime(value: Any) -> str:
    """An ISO 8601 date-time with a zone ("Z" for UTC), seconds precision unless fractions were given."""
    parsed = parse_when(value)
    if not isinstance(parsed, dt.datetime):
        parsed = dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.timezone.utc)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    text = parsed.isoformat(timespec="microseconds" if parsed.microsecond else "seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_FIND_DATE = re.compile(
    r"\b(?:[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+\-][0-9]{2}:?[0-9]{2})?)?"
    r"|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}"
    rf"|(?:{_MONTH_RE})\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+[0-9]{{4}}"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH_RE})\.?,?\s+[0-9]{{4}}"
    r"|[0-9]{1,2}([/.\-])[0-9]{1,2}\1[0-9]{4})",
    re.I,
)


def dates_in(text: str) -> set[dt.date]:
    """Every calendar date a text states in one of the accepted forms."""
    found: set[dt.date] = set()
    for match in _FIND_DATE.finditer(text or ""):
        try:
            found.add(dt.date.fromisoformat(coerce_date(match.group(0))))
        except CoercionError:
            continue
    return found


# --------------------------------------------------------------------------------------------------
# Text, enums, lists
# --------------------------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Trimmed, with every run of whitespace one space."""
    return " ".join(text.split())


def coerce_text(value: Any, *, max_length: int | None = None, shorten: bool = False) -> str:
    """Text, trimmed and with whitespace collapsed; numbers are written out, booleans as true/false.
    Longer than `max_length` is refused, or with `shorten` cut at the last word boundary that fits."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value)):
        text = str(value)
    elif isinstance(value, str):
        text = normalise_text(value)
    else:
        raise CoercionError(f"expected text, got {_kind(value)}")
    if max_length is not None and len(text) > max_length:
        if not shorten:
            raise CoercionError(f"text of {len(text)} characters is longer than {max_length}")
        cut = text[:max_length]
        if " " in cut.strip() and not text[max_length:].startswith(" "):
            cut = cut.rsplit(" ", 1)[0]
        text = cut.strip()
    return text


def enum_key(text: str) -> str:
    """The form enum values are compared in: "In_Stock", "in-stock" and " in stock" are one value."""
    return " ".join(re.sub(r"[_\-\s]+", " ", text).casefold().split())


def coerce_enum(value: Any, allowed: Sequence[Any]) -> Any:
    """The allowed value `value` names: itself, or the one string matching it loosely, or the number or
    boolean it states."""
    for option in allowed:
        if type(option) is type(value) and option == value:
            return option
    if all(isinstance(o, str) for o in allowed):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = coerce_text(value)
        if not isinstance(value, str):
            raise CoercionError(f"expected one of {_options(allowed)}, got {_kind(value)}")
        matches = [o for o in allowed if enum_key(o) == enum_key(value)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise CoercionError(f"{_show(value)} matches several allowed values: {_options(matches)}")
        raise CoercionError(f"{_show(value)} is not one of {_options(allowed)}")
    if all(isinstance(o, bool) for o in allowed):
        wanted_bool = coerce_boolean(value)
        for option in allowed:
            if option is wanted_bool:
                return option
        raise CoercionError(f"{_show(value)} is not one of {_options(allowed)}")
    number = coerce_number(value)
    for option in allowed:
        if isinstance(option, int | float) and not isinstance(option, bool) and option == number:
            return option
    raise CoercionError(f"{_show(value)} is not one of {_options(allowed)}")


_LIST_SEPARATORS = re.compile(r"\s*(?:;|\n)\s*")
# A comma separates items unless it groups thousands ("1,299"); "and" joins the last item.
_COMMA = re.compile(r"\s*(?:(?<![0-9]),|,(?![0-9]{3}(?![0-9])))\s*")
_AND = re.compile(r"^(?:and|&)\s+|\s+(?:and|&)\s+", re.I)
_BULLET = re.compile(r"^(?:[-*•·]|[0-9]{1,2}[.)])\s+")


def split_list(text: str) -> list[str]:
    """The items of a list written as text: "a, b and c", "a; b", bullet lines."""
    text = text.strip()
    if not text:
        return []
    parts = _LIST_SEPARATORS.split(text) if _LIST_SEPARATORS.search(text) else _COMMA.split(text)
    items = [piece for part in parts for piece in _AND.split(part)]
    cleaned = [_BULLET.sub("", item.strip()).strip(" .") for item in items]
    return [item for item in cleaned if item]


def coerce_list(value: Any, item: Callable[[Any], T] | None = None) -> list[T] | list[Any]:
    """A list from a list (each item coerced), from text listing items, or from one scalar."""
    if value is None:
        raise CoercionError("no value for a list")
    if isinstance(value, dict):
        raise CoercionError("expected a list, got an object")
    if isinstance(value, list | tuple):
        items: list[Any] = list(value)
    elif isinstance(value, str):
        items = split_list(value) if len(value) <= MAX_TEXT_CHARS * 20 else [value]
    else:
        items = [value]
    if item is None:
        return items
    out: list[T] = []
    for index, raw in enumerate(items):
        try:
            out.append(item(raw))
        except CoercionError as exc:
            raise CoercionError(f"item {index}: {exc}") from None
    return out


# --------------------------------------------------------------------------------------------------
# Schema nodes
# --------------------------------------------------------------------------------------------------


def coerce_scalar(node: ScalarNode, value: Any, *, shorten: bool = False) -> Any:
    """`value` as `node` asks for it, within its bounds, pattern and format; never a value the node's own
    validation rejects. `shorten` cuts text longer than `maxLength` instead of refusing it."""
    coerced: Any
    if node.enum is not None:
        coerced = coerce_enum(value, node.enum)
    elif node.kind == "str":
        if node.format == "date":
            coerced = coerce_date(value)
        elif node.format == "date-time":
            coerced = coerce_datetime(value)
        else:
            coerced = coerce_text(value, max_length=node.max_length, shorten=shorten)
    elif node.kind == "bool":
        coerced = coerce_boolean(value)
    elif node.kind == "int":
        coerced = coerce_integer(value)
    else:
        coerced = coerce_number(value)
    if node.kind in ("int", "float") and node.enum is None:
        _check_bounds(node, coerced)
    try:
        scalar_adapter(node).validate_python(coerced)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise CoercionError(f"{_show(coerced)}: {reason}") from None
    return coerced


def _check_bounds(node: ScalarNode, number: float) -> None:
    if node.minimum is not None and number < node.minimum:
        raise CoercionError(f"{number} is below the minimum {node.minimum:g}")
    if node.maximum is not None and number > node.maximum:
        raise CoercionError(f"{number} is above the maximum {node.maximum:g}")
    if node.exclusive_minimum is not None and number <= node.exclusive_minimum:
        raise CoercionError(f"{number} is not above {node.exclusive_minimum:g}")
    if node.exclusive_maximum is not None and number >= node.exclusive_maximum:
        raise CoercionError(f"{number} is not below {node.exclusive_maximum:g}")


def coerce(node: Node, value: Any) -> Any:
    """`value` coerced along a whole schema node: scalars by their rules, lists item by item within their
    size bounds, objects field by field (unknown fields left for validation to judge), free-form values
    as they are. The first failure raises, naming the field or item."""
    if isinstance(node, ScalarNode):
        return coerce_scalar(node, value)
    if isinstance(node, ListNode):
        items = coerce_list(value, lambda raw: coerce(node.item, raw))
        if node.min_items is not None and len(items) < node.min_items:
            raise CoercionError(f"{len(items)} items, fewer than {node.min_items}")
        if node.max_items is not None and len(items) > node.max_items:
            raise CoercionError(f"{len(items)} items, more than {node.max_items}")
        return items
    if isinstance(node, ObjectNode):
        if not isinstance(value, dict):
            raise CoercionError(f"expected an object, got {_kind(value)}")
        out = dict(value)
        for spec in node.fields:
            if spec.name in out and not (out[spec.name] is None and spec.nullable):
                try:
                    out[spec.name] = coerce(spec.node, out[spec.name])
                except CoercionError as exc:
                    raise CoercionError(f"{spec.name}: {exc}") from None
        return out
    if node.kind == "dict" and not isinstance(value, dict):
        raise CoercionError(f"expected an object, got {_kind(value)}")
    if node.kind == "list":
        return coerce_list(value)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _options(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:8])
    return f"[{shown}{', ...' if len(values) > 8 else ''}]"
