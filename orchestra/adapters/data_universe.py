"""SN13 Data Universe over the `dendrite` route: `GetMinerIndex`, then `GetDataEntityBucket`.

The wire models below restate SN13's protocol (macrocosm-os/data-universe `common/data.py` and
`common/protocol.py`, protocol version 4): same class names (the Axon routes by class name), field
names, types and defaults, written for this project. Like upstream, the synapses set no
`required_hash_fields`, so an SN13 Axon accepts our body hash.

SN13 miners answer only callers with a validator permit and stake on SN13, and allow each caller one
index and one bucket request per hour, blacklisting callers that send more than twice that. The
adapter keeps a per-miner budget of requests per rolling hour (shared by all jobs), caches each
miner's index, and fetches at most a couple of buckets per job; a miner whose budget is spent is
skipped, and the executor moves on to the next SN13 miner.
"""

import asyncio
import collections
import datetime as dt
import json
import time
from enum import IntEnum
from typing import Any

import bittensor as bt
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record, numbers
from orchestra.planner.analysis import tokens
from protocol.models import RouteKind, Step

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
    records = []
    for entity in answered.data_entities:
        try:
            content = json.loads(entity.content)
        except (ValueError, UnicodeDecodeError):
            continue  # one unreadable entity does not spoil the bucket
        if not isinstance(content, dict):
            continue
        shape = _POST_SHAPES.get(DataSource(entity.source))
        record = _post_record(content, entity, receipt_index, *shape) if shape else None
        if record is not None:
            records.append(record)
    return records


# Per source: its name in records, the content key holding the text, the engagement counts kept.
_POST_SHAPES: dict[DataSource, tuple[str, str, tuple[str, ...]]] = {
    DataSource.X: ("x", "text", ("like_count", "retweet_count", "reply_count", "quote_count", "view_count")),
    DataSource.REDDIT: ("reddit", "body", ("score", "num_comments")),
}


def _post_record(
    content: dict[str, Any],
    entity: DataEntity,
    receipt_index: int,
    source: str,
    text_key: str,
    metrics: tuple[str, ...],
) -> Record | None:
    text, title, author = content.get(text_key), content.get("title"), content.get("username")
    if not isinstance(text, str) or not text:
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


def _mentions(record: Record, keywords: list[str]) -> bool:
    words = set(tokens(f"{record.title or ''} {record.text}"))
    return any(k in words for k in keywords)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
