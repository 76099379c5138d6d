"""The Ledger part of a miner's score: accuracy, discovery, freshness and coverage of its proposals."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.curation import LedgerActivity
from orchestra.validator.scoring import LEDGER_PARTS, WEIGHTS, ledger_score

DAY_S = 24 * 3_600.0


def found(
    accepted: int = 1,
    rejected: int = 0,
    discoveries: int = 1,
    netuids: frozenset[int] = frozenset({22}),
    age_s: float | None = 0.0,
) -> LedgerActivity:
    return LedgerActivity(
        accepted=accepted,
        rejected=rejected,
        discoveries=discoveries,
        netuids=netuids,
        last_accepted_age_s=age_s,
    )


def test_parts_add_up_to_the_ledger_weight() -> None:
    assert sum(LEDGER_PARTS.values()) == pytest.approx(WEIGHTS["ledger"])


def test_no_activity_scores_nothing() -> None:
    score = ledger_score(LedgerActivity(), coverage_target=10)

    assert score == {"accuracy": 0.0, "discovery": 0.0, "freshness": 0.0, "coverage": 0.0, "total": 0.0}


def test_one_accepted_discovery_just_now_scores() -> None:
    score = ledger_score(found(), coverage_target=10)

    assert score["total"] > 0
    assert score["accuracy"] == 0.5, "one lucky proposal is not a perfect record"
    assert score["discovery"] == pytest.approx(1 - math.exp(-0.5), abs=1e-4)
    assert score["freshness"] == 1.0
    assert score["coverage"] == 0.1


def test_a_discovery_is_worth_more_than_a_second_hand_acceptance() -> None:
    first = ledger_score(found(discoveries=1), coverage_target=10)
    second_hand = ledger_score(found(discoveries=0), coverage_target=10)

    assert first["total"] > second_hand["total"]
    assert second_hand["discovery"] == 0.0


def test_rejections_lower_accuracy() -> None:
    clean = ledger_score(found(accepted=3), coverage_target=10)
    spammy = ledger_score(found(accepted=3, rejected=5), coverage_target=10)
    spam_only = ledger_score(
        found(accepted=0, rejected=5, discoveries=0, netuids=frozenset(), age_s=None), coverage_target=10
    )

    assert clean["accuracy"] == 0.75
    assert spammy["accuracy"] == pytest.approx(3 / 9, abs=1e-4)
    assert spammy["total"] < clean["total"]
    assert spam_only["total"] == 0.0


def ledger_score_at(age_s: float) -> float:
    return ledger_score(found(age_s=age_s), coverage_target=10)["freshness"]


def test_freshness_halves_every_day() -> None:
    assert ledger_score_at(0.0) == 1.0
    assert ledger_score_at(DAY_S) == 0.5
    assert ledger_score_at(2 * DAY_S) == 0.25
    assert ledger_score_at(12 * 3_600.0) == pytest.approx(math.sqrt(0.5), abs=1e-4)
    assert ledger_score(found(age_s=None), coverage_target=10)["freshness"] == 0.0


def test_freshness_never_exceeds_one_under_clock_skew() -> None:
    assert ledger_score_at(-3_600.0) <= 1.0


def test_coverage_grows_with_subnets_and_saturates_at_the_target() -> None:
    def coverage(n: int, target: int) -> float:
        return ledger_score(found(netuids=frozenset(range(n))), coverage_target=target)["coverage"]

    assert coverage(1, 4) == 0.25
    assert coverage(2, 4) == 0.5
    assert coverage(4, 4) == 1.0
    assert coverage(9, 4) == 1.0
    assert coverage(3, 0) == 1.0  # a zero target does not divide by zero


@given(
    accepted=st.integers(0, 10_000),
    rejected=st.integers(0, 10_000),
    discoveries=st.integers(0, 10_000),
    netuids=st.frozensets(st.integers(0, 65_535), max_size=50),
    age_s=st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False),
    target=st.integers(0, 200),
)
def test_every_part_and_the_total_stay_in_unit_range(
    accepted: int,
    rejected: int,
    discoveries: int,
    netuids: frozenset[int],
    age_s: float | None,
    target: int,
) -> None:
    activity = LedgerActivity(
        accepted=accepted,
        rejected=rejected,
        discoveries=min(discoveries, accepted),
        netuids=netuids,
        last_accepted_age_s=age_s,
    )

    score = ledger_score(activity, coverage_target=target)

    assert set(score) == {"accuracy", "discovery", "freshness", "coverage", "total"}
    assert all(0.0 <= value <= 1.0 for value in score.values()), score
