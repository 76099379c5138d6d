"""SN22 Desearch over the `http` route: the hosted `POST /desearch/ai/search` API.

Request and response shapes restate Desearch's public API reference and its Python SDK: the key goes
in `Authorization` with no "Bearer" prefix; a non-streaming answer is one JSON object with a result
list per tool (`search`, `tweets`, `reddit_search`, ...), a `completion` and `miner_link_scores`.
Since Desearch 2.0, SN22 miners no longer serve queries, so this API is the way to reach SN22.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record, numbers
from protocol.models import RouteKind, Step

SEARCH_PATH = "/desearch/ai/search"
TOOLS = ("web", "hackernews", "reddit", "wikipedia", "youtube", "twitter", "arxiv")
DATE_FILTERS = (
    "PAST_24_HOURS",
    "PAST_2_DAYS",
    "PAST_WEEK",
    "PAST_2_WEEKS",
    "PAST_MONTH",
    "PAST_2_MONTHS",
    "PAST_YEAR",
    "PAST_2_YEARS",
)
MIN_COUNT, MAX_COUNT = 10, 200
MAX_PROMPT_CHARS = 2_000

# Response key per tool; "wikipedia_search" and "arxiv_search" follow the subnet's stream chunk names.
RESULT_KEYS = {
    "search": "web",
    "reddit_search": "reddit",
    "hacker_news_search": "hackernews",
    "youtube_search": "youtube",
    "wikipedia_search": "wikipedia",
    "arxiv_search": "arxiv",
}


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    tools: list[str] = Field(min_length=1)
    count: int = Field(default=MIN_COUNT, ge=MIN_COUNT, le=MAX_COUNT)
    date_filter: str = "PAST_YEAR"
    streaming: bool = False
    result_type: Literal["ONLY_LINKS", "LINKS_WITH_FINAL_SUMMARY"] = "LINKS_WITH_FINAL_SUMMARY"
    start_date: str | None = None
    end_date: str | None = None
    system_message: str | None = None


class SearchResultItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str = ""
    link: str
    snippet: str = ""


class TweetUser(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    username: str | None = None
    name: str | None = None


class Tweet(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    text: str
    url: str | None = None
    created_at: str | None = None
    user: TweetUser | None = None
    like_count: int | None = None
    retweet_count: int | None = None
    reply_count: int | None = None
    quote_count: int | None = None
    view_count: int | None = None


class SearchResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    search: list[SearchResultItem] | None = None
    reddit_search: list[SearchResultItem] | None = None
    hacker_news_search: list[SearchResultItem] | None = None
    youtube_search: list[SearchResultItem] | None = None
    wikipedia_search: list[SearchResultItem] | None = None
    arxiv_search: list[SearchResultItem] | None = None
    tweets: list[Tweet] | None = None
    text: str | None = None
    completion: str | None = None
    miner_link_scores: dict[str, str] | None = None


def build_request(inputs: dict[str, Any]) -> SearchRequest:
    """Translate step inputs (query, tools, count, date_filter) into Desearch's request."""
    query = str(inputs.get("query") or inputs.get("prompt") or "").strip()
    tools = [t for t in inputs.get("tools") or ["web"] if t in TOOLS] or ["web"]
    count = min(MAX_COUNT, max(MIN_COUNT, int(inputs.get("count") or MIN_COUNT)))
    date_filter = inputs.get("date_filter") if inputs.get("date_filter") in DATE_FILTERS else "PAST_YEAR"
    return SearchRequest(
        prompt=query[:MAX_PROMPT_CHARS], tools=tools, count=count, date_filter=str(date_filter)
    )


class DesearchAdapter(Adapter):
    """`web_search` and `social_search` from the Desearch API."""

    name = "desearch"
    route_kinds = frozenset({RouteKind.HTTP})

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        try:
            request = build_request(step.inputs)
        except ValidationError as exc:
            raise AdapterError(f"step inputs cannot form a Desearch request: {exc}") from None
        api_key = caller.candidate.route.api_key
        headers = {"Authorization": api_key.get_secret_value()} if api_key is not None else None
        reply = await caller.http(
            "POST", SEARCH_PATH, json_body=request.model_dump(mode="json", exclude_none=True), headers=headers
        )
        assert reply.receipt_index is not None
        return parse_response(reply.payload, reply.receipt_index)


def parse_response(payload: Any, receipt_index: int) -> list[Record]:
    if not isinstance(payload, dict):
        raise AdapterError(
            "Desearch answered with something other than a JSON object", receipt_index=receipt_index
        )
    try:
        response = SearchResponse.model_validate(payload)
    except ValidationError as exc:
        raise AdapterError(
            f"Desearch answer does not match its documented shape: {exc}", receipt_index=receipt_index
        ) from None
    known = set(RESULT_KEYS) | {"tweets", "completion", "text"}
    if not known & payload.keys():
        raise AdapterError(
            "Desearch answer has none of the documented result keys", receipt_index=receipt_index
        )
    records: list[Record] = []
    for key, source in RESULT_KEYS.items():
        for item in getattr(response, key) or []:
            records.append(
                Record(
                    kind="web_page",
                    text=item.snippet,
                    title=item.title or None,
                    url=item.link,
                    source=source,
                    published=_as_str(getattr(item, "date", None)),
                    receipt_index=receipt_index,
                )
            )
    for tweet in response.tweets or []:
        metrics = numbers(tweet, ("like_count", "retweet_count", "reply_count", "quote_count", "view_count"))
        records.append(
            Record(
                kind="post",
                text=tweet.text,
                source="x",
                url=tweet.url,
                author=tweet.user.username if tweet.user else None,
                published=tweet.created_at,
                metrics=metrics,
                receipt_index=receipt_index,
            )
        )
    if response.completion:
        records.append(
            Record(kind="answer", text=response.completion, source="desearch", receipt_index=receipt_index)
        )
    return records


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
