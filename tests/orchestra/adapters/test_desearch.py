import base64
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.adapters.base import AdapterError
from orchestra.adapters.desearch import (
    SEARCH_PATH,
    ChunkStream,
    DesearchAdapter,
    DesearchMinerAdapter,
    Model,
    ResultType,
    ScraperStreamingSynapse,
    SearchMode,
    StreamFormatError,
    TwitterSearchSynapse,
    build_request,
    build_scraper_synapse,
    build_twitter_synapse,
    parse_response,
    parse_scraper_answer,
    parse_twitter_answer,
)
from orchestra.proofs import canonical_json
from orchestra.transports.dendrite import synapse_body
from protocol.models import RouteKind, Step
from tests.orchestra.adapters.fakes import ScriptedCaller, candidate, recorded


def test_request_follows_the_documented_shape() -> None:
    request = build_request({"query": "H100 prices", "tools": ["web", "twitter", "myspace"], "count": 3})
    body = request.model_dump(mode="json", exclude_none=True)
    assert body == {
        "prompt": "H100 prices",
        "tools": ["web", "twitter"],
        "count": 10,  # the API's minimum
        "date_filter": "PAST_YEAR",
        "streaming": False,
        "result_type": "LINKS_WITH_FINAL_SUMMARY",
    }


def test_request_bounds() -> None:
    assert build_request({"query": "q", "count": 10_000}).count == 200
    assert build_request({"query": "q", "tools": []}).tools == ["web"]
    assert len(build_request({"query": "x" * 10_000}).prompt) == 2_000
    assert build_request({"query": "q", "date_filter": "PAST_WEEK"}).date_filter == "PAST_WEEK"
    assert build_request({"query": "q", "date_filter": "YESTERDAY"}).date_filter == "PAST_YEAR"


def test_a_recorded_answer_becomes_records_of_every_kind() -> None:
    records = parse_response(recorded("desearch_ai_search.json"), receipt_index=4)
    by_source = {(r.kind, r.source) for r in records}
    assert by_source == {
        ("web_page", "web"),
        ("web_page", "reddit"),
        ("web_page", "hackernews"),
        ("post", "x"),
        ("answer", "desearch"),
    }
    tweet = next(r for r in records if r.source == "x")
    assert tweet.author == "someone" and tweet.metrics["like_count"] == 12
    assert tweet.url == "https://x.com/someone/status/1850000000000000001"
    assert all(r.receipt_index == 4 for r in records)


@pytest.mark.parametrize(
    "payload",
    [
        ["not", "an", "object"],
        {"search": [{"title": "no link"}]},
        {"tweets": [{"text": "no id"}]},
        {"unrelated": True},
        {"search": "a string, not a list"},
    ],
)
def test_answers_that_break_the_documented_shape_are_refused(payload: Any) -> None:
    with pytest.raises(AdapterError):
        parse_response(payload, receipt_index=0)


async def test_adapter_sends_the_key_without_bearer_and_the_step_inputs() -> None:
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "desearch"), lambda path, body: recorded("desearch_ai_search.json")
    )
    step = Step(
        id="web",
        capability="web_search",
        inputs={"query": "GPU cloud pricing", "count": 20, "tools": ["web"]},
    )
    records = await DesearchAdapter().run(step, caller)
    [(operation, body, headers)] = caller.calls
    assert operation == f"POST {SEARCH_PATH}"
    assert headers == {"Authorization": "secret-key"}
    assert body["prompt"] == "GPU cloud pricing" and body["count"] == 20 and body["tools"] == ["web"]
    assert records


async def test_adapter_without_a_key_sends_no_authorization_header() -> None:
    caller = ScriptedCaller(candidate(RouteKind.HTTP, "desearch", api_key=None), lambda *_: {"search": []})
    await DesearchAdapter().run(Step(id="web", capability="web_search", inputs={"query": "q"}), caller)
    assert caller.calls[0][2] is None


# ----------------------------------------------------------------------------- SN22 over `dendrite`

NOW = dt.datetime(2026, 11, 24, 18, 0, tzinfo=dt.timezone.utc)
STREAM = recorded("sn22_scraper_stream.json")


def stream_bytes(chunks: list[dict[str, Any]], *, ascii_only: bool = True) -> bytes:
    """The chunks as a miner writes them: one json.dumps per write, nothing in between (one newline
    too, which SN22's reader also allows). Upstream miners escape non-ASCII; others may not."""
    writes = [json.dumps(chunk, ensure_ascii=ascii_only).encode() for chunk in chunks]
    return b"".join(writes[:2]) + b"\n" + b"".join(writes[2:])


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


class _Content:
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


class FakeStreamResponse:
    """What a streaming synapse reads: `content.iter_any()` and the response headers."""

    def __init__(self, pieces: list[bytes], headers: dict[str, str] | None = None) -> None:
        self.content = _Content(pieces)
        self.headers = headers or {}


async def assemble(pieces: list[bytes], **request: Any) -> ScraperStreamingSynapse:
    synapse = ScraperStreamingSynapse(**(STREAM["request"] | request))
    async for _ in synapse.process_streaming_response(FakeStreamResponse(pieces)):
        pass
    return synapse


def test_sn22_wire_models_keep_upstream_names_hashing_and_enums() -> None:
    # SN22 synapses set no required_hash_fields; ours must match or a real SN22 axon rejects our body hash.
    assert ScraperStreamingSynapse.required_hash_fields == ()
    assert TwitterSearchSynapse.required_hash_fields == ()
    assert [m.value for m in Model] == ["NOVA", "ORBIT", "HORIZON"]
    assert [r.value for r in ResultType] == ["ONLY_LINKS", "LINKS_WITH_FINAL_SUMMARY"]
    fields = set(ScraperStreamingSynapse.model_fields)
    assert {
        "prompt",
        "tools",
        "count",
        "model",
        "mode",
        "result_type",
        "max_execution_time",
        "start_date",
    } <= fields
    assert {"completion", "text_chunks", "miner_tweets", "search_results", "miner_link_scores"} <= fields
    assert {"query", "sort", "count", "min_likes", "results"} <= set(TwitterSearchSynapse.model_fields)


def test_required_fields_travel_as_empty_dummies_and_the_axon_can_rebuild_the_synapse() -> None:
    synapse = build_scraper_synapse({"query": "H100 prices"}, now=NOW)
    headers = synapse.to_headers()
    assert json.loads(base64.b64decode(headers["bt_header_input_obj_prompt"])) == ""
    assert "H100" not in json.dumps(headers)  # the prompt itself travels in the body only
    rebuilt = ScraperStreamingSynapse.from_headers(headers)
    assert rebuilt.prompt == "" and rebuilt.body_hash == headers["computed_body_hash"]


def test_web_search_request_follows_sn22_validators() -> None:
    synapse = build_scraper_synapse(
        {"query": " H100 prices ", "count": 3, "date_filter": "PAST_WEEK"}, now=NOW
    )
    assert synapse.prompt == "H100 prices" and synapse.tools == ["Web Search"]
    assert synapse.count == 10  # SN22's minimum
    assert synapse.mode is SearchMode.BALANCED and synapse.max_execution_time == 15
    assert synapse.result_type is ResultType.LINKS_WITH_FINAL_SUMMARY
    assert (synapse.start_date, synapse.end_date) == ("2026-11-17T18:00:00Z", "2026-11-24T18:00:00Z")
    assert synapse.date_filter_type == "PAST_WEEK"


@pytest.mark.parametrize(("mode", "budget"), [("fast", 15), ("balanced", 15), ("deep", 30), ("turbo", 15)])
def test_the_execution_budget_follows_the_search_mode(mode: str, budget: int) -> None:
    assert build_scraper_synapse({"query": "q", "mode": mode}, now=NOW).max_execution_time == budget


def test_web_search_bounds_and_links_only() -> None:
    synapse = build_scraper_synapse({"query": "q", "count": 10_000, "result_type": "ONLY_LINKS"}, now=NOW)
    assert synapse.count == 200 and synapse.result_type is ResultType.ONLY_LINKS
    assert (
        build_scraper_synapse({"query": "q", "date_filter": "YESTERDAY"}, now=NOW).date_filter_type
        == "PAST_YEAR"
    )
    with pytest.raises(AdapterError, match="no query"):
        build_scraper_synapse({"count": 10}, now=NOW)


@pytest.mark.parametrize(("count", "budget"), [(5, 10), (20, 10), (21, 15), (45, 20), (10_000, 30)])
def test_x_search_request_and_budget(count: int, budget: int) -> None:
    synapse = build_twitter_synapse({"query": "H100", "count": count, "sort": "Latest"}, now=NOW)
    assert synapse.max_execution_time == budget and synapse.sort == "Latest"
    assert synapse.count == min(count, 100)
    assert build_twitter_synapse({"query": "H100", "sort": "Best"}, now=NOW).sort is None
    dated = build_twitter_synapse({"query": "H100", "date_filter": "PAST_WEEK"}, now=NOW)
    assert (dated.start_date, dated.end_date) == ("2026-11-17", "2026-11-24")


async def test_a_recorded_stream_fills_the_synapse() -> None:
    synapse = await assemble([stream_bytes(STREAM["chunks"])])
    assert [r.link for r in synapse.search_results or []] == [
        "https://example.com/pricing",
        "https://example.org/review",
    ]
    assert (synapse.miner_tweets or [])[0]["id"] == "1850000000000000001"
    assert synapse.texts["summary"] == synapse.completion and synapse.completion.startswith("**Prices**")
    assert synapse.deserialize() == synapse.completion
    assert (synapse.miner_link_scores or {})["https://example.com/pricing"].value == "HIGH"


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(
        st.integers(min_value=1, max_value=len(stream_bytes(STREAM["chunks"], ascii_only=False)) - 1),
        max_size=40,
    )
)
async def test_a_stream_cut_anywhere_assembles_the_same(points: list[int]) -> None:
    data = stream_bytes(STREAM["chunks"], ascii_only=False)
    whole = await assemble([data])
    pieces = await assemble(cut(data, points))
    assert synapse_body(pieces) == synapse_body(whole)


async def test_a_stream_cut_into_single_bytes_keeps_multibyte_characters_and_escapes() -> None:
    data = stream_bytes(STREAM["chunks"], ascii_only=False)
    assert "€".encode() in data and b"\\n" in data
    synapse = await assemble([data[i : i + 1] for i in range(len(data))])
    assert "€2.30" in (synapse.search_results or [])[1].snippet
    assert synapse.completion.startswith("**Prices**\nH100")


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        (b"\x00<html>upstream hiccup", "expected a JSON object"),
        (b'["not", "an", "object"]', "expected a JSON object"),
        (
            b'{"type": "search", "content": [{"title": "no link"}]}',
            "breaks SN22's shape at search_results.0.link",
        ),
        (b'{"type": "tweets", "content": {"not": "a list"}}', "not a list"),
        (b'{"content": "no type"}', "no `type`"),
        (b'{"type": "completion", "content": 42}', "string `content`"),
        (b'{"type": "text", "content": "x", "role": ["summary"]}', "string `content` and `role`"),
        (b'{"type": "completion", "content": NaN}', "not JSON"),
        (b'{"type": "completion", "content": "cut off', "ends inside a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"type": "completion", "content": "\xe2\x82', "ends inside a UTF-8 character"),
    ],
)
async def test_garbage_in_a_stream_is_a_typed_failure(tail: bytes, problem: str) -> None:
    data = stream_bytes(STREAM["chunks"][:3]) + tail
    with pytest.raises(StreamFormatError, match=problem):
        await assemble(cut(data, [7, len(data) - 3]))


async def test_an_oversized_stream_is_refused_before_it_is_read_whole() -> None:
    class Small(ScraperStreamingSynapse):
        max_stream_bytes = 1_000

    endless = [json.dumps({"type": "text", "role": "summary", "content": "x" * 90}).encode()] * 1_000
    synapse = Small(prompt="q")
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        async for item in synapse.process_streaming_response(FakeStreamResponse(endless)):
            seen.append(item)

    with pytest.raises(StreamFormatError, match="longer than 1000 bytes"):
        await read()
    assert len(seen) < 12


def test_deep_nesting_is_refused_without_recursing() -> None:
    with pytest.raises(StreamFormatError, match="nests deeper"):
        ChunkStream().feed(b'{"type": "flow", "content": ' + b"[" * 10_000)


async def test_unknown_stream_types_are_skipped() -> None:
    data = stream_bytes([{"type": "report", "content": {"future": True}}, *STREAM["chunks"]])
    synapse = await assemble([data])
    assert synapse.completion and synapse.search_results


def test_a_streamed_synapse_body_has_canonical_json() -> None:
    synapse = build_scraper_synapse({"query": "H100 prices"}, now=NOW)
    body = synapse_body(synapse)
    assert json.loads(canonical_json(body))["tools"] == ["Web Search"]
    assert "dendrite" not in body and "axon" not in body


async def test_the_miner_adapter_turns_a_streamed_answer_into_records() -> None:
    answered = synapse_body(await assemble([stream_bytes(STREAM["chunks"])]))
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "desearch_miners"), lambda name, synapse: answered)
    step = Step(id="web", capability="web_search", inputs={"query": "H100 GPU cloud pricing", "count": 20})
    records = await DesearchMinerAdapter(clock=lambda: NOW).run(step, caller)
    [(operation, request, _)] = caller.calls
    assert operation == "ScraperStreamingSynapse"
    assert request["prompt"] == "H100 GPU cloud pricing" and request["count"] == 20
    assert request["tools"] == ["Web Search"] and request["end_date"] == "2026-11-24T18:00:00Z"
    assert [(r.kind, r.source) for r in records] == [
        ("web_page", "web"),
        ("web_page", "web"),
        ("post", "x"),
        ("answer", "desearch"),
    ]
    page, _, post, answer = records
    assert (page.title, page.url, page.published) == (
        "Example GPU pricing",
        "https://example.com/pricing",
        "2026-10-03",
    )
    assert (
        post.author == "someone" and post.metrics["like_count"] == 12 and post.metrics["bookmark_count"] == 1
    )
    assert answer.text.startswith("**Prices**")
    assert all(r.receipt_index == 0 for r in records)


async def test_the_miner_adapter_reads_tweets_from_an_x_search_and_skips_broken_ones() -> None:
    answered = recorded("sn22_twitter_search.json")
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "desearch_miners"), lambda name, synapse: answered)
    step = Step(id="social", capability="social_search", inputs={"query": "H100 pricing", "sort": "Latest"})
    records = await DesearchMinerAdapter(clock=lambda: NOW).run(step, caller)
    [(operation, request, _)] = caller.calls
    assert operation == "TwitterSearchSynapse"
    assert request["query"] == "H100 pricing" and request["sort"] == "Latest" and request["count"] == 20
    [post] = records
    assert post.kind == "post" and post.author == "gpu_gal" and post.published == "2026-11-09T13:34:00.000Z"
    assert post.metrics == {
        "like_count": 88.0,
        "retweet_count": 17.0,
        "reply_count": 4.0,
        "quote_count": 3.0,
        "view_count": 9100.0,
        "bookmark_count": 6.0,
    }


async def test_an_x_search_for_reddit_only_is_not_sent() -> None:
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "desearch_miners"), lambda *_: {"results": []})
    step = Step(id="social", capability="social_search", inputs={"query": "q", "sources": ["reddit"]})
    with pytest.raises(AdapterError, match="X only"):
        await DesearchMinerAdapter().run(step, caller)
    assert caller.calls == []


@pytest.mark.parametrize(
    ("capability", "payload"),
    [
        ("social_search", {"results": "everything"}),
        ("social_search", ["not", "a", "body"]),
        ("social_search", {"results": [{"text": "no id, no counts"}, {"id_v2": "1"}]}),
        ("web_search", {"search_results": [{"title": "no link", "snippet": ""}]}),
        ("web_search", {"miner_tweets": [{"text_v2": "renamed"}]}),
        ("web_search", "\x00garbage"),
    ],
)
async def test_unusable_miner_answers_are_adapter_errors_with_their_receipt(
    capability: str, payload: Any
) -> None:
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "desearch_miners"), lambda *_: payload)
    step = Step(id="s", capability=capability, inputs={"query": "q"})
    with pytest.raises(AdapterError) as caught:
        await DesearchMinerAdapter().run(step, caller)
    assert caught.value.receipt_index == 0


def test_an_empty_answer_is_no_records_not_an_error() -> None:
    assert parse_scraper_answer({"search_results": [], "completion": ""}, receipt_index=1) == []
    assert parse_twitter_answer({"results": []}, receipt_index=1) == []


async def test_capabilities_sn22_miners_do_not_serve_are_refused() -> None:
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "desearch_miners"), lambda *_: {})
    with pytest.raises(AdapterError, match="do not serve social_data"):
        await DesearchMinerAdapter().run(
            Step(id="s", capability="social_data", inputs={"query": "q"}), caller
        )


def test_a_social_search_asks_desearch_for_the_platforms_it_names() -> None:
    request = build_request({"query": "h100 pricing", "sources": ["x", "reddit", "mastodon"]})
    assert request.tools == ["twitter", "reddit"]
    assert build_request({"query": "h100 pricing"}).tools == ["web"]
    assert build_request({"query": "q", "tools": ["arxiv"], "sources": ["x"]}).tools == ["arxiv"]
