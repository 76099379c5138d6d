"""SN13 Data Universe, by two routes: miner synapses (`dendrite`) and the hosted on-demand API (`http`).

**dendrite** (`DataUniverseAdapter`): `GetMinerIndex`, then `GetDataEntityBucket`. The wire models
below restate SN13's protocol (macrocosm-os/data-universe `common/data.py` and `common/protocol.py`,
protocol version 4): same class names (the Axon routes by class name), field names, types and
defaults, written for this project. Like upstream, the synapses set no `required_hash_fields`, so an
SN13 Axon accepts our body hash.

SN13 miners answer only callers with a validator permit and stake on SN13, and allow each caller one
index and one bucket request per hour, blacklisting callers that send more than twice that. The
adapter keeps a per-miner budget of requests per rolling hour (shared by all jobs), caches each
miner's index, and fetches at most a couple of buckets per job; a miner whose budget is spent is
skipped, and the executor moves on to the next SN13 miner.

**http** (`DataUniverseApiAdapter`): the Data Universe API's on-demand jobs (macrocosm-os/
data-universe-api `s3_storage_api/routes/on_demand.py`, `models/on_demand.py`, and the consumer
side in data-universe `common/api_client.py`). `POST /on-demand/constellation/jobs` with
`X-API-Key` and `{"job": OnDemandJob}` answers 201 `{"job_id"}`; SN13 miners poll for active jobs,
scrape, and upload their answer to S3; `GET /on-demand/constellation/jobs/{job_id}` lists the
submissions, each with a presigned `s3_presigned_url` to download `{"data_entities": [...]}`.
A job expires two minutes after creation unless `expire_at` says otherwise (at least 30 s).

What the public code does not pin down, and how this module reads it:

* The trust of a submission is `miner_incentive` in the current models and `miner_vtrust` in older
  ones; submissions are ranked by `miner_incentive` when present, else `miner_vtrust`.
* The upload's entities are written by SN13's `DataEntity.to_json_dict()`, whose body is not in the
  public snapshot. They are read as the bucket wire shape (`source` an int, `label` `{"value"}`,
  `content` the UTF-8 content JSON as a string) and also accept `source` as a name, `label` as a
  plain string and `content` as an object.
* The presigned URL points at S3, another host than the API. A URL under the route's endpoint (as
  the devnet stand-in and SN13's own local API serve them) is fetched through the route; any other is
  fetched with `Caller.fetch`: https to a public host only, with no API key (the URL's signature is
  the credential, and it is kept out of the receipt's evidence).
"""

import asyncio
import collections
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Literal, TypeVar

import bittensor as bt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record, numbers
from orchestra.planner.analysis import content_tokens, tokens
from orchestra.routing import RouteSpec
from orchestra.transports.base import CallReply, TransportError
from protocol.models import RouteKind, Step

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 4
MAX_LABEL_LENGTH = 140
# SN13 allows 1 request per synapse type per hour and blacklists a caller beyond twice that.
SN13_REQUESTS_PER_HOUR = 2
_HOUR_S = 3_600.0


class DataSource(IntEnum):
    REDDIT = 1
    X = 2
    YOUTUBE = 3
    UNKNOWN_4 = 4
    UNKNOWN_5 = 5
    UNKNOWN_6 = 6
    UNKNOWN_7 = 7


SOURCE_NAMES = {
    "reddit": DataSource.REDDIT,
    "x": DataSource.X,
    "twitter": DataSource.X,
    "youtube": DataSource.YOUTUBE,
}


class _WireModel(BaseModel):
    model_config = ConfigDict(use_enum_values=True, frozen=True)


class TimeBucket(_WireModel):
    """Whole hours since the Unix epoch (UTC)."""

    id: PositiveInt

    @classmethod
    def from_datetime(cls, moment: dt.datetime) -> "TimeBucket":
        return cls(id=int(moment.astimezone(dt.timezone.utc).timestamp() // 3600))


class DataLabel(_WireModel):
    value: str = Field(max_length=MAX_LABEL_LENGTH)

    @field_validator("value")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class DataEntity(_WireModel):
    uri: str
    datetime: dt.datetime
    source: DataSource
    label: DataLabel | None = None
    content: bytes
    content_size_bytes: int = Field(ge=0)


class DataEntityBucketId(_WireModel):
    time_bucket: TimeBucket
    source: DataSource
    label: DataLabel | None = None


class CompressedEntityBucket(BaseModel):
    label: str | None = None
    time_bucket_ids: list[int] = Field(default_factory=list)
    sizes_bytes: list[int] = Field(default_factory=list)


class CompressedMinerIndex(BaseModel):
    sources: dict[int, list[CompressedEntityBucket]]


class BaseProtocol(bt.Synapse):  # type: ignore[misc]
    model_config = ConfigDict(arbitrary_types_allowed=True, validate_assignment=True)

    version: int | None = Field(default=None, description="Protocol version")


class GetMinerIndex(BaseProtocol):
    compressed_index_serialized: str | None = Field(default=None, repr=False)


class GetDataEntityBucket(BaseProtocol):
    data_entity_bucket_id: DataEntityBucketId | None = Field(default=None, frozen=True, repr=False)
    data_entities: list[DataEntity] = Field(default_factory=list, repr=False)


class DataUniverseAdapter(Adapter):
    """`social_data` from SN13 miners. Step inputs: keywords, sources (x, reddit), labels, limit."""

    name = "data_universe"
    route_kinds = frozenset({RouteKind.DENDRITE})

    def __init__(
        self,
        *,
        requests_per_hour: int = SN13_REQUESTS_PER_HOUR,
        index_ttl_s: float = _HOUR_S,
        max_buckets: int = 2,
    ) -> None:
        self.budget = RequestBudget(requests_per_hour)
        self.index_ttl_s = index_ttl_s
        self.max_buckets = max_buckets
        self._indexes: dict[str, tuple[float, CompressedMinerIndex]] = {}
        self._index_locks: dict[str, asyncio.Lock] = {}

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        inputs = step.inputs
        keywords = [k.lower() for k in _str_list(inputs.get("keywords"))]
        labels = [label.lower() for label in _str_list(inputs.get("labels"))]
        sources = [
            SOURCE_NAMES[s] for s in _str_list(inputs.get("sources")) or ["x", "reddit"] if s in SOURCE_NAMES
        ]
        limit = int(inputs.get("limit") or 50)

        hotkey = caller.candidate.provider.hotkey or ""
        index = await self._index(caller)
        wanted = select_buckets(index, sources, keywords, labels, self.max_buckets)
        bucket_ids = [b for b in wanted if self.budget.take(hotkey, "GetDataEntityBucket")]
        if wanted and not bucket_ids:
            raise self.budget.spent(hotkey)
        if not bucket_ids:
            return []
        replies = await asyncio.gather(
            *(
                caller.dendrite(GetDataEntityBucket(version=PROTOCOL_VERSION, data_entity_bucket_id=b))
                for b in bucket_ids
            ),
            return_exceptions=True,
        )
        records: list[Record] = []
        errors = [r for r in replies if isinstance(r, BaseException)]
        for reply in replies:
            if isinstance(reply, BaseException):
                continue
            assert reply.receipt_index is not None
            records.extend(_records(reply.payload, reply.receipt_index))
        if errors and len(errors) == len(replies):
            first = errors[0]
            raise first if isinstance(first, Exception) else AdapterError(str(first))
        matching = [r for r in records if not keywords or _mentions(r, keywords)]
        return matching[:limit]

    async def _index(self, caller: Caller) -> CompressedMinerIndex:
        hotkey = caller.candidate.provider.hotkey or ""
        # Concurrent jobs share one index request per miner instead of each spending the budget.
        async with self._index_locks.setdefault(hotkey, asyncio.Lock()):
            cached = self._indexes.get(hotkey)
            if cached is not None and time.monotonic() - cached[0] < self.index_ttl_s:
                return cached[1]
            if not self.budget.take(hotkey, "GetMinerIndex"):
                raise self.budget.spent(hotkey)
            index = await self._fetch_index(caller)
            self._indexes[hotkey] = (time.monotonic(), index)
            return index

    async def _fetch_index(self, caller: Caller) -> CompressedMinerIndex:
        reply = await caller.dendrite(GetMinerIndex(version=PROTOCOL_VERSION))
        serialized = (
            reply.payload.get("compressed_index_serialized") if isinstance(reply.payload, dict) else None
        )
        if not serialized:
            raise AdapterError(
                "GetMinerIndex answer has no compressed_index_serialized", receipt_index=reply.receipt_index
            )
        try:
            index = CompressedMinerIndex.model_validate_json(serialized)
        except ValidationError as exc:
            raise AdapterError(
                f"GetMinerIndex answer is not a CompressedMinerIndex: {exc}",
                receipt_index=reply.receipt_index,
            ) from None
        return index


class RequestBudget:
    """Requests per provider and operation over a rolling hour, the way SN13 miners count them."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._sent: dict[tuple[str, str], collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    def take(self, provider: str, operation: str) -> bool:
        """Spend one request if the budget allows it."""
        sent = self._sent[(provider, operation)]
        now = time.monotonic()
        while sent and now - sent[0] >= _HOUR_S:
            sent.popleft()
        if len(sent) >= self.per_hour:
            return False
        sent.append(now)
        return True

    def spent(self, provider: str) -> AdapterError:
        return AdapterError(f"the SN13 request budget for {provider} is spent ({self.per_hour} per hour)")


def select_buckets(
    index: CompressedMinerIndex,
    sources: list[DataSource],
    keywords: list[str],
    labels: list[str],
    limit: int,
) -> list[DataEntityBucketId]:
    """The buckets most likely to hold posts about `keywords`: matching labels first, newest first."""
    scored: list[tuple[int, int, int, str]] = []
    for source in sources:
        for bucket in index.sources.get(int(source), []):
            label = (bucket.label or "").lower()
            score = _label_score(label, keywords, labels)
            for time_bucket in bucket.time_bucket_ids:
                scored.append((score, time_bucket, int(source), label))
    if not scored:
        return []
    scored.sort(key=lambda item: (-item[0], -item[1], item[3]))
    best = [item for item in scored if item[0] > 0] or scored[: max(1, limit // 2)]
    chosen: list[DataEntityBucketId] = []
    for _, time_bucket, source_id, label in best:
        try:
            chosen.append(
                DataEntityBucketId(
                    time_bucket=TimeBucket(id=time_bucket),
                    source=DataSource(source_id),
                    label=DataLabel(value=label) if label else None,
                )
            )
        except ValueError:  # an index entry that is no valid bucket (id 0, label too long): skip it
            continue
        if len(chosen) == limit:
            break
    return chosen


def _label_score(label: str, keywords: list[str], labels: list[str]) -> int:
    bare = label.lstrip("#").removeprefix("r/")
    if labels and (label in labels or bare in {x.lstrip("#").removeprefix("r/") for x in labels}):
        return 10
    return sum(1 for k in keywords if len(k) > 2 and k in bare)


def _records(payload: Any, receipt_index: int) -> list[Record]:
    try:
        answered = GetDataEntityBucket.model_validate(payload)
    except ValidationError as exc:
        raise AdapterError(
            f"GetDataEntityBucket answer does not parse: {exc}", receipt_index=receipt_index
        ) from None
    records = (entity_record(entity, receipt_index) for entity in answered.data_entities)
    return [record for record in records if record is not None]


def entity_record(entity: DataEntity, receipt_index: int) -> Record | None:
    """One SN13 `DataEntity` as a post, or None when its content is unreadable (one bad entity does
    not spoil the rest of an answer)."""
    try:
        content = json.loads(entity.content)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(content, dict):
        return None
    shape = _POST_SHAPES.get(DataSource(entity.source))
    return _post_record(content, entity, receipt_index, *shape) if shape else None


# Per source: its name in records, the content keys holding the text and the author, the numbers kept
# (XContent, RedditContent and YouTubeContent in SN13's scraping/*/model.py).
_POST_SHAPES: dict[DataSource, tuple[str, str, str, tuple[str, ...]]] = {
    DataSource.X: (
        "x",
        "text",
        "username",
        ("like_count", "retweet_count", "reply_count", "quote_count", "view_count"),
    ),
    DataSource.REDDIT: ("reddit", "body", "username", ("score", "num_comments")),
    DataSource.YOUTUBE: ("youtube", "transcript", "channel_name", ("duration_seconds",)),
}
# A video's transcript runs to tens of thousands of characters; its opening says what it is about.
MAX_TRANSCRIPT_CHARS = 2_000


def _post_record(
    content: dict[str, Any],
    entity: DataEntity,
    receipt_index: int,
    source: str,
    text_key: str,
    author_key: str,
    metrics: tuple[str, ...],
) -> Record | None:
    text, title, author = _text(content.get(text_key)), content.get("title"), content.get(author_key)
    if not text:
        return None
    return Record(
        kind="post",
        text=text,
        source=source,
        receipt_index=receipt_index,
        title=title if isinstance(title, str) else None,
        url=entity.uri,
        author=author if isinstance(author, str) else None,
        published=entity.datetime.isoformat(),
        metrics=numbers(content, metrics),
    )


def _text(value: Any) -> str:
    """A post's text; a YouTube transcript is a list of `{"text", "start", "duration"}` segments."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        joined = " ".join(s["text"] for s in value if isinstance(s, dict) and isinstance(s.get("text"), str))
        return joined[:MAX_TRANSCRIPT_CHARS]
    return ""


def _mentions(record: Record, keywords: list[str]) -> bool:
    words = set(tokens(f"{record.title or ''} {record.text}"))
    return any(k in words for k in keywords)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


# --- The Data Universe API's on-demand jobs (the `http` route) -------------------------------------

JOBS_PATH = "/on-demand/constellation/jobs"
API_KEY_HEADER = "X-API-Key"
MAX_JOB_TERMS = 10  # usernames, keywords and channels per job
MAX_JOB_LIMIT = 1_000
DEFAULT_JOB_TTL_S = 120.0
MIN_JOB_TTL_S = 30.0
DEFAULT_API_LIMIT = 50
PLATFORMS = ("x", "reddit", "youtube")
_PLATFORM_ALIASES = {"twitter": "x"}
# Job ids become part of a URL path; the API hands out UUIDs.
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _bounded_terms(name: str, values: list[str] | None, *, handles: bool = True) -> list[str] | None:
    """The API's rule for usernames, keywords and channels: at most ten; handles lose a leading '@'."""
    if values and len(values) > MAX_JOB_TERMS:
        raise ValueError(f"len({name}) can not be greater than {MAX_JOB_TERMS}.")
    return [v.lstrip("@") for v in values] if values and handles else values


class OnDemandJobPayloadX(BaseModel):
    platform: Literal["x"] = "x"
    usernames: list[str] | None = None
    keywords: list[str] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> "OnDemandJobPayloadX":
        self.usernames = _bounded_terms("usernames", self.usernames)
        self.keywords = _bounded_terms("keywords", self.keywords, handles=False)
        return self


class OnDemandJobPayloadReddit(BaseModel):
    platform: Literal["reddit"] = "reddit"
    subreddit: str | None = None
    usernames: list[str] | None = None
    keywords: list[str] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> "OnDemandJobPayloadReddit":
        if self.subreddit and not self.subreddit.startswith("r/"):
            raise ValueError("subreddit must start with r/")
        self.usernames = _bounded_terms("usernames", self.usernames)
        self.keywords = _bounded_terms("keywords", self.keywords, handles=False)
        return self


class OnDemandJobPayloadYoutube(BaseModel):
    platform: Literal["youtube"] = "youtube"
    channels: list[str] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> "OnDemandJobPayloadYoutube":
        self.channels = _bounded_terms("channels", self.channels)
        return self


JobPayload = Annotated[
    OnDemandJobPayloadX | OnDemandJobPayloadReddit | OnDemandJobPayloadYoutube,
    Field(discriminator="platform"),
]


class OnDemandJob(BaseModel):
    """What a customer sends; the API adds `id` and `created_at` itself."""

    job: JobPayload
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    limit: int = Field(default=100, ge=1, le=MAX_JOB_LIMIT)
    keyword_mode: Literal["any", "all"] = "any"
    expire_at: dt.datetime | None = None

    @field_validator("start_date", "end_date", "expire_at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        # A naive time is read as UTC, so that dates compare instead of raising.
        return value.replace(tzinfo=dt.timezone.utc) if value and value.tzinfo is None else value

    @model_validator(mode="after")
    def _dates_in_order(self) -> "OnDemandJob":
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date cannot be earlier than start_date.")
        return self


class CreateOnDemandJobRequest(BaseModel):
    job: OnDemandJob


class CreateOnDemandJobResponse(BaseModel):
    job_id: str


class OnDemandJobSubmission(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    miner_hotkey: str = ""
    miner_incentive: float | None = None
    miner_vtrust: float | None = None  # the field's name before `miner_incentive`
    s3_path: str | None = None
    s3_presigned_url: str | None = None
    s3_content_length: int | None = None
    submitted_at: dt.datetime | None = None

    @property
    def trust(self) -> float:
        for value in (self.miner_incentive, self.miner_vtrust):
            if value is not None:
                return value
        return 0.0


class GetJobSubmissionsResponse(BaseModel):
    submissions: list[OnDemandJobSubmission]


class JobInputError(AdapterError):
    """Step inputs the on-demand API would refuse (too many keywords, a subreddit without r/, ...).

    Raised before any call. Another route (SN13's miners) may still serve the step, so this is an
    `AdapterError` and the executor moves on.
    """


@dataclass(frozen=True)
class JobPlan:
    """The jobs one step asks for, one per platform, and how their posts are ranked and cut."""

    jobs: tuple[CreateOnDemandJobRequest, ...]
    keywords: tuple[str, ...]
    limit: int


def plan_jobs(inputs: Mapping[str, Any], *, expire_at: dt.datetime | None = None) -> JobPlan:
    """Step inputs -> validated job requests. Raises `JobInputError` for inputs the API would refuse.

    Inputs: `keywords` (social_data) or `query` (social_search; its content words become keywords,
    at most ten), `sources` (x, reddit, youtube; default x and reddit), `limit` or `count` (1..1000),
    `usernames`, `subreddit`, `channels` (YouTube), `keyword_mode`, `start_date`, `end_date`.
    """
    keywords = (
        _str_list(inputs.get("keywords"))
        or (list(dict.fromkeys(content_tokens(str(inputs.get("query") or ""))))[:MAX_JOB_TERMS])
    )
    usernames = _str_list(inputs.get("usernames"))
    channels = _str_list(inputs.get("channels"))
    subreddit = inputs.get("subreddit")
    platforms: list[str] = []
    for source in _str_list(inputs.get("sources")) or ["x", "reddit"]:
        platform = _PLATFORM_ALIASES.get(source.lower(), source.lower())
        if platform not in PLATFORMS:
            raise JobInputError(f"the on-demand API has no source {source!r}; it has {', '.join(PLATFORMS)}")
        if platform not in platforms:
            platforms.append(platform)
    limit = next((inputs[k] for k in ("limit", "count") if inputs.get(k) is not None), DEFAULT_API_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise JobInputError(f"limit must be a whole number from 1 to {MAX_JOB_LIMIT}, got {limit!r}")

    payloads: list[dict[str, Any]] = []
    for platform in platforms:
        if platform == "youtube":
            if not channels:
                if len(platforms) > 1:
                    continue  # the other platforms can still answer; YouTube has nothing to go on
                raise JobInputError(
                    "a YouTube job needs `channels`; the API does not search YouTube by keyword"
                )
            payloads.append({"platform": "youtube", "channels": channels})
            continue
        if not (keywords or usernames or (platform == "reddit" and subreddit)):
            raise JobInputError(f"a {platform} job needs keywords, a query, usernames or a subreddit")
        payload: dict[str, Any] = {"platform": platform, "keywords": keywords or None}
        payload["usernames"] = usernames or None
        if platform == "reddit":
            payload["subreddit"] = subreddit
        payloads.append(payload)
    shared = {
        "start_date": inputs.get("start_date"),
        "end_date": inputs.get("end_date"),
        "limit": limit,
        "keyword_mode": inputs.get("keyword_mode", "any"),
        "expire_at": expire_at,
    }
    try:
        jobs = tuple(
            CreateOnDemandJobRequest(job=OnDemandJob.model_validate({"job": p, **shared})) for p in payloads
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'job'}: {e['msg']}" for e in exc.errors())
        raise JobInputError(f"step inputs cannot form an on-demand job: {problems}") from None
    return JobPlan(jobs=jobs, keywords=tuple(k.lower() for k in keywords), limit=limit)


_M = TypeVar("_M", bound=BaseModel)


class DataUniverseApiAdapter(Adapter):
    """`social_search` and `social_data` from SN13 through the Data Universe API's on-demand jobs.

    One job per platform asked, run side by side. Each job is polled (first after `initial_wait_s`,
    then with growing intervals, at most `max_polls` times, never past the job's expiry) until a
    submission can be downloaded; submissions are downloaded most trusted miner first, at most
    `max_downloads` of them and only as many as the limit needs. Every poll and download is a call
    through the caller, with its receipt; the caller's deadline and call bound stop the polling.
    """

    name = "data_universe_api"
    route_kinds = frozenset({RouteKind.HTTP})

    def auth_headers(self, route: RouteSpec) -> dict[str, str] | None:
        """The Data Universe API takes its key in `X-API-Key`."""
        return {API_KEY_HEADER: route.api_key.get_secret_value()} if route.api_key is not None else None

    def __init__(
        self,
        *,
        initial_wait_s: float = 2.0,
        poll_interval_s: float = 2.0,
        backoff: float = 1.5,
        max_interval_s: float = 8.0,
        max_polls: int = 6,
        max_downloads: int = 2,
        job_ttl_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_polls < 1 or max_downloads < 1:
            raise ValueError("max_polls and max_downloads must be at least 1")
        if job_ttl_s is not None and job_ttl_s < MIN_JOB_TTL_S:
            raise ValueError(f"the API keeps a job open for at least {MIN_JOB_TTL_S:g} s")
        self.initial_wait_s = initial_wait_s
        self.poll_interval_s = poll_interval_s
        self.backoff = backoff
        self.max_interval_s = max_interval_s
        self.max_polls = max_polls
        self.max_downloads = max_downloads
        self.job_ttl_s = job_ttl_s
        self._sleep = sleep
        self._clock = clock

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        expire_at = (
            dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.job_ttl_s)
            if self.job_ttl_s
            else None
        )
        plan = plan_jobs(step.inputs, expire_at=expire_at)
        headers = self.auth_headers(caller.candidate.route)
        outcomes = await asyncio.gather(
            *(self._run_job(caller, job, headers, plan.limit) for job in plan.jobs), return_exceptions=True
        )
        records = [record for outcome in outcomes if isinstance(outcome, list) for record in outcome]
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for failure in failures:
            log.info("an SN13 on-demand job failed: %s", failure)
        if failures and not records:
            # Deadline and call-bound errors are the executor's own: they go first, untouched.
            raise next(
                (f for f in failures if not isinstance(f, (TransportError, AdapterError))), failures[0]
            )
        return rank_posts(records, plan.keywords)[: plan.limit]

    async def _run_job(
        self,
        caller: Caller,
        request: CreateOnDemandJobRequest,
        headers: dict[str, str] | None,
        limit: int,
    ) -> list[Record]:
        body = request.model_dump(mode="json", exclude_none=True)
        created = await caller.http("POST", JOBS_PATH, json_body=body, headers=headers)
        job_id = _parsed(CreateOnDemandJobResponse, created, "job creation").job_id
        if not _JOB_ID.fullmatch(job_id):
            raise AdapterError(
                f"the API answered with job id {job_id[:80]!r}", receipt_index=created.receipt_index
            )
        submissions, last_receipt = await self._await_submissions(caller, job_id, headers, created)
        return await self._download(caller, job_id, submissions, limit, last_receipt)

    async def _await_submissions(
        self, caller: Caller, job_id: str, headers: dict[str, str] | None, created: CallReply
    ) -> tuple[list[OnDemandJobSubmission], int | None]:
        expires = self._clock() + (self.job_ttl_s or DEFAULT_JOB_TTL_S)
        last_receipt = created.receipt_index
        delay, interval = self.initial_wait_s, self.poll_interval_s
        for _ in range(self.max_polls):
            if self._clock() + delay >= expires:
                raise AdapterError(
                    f"on-demand job {job_id} expired without a submission", receipt_index=last_receipt
                )
            await self._sleep(delay)
            reply = await caller.http("GET", f"{JOBS_PATH}/{job_id}", headers=headers)
            last_receipt = reply.receipt_index
            status = _parsed(GetJobSubmissionsResponse, reply, "job status")
            ready = [s for s in status.submissions if s.s3_presigned_url]
            if ready:
                return sorted(ready, key=lambda s: -s.trust), last_receipt
            delay, interval = interval, min(interval * self.backoff, self.max_interval_s)
        raise AdapterError(
            f"on-demand job {job_id} had no submission after {self.max_polls} polls",
            receipt_index=last_receipt,
        )

    async def _download(
        self,
        caller: Caller,
        job_id: str,
        submissions: list[OnDemandJobSubmission],
        limit: int,
        last_receipt: int | None,
    ) -> list[Record]:
        endpoint = caller.candidate.route.endpoint or ""
        records: dict[str, Record] = {}
        failures: list[TransportError | AdapterError] = []
        downloaded = 0
        for submission in submissions[: self.max_downloads]:
            url = submission.s3_presigned_url or ""
            try:
                # Same host: through the route (as the devnet serves it); elsewhere (S3): a plain fetch.
                if url.startswith(f"{endpoint}/"):
                    reply = await caller.http("GET", url[len(endpoint) :])
                else:
                    reply = await caller.fetch(url)
                assert reply.receipt_index is not None
                posts = upload_records(reply.payload, reply.receipt_index)
            except (TransportError, AdapterError) as exc:
                failures.append(exc)
                continue
            downloaded += 1
            for post in posts:
                records.setdefault(post.url or post.text, post)
            if len(records) >= limit:
                break
        if not downloaded:
            first = failures[0]
            if isinstance(first, TransportError):
                raise first
            raise AdapterError(
                f"no submission of on-demand job {job_id} could be downloaded: {first}",
                receipt_index=last_receipt if first.receipt_index is None else first.receipt_index,
            )
        return list(records.values())


def upload_records(payload: Any, receipt_index: int) -> list[Record]:
    """A downloaded submission (`{"data_entities": [...]}`) as posts; unreadable entities are skipped."""
    entities = payload.get("data_entities") if isinstance(payload, dict) else None
    if not isinstance(entities, list):
        raise AdapterError(
            "the downloaded submission is not an upload of the form {data_entities: [...]}",
            receipt_index=receipt_index,
        )
    records = []
    for raw in entities:
        entity = _upload_entity(raw)
        record = entity_record(entity, receipt_index) if entity is not None else None
        if record is not None:
            records.append(record)
    return records


def _upload_entity(raw: Any) -> DataEntity | None:
    if not isinstance(raw, dict):
        return None
    fields = dict(raw)
    if isinstance(fields.get("source"), str):
        source = SOURCE_NAMES.get(fields["source"].lower())
        if source is None:
            return None
        fields["source"] = int(source)
    if isinstance(fields.get("label"), str):
        fields["label"] = {"value": fields["label"]}
    if isinstance(fields.get("content"), (dict, list)):
        fields["content"] = json.dumps(fields["content"])
    try:
        return DataEntity.model_validate(fields)
    except ValidationError:
        return None


def rank_posts(records: list[Record], keywords: tuple[str, ...]) -> list[Record]:
    """Posts that mention more of the keywords first; ties keep their order. Duplicates dropped."""
    seen: dict[tuple[str, str], Record] = {}
    for record in records:
        seen.setdefault((record.source, record.url or record.text), record)
    wanted = [set(tokens(k)) for k in keywords]
    wanted = [w for w in wanted if w]

    def hits(record: Record) -> int:
        words = set(tokens(f"{record.title or ''} {record.text}"))
        return sum(1 for w in wanted if w <= words)

    return sorted(seen.values(), key=lambda r: -hits(r))


def _parsed(model: type[_M], reply: CallReply, what: str) -> _M:
    try:
        return model.model_validate(reply.payload)
    except ValidationError as exc:
        raise AdapterError(
            f"the on-demand API's {what} answer does not match its documented shape: {exc}",
            receipt_index=reply.receipt_index,
        ) from None
