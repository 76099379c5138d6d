"""Objective analysis: dates, counts, entities and queries a plan is filled from."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.planner import analyse
from orchestra.planner.analysis import MAX_ENTITIES, MAX_QUERY_CHARS
from orchestra.schema import compile_schema

TODAY = dt.date(2026, 8, 15)


@pytest.mark.parametrize(
    ("objective", "start", "end"),
    [
        ("Solana sentiment over the last 30 days", "2026-07-16", "2026-08-15"),
        ("GPU news from the past week", "2026-08-08", "2026-08-15"),
        ("posts of the last two weeks", "2026-08-01", "2026-08-15"),
        ("Bitcoin ETF flows since March 2026", "2026-03-01", "2026-08-15"),
        ("what changed since 2025-12-01", "2025-12-01", "2026-08-15"),
        ("Nvidia results for Q3 2026", "2026-07-01", "2026-09-30"),
        ("results for 2025 Q4", "2025-10-01", "2025-12-31"),
        ("Q2 2026 versus Q3 2026 revenue", "2026-04-01", "2026-09-30"),
        ("the H1 2026 funding rounds", "2026-01-01", "2026-06-30"),
        ("What did Apple announce on 2026-02-03?", "2026-02-03", "2026-02-03"),
        ("from 2026-01-01 to 2026-02-15", "2026-01-01", "2026-02-15"),
        ("between Q1 2025 and Q2 2025", "2025-01-01", "2025-06-30"),
        ("prices in March 2026", "2026-03-01", "2026-03-31"),
        ("leap day: February 2028 prices", "2028-02-01", "2028-02-29"),
        ("sales this year", "2026-01-01", "2026-08-15"),
        ("sales this quarter", "2026-07-01", "2026-08-15"),
        ("what people say today", "2026-08-15", "2026-08-15"),
        ("filings before 2024", None, "2024-12-31"),
    ],
)
def test_dates_become_an_iso_period(objective: str, start: str | None, end: str | None) -> None:
    facts = analyse(objective, today=TODAY)
    assert (facts.start_date, facts.end_date) == (start, end)


def test_months_back_clamp_to_the_end_of_a_shorter_month() -> None:
    facts = analyse("downloads in the last 6 months", today=dt.date(2026, 8, 31))
    assert facts.start_date == "2026-02-28"


@pytest.mark.parametrize(
    "objective",
    ["GPU prices in 2026", "invalid day 2026-02-30", "the last word", "Q5 2026", "a 2026-13-01 typo"],
)
def test_no_period_without_a_date_phrase(objective: str) -> None:
    facts = analyse(objective, today=TODAY)
    assert facts.start_date is None and facts.end_date is None and facts.date_filter is None


@pytest.mark.parametrize(
    ("objective", "window"),
    [
        ("mentions today", "PAST_24_HOURS"),
        ("news from the past week", "PAST_WEEK"),
        ("the last 30 days", "PAST_MONTH"),
        ("since July 2026", "PAST_2_MONTHS"),
        ("since 2026-01-01", "PAST_YEAR"),
        ("since 2020", None),  # older than any search window: no filter rather than a wrong one
    ],
)
def test_the_smallest_search_window_covering_the_period_is_chosen(objective: str, window: str | None) -> None:
    assert analyse(objective, today=TODAY).date_filter == window


def test_date_phrases_are_neither_keywords_nor_entities() -> None:
    facts = analyse("Solana sentiment over the last 30 days. Since March 2026 Avalanche grew.", today=TODAY)
    assert facts.keywords == ("solana", "sentiment", "avalanche", "grew")
    assert facts.entities == ("Solana", "Avalanche")


def test_request_verbs_and_generic_acronyms_are_not_entities() -> None:
    facts = analyse('Collect tweets about Solana. Compare GPU clouds like "Lambda Labs" and CoreWeave.')
    assert facts.entities == ("Lambda Labs", "Solana", "CoreWeave")


def test_the_query_is_compact_keywords_plus_entities_and_years() -> None:
    facts = analyse('Collect posts comparing the H100 offers of "Lambda Labs" and RunPod in 2026')
    assert facts.query == "posts comparing h100 offers lambda labs runpod 2026"
    assert "collect" in facts.keywords and "collect" not in facts.query.split()


def test_schema_list_bounds_give_a_count_the_objective_can_override() -> None:
    schema = compile_schema(
        {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 9},
                "vendors": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    "minItems": 2,
                    "maxItems": 4,
                },
            },
        }
    )
    facts = analyse("GPU vendors", schema.root)
    assert facts.count is None and facts.schema_count == 4 and facts.wanted_count == 4  # objects first
    assert analyse("the top 3 GPU vendors", schema.root).wanted_count == 3


def test_a_min_items_bound_alone_is_the_count() -> None:
    schema = compile_schema(
        {
            "type": "object",
            "properties": {"rivals": {"type": "array", "items": {"type": "string"}, "minItems": 5}},
        }
    )
    assert analyse("rivals", schema.root).schema_count == 5
    assert analyse("rivals", compile_schema({"rivals": ["str"]}).root).schema_count is None


_PHRASES = st.sampled_from(
    [
        "last 30 days",
        "past 9999 years",
        "since March 2026",
        "Q3 2026",
        "2026-02-29",
        "from 2026-01-01 to 2025-01-01",
        "before 1900",
        "top 5",
        '"Quoted Name"',
        "CoreWeave",
        "this week",
        "between H2 2099 and Q1 1900",
    ]
)


@given(st.lists(st.one_of(st.text(max_size=40), _PHRASES), max_size=12).map(" ".join))
def test_analysis_never_fails_and_keeps_its_bounds(objective: str) -> None:
    facts = analyse(objective, today=TODAY)
    if facts.start_date and facts.end_date:
        assert facts.start_date <= facts.end_date
    assert len(facts.keywords) <= 8 and len(facts.entities) <= MAX_ENTITIES
    assert len(facts.query) <= MAX_QUERY_CHARS
