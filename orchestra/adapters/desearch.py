"""SN22 Desearch: the hosted API (`http` route) and SN22 miners' synapses (`dendrite` route).

`http`: the hosted `POST /desearch/ai/search` API. Request and response shapes restate Desearch's
public API reference and its Python SDK: the key goes in `Authorization` with no "Bearer" prefix; a
non-streaming answer is one JSON object with a result list per tool (`search`, `tweets`,
`reddit_search`, ...), a `completion` and `miner_link_scores`. Since Desearch 2.0, SN22 miners no
longer serve queries, so this API is the way to reach SN22 for callers without a validator permit.

`dendrite`: the search-era SN22 miner protocol (Desearch-ai/subnet-22 `desearch/protocol.py`), for
callers holding a validator permit and stake on SN22 and for the devnet. `ScraperStreamingSynapse`
(AI search, answered as a stream of JSON objects written back to back) and `TwitterSearchSynapse`
(X search, answered as one synapse) restate upstream's class names (the Axon routes by class name),
field names, types and defaults, written for this project. Like upstream, neither sets
`required_hash_fields`, so a real SN22 Axon accepts our body hash; bittensor 10.5's `to_headers`
already sends required fields as empty dummies and `computed_body_hash = body_hash`, which is what
upstream's own `to_headers` override does.
"""

import codecs
import datetime as dt
import json
import math
import re
from collections.abc import AsyncIterator, Callable
from enum import Enum
from typing import Any, ClassVar, Literal, TypeVar

import bittensor as bt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record, numbers
from orchestra.routing import RouteSpec
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


# A social_search step names platforms in `sources`; Desearch names its tools.
SOURCE_TOOLS = {
    "x": "twitter",
    "twitter": "twitter",
    "reddit": "reddit",
    "youtube": "youtube",
    "hackernews": "hackernews",
}


def build_request(inputs: dict[str, Any]) -> SearchRequest:
    """Translate step inputs (query, tools or sources, count, date_filter) into Desearch's request."""
    query = str(inputs.get("query") or inputs.get("prompt") or "").strip()
    wanted = inputs.get("tools")
    sources = inputs.get("sources")
    if not wanted and isinstance(sources, list):
        wanted = [SOURCE_TOOLS[s] for s in sources if isinstance(s, str) and s in SOURCE_TOOLS]
    tools = [t for t in wanted or ["web"] if t in TOOLS] or ["web"]
    count = min(MAX_COUNT, max(MIN_COUNT, int(inputs.get("count") or MIN_COUNT)))
    date_filter = inputs.get("date_filter") if inputs.get("date_filter") in DATE_FILTERS else "PAST_YEAR"
    return SearchRequest(
        prompt=query[:MAX_PROMPT_CHARS], tools=tools, count=count, date_filter=str(date_filter)
    )


class DesearchAdapter(Adapter):
    """`web_search` and `social_search` from the Desearch API."""

    name = "desearch"
    route_kinds = frozenset({RouteKind.HTTP})

    def auth_headers(self, route: RouteSpec) -> dict[str, str] | None:
        """Desearch takes the bare key in `Authorization`, with no "Bearer" prefix."""
        return {"Authorization": route.api_key.get_secret_value()} if route.api_key is not None else None

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        try:
            request = build_request(step.inputs)
        except ValidationError as exc:
            raise AdapterError(f"step inputs cannot form a Desearch request: {exc}") from None
        reply = await caller.http(
            "POST",
            SEARCH_PATH,
            json_body=request.model_dump(mode="json", exclude_none=True),
            headers=self.auth_headers(caller.candidate.route),
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


# --------------------------------------------------------------------------- the `dendrite` route
#
# No `from __future__ import annotations` in this module: bittensor 10.5 reads synapse annotations
# at runtime.

MAX_STREAM_BYTES = 8 * 1024 * 1024
MAX_STREAM_DEPTH = 128  # nesting deeper than any SN22 object; refused before json.loads recurses
SYNAPSE_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # ScraperStreamingSynapse start_date / end_date
X_DATE_FORMAT = "%Y-%m-%d"  # TwitterSearchSynapse start_date / end_date
WEB_SEARCH_TOOL = "Web Search"
# Days each date filter reaches back.
DATE_FILTER_DAYS = {
    "PAST_24_HOURS": 1,
    "PAST_2_DAYS": 2,
    "PAST_WEEK": 7,
    "PAST_2_WEEKS": 14,
    "PAST_MONTH": 31,
    "PAST_2_MONTHS": 62,
    "PAST_YEAR": 366,
    "PAST_2_YEARS": 731,
}
MIN_TWEETS, MAX_TWEETS, DEFAULT_TWEETS = 1, 100, 20


class SearchMode(str, Enum):
    FAST = "fast"
    BALANCED = "balanced"
    DEEP = "deep"


class Model(str, Enum):
    NOVA = "NOVA"
    ORBIT = "ORBIT"
    HORIZON = "HORIZON"


class ResultType(str, Enum):
    ONLY_LINKS = "ONLY_LINKS"
    LINKS_WITH_FINAL_SUMMARY = "LINKS_WITH_FINAL_SUMMARY"


class DateFilterType(str, Enum):
    PAST_24_HOURS = "PAST_24_HOURS"
    PAST_2_DAYS = "PAST_2_DAYS"
    PAST_WEEK = "PAST_WEEK"
    PAST_2_WEEKS = "PAST_2_WEEKS"
    PAST_MONTH = "PAST_MONTH"
    PAST_2_MONTHS = "PAST_2_MONTHS"
    PAST_YEAR = "PAST_YEAR"
    PAST_2_YEARS = "PAST_2_YEARS"


class ScraperTextRole(str, Enum):
    INTRO = "intro"
    TWITTER_SUMMARY = "twitter_summary"
    SEARCH_SUMMARY = "search_summary"
    REDDIT_SUMMARY = "reddit_summary"
    HACKER_NEWS_SUMMARY = "hacker_news_summary"
    FINAL_SUMMARY = "summary"


class ContextualRelevance(str, Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class ScoringModel(str, Enum):
    OPENAI_GPT4_1_NANO = "openai/gpt-4.1-nano"
    QWEN3_6_27B = "Qwen/Qwen3.6-27B-TEE"


# Per search mode, the seconds a miner may take (SN22 `MODE_BUDGETS`), and the floor validators
# serve every mode with; the dendrite timeout is the budget plus 5 s.
MODE_BUDGETS_S = {SearchMode.FAST: 5, SearchMode.BALANCED: 15, SearchMode.DEEP: 30}
SERVING_FLOOR_S = 15


def mode_budget_s(mode: SearchMode) -> int:
    """`max_execution_time` for an AI search in `mode`, as SN22 validators set it."""
    return max(MODE_BUDGETS_S[mode], SERVING_FLOOR_S)


def x_search_budget_s(count: int) -> int:
    """`max_execution_time` for an X search: 10 s, plus 5 s per started 20 tweets beyond 20."""
    return 10 + 5 * math.ceil(max(0, count - 20) / 20)


class MinerSearchResult(BaseModel):
    """SN22's `SearchResultItem`: one link a miner found (stricter than the hosted API's)."""

    title: str
    link: str
    snippet: str
    highlights: list[str] | None = None
    published_date: str | None = None
    author: str | None = None
    text: str | None = None


class TwitterScraperMedia(BaseModel):
    media_url: str = ""
    type: str = ""


class TwitterScraperUser(BaseModel):
    """SN22's tweet author; the profile's nested `entities`/`professional` objects are kept as JSON."""

    id: str
    url: str | None = None
    name: str | None = None
    username: str
    created_at: str | None = None
    description: str | None = None
    favourites_count: int | None = None
    followers_count: int | None = None
    followings_count: int | None = None
    listed_count: int | None = None
    media_count: int | None = None
    profile_image_url: str | None = None
    profile_banner_url: str | None = None
    statuses_count: int | None = None
    verified: bool | None = None
    is_blue_verified: bool | None = None
    entities: dict[str, Any] | None = None
    can_dm: bool | None = None
    can_media_tag: bool | None = None
    location: str | None = None
    pinned_tweet_ids: list[str] | None = None
    professional: dict[str, Any] | None = None


class TwitterScraperTweet(BaseModel):
    """SN22's tweet shape; a miner tweet that does not validate is not used (as SN22 validators do)."""

    user: TwitterScraperUser | None = None
    id: str
    text: str
    reply_count: int
    view_count: int | None = None
    retweet_count: int
    like_count: int
    quote_count: int
    bookmark_count: int
    url: str | None
    created_at: str
    media: list[TwitterScraperMedia] | None = Field(default_factory=list)
    is_quote_tweet: bool | None
    is_retweet: bool | None
    lang: str | None = None
    conversation_id: str | None = None
    in_reply_to_screen_name: str | None = None
    in_reply_to_status_id: str | None = None
    in_reply_to_user_id: str | None = None
    quoted_status_id: str | None = None
    quote: "TwitterScraperTweet | None" = None
    replies: "list[TwitterScraperTweet] | None" = None
    display_text_range: list[int] | None = None
    entities: dict[str, Any] | None = None
    extended_entities: dict[str, Any] | None = None


class FlowItem(BaseModel):
    id: str
    type: Literal["Sources", "Description", "Queries"]
    content: str | list[str] | None = None
    status: Literal["in_progress", "finished"] = "finished"
    time: int


class ChatHistoryItem(BaseModel):
    prompt: str
    completion: str = ""


class StreamFormatError(ValueError):
    """An answer stream that is not JSON objects back to back, breaks SN22's shapes, or is too long."""


class ChunkStream:
    """Splits an SN22 answer stream (JSON objects written back to back) into objects.

    Bytes may be cut anywhere: inside a string, inside an escape, inside a multi-byte character. An
    object is decoded once its closing brace arrives; only the pieces of the object still open are
    kept. Anything but whitespace between objects is garbage, and the stream is bounded in bytes.
    """

    def __init__(self, max_bytes: int = MAX_STREAM_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._parts: list[str] = []  # the open object, piece by piece
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The objects completed by `data`. Raises `StreamFormatError`."""
        self.size += len(data)
        if self.size > self.max_bytes:
            raise StreamFormatError(f"the answer stream is longer than {self.max_bytes} bytes")
        try:
            text = self._utf8.decode(data)
        except UnicodeDecodeError as exc:
            raise StreamFormatError(f"the answer stream is not UTF-8: {exc.reason}") from None
        return self._split(text)

    def close(self) -> None:
        """The stream ended: raises `StreamFormatError` if it ended inside an object or a character."""
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            raise StreamFormatError("the answer stream ends inside a UTF-8 character") from None
        if self._depth:
            raise StreamFormatError("the answer stream ends inside a JSON object")

    def _split(self, text: str) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        start = 0  # where the open object begins in `text`, if one is open
        i, n = 0, len(text)
        while i < n:
            if self._depth == 0:
                found = _NON_SPACE.search(text, i)
                if found is None:
                    break
                i = found.start()
                if text[i] != "{":
                    raise StreamFormatError(
                        f"expected a JSON object in the answer stream, got {text[i : i + 24]!r}"
                    )
                start, self._depth = i, 1
            elif self._escaped:
                self._escaped = False
            elif self._in_string:
                found = _STRING_SPECIAL.search(text, i)
                if found is None:
                    break
                i = found.start()
                if text[i] == "\\":
                    self._escaped = True
                else:
                    self._in_string = False
            else:
                found = _STRUCTURE.search(text, i)
                if found is None:
                    break
                i = found.start()
                char = text[i]
                if char == '"':
                    self._in_string = True
                elif char in "{[":
                    self._depth += 1
                    if self._depth > MAX_STREAM_DEPTH:
                        raise StreamFormatError(f"an answer object nests deeper than {MAX_STREAM_DEPTH}")
                else:
                    self._depth -= 1
                    if self._depth == 0:
                        self._parts.append(text[start : i + 1])
                        objects.append(_decode_object("".join(self._parts)))
                        self._parts = []
            i += 1
        if self._depth:
            self._parts.append(text[start:])
        return objects


_NON_SPACE = re.compile(r"[^ \t\r\n]")  # JSON whitespace only
_STRING_SPECIAL = re.compile(r'["\\]')
_STRUCTURE = re.compile(r'["{}\[\]]')


def _decode_object(text: str) -> dict[str, Any]:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        value = json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        raise StreamFormatError(f"an answer object is not JSON: {exc}") from None
    if not isinstance(value, dict):  # balanced brackets that are not one object, e.g. `{}]`
        raise StreamFormatError("an answer stream item is not a JSON object")
    return value


# Stream object type -> the ScraperStreamingSynapse field it fills.
STREAM_RESULT_FIELDS = {
    "search": "search_results",
    "wikipedia_search": "wikipedia_search_results",
    "youtube_search": "youtube_search_results",
    "arxiv_search": "arxiv_search_results",
    "reddit_search": "reddit_search_results",
    "hacker_news_search": "hacker_news_search_results",
}


class ScraperStreamingSynapse(bt.StreamingSynapse):  # type: ignore[misc]
    """SN22 AI search. The miner answers with a stream of `{"type", "content", "role"?}` objects:
    result lists (`search`, `tweets`, ...), then summary `text` pieces and the `completion`."""

    max_stream_bytes: ClassVar[int] = MAX_STREAM_BYTES

    scoring_model: ScoringModel = ScoringModel.OPENAI_GPT4_1_NANO
    prompt: str = Field(frozen=True)
    completion: str = ""
    model: Model = Model.NOVA
    mode: SearchMode | None = None
    count: int | None = Field(default=10, ge=10, le=200)
    system_message: str | None = ""
    scoring_system_message: str | None = ""
    tools: list[str] | None = Field(default_factory=list)
    include_domains: list[str] | None = Field(default_factory=list, frozen=True)
    exclude_domains: list[str] | None = Field(default_factory=list, frozen=True)
    start_date: str | None = None
    end_date: str | None = None
    date_filter_type: str | None = None
    language: str | None = "en"
    region: str | None = "us"
    google_date_filter: str | None = "qdr:w"
    validator_tweets: list[TwitterScraperTweet] | None = Field(default_factory=list)
    validator_links: list[dict[str, Any]] | None = Field(default_factory=list)
    miner_link_scores: dict[str, ContextualRelevance] | None = Field(default_factory=dict)
    miner_tweets: list[dict[str, Any]] | None = Field(default_factory=list)
    search_results: list[MinerSearchResult] | None = Field(default_factory=list)
    wikipedia_search_results: list[MinerSearchResult] | None = Field(default_factory=list)
    youtube_search_results: list[MinerSearchResult] | None = Field(default_factory=list)
    arxiv_search_results: list[MinerSearchResult] | None = Field(default_factory=list)
    reddit_search_results: list[MinerSearchResult] | None = Field(default_factory=list)
    hacker_news_search_results: list[MinerSearchResult] | None = Field(default_factory=list)
    text_chunks: dict[str, list[str]] | None = Field(default_factory=dict)
    flow_items: list[FlowItem] | None = Field(default_factory=list)
    chat_history: list[ChatHistoryItem] | None = Field(default_factory=list)
    max_execution_time: int | None = None
    max_items: int | None = None
    result_type: ResultType | None = None

    @property
    def texts(self) -> dict[str, str]:
        """The streamed text per role, joined."""
        return {role: "".join(pieces) for role, pieces in (self.text_chunks or {}).items()}

    def get_required_fields(self) -> list[str]:
        return ["prompt"]

    def deserialize(self) -> str:
        return self.completion

    async def process_streaming_response(self, response: Any) -> AsyncIterator[dict[str, Any]]:
        """Read the answer stream from `response.content`, filling this synapse; yields each object.

        Raises `StreamFormatError` on garbage, on objects that break SN22's shapes, on a stream that
        ends inside an object, and past `max_stream_bytes`.
        """
        stream = ChunkStream(self.max_stream_bytes)
        async for data in response.content.iter_any():
            for item in stream.feed(data):
                self.apply_stream_item(item)
                yield item
        stream.close()

    def apply_stream_item(self, item: dict[str, Any]) -> None:
        """Fill this synapse from one stream object. Types this client does not know, and `flow`
        progress notes, are skipped (upstream skips unknown types too)."""
        kind, content = item.get("type"), item.get("content")
        if not isinstance(kind, str):
            raise StreamFormatError("an answer stream object has no `type`")
        try:
            if kind == "text":
                role = item.get("role", ScraperTextRole.FINAL_SUMMARY.value)
                if not isinstance(content, str) or not isinstance(role, str):
                    raise StreamFormatError("a `text` object needs string `content` and `role`")
                if self.text_chunks is None:
                    self.text_chunks = {}
                self.text_chunks.setdefault(role, []).append(content)
            elif kind == "completion":
                if not isinstance(content, str):
                    raise StreamFormatError("a `completion` object needs string `content`")
                self.completion = content
            elif kind == "tweets":
                self.miner_tweets = [*(self.miner_tweets or []), *_as_list(content, kind)]
            elif kind in STREAM_RESULT_FIELDS:
                setattr(self, STREAM_RESULT_FIELDS[kind], _as_list(content, kind))
            elif kind == "miner_link_scores":
                self.miner_link_scores = content
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise StreamFormatError(
                f"a `{kind}` object breaks SN22's shape at {where}: {problem['msg']}"
            ) from None

    def extract_response_json(self, response: Any) -> dict[str, Any]:
        """This synapse as filled by the stream, with the terminal fields the response headers state."""

        def terminal(prefix: str) -> dict[str, str]:
            return {
                name.lower().removeprefix(prefix): value
                for name, value in response.headers.items()
                if name.lower().startswith(prefix)
            }

        body: dict[str, Any] = self.model_dump(exclude={"dendrite", "axon"})
        return body | {"dendrite": terminal("bt_header_dendrite_"), "axon": terminal("bt_header_axon_")}


def _as_list(content: Any, kind: str) -> list[Any]:
    if not isinstance(content, list):
        raise StreamFormatError(f"a `{kind}` object's content is not a list")
    return content


class TwitterSearchSynapse(bt.Synapse):  # type: ignore[misc]
    """SN22 X search: the caller's filters (immutable) and the miner's tweets in `results`."""

    query: str = Field(frozen=True)
    sort: str | None = Field(default=None, frozen=True)
    user: str | None = Field(default=None, frozen=True)
    count: int = Field(default=20, frozen=True)
    start_date: str | None = Field(default=None, frozen=True)
    end_date: str | None = Field(default=None, frozen=True)
    lang: str | None = Field(default=None, frozen=True)
    verified: bool | None = Field(default=None, frozen=True)
    blue_verified: bool | None = Field(default=None, frozen=True)
    is_quote: bool | None = Field(default=None, frozen=True)
    is_video: bool | None = Field(default=None, frozen=True)
    is_image: bool | None = Field(default=None, frozen=True)
    min_retweets: int | None = Field(default=None, frozen=True)
    min_replies: int | None = Field(default=None, frozen=True)
    min_likes: int | None = Field(default=None, frozen=True)
    max_execution_time: int | None = None
    validator_tweets: list[TwitterScraperTweet] | None = Field(default_factory=list)
    results: list[dict[str, Any]] | None = Field(default_factory=list)

    def get_required_fields(self) -> list[str]:
        return ["query"]

    def deserialize(self) -> "TwitterSearchSynapse":
        return self


def build_scraper_synapse(inputs: dict[str, Any], *, now: dt.datetime) -> ScraperStreamingSynapse:
    """Step inputs (query, count, date_filter, mode, result_type) -> an SN22 web search."""
    mode = _enum(SearchMode, inputs.get("mode"), SearchMode.BALANCED)
    result_type = _enum(ResultType, inputs.get("result_type"), ResultType.LINKS_WITH_FINAL_SUMMARY)
    date_filter = _enum(DateFilterType, inputs.get("date_filter"), DateFilterType.PAST_YEAR)
    now = now.astimezone(dt.timezone.utc)
    since = now - dt.timedelta(days=DATE_FILTER_DAYS[date_filter.value])
    return ScraperStreamingSynapse(
        prompt=_query(inputs)[:MAX_PROMPT_CHARS],
        tools=[WEB_SEARCH_TOOL],
        count=_bounded_int(inputs.get("count"), MIN_COUNT, MAX_COUNT, MIN_COUNT),
        mode=mode,
        result_type=result_type,
        max_execution_time=mode_budget_s(mode),
        start_date=since.strftime(SYNAPSE_DATE_FORMAT),
        end_date=now.strftime(SYNAPSE_DATE_FORMAT),
        date_filter_type=date_filter.value,
    )


def build_twitter_synapse(inputs: dict[str, Any], *, now: dt.datetime) -> TwitterSearchSynapse:
    """Step inputs (query, count, sort, date_filter) -> an SN22 X search."""
    count = _bounded_int(inputs.get("count"), MIN_TWEETS, MAX_TWEETS, DEFAULT_TWEETS)
    sort = inputs.get("sort") if inputs.get("sort") in ("Top", "Latest") else None
    dates: dict[str, str] = {}
    if inputs.get("date_filter") in DATE_FILTER_DAYS:
        now = now.astimezone(dt.timezone.utc)
        since = now - dt.timedelta(days=DATE_FILTER_DAYS[inputs["date_filter"]])
        dates = {"start_date": since.strftime(X_DATE_FORMAT), "end_date": now.strftime(X_DATE_FORMAT)}
    return TwitterSearchSynapse(
        query=_query(inputs)[:MAX_PROMPT_CHARS],
        count=count,
        sort=sort,
        max_execution_time=x_search_budget_s(count),
        **dates,
    )


class DesearchMinerAdapter(Adapter):
    """`web_search` (ScraperStreamingSynapse) and `social_search` (TwitterSearchSynapse) from SN22 miners.

    The route's timeout should exceed the synapse's `max_execution_time` by 5 s, as SN22 validators
    allow: 20 s for a balanced web search, 15 s for an X search of up to 20 tweets.
    """

    name = "desearch_miners"
    route_kinds = frozenset({RouteKind.DENDRITE})

    def __init__(self, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        if step.capability == "web_search":
            reply = await caller.dendrite(build_scraper_synapse(step.inputs, now=self.clock()))
            assert reply.receipt_index is not None
            return parse_scraper_answer(reply.payload, reply.receipt_index)
        if step.capability == "social_search":
            sources = step.inputs.get("sources")
            if isinstance(sources, list) and sources and not {"x", "twitter"} & set(sources):
                raise AdapterError(f"SN22 miners search X only, not {sources}")
            reply = await caller.dendrite(build_twitter_synapse(step.inputs, now=self.clock()))
            assert reply.receipt_index is not None
            return parse_twitter_answer(reply.payload, reply.receipt_index)
        raise AdapterError(f"SN22 miners do not serve {step.capability}")


class ScraperAnswer(BaseModel):
    """The answer fields of a ScraperStreamingSynapse body."""

    model_config = ConfigDict(extra="ignore")

    completion: str | None = None
    text_chunks: dict[str, list[str]] | None = None
    miner_tweets: list[Any] | None = None
    search_results: list[MinerSearchResult] | None = None
    reddit_search_results: list[MinerSearchResult] | None = None
    hacker_news_search_results: list[MinerSearchResult] | None = None
    youtube_search_results: list[MinerSearchResult] | None = None
    wikipedia_search_results: list[MinerSearchResult] | None = None
    arxiv_search_results: list[MinerSearchResult] | None = None


# ScraperStreamingSynapse result field -> the source its records name.
SYNAPSE_RESULT_SOURCES = {
    "search_results": "web",
    "reddit_search_results": "reddit",
    "hacker_news_search_results": "hackernews",
    "youtube_search_results": "youtube",
    "wikipedia_search_results": "wikipedia",
    "arxiv_search_results": "arxiv",
}
TWEET_METRICS = ("like_count", "retweet_count", "reply_count", "quote_count", "view_count", "bookmark_count")


def parse_scraper_answer(payload: Any, receipt_index: int) -> list[Record]:
    """Records from an answered ScraperStreamingSynapse body: pages, tweets and the summary."""
    if not isinstance(payload, dict):
        raise AdapterError("the SN22 miner's answer is not a synapse body", receipt_index=receipt_index)
    try:
        answer = ScraperAnswer.model_validate(payload)
    except ValidationError as exc:
        raise AdapterError(
            f"the SN22 miner's answer breaks ScraperStreamingSynapse's shape: {exc}",
            receipt_index=receipt_index,
        ) from None
    records: list[Record] = []
    for field_name, source in SYNAPSE_RESULT_SOURCES.items():
        for item in getattr(answer, field_name) or []:
            records.append(
                Record(
                    kind="web_page",
                    text=item.snippet,
                    source=source,
                    receipt_index=receipt_index,
                    title=item.title or None,
                    url=item.link,
                    author=item.author,
                    published=item.published_date,
                )
            )
    records.extend(_tweet_records(answer.miner_tweets or [], receipt_index))
    summary = answer.completion or "".join(
        (answer.text_chunks or {}).get(ScraperTextRole.FINAL_SUMMARY.value, [])
    )
    if summary:
        records.append(Record(kind="answer", text=summary, source="desearch", receipt_index=receipt_index))
    return records


def parse_twitter_answer(payload: Any, receipt_index: int) -> list[Record]:
    """Post records from an answered TwitterSearchSynapse body."""
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list):
        raise AdapterError(
            "the SN22 miner's X search answer has no `results` list", receipt_index=receipt_index
        )
    return _tweet_records(results, receipt_index)


def _tweet_records(tweets: list[Any], receipt_index: int) -> list[Record]:
    """Posts from the tweets that match SN22's tweet shape. A miner whose tweets all break it gave an
    unusable answer; a few broken ones among good ones are skipped, as SN22 validators skip them."""
    records = []
    for raw in tweets:
        try:
            tweet = TwitterScraperTweet.model_validate(raw)
        except ValidationError:
            continue
        username = tweet.user.username if tweet.user else None
        url = tweet.url or (f"https://x.com/{username}/status/{tweet.id}" if username else None)
        records.append(
            Record(
                kind="post",
                text=tweet.text,
                source="x",
                receipt_index=receipt_index,
                url=url,
                author=username,
                published=tweet.created_at,
                metrics=numbers(tweet, TWEET_METRICS),
            )
        )
    if tweets and not records:
        raise AdapterError(
            f"none of the SN22 miner's {len(tweets)} tweets has SN22's tweet shape",
            receipt_index=receipt_index,
        )
    return records


def _query(inputs: dict[str, Any]) -> str:
    query = str(inputs.get("query") or inputs.get("prompt") or "").strip()
    if not query:
        raise AdapterError("the step has no query to search for")
    return query


def _bounded_int(value: Any, low: int, high: int, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return min(high, max(low, int(value)))


EnumT = TypeVar("EnumT", bound=Enum)


def _enum(kind: type[EnumT], value: Any, default: EnumT) -> EnumT:
    try:
        return kind(value)
    except ValueError:
        return default
