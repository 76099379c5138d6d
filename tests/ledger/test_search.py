"""Capability search: ranking people would expect, typed errors, and properties of the ordering."""

import itertools
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import Provenance, Route, SubnetEntry, SubnetStatus, Verification
from ledger.search import InvalidQuery, SearchHit, search, tokenize
from ledger.seed import load_seed_entries
from ledger.store import StoredEntry
from ledger.vocabulary import SEARCH_TERMS, Capability
from protocol.models import RouteKind

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def stored(
    netuid: int,
    name: str,
    capabilities: tuple[str, ...] = (),
    *,
    description: str = "",
    tags: tuple[str, ...] = (),
    status: SubnetStatus = SubnetStatus.ACTIVE,
    verification: Verification = Verification.UNVERIFIED,
    routes: tuple[Route, ...] = (),
) -> StoredEntry:
    entry = SubnetEntry(
        netuid=netuid,
        name=name,
        description=description,
        tags=tags,
        capabilities=capabilities,
        routes=routes,
        status=status,
        verification=verification,
        provenance=Provenance(source="test"),
    )
    return StoredEntry(entry=entry, version=1, updated_at=NOW)


LEDGER = [
    stored(1, "Textgen", ("llm_inference",), description="Chat completions from open models."),
    stored(3, "Crawler", ("web_search",), description="Search the web."),
    stored(9, "Pulse", ("social_search",), description="Live posts."),
    stored(11, "Archive", ("social_data", "dataset"), description="Stored posts by label."),
    stored(12, "Horde", ("compute",), description="Rent GPUs by the hour."),
    stored(20, "Sentiment Social Club", ("llm_inference",), description="Chat."),
]


def netuids(hits: list[SearchHit]) -> list[int]:
    return [hit.netuid for hit in hits]


def test_social_sentiment_ranks_social_capabilities_before_name_matches() -> None:
    hits = search("social sentiment", LEDGER)
    assert set(netuids(hits)[:2]) == {9, 11}
    assert hits[0].matched_capabilities in (("social_search",), ("social_data",))
    # A subnet that only has the words in its name still shows up, below the capability matches.
    assert 20 in netuids(hits)[2:]
    assert 1 not in netuids(hits)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("gpu rental", 12), ("llm inference", 1), ("web search", 3), ("Tweets!", 9), ("rent a GPU", 12)],
)
def test_everyday_words_find_the_capability(query: str, expected: int) -> None:
    assert search(query, LEDGER)[0].netuid == expected


def test_on_the_seed_social_sentiment_finds_data_universe_and_desearch_first() -> None:
    entries = [StoredEntry(entry=e, version=1, updated_at=NOW) for e in load_seed_entries()]
    assert set(netuids(search("social sentiment", entries, limit=2))) == {13, 22}
    assert all("compute" in hit.matched_capabilities for hit in search("gpu compute", entries, limit=5))


def test_verified_active_and_callable_subnets_rank_higher_deprecated_lower() -> None:
    endpoint = Route(
        name="api", kind=RouteKind.HTTP, endpoint="https://api.example.com", capabilities=("compute",)
    )
    ledger = [
        stored(5, "A", ("compute",), status=SubnetStatus.DEPRECATED),
        stored(6, "B", ("compute",)),
        stored(7, "C", ("compute",), verification=Verification.VERIFIED),
        stored(8, "D", ("compute",), status=SubnetStatus.DEGRADED),
        stored(4, "E", ("compute",), routes=(endpoint,)),
    ]
    assert netuids(search("gpu", ledger)) == [4, 7, 6, 8, 5]


def test_equal_scores_are_ordered_by_netuid() -> None:
    ledger = [stored(n, f"Twin {n}", ("storage",)) for n in (30, 2, 17)]
    hits = search("ipfs", ledger)
    assert netuids(hits) == [2, 17, 30]
    assert len({hit.score for hit in hits}) == 1


def test_unknown_words_match_nothing() -> None:
    assert search("florble quux", LEDGER) == []


def test_limit_is_respected() -> None:
    assert len(search("social", LEDGER, limit=1)) == 1


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "the of and", "?!"])
def test_a_query_without_searchable_words_is_a_typed_error(query: str) -> None:
    with pytest.raises(InvalidQuery) as raised:
        search(query, LEDGER)
    assert raised.value.code == "invalid_query"
    assert raised.value.http_status == 422


def test_an_overlong_query_is_a_typed_error() -> None:
    with pytest.raises(InvalidQuery):
        search("gpu " * 200, LEDGER)


# properties

VOCABULARY_WORDS = sorted(
    {word for terms in SEARCH_TERMS.values() for term in terms for word in tokenize(term)}
)
NAMES = ["Nova", "Pulse", "Social Graph", "GPU Farm", "Oracle", "Vision Lab", "Archive", "Forge"]


@st.composite
def ledgers(draw: st.DrawFn) -> list[StoredEntry]:
    uids = draw(st.lists(st.integers(0, 300), min_size=0, max_size=12, unique=True))
    return [
        stored(
            uid,
            draw(st.sampled_from(NAMES)),
            tuple(draw(st.lists(st.sampled_from([c.value for c in Capability]), max_size=3, unique=True))),
            description=draw(
                st.sampled_from(["", "Serves posts.", "GPU rental by the hour.", "Ask models."])
            ),
            status=draw(st.sampled_from(list(SubnetStatus))),
            verification=draw(st.sampled_from(list(Verification))),
        )
        for uid in uids
    ]


queries = (
    st.lists(
        st.one_of(
            st.sampled_from(VOCABULARY_WORDS), st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
        ),
        min_size=1,
        max_size=4,
    )
    .map(" ".join)
    .filter(lambda query: bool(tokenize(query)))
)


@settings(max_examples=150, deadline=None)
@given(ledger=ledgers(), query=queries)
def test_ranking_is_deterministic_and_independent_of_input_order(
    ledger: list[StoredEntry], query: str
) -> None:
    first = search(query, ledger)
    assert search(query, list(reversed(ledger))) == first
    assert search(query, ledger) == first


@settings(max_examples=150, deadline=None)
@given(ledger=ledgers(), query=queries)
def test_scores_never_increase_and_ties_go_by_netuid(ledger: list[StoredEntry], query: str) -> None:
    hits = search(query, ledger, limit=50)
    for before, after in itertools.pairwise(hits):
        assert (before.score, -before.netuid) > (after.score, -after.netuid)


@settings(max_examples=150, deadline=None)
@given(ledger=ledgers(), query=queries)
def test_every_hit_shares_a_word_with_the_query(ledger: list[StoredEntry], query: str) -> None:
    words = set(tokenize(query))
    by_netuid = {s.entry.netuid: s.entry for s in ledger}
    for hit in search(query, ledger, limit=50):
        assert hit.matched_terms
        assert set(hit.matched_terms) <= words
        assert set(hit.matched_capabilities) <= set(by_netuid[hit.netuid].capabilities)
        assert hit.score > 0
