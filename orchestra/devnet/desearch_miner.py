"""A local stand-in for a search-era SN22 Desearch miner: a real bittensor Axon on 127.0.0.1.

It serves `ScraperStreamingSynapse` (AI search, answered as a stream of JSON objects: result lists
first, then the summary's `text` pieces and the `completion`) and `TwitterSearchSynapse` (X search,
answered as one synapse), in the shapes of `orchestra/adapters/desearch.py`, from the bundled
synthetic corpus, ranked like the Desearch API stand-in (`orchestra/devnet/desearch.py`). Summaries
are extractive, not written by a model. Every response carries `X-Orchestra-Devnet: stand-in`.

Callers are refused like SN22 miners refuse them: the hotkey must be registered on the subnet, hold a
validator permit and `min_caller_stake` (SN22 asks 20,000 TAO on finney), and send at most
`requests_per_minute` requests (SN22: 500). The corpus is frozen in time, so a request's
`date_filter_type` is measured back from `now` (the day after the newest corpus document), not from
the wall clock; explicit dates without a filter type are used as given.
"""

import collections
import datetime as dt
import json
import time
from collections.abc import Iterable
from typing import Any, Tuple  # noqa: UP035 - Axon.attach compares the blacklist signature to typing.Tuple

import bittensor as bt
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestra.adapters.desearch import (
    DATE_FILTER_DAYS,
    SYNAPSE_DATE_FORMAT,
    WEB_SEARCH_TOOL,
    X_DATE_FORMAT,
    ResultType,
    ScraperStreamingSynapse,
    ScraperTextRole,
    TwitterSearchSynapse,
)
from orchestra.chain import ChainClient
from orchestra.devnet.callers import CallerLookup
from orchestra.devnet.corpus import Corpus, load_corpus, rank
from orchestra.devnet.desearch import moment, newest_moment, tweet_json
from orchestra.devnet.faults import Fault, FaultInjector, FaultKind, corrupt
from orchestra.ports import LOOPBACK, free_port, wait_for_port

SN22_MIN_CALLER_STAKE_TAO = 20_000.0
SN22_REQUESTS_PER_MINUTE = 500
STAND_IN_HEADER = (b"x-orchestra-devnet", b"stand-in")
GARBAGE_STREAM = b"\x00<html>upstream hiccup"
SUMMARY_SOURCES = 3  # pages the extractive summary quotes
# SN22 tool names -> the stream object type their results go in (tools the corpus cannot serve
# answer with an empty list, as a miner whose source found nothing does).
TOOL_STREAM_TYPES = {
    WEB_SEARCH_TOOL: "search",
    "Reddit Search": "reddit_search",
    "Hacker News Search": "hacker_news_search",
    "Youtube Search": "youtube_search",
    "Wikipedia Search": "wikipedia_search",
    "ArXiv Search": "arxiv_search",
}
TWITTER_TOOL = "Twitter Search"


class DesearchMinerEmulator:
    """One emulated SN22 miner. `start()` binds 127.0.0.1 and publishes the axon on the devnet chain."""

    def __init__(
        self,
        wallet: "bt.Wallet",
        chain_client: ChainClient,
        netuid: int,
        *,
        corpus: Corpus | None = None,
        faults: FaultInjector | None = None,
        min_caller_stake: float = SN22_MIN_CALLER_STAKE_TAO,
        requests_per_minute: int = SN22_REQUESTS_PER_MINUTE,
        now: dt.datetime | None = None,
        port: int | None = None,
    ) -> None:
        self.wallet = wallet
        self.chain = chain_client
        self.netuid = netuid
        self.corpus = corpus or load_corpus()
        self.faults = faults
        self.min_caller_stake = min_caller_stake
        self.requests_per_minute = requests_per_minute
        self.now = now or newest_moment(self.corpus) + dt.timedelta(days=1)
        self.port = port or free_port()
        self.served = {"ScraperStreamingSynapse": 0, "TwitterSearchSynapse": 0}
        self._requests: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.callers = CallerLookup(chain_client, netuid)
        self.axon = bt.Axon(
            wallet=wallet, ip=LOOPBACK, port=self.port, external_ip=LOOPBACK, external_port=self.port
        )
        self.axon.fast_config.host = LOOPBACK  # bittensor hard-codes 0.0.0.0
        self.axon.app.add_middleware(_StandInHeader)
        self.axon.attach(
            forward_fn=self.scraper, blacklist_fn=self.blacklist_scraper, priority_fn=self.priority_scraper
        )
        self.axon.attach(
            forward_fn=self.twitter_search,
            blacklist_fn=self.blacklist_twitter_search,
            priority_fn=self.priority_twitter_search,
        )

    def start(self) -> "DesearchMinerEmulator":
        self.axon.start()
        wait_for_port(self.port)
        self.chain.serve_axon(self.netuid, self.axon)
        return self

    def stop(self) -> None:
        self.axon.stop()

    # ------------------------------------------------------------------ forwards

    async def scraper(self, synapse: ScraperStreamingSynapse) -> "bt.StreamingSynapse.BTStreamingResponse":
        fault = await self.faults.before_synapse() if self.faults is not None else None
        self.served["ScraperStreamingSynapse"] += 1
        items = [corrupt(item, fault) for item in self.scraper_stream(synapse)]
        garbage = fault is not None and fault.kind is FaultKind.GARBAGE

        async def stream(send: Send) -> None:
            for item in items:
                body = GARBAGE_STREAM if garbage else json.dumps(item).encode()
                await send({"type": "http.response.body", "body": body, "more_body": True})

        return synapse.create_streaming_response(stream)

    async def twitter_search(self, synapse: TwitterSearchSynapse) -> TwitterSearchSynapse:
        fault = await self.faults.before_synapse() if self.faults is not None else None
        self.served["TwitterSearchSynapse"] += 1
        synapse.results = _corrupt_tweets(self.search_x(synapse), fault)
        return synapse

    # ------------------------------------------------------------------ answers (pure)

    def scraper_stream(self, synapse: ScraperStreamingSynapse) -> list[dict[str, Any]]:
        """The stream objects a miner sends for `synapse`, in SN22's order."""
        since, until = self._window(synapse.date_filter_type, synapse.start_date, synapse.end_date)
        count = synapse.count or 10
        tools = synapse.tools or []
        items: list[dict[str, Any]] = []
        pages: list[dict[str, Any]] = []
        for tool in tools:
            kind = TOOL_STREAM_TYPES.get(tool)
            if kind is None:
                continue
            found = self.search_pages(tool, synapse.prompt, count, since, until)
            if kind == "search":
                pages = found
            items.append({"type": kind, "content": found})
        if TWITTER_TOOL in tools:
            posts = self._posts(synapse.prompt, since, until)
            items.append({"type": "tweets", "content": [tweet_json(post) for post in posts[:count]]})
        if synapse.result_type != ResultType.ONLY_LINKS:
            summary = _summary(pages)
            role = ScraperTextRole.FINAL_SUMMARY.value
            items.extend({"type": "text", "role": role, "content": piece} for piece in _pieces(summary))
            items.append({"type": "completion", "content": summary})
        return items

    def search_pages(
        self, tool: str, prompt: str, count: int, since: dt.datetime | None, until: dt.datetime | None
    ) -> list[dict[str, Any]]:
        """SN22 `SearchResultItem`s for one tool, best first."""
        documents: Iterable[dict[str, Any]] = ()
        if tool == WEB_SEARCH_TOOL:
            documents = self.corpus.web
        elif tool == "Reddit Search":
            documents = (
                {"title": p["title"], "link": p["url"], "snippet": p["body"], "published": p["createdAt"]}
                for p in self.corpus.reddit
            )
        recent = [d for d in documents if _within(moment(d["published"]), since, until)]
        order = rank(prompt, [f"{d['title']} {d['snippet']}" for d in recent])[:count]
        return [
            {
                "title": recent[i]["title"],
                "link": recent[i]["link"],
                "snippet": recent[i]["snippet"],
                "published_date": recent[i]["published"],
            }
            for i in order
        ]

    def search_x(self, synapse: TwitterSearchSynapse) -> list[dict[str, Any]]:
        """Tweets for an X search in SN22's tweet shape, `Top` (relevance) or `Latest` first."""
        since, until = self._window(None, synapse.start_date, synapse.end_date, date_format=X_DATE_FORMAT)
        posts = [
            post
            for post in self._posts(synapse.query, since, until)
            if (synapse.user is None or post["username"].lower() == synapse.user.lstrip("@").lower())
            and post["like_count"] >= (synapse.min_likes or 0)
            and post["retweet_count"] >= (synapse.min_retweets or 0)
            and post["reply_count"] >= (synapse.min_replies or 0)
            and (synapse.is_quote is None or post["is_quote"] == synapse.is_quote)
        ]
        if synapse.sort == "Latest":
            posts.sort(key=lambda post: moment(post["timestamp"]), reverse=True)
        return [tweet_json(post) for post in posts[: max(0, synapse.count)]]

    def _posts(
        self, query: str, since: dt.datetime | None, until: dt.datetime | None
    ) -> list[dict[str, Any]]:
        recent = [p for p in self.corpus.x if _within(moment(p["timestamp"]), since, until)]
        return [recent[i] for i in rank(query, [p["text"] for p in recent])]

    def _window(
        self,
        date_filter_type: str | None,
        start: str | None,
        end: str | None,
        *,
        date_format: str = SYNAPSE_DATE_FORMAT,
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        if date_filter_type in DATE_FILTER_DAYS:
            return self.now - dt.timedelta(days=DATE_FILTER_DAYS[date_filter_type]), self.now
        return _parse_date(start, date_format), _parse_date(end, date_format, end_of_day=True)

    # ------------------------------------------------------------------ caller rules

    async def blacklist_scraper(self, synapse: ScraperStreamingSynapse) -> Tuple[bool, str]:  # noqa: UP006
        return self._blacklist(synapse)

    async def blacklist_twitter_search(self, synapse: TwitterSearchSynapse) -> Tuple[bool, str]:  # noqa: UP006
        return self._blacklist(synapse)

    async def priority_scraper(self, synapse: ScraperStreamingSynapse) -> float:
        return self._stake(synapse)

    async def priority_twitter_search(self, synapse: TwitterSearchSynapse) -> float:
        return self._stake(synapse)

    def _blacklist(self, synapse: bt.Synapse) -> tuple[bool, str]:
        hotkey = synapse.dendrite.hotkey if synapse.dendrite else None
        if not hotkey:
            return True, "Missing hotkey"
        neuron = self.callers.neuron(hotkey)
        if neuron is None:
            return True, "Unrecognized hotkey"
        if not neuron.validator_permit:
            return True, "Non-validator hotkey"
        if neuron.stake < self.min_caller_stake:
            return True, f"Low stake: {neuron.stake:g} < {self.min_caller_stake:g}"
        if not self._take_request(hotkey):
            return True, f"Request frequency exceeded ({self.requests_per_minute} per minute)"
        return False, "Validator recognized"

    def _stake(self, synapse: bt.Synapse) -> float:
        hotkey = synapse.dendrite.hotkey if synapse.dendrite else None
        neuron = self.callers.neuron(hotkey) if hotkey else None
        return float(neuron.stake) if neuron is not None else 0.0

    def _take_request(self, hotkey: str) -> bool:
        sent = self._requests[hotkey]
        now = time.monotonic()
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        if len(sent) >= self.requests_per_minute:
            return False
        sent.append(now)
        return True


class _StandInHeader:
    """ASGI middleware stamping every response, refusals included, as coming from a stand-in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), STAND_IN_HEADER]}
            await send(message)

        await self.app(scope, receive, stamped)


def _summary(pages: list[dict[str, Any]]) -> str:
    """An extractive summary citing its sources the way SN22 summaries do: `[n](link)`."""
    cited = [f"{page['snippet']} [{n}]({page['link']})" for n, page in enumerate(pages[:SUMMARY_SOURCES], 1)]
    return " ".join(cited)


def _pieces(text: str, words: int = 8) -> list[str]:
    """`text` in the small pieces a miner streams while its summary is generated."""
    tokens = text.split(" ") if text else []
    groups = [tokens[i : i + words] for i in range(0, len(tokens), words)]
    return [" ".join(group) + (" " if n < len(groups) - 1 else "") for n, group in enumerate(groups)]


def _corrupt_tweets(tweets: list[dict[str, Any]], fault: Fault | None) -> list[dict[str, Any]]:
    value = corrupt(tweets, fault)
    return value if isinstance(value, list) else [{"text": value}]


def _parse_date(value: str | None, date_format: str, *, end_of_day: bool = False) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.strptime(value, date_format).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None  # like a miner that cannot read the filter, answer without it
    if end_of_day and date_format == X_DATE_FORMAT:
        moment += dt.timedelta(days=1)
    return moment


def _within(moment: dt.datetime, since: dt.datetime | None, until: dt.datetime | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment <= until)
