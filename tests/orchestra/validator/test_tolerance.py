"""Tolerance policies: an honest re-query passes, drift within reason passes, invented content fails."""

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.errors import ConfigError
from orchestra.validator.tolerance import (
    ExactRpc,
    GenericLeaves,
    NumericTolerance,
    PolicyName,
    PolicyRule,
    SetOverlap,
    TokenText,
    ToleranceTable,
    collect_items,
    pins_block,
    text_similarity,
)
from protocol.models import CallReceipt, CallStatus, Provider, RouteKind

ADDRESS = "0x" + "11" * 20

# ------------------------------------------------------------------ exact (SN19 JSON-RPC)


def rpc_request(*calls: tuple[str, list[Any]]) -> dict[str, Any]:
    """An HTTP evidence record of a JSON-RPC batch, as the executor stores it."""
    body = [{"jsonrpc": "2.0", "id": i + 1, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    return {"method": "POST", "path": "/rpc/eth", "body": body}


PINNED = rpc_request(
    ("eth_getBalance", [ADDRESS, "0x121eab6"]),
    ("eth_getBlockByNumber", ["0x121eab6", False]),
    ("eth_blockNumber", []),
)
PINNED_ANSWER: list[dict[str, Any]] = [
    {"jsonrpc": "2.0", "id": 1, "result": "0x1d92e79db009c2015"},
    {
        "jsonrpc": "2.0",
        "id": 2,
        "result": {"number": "0x121eab6", "hash": "0x" + "ab" * 32, "gasUsed": "0x5208"},
    },
    {"jsonrpc": "2.0", "id": 3, "result": "0x121eac0"},
]


def test_exact_matches_pinned_results_whatever_the_envelope() -> None:
    # The producer answers the batch in another order and leaves out "jsonrpc": results are what count.
    fresh = [{k: v for k, v in answer.items() if k != "jsonrpc"} for answer in reversed(PINNED_ANSWER)]
    comparison = ExactRpc().compare(PINNED_ANSWER, fresh, request=PINNED)
    assert comparison.passed and comparison.similarity == 1.0
    assert comparison.reason == "3 of 3 results match the producer's"


def test_exact_fails_an_invented_balance_at_a_pinned_block() -> None:
    forged = copy.deepcopy(PINNED_ANSWER)
    forged[0]["result"] = "0x3635c9adc5dea00000"  # 1,000 ETH the account never had
    comparison = ExactRpc().compare(forged, PINNED_ANSWER, request=PINNED)
    assert not comparison.passed and comparison.similarity == pytest.approx(2 / 3)
    assert "eth_getBalance (id 1)" in comparison.reason


def test_exact_fails_one_changed_field_of_a_pinned_block() -> None:
    forged = copy.deepcopy(PINNED_ANSWER)
    forged[1]["result"]["gasUsed"] = "0x5209"
    assert not ExactRpc().compare(forged, PINNED_ANSWER, request=PINNED).passed


def test_an_unpinned_head_may_move_but_not_far() -> None:
    moved = copy.deepcopy(PINNED_ANSWER)
    moved[2]["result"] = hex(0x121EAC0 + 3)  # three blocks later
    assert ExactRpc().compare(PINNED_ANSWER, moved, request=PINNED).passed
    invented = copy.deepcopy(PINNED_ANSWER)
    invented[2]["result"] = hex(1_000)
    comparison = ExactRpc().compare(invented, PINNED_ANSWER, request=PINNED)
    assert not comparison.passed and "eth_blockNumber" in comparison.reason


def test_a_gas_price_read_twice_may_differ_by_tens_of_percent() -> None:
    request = {"method": "POST", "path": "", "body": {"jsonrpc": "2.0", "id": 1, "method": "eth_gasPrice"}}
    gwei = 10**9
    assert ExactRpc().compare({"result": hex(20 * gwei)}, {"result": hex(24 * gwei)}, request=request).passed
    assert (
        not ExactRpc().compare({"result": hex(2 * gwei)}, {"result": hex(24 * gwei)}, request=request).passed
    )


def test_a_latest_block_object_is_left_out_rather_than_held_against_the_miner() -> None:
    request = rpc_request(("eth_getBlockByNumber", ["latest", False]))
    request["body"] = request["body"][0]  # a single call, not a batch
    mine = {"jsonrpc": "2.0", "id": 1, "result": {"number": "0x10", "hash": "0x" + "aa" * 32}}
    theirs = {"jsonrpc": "2.0", "id": 7, "result": {"number": "0x11", "hash": "0x" + "bb" * 32}}
    comparison = ExactRpc().compare(mine, theirs, request=request)
    assert not comparison.comparable and "no reproducible result" in comparison.reason


def test_a_single_call_is_matched_whatever_id_the_producer_echoes() -> None:
    request = {"method": "POST", "path": "", "body": {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}}
    assert (
        ExactRpc().compare({"id": 1, "result": "0x1"}, {"id": "x", "result": "0x1"}, request=request).passed
    )
    assert (
        not ExactRpc()
        .compare({"id": 1, "result": "0x38"}, {"id": 1, "result": "0x1"}, request=request)
        .passed
    )


def test_errors_compare_by_code_and_a_fresh_failure_proves_nothing() -> None:
    request = rpc_request(("eth_getBalance", [ADDRESS, "0x10"]), ("eth_getCode", [ADDRESS, "0x10"]))
    mine = [{"id": 1, "error": {"code": -32000, "message": "header not found"}}, {"id": 2, "result": "0x"}]
    theirs = [
        {"id": 1, "error": {"code": -32000, "message": "header not found"}},
        {"id": 2, "error": {"code": -32603}},
    ]
    comparison = ExactRpc().compare(mine, theirs, request=request)
    assert comparison.passed and "1 unpinned or unanswered left out" in comparison.reason


@pytest.mark.parametrize(
    ("method", "params", "pinned"),
    [
        ("eth_getBalance", [ADDRESS, "0x10"], True),
        ("eth_getBalance", [ADDRESS, "latest"], False),
        ("eth_getBalance", [ADDRESS], False),
        ("eth_call", [{"to": ADDRESS}, {"blockHash": "0x" + "ab" * 32}], True),
        ("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x2"}], True),
        ("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "latest"}], False),
        ("eth_getTransactionReceipt", ["0x" + "cd" * 32], True),
        ("eth_chainId", [], True),
        ("eth_blockNumber", [], False),
        ("chain_getBlockHash", [4_000_000], True),
        ("state_getStorage", ["0x26aa", "0x" + "ef" * 32], True),
        ("state_getStorage", ["0x26aa"], False),
        ("eth_sendRawTransaction", ["0x00"], False),
    ],
)
def test_which_reads_pin_a_block(method: str, params: list[Any], pinned: bool) -> None:
    assert pins_block(method, params) is pinned


def test_a_request_that_is_not_json_rpc_cannot_be_compared_exactly() -> None:
    assert (
        not ExactRpc()
        .compare({"a": 1}, {"a": 1}, request={"method": "GET", "path": "/x", "body": None})
        .comparable
    )


# ------------------------------------------------------------------ overlap (SN22, SN13)

PAGES = [
    ("https://coreforge.example/pricing", "CoreForge Cloud lists H100 at $2.89/hr and A100 at $1.59/hr."),
    ("https://voltstack.example/pricing", "VoltStack rents H100 at $1.99/hr with simple hourly pricing."),
    ("https://nimbusgpu.example/pricing", "NimbusGPU offers H100 at $2.49/hr and a clean API and CLI."),
    ("https://lumencompute.example/pricing", "Lumen Compute H100 instances cost $2.25/hr on demand."),
    ("https://reviews.devnet.example/coreforge", "Users praise CoreForge's 99.95% uptime SLA."),
]


def desearch_answer(pages: list[tuple[str, str]] = PAGES, completion: str | None = None) -> dict[str, Any]:
    """A Desearch API answer (`POST /desearch/ai/search`)."""
    return {
        "search": [{"title": link.split("/")[2], "link": link, "snippet": text} for link, text in pages],
        "completion": completion if completion is not None else " ".join(text for _, text in pages[:3]),
        "miner_link_scores": {link: "HIGH" for link, _ in pages},
    }


def test_overlap_matches_the_same_results_in_another_order_with_new_ones() -> None:
    fresh = desearch_answer([*reversed(PAGES), ("https://new.example/h100", "A page indexed since.")])
    comparison = SetOverlap().compare(desearch_answer(), fresh)
    assert comparison.passed and comparison.similarity == 1.0
    assert comparison.reason == "5 of 5 items found again, 5 with the same text"


def test_overlap_tolerates_results_dropping_out_of_a_fresh_search() -> None:
    comparison = SetOverlap().compare(desearch_answer(), desearch_answer(PAGES[:3]))
    assert comparison.passed and comparison.similarity == pytest.approx(0.6)


def test_overlap_fails_kept_links_with_invented_content() -> None:
    invented = [(link, "Zorblax Cloud undercuts everyone with H100 at $0.42/hr.") for link, _ in PAGES]
    comparison = SetOverlap().compare(desearch_answer(invented), desearch_answer())
    assert not comparison.passed and comparison.similarity == 0.0
    assert "5 of 5 items found again, 0 with the same text" in comparison.reason


def test_overlap_fails_a_few_prices_changed_under_the_same_links() -> None:
    # The cheapest way to cheat: keep everything, move two figures the result is built on.
    repriced = [
        (PAGES[0][0], PAGES[0][1].replace("$2.89", "$1.89")),
        (PAGES[1][0], PAGES[1][1].replace("$1.99", "$2.99")),
        *PAGES[2:],
    ]
    comparison = SetOverlap().compare(desearch_answer(repriced), desearch_answer())
    assert not comparison.passed and comparison.similarity == pytest.approx(0.6)
    assert "2 say something else now" in comparison.reason


def test_overlap_fails_invented_links() -> None:
    invented = [(f"https://invented-{n}.example/h100", text) for n, (_, text) in enumerate(PAGES)]
    comparison = SetOverlap().compare(desearch_answer(invented), desearch_answer())
    assert not comparison.passed and comparison.similarity == 0.0


def test_overlap_tolerates_a_hosted_summary_rewritten_with_other_figures() -> None:
    # The hosted API writes its summary with a model on every call; the items carry the figures.
    rewritten = "Per the sources, VoltStack is cheapest for H100 at $1.99/hr; CoreForge costs more."
    comparison = SetOverlap().compare(desearch_answer(), desearch_answer(completion=rewritten))
    assert comparison.passed


def test_overlap_fails_an_invented_summary_even_with_real_links() -> None:
    forged = desearch_answer(
        completion="Zorblax quantum racks beat every vendor; migrate all workloads today."
    )
    forged["miner_link_scores"] = {}
    comparison = SetOverlap().compare(forged, desearch_answer())
    assert not comparison.passed and "text outside them" in comparison.reason


def bucket_answer(texts: list[str]) -> dict[str, Any]:
    """An answered SN13 GetDataEntityBucket synapse body."""
    entities = [
        {
            "uri": f"https://x.com/user{n}/status/{1850000000000000000 + n}",
            "datetime": "2026-10-14T11:54:00Z",
            "source": 2,
            "label": {"value": "#h100"},
            "content": json.dumps({"text": text, "like_count": 10 + n}),
            "content_size_bytes": 100,
        }
        for n, text in enumerate(texts)
    ]
    return {
        "version": 4,
        "data_entity_bucket_id": {"time_bucket": {"id": 497769}, "source": 2},
        "data_entities": entities,
    }


def test_overlap_checks_sn13_posts_by_uri_and_content() -> None:
    posts = [
        "Moved to VoltStack for hourly pricing #h100",
        "NimbusGPU has no InfiniBand #h100",
        "CoreForge SLA rocks",
    ]
    assert SetOverlap().compare(bucket_answer(posts), bucket_answer(posts)).passed
    rewritten = [
        "Moved to Zorblax for free credits #h100",
        "Zorblax has InfiniBand everywhere",
        "Zorblax gives free quantum credits",
    ]
    comparison = SetOverlap().compare(bucket_answer(rewritten), bucket_answer(posts))
    assert not comparison.passed and "3 of 3 items found again, 0 with the same text" in comparison.reason


def miner_index(buckets: dict[str, list[int]], sizes: int = 2_000) -> dict[str, Any]:
    """An answered SN13 GetMinerIndex synapse body."""
    sources = {
        "2": [
            {"label": label, "time_bucket_ids": hours, "sizes_bytes": [sizes] * len(hours)}
            for label, hours in buckets.items()
        ]
    }
    return {"version": 4, "compressed_index_serialized": json.dumps({"sources": sources})}


def test_overlap_checks_an_sn13_index_by_bucket_ids_not_sizes() -> None:
    real = {"#h100": [497769, 497770], "#gpucloud": [497771]}
    grown = miner_index({**real, "#new": [497900]}, sizes=2_500)  # the miner scraped more since
    assert SetOverlap().compare(miner_index(real), grown).passed
    invented = miner_index({"#h100": [1, 2, 3], "#zorblax": [497769]})
    assert not SetOverlap().compare(invented, miner_index(real)).passed
    assert len(collect_items(miner_index(real)).items) == 3


def test_overlap_items_need_a_string_identity() -> None:
    # SN13's request echo carries a numeric time-bucket `id`; it is not an item the miner claims.
    items = collect_items(bucket_answer(["a post"])).items
    assert list(items) == ["https://x.com/user0/status/1850000000000000000"]


# ------------------------------------------------------------------ text (SN64, SN4)


def completion(text: str, *, id_: str = "chatcmpl-1", created: int = 1) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": "deepseek-ai/DeepSeek-V3-0324",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


ANSWER = (
    "Based on the context, VoltStack is the cheapest H100 provider at $1.99 per hour, followed by "
    "Lumen Compute at $2.25 and NimbusGPU at $2.49. CoreForge Cloud costs $2.89 but offers a 99.95% SLA."
)


def test_text_matches_the_same_answer_under_another_envelope() -> None:
    comparison = TokenText().compare(completion(ANSWER), completion(ANSWER, id_="chatcmpl-9", created=2))
    assert comparison.passed and comparison.similarity == 1.0


def test_text_tolerates_drift_that_keeps_the_facts() -> None:
    drifted = (
        "VoltStack offers the lowest H100 price, $1.99 per hour. Lumen Compute charges $2.25, NimbusGPU "
        "$2.49, while CoreForge Cloud is the priciest at $2.89 with a 99.95% uptime SLA."
    )
    comparison = TokenText().compare(completion(ANSWER), completion(drifted))
    assert comparison.passed and comparison.similarity is not None and comparison.similarity < 1.0


def test_text_fails_invented_text() -> None:
    invented = "Zorblax Cloud rents quantum accelerators for free to every startup that signs up this week."
    assert not TokenText().compare(completion(invented), completion(ANSWER)).passed


def test_text_fails_the_same_words_with_other_figures() -> None:
    repriced = (
        ANSWER.replace("1.99", "0.99").replace("2.25", "1.25").replace("2.49", "1.49").replace("2.89", "1.89")
    )
    comparison = TokenText().compare(completion(repriced), completion(ANSWER))
    assert not comparison.passed


def test_text_without_assistant_text_cannot_be_compared() -> None:
    assert not TokenText().compare({"choices": []}, completion(ANSWER)).comparable


def test_text_similarity_counts_figures_separately() -> None:
    assert text_similarity("H100 at $2.49 per hour", "H100 at $2.49 per hour") == 1.0
    assert text_similarity("rent H100 at $2.49 now", "rent H100 at $2.49 per hour") == pytest.approx(
        0.75**0.5
    )
    assert text_similarity("H100 at $9.99 per hour", "H100 at $2.49 per hour") == 0.0
    assert text_similarity("", "anything") is None


# ------------------------------------------------------------------ numeric and generic


def test_numeric_compares_numbers_in_place_within_a_relative_tolerance() -> None:
    mine = {"price": 2.49, "stock": [10, 20], "name": "VoltStack"}
    assert NumericTolerance().compare(mine, {"price": 2.5, "stock": [10, 20], "name": "other"}).passed
    comparison = NumericTolerance().compare({**mine, "price": 0.49}, mine)
    assert not comparison.passed and comparison.similarity == pytest.approx(2 / 3)
    assert not NumericTolerance().compare({"name": "x"}, {"name": "x"}).comparable


def test_generic_counts_values_found_again_in_place() -> None:
    mine = {"vendors": [{"name": "VoltStack", "tier": "gold"}, {"name": "NimbusGPU", "tier": "silver"}]}
    reordered = {"vendors": list(reversed(mine["vendors"]))}
    assert GenericLeaves().compare(mine, reordered).passed
    forged = {"vendors": [{"name": "Zorblax", "tier": "platinum"}, {"name": "Quuxly", "tier": "gold"}]}
    comparison = GenericLeaves().compare(forged, mine)
    assert not comparison.passed and comparison.similarity == 0.25


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=JSON)
def test_an_answer_never_fails_against_itself(value: Any) -> None:
    table = ToleranceTable()
    for name in PolicyName:
        comparison = table.policy(name).compare(value, copy.deepcopy(value), request=value)
        assert comparison.passed or not comparison.comparable, (name, comparison)


# ------------------------------------------------------------------ the table


def receipt(netuid: int | None, route: RouteKind, operation: str) -> CallReceipt:
    return CallReceipt(
        step_id="s",
        attempt=1,
        netuid=netuid,
        route=route,
        operation=operation,
        provider=Provider(host="h"),
        request_digest="r",
        response_digest="a",
        started_ns=0,
        latency_ms=1,
        status=CallStatus.OK,
    )


@pytest.mark.parametrize(
    ("netuid", "route", "operation", "policy"),
    [
        (19, RouteKind.HTTP, "POST /rpc/eth", PolicyName.EXACT),
        (22, RouteKind.HTTP, "POST /desearch/ai/search", PolicyName.OVERLAP),
        (22, RouteKind.DENDRITE, "ScraperStreamingSynapse", PolicyName.OVERLAP),
        (13, RouteKind.DENDRITE, "GetDataEntityBucket", PolicyName.OVERLAP),
        (13, RouteKind.HTTP, "GET /on-demand/constellation/jobs/1", PolicyName.OVERLAP),
        (64, RouteKind.OPENAI, "POST /v1/chat/completions", PolicyName.TEXT),
        (4, RouteKind.OPENAI, "POST /v1/chat/completions", PolicyName.TEXT),
        (64, RouteKind.HTTP, "POST /v1/embeddings", PolicyName.GENERIC),
        (None, RouteKind.HTTP, "GET /", PolicyName.GENERIC),
    ],
)
def test_the_table_maps_receipts_to_policies(
    netuid: int | None, route: RouteKind, operation: str, policy: PolicyName
) -> None:
    assert ToleranceTable().policy_for(receipt(netuid, route, operation)).name is policy


def test_thresholds_and_rules_are_configurable() -> None:
    drifted = completion("VoltStack is cheapest, while Zorblax and Quuxly trail far behind.")
    strict = ToleranceTable()
    lenient = ToleranceTable(text=TokenText(threshold=0.1))
    chat = receipt(64, RouteKind.OPENAI, "POST /v1/chat/completions")
    assert not strict.compare(chat, None, drifted, completion(ANSWER)).passed
    assert lenient.compare(chat, None, drifted, completion(ANSWER)).passed
    testnet = ToleranceTable(rules=(PolicyRule(PolicyName.OVERLAP, netuid=213),))
    assert testnet.policy_for(receipt(213, RouteKind.DENDRITE, "GetMinerIndex")).name is PolicyName.OVERLAP


@pytest.mark.parametrize(
    "build",
    [
        lambda: TokenText(threshold=1.5),
        lambda: SetOverlap(max_contradicted=-0.1),
        lambda: NumericTolerance(rel_tol=-1),
        lambda: PolicyRule(PolicyName.TEXT, operation="POST (unclosed"),
    ],
)
def test_bad_settings_are_refused_with_a_config_error(build: Any) -> None:
    with pytest.raises(ConfigError):
        build()


def test_an_upload_entity_is_read_by_its_post_text_whether_content_is_a_string_or_an_object() -> None:
    post = {"text": "VoltStack rents H100 at $1.99/hr", "like_count": 5}
    as_string = collect_items(
        {"data_entities": [{"uri": "https://x.com/a/status/1", "content": json.dumps(post)}]}
    )
    as_object = collect_items({"data_entities": [{"uri": "https://x.com/a/status/1", "content": post}]})
    assert as_string.items == as_object.items == {"https://x.com/a/status/1": post["text"]}
