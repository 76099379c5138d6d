"""The Desearch stand-in answers like the hosted API: same request checks, same answer shape."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orchestra.adapters.desearch import SEARCH_PATH, parse_response
from orchestra.devnet.desearch import DesearchEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[DesearchEmulator]:
    running = DesearchEmulator(api_key="k").start()
    yield running
    running.stop()


def post(emulator: DesearchEmulator, body: Any, key: str | None = "k") -> httpx.Response:
    headers = {"Authorization": key} if key is not None else {}
    return httpx.post(f"{emulator.url}{SEARCH_PATH}", json=body, headers=headers, timeout=5)


def test_answers_carry_every_documented_key_and_the_stand_in_label(emulator: DesearchEmulator) -> None:
    reply = post(
        emulator,
        {
            "prompt": "H100 GPU cloud pricing",
            "tools": ["web", "twitter", "reddit"],
            "count": 10,
            "date_filter": "PAST_YEAR",
        },
    )
    assert reply.status_code == 200
    assert reply.headers["X-Devnet-Stand-In"] == "desearch"
    body = reply.json()
    assert {"search", "tweets", "reddit_search", "completion", "text", "miner_link_scores"} <= body.keys()
    assert body["search"] and body["tweets"]
    assert all(set(item) == {"title", "link", "snippet"} for item in body["search"])
    assert parse_response(body, receipt_index=0)  # our own adapter reads it


def test_results_are_ranked_deterministically_by_relevance(emulator: DesearchEmulator) -> None:
    body = {
        "prompt": "vector database storage pricing",
        "tools": ["web"],
        "count": 10,
        "date_filter": "PAST_YEAR",
    }
    first, second = post(emulator, body).json(), post(emulator, body).json()
    assert first == second
    assert "vector" in (first["search"][0]["title"] + first["search"][0]["snippet"]).lower()


def test_count_bounds_the_number_of_results(emulator: DesearchEmulator) -> None:
    body = post(
        emulator, {"prompt": "pricing", "tools": ["web"], "count": 10, "date_filter": "PAST_YEAR"}
    ).json()
    assert len(body["search"]) == 10


def test_date_filters_apply_relative_to_the_corpus_clock() -> None:
    emulator = DesearchEmulator(api_key="k", now=dt.datetime(2027, 6, 1, tzinfo=dt.timezone.utc)).start()
    try:
        recent = post(
            emulator, {"prompt": "GPU pricing", "tools": ["web"], "date_filter": "PAST_WEEK"}
        ).json()
        older = post(
            emulator, {"prompt": "GPU pricing", "tools": ["web"], "date_filter": "PAST_2_YEARS"}
        ).json()
    finally:
        emulator.stop()
    assert recent["search"] == [] and older["search"]


def test_legacy_tool_names_are_accepted(emulator: DesearchEmulator) -> None:
    reply = post(
        emulator, {"prompt": "GPU", "tools": ["Web Search", "Twitter Search"], "date_filter": "PAST_YEAR"}
    )
    assert reply.status_code == 200 and "tweets" in reply.json()


@pytest.mark.parametrize("key", [None, "wrong", "Bearer k"])
def test_a_bad_key_is_401_with_a_detail(emulator: DesearchEmulator, key: str | None) -> None:
    reply = post(emulator, {"prompt": "x", "tools": ["web"]}, key=key)
    assert reply.status_code == 401
    assert reply.json() == {"detail": "Invalid or missing API key"}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"tools": ["web"]}, ["body", "prompt"]),
        ({"prompt": "x"}, ["body", "tools"]),
        ({"prompt": "x", "tools": ["gopher"]}, ["body", "tools", 0]),
        ({"prompt": "x", "tools": ["web"], "count": 5}, ["body", "count"]),
        ({"prompt": "x", "tools": ["web"], "count": True}, ["body", "count"]),
        ({"prompt": "x", "tools": ["web"], "date_filter": "TOMORROW"}, ["body", "date_filter"]),
        ({"prompt": "x", "tools": ["web"], "result_type": "ALL"}, ["body", "result_type"]),
        ({"prompt": "x", "tools": ["web"], "streaming": True}, ["body", "streaming"]),
        (["not", "a", "dict"], ["body"]),
    ],
)
def test_invalid_requests_are_422_with_fastapi_style_details(
    emulator: DesearchEmulator, body: Any, where: list[Any]
) -> None:
    reply = post(emulator, body)
    assert reply.status_code == 422
    assert where in [problem["loc"] for problem in reply.json()["detail"]]


def test_a_body_that_is_not_json_is_422(emulator: DesearchEmulator) -> None:
    reply = httpx.post(
        f"{emulator.url}{SEARCH_PATH}", content=b"{{{", headers={"Authorization": "k"}, timeout=5
    )
    assert reply.status_code == 422
