import contextlib
import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from orchestra.coercion import (
    CoercionError,
    Money,
    coerce,
    coerce_boolean,
    coerce_date,
    coerce_datetime,
    coerce_enum,
    coerce_integer,
    coerce_list,
    coerce_number,
    coerce_scalar,
    coerce_text,
    dates_in,
    figures_in,
    numbers_in,
    parse_money,
    split_list,
)
from orchestra.schema import ListNode, ScalarNode, compile_schema, to_json_schema

# ---------------------------------------------------------------------------------------------- tables


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1.99/hr", 1.99),
        ("1,299.50", 1299.5),
        ("€2.49", 2.49),
        ("2.49 €", 2.49),
        ("2.5k", 2500.0),
        ("3M", 3_000_000.0),
        ("2.5 million", 2_500_000.0),
        ("1.2bn", 1_200_000_000.0),
        ("12%", 12.0),  # the figure as written, not 0.12
        ("99.95% uptime", 99.95),
        ("-4", -4.0),
        ("\u22124", -4.0),  # unicode minus
        ("-$5", -5.0),
        ("$-5", -5.0),
        ("1e3", 1000.0),
        ("1.5E-3", 0.0015),
        ("1.299,50", 1299.5),  # European grouping with a decimal comma
        ("2,49", 2.49),  # a decimal comma has one or two digits
        ("1,299", 1299.0),  # three digits after a comma group thousands
        ("1.299", 1.299),
        ("1 299,50", 1299.5),
        (".5", 0.5),
        ("USD 5", 5.0),
        ("5 USD", 5.0),
        ("$0.50 per 1M tokens", 0.5),
        ("512 GPUs", 512.0),
        ("5 m", 5.0),  # "m" apart from the digits is a unit, not a million
        ("5m", 5_000_000.0),
        ("  42  ", 42.0),
        (7, 7.0),
        (2.5, 2.5),
    ],
)
def test_numbers_are_read_from_the_ways_people_write_them(text: Any, expected: float) -> None:
    assert coerce_number(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "1.2.3",
        "1,2,3",
        "5 to 10",
        "about 5",
        "H100",
        "abc",
        "",
        "   ",
        "--5",
        "-$-5",
        "$5%",  # money and a percentage at once
        "€5 USD",  # two currencies
        "10000,000",
        "5/10",
        "1e9999",  # exponent beyond what any figure needs
        True,
        None,
        [1],
        float("nan"),
        float("inf"),
    ],
)
def test_ambiguous_or_non_numbers_are_refused(text: Any) -> None:
    with pytest.raises(CoercionError):
        coerce_number(text)


def test_an_overflowing_figure_is_refused_not_infinite() -> None:
    with pytest.raises(CoercionError):
        coerce_number("9" * 150 + "e999")
    with pytest.raises(CoercionError):
        coerce_number(10**400)


@pytest.mark.parametrize(
    ("text", "money"),
    [
        ("$1.99/hr", Money(1.99, "USD", "hour")),
        ("$2.49 per hour", Money(2.49, "USD", "hour")),
        ("€20/mo", Money(20.0, "EUR", "month")),
        ("£3.10 / GB", Money(3.10, "GBP", "gb")),
        ("$0.50 per 1M tokens", Money(0.5, "USD", "1m tokens")),
        ("$3 monthly", Money(3.0, "USD", "month")),
        ("$5 credit", Money(5.0, "USD", None)),
        ("1.5 TAO", Money(1.5, "TAO", None)),
        ("$5 CAD", Money(5.0, "CAD", None)),  # the code says which dollar
        ("US$1,200/yr", Money(1200.0, "USD", "year")),
    ],
)
def test_money_keeps_its_currency_and_unit(text: str, money: Money) -> None:
    parsed = parse_money(text)
    assert parsed.amount == pytest.approx(money.amount)
    assert (parsed.currency, parsed.per) == (money.currency, money.per)


@pytest.mark.parametrize("text", ["2.49", "12%", "cheap", "$"])
def test_text_without_a_currency_or_amount_is_not_money(text: str) -> None:
    with pytest.raises(CoercionError):
        parse_money(text)


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), (3.0, 3), ("3", 3), ("2.5k", 2500), ("1e3", 1000), ("1,299", 1299)]
)
def test_integers_accept_whole_numbers(value: Any, expected: int) -> None:
    assert coerce_integer(value) == expected
    assert isinstance(coerce_integer(value), int)


@pytest.mark.parametrize("value", [2.5, "2.5", "1.5k0", "$1.99", True])
def test_integers_refuse_fractions_instead_of_rounding(value: Any) -> None:
    with pytest.raises(CoercionError):
        coerce_integer(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("TRUE", True),
        (" enabled ", True),
        ("on", True),
        (1, True),
        (True, True),
        ("no", False),
        ("Disabled", False),
        ("off", False),
        (0, False),
        (False, False),
    ],
)
def test_booleans_from_words(value: Any, expected: bool) -> None:
    assert coerce_boolean(value) is expected


@pytest.mark.parametrize("value", ["maybe", "", 2, 0.5, None, "yes please"])
def test_unclear_booleans_are_refused(value: Any) -> None:
    with pytest.raises(CoercionError):
        coerce_boolean(value)


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("2026-03-03", "2026-03-03"),
        ("2026-03-03T23:30:00-05:00", "2026-03-03"),  # the date as written, no zone conversion
        ("March 3, 2026", "2026-03-03"),
        ("Mar 3 2026", "2026-03-03"),
        ("3 Mar 2026", "2026-03-03"),
        ("3rd of March 2026", "2026-03-03"),
        ("Sept. 5th, 2025", "2025-09-05"),
        ("Tue, 3 Mar 2026", "2026-03-03"),
        ("2026/03/03", "2026-03-03"),
        ("20260303", "2026-03-03"),
        ("13/04/2026", "2026-04-13"),  # 13 cannot be a month
        ("04/13/2026", "2026-04-13"),
        ("03/03/2026", "2026-03-03"),
        (1772524800, "2026-03-03"),  # unix seconds
        (1772524800000, "2026-03-03"),  # unix milliseconds
        ("1772524800", "2026-03-03"),
    ],
)
def test_dates_in_common_forms_become_iso_dates(value: Any, date: str) -> None:
    assert coerce_date(value) == date


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2026-03-03T10:00:00Z", "2026-03-03T10:00:00Z"),
        ("2026-03-03 10:00", "2026-03-03T10:00:00Z"),  # no zone: UTC
        ("2026-03-03T10:00:00+02:00", "2026-03-03T10:00:00+02:00"),
        ("2026-03-03T10:00:00.25+0530", "2026-03-03T10:00:00.250000+05:30"),
        ("2026-03-03", "2026-03-03T00:00:00Z"),
        ("March 3, 2026", "2026-03-03T00:00:00Z"),
        (1772533200, "2026-03-03T10:20:00Z"),
    ],
)
def test_date_times_become_iso_instants_with_a_zone(value: Any, instant: str) -> None:
    assert coerce_datetime(value) == instant


@pytest.mark.parametrize(
    "value",
    ["03/04/2026", "2026", "March 2026", "2026-02-30", "2026-13-01", "yesterday", 2026, 12345, "", True],
)
def test_ambiguous_or_impossible_dates_are_refused(value: Any) -> None:
    with pytest.raises(CoercionError):
        coerce_date(value)


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("a, b and c", ["a", "b", "c"]),
        ("a, b, and c", ["a", "b", "c"]),
        ("fast; cheap, reliable", ["fast", "cheap, reliable"]),  # semicolons win over commas
        ("- one\n- two\n", ["one", "two"]),
        ("1,299, 2,000", ["1,299", "2,000"]),  # commas grouping thousands are not separators
        ("single", ["single"]),
        ("", []),
        (5, [5]),
        (["x", "y"], ["x", "y"]),
    ],
)
def test_lists_from_text_or_a_scalar(value: Any, items: list[Any]) -> None:
    assert coerce_list(value) == items


def test_list_items_are_coerced_and_a_bad_one_is_named() -> None:
    assert coerce_list("$1.99, $2.49 and 3", coerce_number) == [1.99, 2.49, 3.0]
    with pytest.raises(CoercionError, match="item 1"):
        coerce_list("1, lots", coerce_number)
    with pytest.raises(CoercionError):
        coerce_list({"a": 1})


def test_enums_match_loosely_but_never_ambiguously() -> None:
    allowed = ("In_Stock", "sold-out", "Pre Order")
    assert coerce_enum("in stock", allowed) == "In_Stock"
    assert coerce_enum("SOLD OUT", allowed) == "sold-out"
    assert coerce_enum("pre_order", allowed) == "Pre Order"
    with pytest.raises(CoercionError, match="not one of"):
        coerce_enum("discontinued", allowed)
    with pytest.raises(CoercionError, match="several"):
        coerce_enum("a b", ("a_b", "A-B"))
    assert coerce_enum("2", (1, 2)) == 2
    assert coerce_enum(2.0, (1, 2)) == 2
    assert coerce_enum("yes", (True,)) is True
    with pytest.raises(CoercionError):
        coerce_enum(True, (1, 2))  # True is not the number 1 here


def test_text_is_trimmed_collapsed_and_bounded() -> None:
    assert coerce_text("  Fast \n\t GPUs  ") == "Fast GPUs"
    assert coerce_text(1.5) == "1.5"
    with pytest.raises(CoercionError, match="longer"):
        coerce_text("one two three", max_length=8)
    assert coerce_text("one two three", max_length=8, shorten=True) == "one two"
    assert coerce_text("one two three", max_length=7, shorten=True) == "one two"
    with pytest.raises(CoercionError):
        coerce_text({"a": 1})


def test_scalar_nodes_apply_their_bounds_by_refusing_not_clamping() -> None:
    price = ScalarNode(kind="float", minimum=0, maximum=100)
    assert coerce_scalar(price, "$1.99/hr") == 1.99
    with pytest.raises(CoercionError, match="above the maximum"):
        coerce_scalar(price, "$120")
    with pytest.raises(CoercionError, match="below the minimum"):
        coerce_scalar(price, "-1")
    even = ScalarNode(kind="int", multiple_of=2)
    with pytest.raises(CoercionError, match="multiple"):
        coerce_scalar(even, "3")
    code = ScalarNode(kind="str", pattern=r"^[A-Z]{3}-\d{4}$")
    assert coerce_scalar(code, " ABC-1234 ") == "ABC-1234"
    with pytest.raises(CoercionError):
        coerce_scalar(code, "abc-1234")
    assert coerce_scalar(ScalarNode(kind="str", format="date"), "March 3, 2026") == "2026-03-03"
    assert coerce_scalar(ScalarNode(kind="str", format="date-time"), "2026-03-03") == "2026-03-03T00:00:00Z"
    assert coerce_scalar(ScalarNode(kind="str", enum=("low", "high")), "HIGH") == "high"


def test_whole_nodes_coerce_lists_within_their_size_bounds() -> None:
    node = ListNode(item=ScalarNode(kind="float"), max_items=2)
    assert coerce(node, "$1, $2") == [1.0, 2.0]
    with pytest.raises(CoercionError, match="more than 2"):
        coerce(node, "1; 2; 3")
    schema = compile_schema({"tags": "list[str]", "price": "float", "when": "str?"})
    assert coerce(schema.root, {"tags": "a, b", "price": "$3/hr", "when": None}) == {
        "tags": ["a", "b"],
        "price": 3.0,
        "when": None,
    }
    with pytest.raises(CoercionError, match="price"):
        coerce(schema.root, {"tags": [], "price": "cheap"})


def test_figures_and_dates_are_found_in_running_text() -> None:
    text = "VoltStack lists the H100 at $1.99/hr with 99.95% uptime and 2.5k GPUs, updated March 3, 2026."
    numbers = numbers_in(text)
    assert {1.99, 99.95, 0.9995, 2500.0, 2.5} <= numbers
    assert 100.0 not in numbers  # "H100" is a name, not a figure
    assert [sorted(f) for f in figures_in("from $2.5k")] == [[2.5, 2500.0]]
    assert dates_in(text + " Also 2026-04-01T10:00Z and 13/04/2026.") == {
        dt.date(2026, 3, 3),
        dt.date(2026, 4, 1),
        dt.date(2026, 4, 13),
    }
    assert split_list("") == []


# ------------------------------------------------------------------------------------------ properties

cents = st.integers(min_value=-(10**13), max_value=10**13)


def _styles(value: Decimal) -> list[str]:
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    grouped = f"{magnitude:,.2f}"
    european = grouped.replace(",", "_").replace(".", ",").replace("_", ".")
    return [
        f"{value:.2f}",
        f"{sign}{grouped}",
        f"{sign}${grouped}",
        f"\u2212${grouped}" if sign else f"${grouped}",
        f"{sign}€{magnitude:.2f}",
        f"{sign}{grouped} USD",
        f"{sign}${grouped}/hr",
        f"{sign}{european}",
        f"{sign}{grouped}%",
        f"{float(value)!r}",
        f"{float(value):.15e}",
    ]


@settings(max_examples=300)
@given(cents)
def test_formatting_a_number_in_common_styles_and_parsing_it_round_trips(amount: int) -> None:
    value = Decimal(amount) / 100
    for text in _styles(value):
        assert math.isclose(coerce_number(text), float(value), rel_tol=1e-12, abs_tol=1e-12), text


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=999_999), st.sampled_from(["k", "M", "bn", " million"]))
def test_scale_suffixes_multiply(amount: int, suffix: str) -> None:
    scale = {"k": 1e3, "M": 1e6, "bn": 1e9, " million": 1e6}[suffix]
    figure = Decimal(amount) / 100
    assert math.isclose(coerce_number(f"{figure}{suffix}"), float(figure) * scale, rel_tol=1e-12)


@settings(max_examples=200)
@given(st.dates(min_value=dt.date(1975, 1, 1), max_value=dt.date(4000, 12, 31)))
def test_dates_written_in_common_styles_round_trip(day: dt.date) -> None:
    month = day.strftime("%B")
    for text in (
        day.isoformat(),
        f"{month} {day.day}, {day.year}",
        f"{day.day} {month[:3]} {day.year}",
        f"{day.year}/{day.month:02d}/{day.day:02d}",
    ):
        assert coerce_date(text) == day.isoformat(), text
    assert coerce_date(coerce_datetime(day.isoformat())) == day.isoformat()


patterns = st.sampled_from([None, r"^[A-Z]", r"\d", r"^\S+$", r"^\p{L}"])
scalar_nodes = st.one_of(
    st.builds(
        ScalarNode,
        kind=st.just("str"),
        min_length=st.none() | st.integers(0, 4),
        max_length=st.none() | st.integers(0, 20),
        pattern=patterns,
    ),
    st.builds(
        ScalarNode,
        kind=st.just("str"),
        max_length=st.none() | st.sampled_from([10, 25]),
        format=st.sampled_from(["date", "date-time"]),
    ),
    st.builds(
        ScalarNode,
        kind=st.sampled_from(["int", "float"]),
        minimum=st.none() | st.integers(-100, 100).map(float),
        maximum=st.none() | st.integers(-100, 10_000).map(float),
        exclusive_minimum=st.none() | st.just(0.0),
        multiple_of=st.none() | st.sampled_from([0.5, 2.0, 3.0]),
    ),
    st.just(ScalarNode(kind="bool")),
    st.builds(
        ScalarNode,
        kind=st.just("str"),
        enum=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4, unique=True).map(tuple),
    ),
    st.builds(
        ScalarNode,
        kind=st.just("int"),
        enum=st.lists(st.integers(-5, 5), min_size=1, max_size=4, unique=True).map(tuple),
    ),
)
number_texts = st.builds(
    lambda amount, style: _styles(Decimal(amount) / 100)[style],
    st.integers(-(10**6), 10**6),
    st.integers(0, 10),
)
raw_values = st.one_of(
    st.text(max_size=40),
    number_texts,
    st.sampled_from(
        [
            "yes",
            "off",
            "March 3, 2026",
            "2026-03-03T10:00:00Z",
            "1772524800",
            "2.5k",
            "in stock",
            "a, b and c",
        ]
    ),
    st.integers(-(10**15), 10**15),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


date_texts = st.builds(
    lambda day, style: [
        day.isoformat(),
        f"{day:%B} {day.day}, {day.year}",
        f"{day.day} {day:%b} {day.year}",
        f"{day.isoformat()}T12:30:00+02:00",
        str(int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())),
    ][style],
    st.dates(min_value=dt.date(1975, 1, 1), max_value=dt.date(2999, 12, 31)),
    st.integers(0, 4),
)


@st.composite
def node_and_raw(draw: st.DrawFn) -> tuple[ScalarNode, Any]:
    """A scalar node and a raw value, most of the time one written the way that node's values are."""
    node = draw(scalar_nodes)
    if draw(st.integers(0, 3)) == 0:
        return node, draw(raw_values)
    if node.enum is not None:
        option = draw(st.sampled_from(node.enum))
        variants = [option, str(option), str(option).upper(), str(option).replace(" ", "_"), f" {option} "]
        return node, draw(st.sampled_from(variants))
    if node.kind == "bool":
        return node, draw(st.sampled_from(["yes", "No", " enabled", "off", "true", 1, 0, False]))
    if node.kind in ("int", "float"):
        return node, draw(st.one_of(number_texts, st.integers(-200, 20_000), st.floats(-200, 20_000)))
    if node.format is not None:
        return node, draw(date_texts)
    return node, draw(st.one_of(st.text(max_size=30), st.sampled_from(["Hello", "ABC def", " Z9 ", "x"])))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(node_and_raw())
def test_coercion_is_idempotent_and_never_returns_what_the_node_rejects(pair: tuple[ScalarNode, Any]) -> None:
    node, raw = pair
    try:
        once = coerce_scalar(node, raw)
    except CoercionError:
        return
    assert coerce_scalar(node, once) == once
    schema = compile_schema({"type": "object", "properties": {"x": to_json_schema(node)}, "required": ["x"]})
    assert schema.validate({"x": once}) == {"x": once}


@settings(max_examples=300)
@given(raw_values)
def test_the_rules_are_idempotent_one_by_one(raw: Any) -> None:
    for rule in (coerce_number, coerce_integer, coerce_boolean, coerce_date, coerce_datetime, coerce_text):
        try:
            once = rule(raw)
        except CoercionError:
            continue
        assert rule(once) == once, rule.__name__
    try:
        items = coerce_list(raw)
    except CoercionError:
        return
    assert coerce_list(items) == items


_RULES = [
    coerce_number,
    coerce_integer,
    coerce_boolean,
    coerce_date,
    coerce_datetime,
    coerce_text,
    parse_money,
    coerce_list,
    lambda v: coerce_list(v, coerce_number),
    lambda v: coerce_enum(v, ("In_Stock", "sold out")),
    lambda v: coerce_enum(v, (1, 2)),
    lambda v: coerce_text(v, max_length=5, shorten=True),
]


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.text(alphabet="0123456789.,-+$€%kMe /:T", max_size=30), raw_values))
def test_arbitrary_input_raises_nothing_but_coercion_error(raw: Any) -> None:
    for rule in _RULES:
        with contextlib.suppress(CoercionError):
            rule(raw)
    if isinstance(raw, str):
        assert isinstance(split_list(raw), list)
        numbers_in(raw)
        dates_in(raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(scalar_nodes, st.text())
def test_scalar_coercion_of_arbitrary_text_raises_only_coercion_error(node: ScalarNode, raw: str) -> None:
    assume(raw.strip())
    with contextlib.suppress(CoercionError):
        coerce_scalar(node, raw)
