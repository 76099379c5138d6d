from typing import Any

import pytest

from orchestra.adapters.base import AdapterError
from orchestra.adapters.desearch import SEARCH_PATH, DesearchAdapter, build_request, parse_response
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
