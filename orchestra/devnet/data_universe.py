"""A local stand-in for an SN13 Data Universe miner: a real bittensor Axon on 127.0.0.1.

It serves `GetMinerIndex` and `GetDataEntityBucket` (SN13 protocol 4 shapes, see
`orchestra/adapters/data_universe.py`) from the bundled synthetic corpus and blacklists like SN13
miners do: the caller must be registered on the subnet with a validator permit and enough stake, and
a caller sending more than `requests_per_hour` requests of one kind within an hour is refused (SN13:
twice its limit of one per hour). Content bytes are built the way SN13 scrapers build them (X:
`XContent` JSON without nulls, first hashtag as label; Reddit: `RedditContent` JSON with its camelCase
aliases, subreddit as label).
"""

import datetime as dt
import json
import logging
from collections import defaultdict
from typing import Any, Tuple  # noqa: UP035 - Axon.attach compares the blacklist signature to typing.Tuple

import bittensor as bt

from orchestra.adapters.data_universe import (
    SN13_REQUESTS_PER_HOUR,
    CompressedEntityBucket,
    CompressedMinerIndex,
    DataEntity,
    DataEntityBucketId,
    DataLabel,
    DataSource,
    GetDataEntityBucket,
    GetMinerIndex,
    RequestBudget,
    TimeBucket,
)
from orchestra.chain import ChainClient
from orchestra.devnet.callers import CallerLookup
from orchestra.devnet.corpus import Corpus, load_corpus
from orchestra.devnet.faults import FaultInjector, corrupt
from orchestra.ports import LOOPBACK, free_port, wait_for_port

log = logging.getLogger(__name__)

SN13_MIN_VALIDATOR_STAKE_TAO = 10_000.0  # SN13's vpermit_rao_limit default
_X_FIELDS = (
    "username", "text", "url", "timestamp", "tweet_hashtags", "user_display_name", "tweet_id", "is_reply",
    "is_quote", "like_count", "retweet_count", "reply_count", "quote_count", "view_count",
)  # fmt: skip
_REDDIT_FIELDS = ("id", "url", "username", "communityName", "body", "createdAt", "dataType", "title")


def corpus_entities(corpus: Corpus) -> list[DataEntity]:
    """The corpus's X and Reddit posts as SN13 `DataEntity`s."""
    entities = []
    for post in corpus.x:
        content = {key: post[key] for key in _X_FIELDS if post.get(key) is not None}
        entities.append(
            _entity(post["url"], post["timestamp"], DataSource.X, post["tweet_hashtags"][0], content)
        )
    for post in corpus.reddit:
        content = {key: post.get(key) for key in _REDDIT_FIELDS} | {"parentId": None}
        entities.append(
            _entity(post["url"], post["createdAt"], DataSource.REDDIT, post["communityName"], content)
        )
    return entities


def _entity(uri: str, when: str, source: DataSource, label: str, content: dict[str, Any]) -> DataEntity:
    # SN13 serialises content with pydantic v1's json(), whose separators are ", " and ": ".
    raw = json.dumps(content, ensure_ascii=False).encode("utf-8")
    return DataEntity(
        uri=uri,
        datetime=dt.datetime.fromisoformat(when),
        source=source,
        label=DataLabel(value=label),
        content=raw,
        content_size_bytes=len(raw),
    )


def bucket_of(entity: DataEntity) -> DataEntityBucketId:
    return DataEntityBucketId(
        time_bucket=TimeBucket.from_datetime(entity.datetime),
        source=DataSource(entity.source),
        label=entity.label,
    )


class DataUniverseEmulator:
    """One emulated SN13 miner. `start()` binds 127.0.0.1 and publishes the axon on the devnet chain."""

    def __init__(
        self,
        wallet: "bt.Wallet",
        chain: ChainClient,
        netuid: int,
        *,
        entities: list[DataEntity] | None = None,
        min_caller_stake: float = SN13_MIN_VALIDATOR_STAKE_TAO,
        requests_per_hour: int = SN13_REQUESTS_PER_HOUR,
        port: int | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.wallet = wallet
        self.faults = faults
        self.chain = chain
        self.netuid = netuid
        self.min_caller_stake = min_caller_stake
        self.budget = RequestBudget(requests_per_hour)
        self.port = port or free_port()
        self.buckets: dict[DataEntityBucketId, list[DataEntity]] = defaultdict(list)
        for entity in entities if entities is not None else corpus_entities(load_corpus()):
            self.buckets[bucket_of(entity)].append(entity)
        self.served = {"GetMinerIndex": 0, "GetDataEntityBucket": 0}
        self.callers = CallerLookup(chain, netuid)
        self.axon = bt.Axon(
            wallet=wallet, ip=LOOPBACK, port=self.port, external_ip=LOOPBACK, external_port=self.port
        )
        self.axon.fast_config.host = LOOPBACK  # bittensor hard-codes 0.0.0.0
        self.axon.attach(forward_fn=self.get_miner_index, blacklist_fn=self.blacklist_index)
        self.axon.attach(forward_fn=self.get_bucket, blacklist_fn=self.blacklist_bucket)

    def start(self) -> "DataUniverseEmulator":
        self.axon.start()
        wait_for_port(self.port)
        self.chain.serve_axon(self.netuid, self.axon)
        return self

    def stop(self) -> None:
        self.axon.stop()

    def compressed_index(self) -> CompressedMinerIndex:
        grouped: dict[tuple[int, str | None], CompressedEntityBucket] = {}
        for bucket_id, entities in sorted(self.buckets.items(), key=lambda item: item[0].time_bucket.id):
            label = bucket_id.label.value if bucket_id.label else None
            entry = grouped.setdefault((int(bucket_id.source), label), CompressedEntityBucket(label=label))
            entry.time_bucket_ids.append(bucket_id.time_bucket.id)
            entry.sizes_bytes.append(sum(e.content_size_bytes for e in entities))
        sources: dict[int, list[CompressedEntityBucket]] = defaultdict(list)
        for (source, _), entry in grouped.items():
            sources[source].append(entry)
        return CompressedMinerIndex(sources=dict(sources))

    async def get_miner_index(self, synapse: GetMinerIndex) -> GetMinerIndex:
        self.served["GetMinerIndex"] += 1
        fault = await self.faults.before_synapse() if self.faults is not None else None
        index = self.compressed_index().model_dump_json()
        if fault is not None:
            index = json.dumps(corrupt(json.loads(index), fault))
        synapse.compressed_index_serialized = index
        return synapse

    async def get_bucket(self, synapse: GetDataEntityBucket) -> GetDataEntityBucket:
        self.served["GetDataEntityBucket"] += 1
        fault = await self.faults.before_synapse() if self.faults is not None else None
        requested = synapse.data_entity_bucket_id
        entities = list(self.buckets.get(requested, [])) if requested is not None else []
        if fault is not None:
            # A broken miner answers with entities whose content is not the JSON SN13 documents.
            entities = [e.model_copy(update={"content": b"\x00garbage"}) for e in entities]
        synapse.data_entities = entities
        return synapse

    async def blacklist_index(self, synapse: GetMinerIndex) -> Tuple[bool, str]:  # noqa: UP006
        return self._blacklist(synapse)

    async def blacklist_bucket(self, synapse: GetDataEntityBucket) -> Tuple[bool, str]:  # noqa: UP006
        return self._blacklist(synapse)

    def _blacklist(self, synapse: bt.Synapse) -> tuple[bool, str]:
        hotkey = synapse.dendrite.hotkey if synapse.dendrite else None
        if not hotkey:
            return True, "Missing hotkey"
        neuron = self.callers.neuron(hotkey)
        if neuron is None:
            return True, "Unrecognized hotkey"
        if not neuron.validator_permit or neuron.stake < self.min_caller_stake:
            return True, "Hotkey is not a validator with enough stake"
        if not self.budget.take(hotkey, type(synapse).__name__):
            return True, f"Rate limit exceeded ({self.budget.per_hour} per hour)"
        return False, "Validator recognized"
