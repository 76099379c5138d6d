"""A local stand-in for the Data Universe API's on-demand jobs (SN13's hosted route), on 127.0.0.1.

It speaks the hosted API's customer endpoints (see `orchestra/adapters/data_universe.py`):
`POST /on-demand/constellation/jobs` (201 `{"job_id"}`) and `GET /on-demand/constellation/jobs/{id}`
(`{"submissions": [...]}`), with the key in `X-API-Key` and FastAPI's error bodies: 422
`{"detail": [{"type", "loc", "msg", "input"}]}` for a malformed body or a missing key header, 401
`{"detail": "Invalid or missing X-API-Key Header"}` for a wrong key, 404 `{"detail": "Job not found"}`
for a job it never created (as SN13's own local API answers; the hosted one lists no submissions).

Emulated SN13 miners answer every job from the bundled synthetic corpus: miner `i` submits
`submission_delay_s * (1 + i/2)` seconds after the job was created, unless that is within 5 s of the
job's expiry, when the API no longer takes uploads. Jobs expire two minutes after creation unless
`expire_at` says otherwise (never sooner than 30 s). A submission's upload, `{"data_entities": [...]}`
in SN13's `DataEntity` JSON, is served from a presigned, expiring URL under `/devnet-s3/` on this same
server, where the hosted API hands out S3 URLs. The corpus holds no YouTube videos, so YouTube jobs
get empty uploads. Every answer carries `X-Orchestra-Devnet: stand-in`.
"""

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import ValidationError

from orchestra.adapters.data_universe import (
    API_KEY_HEADER,
    DEFAULT_JOB_TTL_S,
    JOBS_PATH,
    MIN_JOB_TTL_S,
    CreateOnDemandJobRequest,
    DataEntity,
    DataSource,
    OnDemandJob,
    OnDemandJobPayloadReddit,
    OnDemandJobPayloadYoutube,
)
from orchestra.devnet.corpus import Corpus, load_corpus
from orchestra.devnet.data_universe import corpus_entities
from orchestra.devnet.faults import FaultInjector
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.planner.analysis import tokens

STAND_IN_HEADER = {"X-Orchestra-Devnet": "stand-in"}
DOWNLOAD_PREFIX = "/devnet-s3/"
PRESIGN_TTL_S = 3_600  # the API presigns downloads for an hour
UPLOAD_MARGIN_S = 5.0  # the API refuses a miner's upload this close to the job's expiry
# Stand-in miners, (hotkey, incentive), most trusted first. The hotkeys are not real keys.
DEFAULT_MINERS: tuple[tuple[str, float], ...] = (
    ("5DevnetStandInSn13MinerA", 0.031),
    ("5DevnetStandInSn13MinerB", 0.019),
    ("5DevnetStandInSn13MinerC", 0.008),
)
_PLATFORM_SOURCES = {"x": DataSource.X, "reddit": DataSource.REDDIT, "youtube": DataSource.YOUTUBE}
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class _Job:
    id: str
    created: float  # emulator clock, seconds since the epoch
    expires: float
    request: OnDemandJob
    upload: bytes  # what every stand-in miner uploads for this job


class DataUniverseApiEmulator:
    """Serves the on-demand jobs API on 127.0.0.1 for the devnet and the tests.

    `clock` (seconds since the epoch) decides when submissions appear and jobs expire; tests pass
    one they can move. `downloads` lists the object keys served, in order.
    """

    def __init__(
        self,
        api_key: str,
        *,
        corpus: Corpus | None = None,
        faults: FaultInjector | None = None,
        submission_delay_s: float = 1.5,
        miners: Sequence[tuple[str, float]] = DEFAULT_MINERS,
        clock: Callable[[], float] = time.time,
        port: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.entities = corpus_entities(corpus or load_corpus())
        self.submission_delay_s = submission_delay_s
        self.miners = tuple(miners)
        self.jobs: dict[str, _Job] = {}
        self.downloads: list[str] = []
        self.requests: Counter[str] = Counter()
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._objects: dict[str, str] = {}  # object key -> job id, once a miner has uploaded it
        middlewares: list[Any] = [_stand_in]
        if faults is not None:
            middlewares.append(faults.middleware)
        app = web.Application(middlewares=middlewares, client_max_size=1024 * 1024)
        app.router.add_post(JOBS_PATH, self.create_job)
        app.router.add_get(JOBS_PATH + "/{job_id}", self.get_job)
        app.router.add_get(DOWNLOAD_PREFIX + "{key:.+}", self.download)
        self.server = ThreadedAiohttpServer(app, port=port)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "DataUniverseApiEmulator":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    async def create_job(self, request: web.Request) -> web.Response:
        self.requests["create"] += 1
        refused, problems = self._authorise(request)
        if refused is not None:
            return refused
        body, problem = _json_body(await request.read())
        if problem is not None:
            problems.append(problem)
        else:
            try:
                parsed = CreateOnDemandJobRequest.model_validate(body)
            except ValidationError as exc:
                problems.extend(_problems(exc))
        if problems:
            return _detail(422, problems)
        job = self._register(parsed.job)
        return web.json_response({"job_id": job.id}, status=201)

    async def get_job(self, request: web.Request) -> web.Response:
        self.requests["status"] += 1
        refused, problems = self._authorise(request)
        if refused is not None:
            return refused
        if problems:
            return _detail(422, problems)
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return _detail(404, "Job not found")
        origin = str(request.url.origin())
        return web.json_response({"submissions": self._submissions(job, origin)})

    async def download(self, request: web.Request) -> web.Response:
        self.requests["download"] += 1
        key = request.match_info["key"]
        query = request.query
        signed_at, expires = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        expected = self._sign(key, signed_at, expires)
        if not expected or not hmac.compare_digest(query.get("X-Amz-Signature", ""), expected):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature does not match.", key)
        start = dt.datetime.strptime(signed_at, _AMZ_DATE).replace(tzinfo=dt.timezone.utc).timestamp()
        if start + int(expires) < self._clock():
            return _s3_error(403, "AccessDenied", "Request has expired", key)
        job = self.jobs.get(self._objects.get(key, ""))
        if job is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.", key)
        self.downloads.append(key)
        return web.Response(body=job.upload, content_type="application/json")

    def _authorise(self, request: web.Request) -> tuple[web.Response | None, list[dict[str, Any]]]:
        """FastAPI's order: a wrong key is refused (401) before the body is read; a missing one is
        one more validation problem (422) next to the body's."""
        key = request.headers.get(API_KEY_HEADER)
        if key is None:
            return None, [_problem("missing", ["header", API_KEY_HEADER], "Field required", None)]
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return _detail(401, "Invalid or missing X-API-Key Header"), []
        return None, []

    def _register(self, request: OnDemandJob) -> _Job:
        now = self._clock()
        asked = request.expire_at.timestamp() if request.expire_at else now + DEFAULT_JOB_TTL_S
        entities = self._matching(request)
        upload = json.dumps({"data_entities": [e.model_dump(mode="json") for e in entities]}).encode()
        job = _Job(
            id=str(uuid.uuid4()),
            created=now,
            expires=max(asked, now + MIN_JOB_TTL_S),
            request=request,
            upload=upload,
        )
        self.jobs[job.id] = job
        return job

    def _matching(self, request: OnDemandJob) -> list[DataEntity]:
        """The corpus posts a diligent miner would return for the job, newest first."""
        payload = request.job
        source = _PLATFORM_SOURCES[payload.platform]
        found = []
        for entity in self.entities:
            if entity.source != source:
                continue
            if (request.start_date and entity.datetime < request.start_date) or (
                request.end_date and entity.datetime > request.end_date
            ):
                continue
            if _wanted(request, json.loads(entity.content)):
                found.append(entity)
        found.sort(key=lambda e: e.datetime, reverse=True)
        return found[: request.limit]

    def _submissions(self, job: _Job, origin: str) -> list[dict[str, Any]]:
        now = self._clock()
        out = []
        for index, (hotkey, incentive) in enumerate(self.miners):
            submitted = job.created + self.submission_delay_s * (1 + index / 2)
            if submitted > now or submitted > job.expires - UPLOAD_MARGIN_S:
                continue
            when = dt.datetime.fromtimestamp(submitted, dt.timezone.utc)
            key = f"on-demand-jobs/date={when:%Y-%m-%d}/hour={when:%H}/job_id={job.id}/{hotkey}.json"
            self._objects[key] = job.id
            out.append(
                {
                    "job_id": job.id,
                    "miner_hotkey": hotkey,
                    "miner_incentive": incentive,
                    "s3_path": key,
                    "s3_presigned_url": self._presign(origin, key, now),
                    "s3_etag": f'"{hashlib.md5(job.upload, usedforsecurity=False).hexdigest()}"',
                    "s3_content_length": len(job.upload),
                    "s3_last_modified": when.isoformat(),
                    "submitted_at": when.isoformat(),
                }
            )
        return out

    def _presign(self, origin: str, key: str, now: float) -> str:
        signed_at = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime(_AMZ_DATE)
        expires = str(PRESIGN_TTL_S)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": signed_at,
            "X-Amz-Expires": expires,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": self._sign(key, signed_at, expires),
        }
        return f"{origin}{DOWNLOAD_PREFIX}{quote(key, safe='/=')}?{urlencode(query)}"

    def _sign(self, key: str, signed_at: str, expires: str) -> str:
        if not expires.isdigit():
            return ""
        try:
            dt.datetime.strptime(signed_at, _AMZ_DATE)
        except ValueError:
            return ""
        message = f"{key}\n{signed_at}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _wanted(request: OnDemandJob, content: dict[str, Any]) -> bool:
    payload = request.job
    if isinstance(payload, OnDemandJobPayloadYoutube):
        return False  # no videos in the corpus
    if payload.usernames and str(content.get("username", "")).lower() not in {
        u.lower() for u in payload.usernames
    }:
        return False
    subreddit = payload.subreddit if isinstance(payload, OnDemandJobPayloadReddit) else None
    if subreddit and str(content.get("communityName", "")).lower() != subreddit.lower():
        return False
    if not payload.keywords:
        return True
    fields = [str(content.get(k, "")) for k in ("title", "text", "body")]
    words = set(tokens(" ".join([*fields, *(content.get("tweet_hashtags") or [])])))
    hits = [bool(set(tokens(k))) and set(tokens(k)) <= words for k in payload.keywords]
    return all(hits) if request.keyword_mode == "all" else any(hits)


@web.middleware
async def _stand_in(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own 404 and 405, in FastAPI's words
        response = _detail(exc.status, exc.reason)
    response.headers.update(STAND_IN_HEADER)
    return response


def _json_body(raw: bytes) -> tuple[Any, dict[str, Any] | None]:
    if not raw:
        return None, _problem("missing", ["body"], "Field required", None)
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", 0)
        problem = _problem("json_invalid", ["body", position], "JSON decode error", {})
        problem["ctx"] = {"error": getattr(exc, "msg", str(exc))}
        return None, problem


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as FastAPI renders them: `loc` under "body", exceptions in `ctx` as `{}`."""
    out = []
    for error in exc.errors(include_url=False):
        problem = _problem(error["type"], ["body", *error["loc"]], error["msg"], error.get("input"))
        if "ctx" in error:
            problem["ctx"] = {k: {} if isinstance(v, Exception) else v for k, v in error["ctx"].items()}
        out.append(problem)
    return out


def _problem(kind: str, loc: list[Any], msg: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def _detail(status: int, detail: Any) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def _s3_error(status: int, code: str, message: str, key: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><Key>{_xml(key)}</Key></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
