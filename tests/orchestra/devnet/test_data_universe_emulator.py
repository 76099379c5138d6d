"""The SN13 stand-in: corpus-backed index and buckets, and SN13's caller rules, over a real Axon."""

import json
from collections.abc import Iterator

import bittensor as bt
import pytest

from orchestra.adapters.data_universe import (
    CompressedMinerIndex,
    DataEntityBucketId,
    DataLabel,
    DataSource,
    GetDataEntityBucket,
    GetMinerIndex,
    TimeBucket,
)
from orchestra.chain import ChainClient
from orchestra.devnet.corpus import load_corpus
from orchestra.devnet.data_universe import DataUniverseEmulator, corpus_entities
from orchestra.transports import ProducerRejected
from orchestra.transports.dendrite import DendriteTransport
from tests.conftest import devnet_chain


@pytest.fixture(scope="module")
def network(wallets: dict[str, bt.Wallet]) -> Iterator[tuple[ChainClient, DataUniverseEmulator]]:
    chain = devnet_chain(
        wallets,
        13,
        [
            ("producer", 100.0, False),
            ("miner", 20_000.0, True),  # a validator on SN13 with enough stake
            ("miner2", 500.0, True),  # a validator with too little stake
            ("validator", 20_000.0, False),  # stake but no permit
        ],
    )
    emulator = DataUniverseEmulator(wallets["producer"], chain, 13).start()
    yield chain, emulator
    emulator.stop()


def test_corpus_entities_use_sn13_content_shapes() -> None:
    entities = corpus_entities(load_corpus())
    x = next(e for e in entities if e.source == DataSource.X)
    reddit = next(e for e in entities if e.source == DataSource.REDDIT)
    x_content, reddit_content = json.loads(x.content), json.loads(reddit.content)
    assert {"username", "text", "url", "timestamp", "tweet_hashtags"} <= x_content.keys()
    assert "topic" not in x_content  # corpus bookkeeping never reaches the wire
    assert {"communityName", "createdAt", "dataType", "parentId"} <= reddit_content.keys()
    assert x.label is not None and x.label.value == x_content["tweet_hashtags"][0].lower()
    assert x.content_size_bytes == len(x.content)


async def test_index_lists_every_bucket_and_buckets_return_their_entities(
    network: tuple[ChainClient, DataUniverseEmulator], wallets: dict[str, bt.Wallet]
) -> None:
    chain, emulator = network
    axon = chain.metagraph(13).neuron(0).axon
    transport = DendriteTransport(wallets["miner"])
    answered, _ = await transport.call(axon, GetMinerIndex(version=4), uid=0, timeout=5)
    index = CompressedMinerIndex.model_validate_json(answered.compressed_index_serialized or "")
    total = sum(len(b.time_bucket_ids) for buckets in index.sources.values() for b in buckets)
    assert total == len(emulator.buckets)

    bucket = next(iter(emulator.buckets))
    got, _ = await transport.call(
        axon, GetDataEntityBucket(version=4, data_entity_bucket_id=bucket), uid=0, timeout=5
    )
    assert got.data_entities == emulator.buckets[bucket]

    missing = DataEntityBucketId(
        time_bucket=TimeBucket(id=1), source=DataSource.X, label=DataLabel(value="#none")
    )
    empty, _ = await transport.call(
        axon, GetDataEntityBucket(version=4, data_entity_bucket_id=missing), uid=0, timeout=5
    )
    await transport.aclose()
    assert empty.data_entities == []


@pytest.mark.parametrize("caller", ["stranger", "miner2", "validator"])
async def test_only_permitted_validators_with_stake_are_answered(
    network: tuple[ChainClient, DataUniverseEmulator], wallets: dict[str, bt.Wallet], caller: str
) -> None:
    chain, _ = network
    transport = DendriteTransport(wallets[caller])
    with pytest.raises(ProducerRejected, match="403"):
        await transport.call(chain.metagraph(13).neuron(0).axon, GetMinerIndex(version=4), uid=0, timeout=5)
    await transport.aclose()


async def test_the_stand_in_blacklists_callers_over_sn13s_hourly_limit(wallets: dict[str, bt.Wallet]) -> None:
    chain = devnet_chain(wallets, 13, [("producer", 100.0, False), ("miner", 20_000.0, True)])
    emulator = DataUniverseEmulator(wallets["producer"], chain, 13).start()  # SN13's real limit: 2 an hour
    transport = DendriteTransport(wallets["miner"])
    axon = chain.metagraph(13).neuron(0).axon
    try:
        for _ in range(2):
            await transport.call(axon, GetMinerIndex(version=4), uid=0, timeout=5)
        with pytest.raises(ProducerRejected, match="Rate limit"):
            await transport.call(axon, GetMinerIndex(version=4), uid=0, timeout=5)
    finally:
        await transport.aclose()
        emulator.stop()
