"""A local stand-in for the Desearch API (SN22), `POST /desearch/ai/search`, over the bundled corpus.

It speaks the hosted API's request and response shapes (see `orchestra/adapters/desearch.py`): the key
in `Authorization` without "Bearer", FastAPI-style `{"detail": ...}` errors (401, 422), one list of
results per tool, tweets in Desearch's tweet shape, a `completion` and `miner_link_scores`. Results
are ranked deterministically; the completion is extractive, not written by a model. Streaming is not
emulated. Every answer carries `X-Devnet-Stand-In: desearch` so nobody mistakes it for the real API.
"""

import datetime as dt
import json
from typing import Any

from aiohttp import web

from orchestra.adapters.desearch import (
    DATE_FILTER_DAYS,
    DATE_FILTERS,
    MAX_COUNT,
    MIN_COUNT,
    SEARCH_PATH,
    TOOLS,
)
from orchestra.devnet.corpus import Corpus, load_corpus, rank
from orchestra.devnet.faults import FaultInjector
from orchestra.devnet.servers import ThreadedAiohttpServer

# The names the API accepted before the short tool names; Desearch's MCP server still sends them.
LEGACY_TOOLS = {
    "Web Search": "web",
    "Twitter Search": "twitter",
    "Hacker News Search": "hackernews",
    "Reddit Search": "reddit",
    "Wikipedia Search": "wikipedia",
    "Youtube Search": "youtube",
    "ArXiv Search": "arxiv",
}
RESULT_TYPES = ("ONLY_LINKS", "LINKS_WITH_FINAL_SUMMARY")
STAND_IN_HEADER = {"X-Devnet-Stand-In": "desearch"}


class DesearchEmulator:
    """Serves the Desearch AI search endpoint on 127.0.0.1 for the devnet and the tests.

    `now` anchors the date filters; it defaults to the day after the newest corpus document, so the
    bundled data stays "recent" whenever the devnet runs. Setting `drifted` makes it answer as a
    changed API would (result items carry `url` instead of `link`), which the Ledger's probes must
    notice.
    """

    def __init__(
        self,
        *,
        api_key: str,
        corpus: Corpus | None = None,
        now: dt.datetime | None = None,
        port: int | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.api_key = api_key
        self.corpus = corpus or load_corpus()
        self.now = now or newest_moment(self.corpus) + dt.timedelta(days=1)
        app = web.Application(
            client_max_size=1024 * 1024, middlewares=[faults.middleware] if faults is not None else []
        )
        app.router.add_post(SEARCH_PATH, self.search)
        self.server = ThreadedAiohttpServer(app, port=port)
        self.requests = 0
        self.drifted = False

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "DesearchEmulator":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    async def search(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get("Authorization") != self.api_key:
            return _error(401, "Invalid or missing API key")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(422, [_problem(["body"], "Input should be a valid JSON object", "json_invalid")])
        problems, query = _validate(body)
        if problems:
            return _error(422, problems)
        return web.json_response(self.answer(**query), headers=STAND_IN_HEADER)

    def answer(
        self, *, prompt: str, tools: list[str], count: int, date_filter: str, result_type: str
    ) -> dict[str, Any]:
        since = self.now - dt.timedelta(days=DATE_FILTER_DAYS[date_filter])
        out: dict[str, Any] = {}
        scores: dict[str, str] = {}
        if "web" in tools:
            out["search"] = self._pages(self.corpus.web, prompt, count, since, scores)
        if "reddit" in tools:
            posts = [_reddit_as_page(post) for post in self.corpus.reddit]
            out["reddit_search"] = self._pages(tuple(posts), prompt, count, since, scores)
        for tool, key in (
            ("hackernews", "hacker_news_search"),
            ("youtube", "youtube_search"),
            ("wikipedia", "wikipedia_search"),
            ("arxiv", "arxiv_search"),
        ):
            if tool in tools:
                out[key] = []  # the bundled corpus has no documents from these sources
        if "twitter" in tools:
            posts = [p for p in self.corpus.x if moment(p["timestamp"]) >= since]
            order = rank(prompt, [p["text"] for p in posts])[:count]
            out["tweets"] = [tweet_json(posts[i]) for i in order]
            scores.update({t["id"]: _grade(n) for n, t in enumerate(out["tweets"])})
        pages = out.get("search", [])
        summary = " ".join(page["snippet"] for page in pages[:3])
        out["text"] = ""
        out["completion"] = summary if result_type == "LINKS_WITH_FINAL_SUMMARY" else ""
        out["miner_link_scores"] = scores
        return out

    def _pages(
        self,
        documents: tuple[dict[str, Any], ...],
        prompt: str,
        count: int,
        since: dt.datetime,
        scores: dict[str, str],
    ) -> list[dict[str, str]]:
        recent = [d for d in documents if moment(d["published"]) >= since]
        order = rank(prompt, [f"{d['title']} {d['snippet']}" for d in recent])[:count]
        link = "url" if self.drifted else "link"
        pages = [
            {"title": recent[i]["title"], link: recent[i]["link"], "snippet": recent[i]["snippet"]}
            for i in order
        ]
        scores.update({page[link]: _grade(n) for n, page in enumerate(pages)})
        return pages


def _validate(body: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not isinstance(body, dict):
        return [_problem(["body"], "Input should be a valid dictionary", "dict_type")], {}
    problems = []
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append(_problem(["body", "prompt"], "Field required", "missing"))
    raw_tools = body.get("tools")
    tools: list[str] = []
    if not isinstance(raw_tools, list) or not raw_tools:
        problems.append(_problem(["body", "tools"], "Field required", "missing"))
    else:
        for index, tool in enumerate(raw_tools):
            name = LEGACY_TOOLS.get(tool, tool) if isinstance(tool, str) else None
            if name not in TOOLS:
                problems.append(
                    _problem(["body", "tools", index], f"Input should be one of {', '.join(TOOLS)}", "enum")
                )
            else:
                tools.append(name)
    count = body.get("count", MIN_COUNT)
    try:
        count = int(count)
        if isinstance(body.get("count"), bool) or not MIN_COUNT <= count <= MAX_COUNT:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(
            _problem(["body", "count"], f"count must be between {MIN_COUNT} and {MAX_COUNT}", "value_error")
        )
    date_filter = body.get("date_filter", "PAST_24_HOURS")
    if date_filter not in DATE_FILTERS:
        problems.append(
            _problem(["body", "date_filter"], f"Input should be one of {', '.join(DATE_FILTERS)}", "enum")
        )
    result_type = body.get("result_type", "LINKS_WITH_FINAL_SUMMARY")
    if result_type not in RESULT_TYPES:
        problems.append(
            _problem(["body", "result_type"], f"Input should be one of {', '.join(RESULT_TYPES)}", "enum")
        )
    if body.get("streaming"):
        problems.append(
            _problem(
                ["body", "streaming"],
                "the devnet stand-in does not stream; send streaming=false",
                "value_error",
            )
        )
    query = {
        "prompt": prompt,
        "tools": tools,
        "count": count,
        "date_filter": date_filter,
        "result_type": result_type,
    }
    return problems, query


def _problem(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _error(status: int, detail: Any) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"detail": detail}),
        content_type="application/json",
        headers=STAND_IN_HEADER,
    )


def _grade(position: int) -> str:
    return "HIGH" if position < 3 else "MEDIUM" if position < 6 else "LOW"


def moment(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def newest_moment(corpus: Corpus) -> dt.datetime:
    moments = [moment(d["published"]) for d in corpus.web] + [moment(p["timestamp"]) for p in corpus.x]
    return max(moments)


def _reddit_as_page(post: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": post["title"],
        "link": post["url"],
        "snippet": post["body"],
        "published": post["createdAt"],
    }


def tweet_json(post: dict[str, Any]) -> dict[str, Any]:
    created = moment(post["timestamp"]).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    username = post["username"]
    return {
        "user": {
            "id": f"devnet-{username}",
            "url": f"https://x.com/{username}",
            "name": post["user_display_name"],
            "username": username,
        },
        "id": post["tweet_id"],
        "text": post["text"],
        "reply_count": post["reply_count"],
        "view_count": post["view_count"],
        "retweet_count": post["retweet_count"],
        "like_count": post["like_count"],
        "quote_count": post["quote_count"],
        "bookmark_count": 0,
        "url": post["url"],
        "created_at": created,
        "media": [],
        "is_quote_tweet": post["is_quote"],
        "is_retweet": False,
        "lang": "en",
        "conversation_id": post["tweet_id"],
    }
