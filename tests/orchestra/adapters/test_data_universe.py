import asyncio
import datetime as dt
from typing import Any

import pytest

from orchestra.adapters.base import AdapterError
from orchestra.adapters.data_universe import (
    CompressedEntityBucket,
    CompressedMinerIndex,
    DataEntityBucketId,
    DataLabel,
    DataSource,
    DataUniverseAdapter,
    GetDataEntityBucket,
    GetMinerIndex,
    TimeBucket,
    select_buckets,
)
from orchestra.transports import ProducerUnavailable
from orchestra.transports.base import CallMeta
from protocol.models import Provider, RouteKind, Step
from tests.orchestra.adapters.fakes import ScriptedCaller, candidate, recorded


def test_wire_models_keep_sn13_names_types_and_hashing() -> None:
    # SN13 synapses set no required_hash_fields; ours must match or a real SN13 axon rejects the body hash.
    assert GetDataEntityBucket.required_hash_fields == ()
    assert GetMinerIndex.required_hash_fields == ()
    fields = set(GetDataEntityBucket.model_fields)
    assert {"version", "data_entity_bucket_id", "data_entities"} <= fields
    assert "compressed_index_serialized" in GetMinerIndex.model_fields
    assert [s.value for s in DataSource][:3] == [1, 2, 3]


def test_time_buckets_are_hours_since_the_epoch() -> None:
    moment = dt.datetime(2026, 10, 14, 9, 58, tzinfo=dt.timezone.utc)
    assert TimeBucket.from_datetime(moment).id == int(moment.timestamp()) // 3600


def test_labels_are_lower_cased_and_bounded() -> None:
    assert DataLabel(value="#GPUCloud").value == "#gpucloud"
    with pytest.raises(ValueError, match="at most 140 characters"):
        DataLabel(value="x" * 141)


def test_recorded_bucket_parses_into_posts_and_skips_unreadable_content() -> None:
    payload = recorded("sn13_get_data_entity_bucket.json")
    answered = GetDataEntityBucket.model_validate(payload)
    assert answered.data_entities[0].content.startswith(b'{"username"')


INDEX = CompressedMinerIndex(
    sources={
        2: [
            CompressedEntityBucket(label="#gpucloud", time_bucket_ids=[100, 101], sizes_bytes=[10, 10]),
            CompressedEntityBucket(label="#vectordb", time_bucket_ids=[102], sizes_bytes=[10]),
        ],
        1: [CompressedEntityBucket(label="r/gpucloud", time_bucket_ids=[99], sizes_bytes=[10])],
    }
)


def test_bucket_selection_prefers_matching_labels_then_recency() -> None:
    chosen = select_buckets(INDEX, [DataSource.X, DataSource.REDDIT], ["gpu", "cloud"], [], limit=3)
    assert [(b.source, b.label.value if b.label else None, b.time_bucket.id) for b in chosen] == [
        (2, "#gpucloud", 101),
        (2, "#gpucloud", 100),
        (1, "r/gpucloud", 99),
    ]


def test_explicit_labels_win() -> None:
    chosen = select_buckets(INDEX, [DataSource.X], ["gpu"], ["#vectordb"], limit=1)
    assert chosen[0].label == DataLabel(value="#vectordb")


def test_without_any_match_the_newest_buckets_are_tried() -> None:
    chosen = select_buckets(INDEX, [DataSource.X], ["tomatoes"], [], limit=2)
    assert [b.time_bucket.id for b in chosen] == [102]


def sn13_answers(name: str, synapse: Any) -> Any:
    if name == "GetMinerIndex":
        return {"version": 4, "compressed_index_serialized": INDEX.model_dump_json()}
    return recorded("sn13_get_data_entity_bucket.json")


async def test_adapter_reads_the_index_then_buckets_and_keeps_matching_posts() -> None:
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "data_universe"), sn13_answers)
    step = Step(
        id="social",
        capability="social_data",
        inputs={"keywords": ["gpu", "h100"], "sources": ["x", "reddit"]},
    )
    records = await DataUniverseAdapter(max_buckets=2).run(step, caller)
    assert [c[0] for c in caller.calls] == ["GetMinerIndex", "GetDataEntityBucket", "GetDataEntityBucket"]
    assert {r.source for r in records} == {"x", "reddit"}
    reddit = next(r for r in records if r.source == "reddit")
    assert reddit.title == "H100 spot prices" and reddit.author == "other"
    assert all(r.receipt_index in (1, 2) for r in records)


async def test_index_is_cached_per_producer() -> None:
    adapter = DataUniverseAdapter(max_buckets=1)
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "data_universe"), sn13_answers)
    step = Step(id="social", capability="social_data", inputs={"keywords": ["h100"]})
    await adapter.run(step, caller)
    await adapter.run(step, caller)
    assert [c[0] for c in caller.calls].count("GetMinerIndex") == 1


@pytest.mark.parametrize(
    "index_answer",
    [
        {"version": 4},
        {"version": 4, "compressed_index_serialized": "{not json"},
        {"compressed_index_serialized": "[]"},
    ],
)
async def test_a_garbage_index_is_an_adapter_error(index_answer: dict[str, Any]) -> None:
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "data_universe"), lambda name, _: index_answer)
    with pytest.raises(AdapterError, match="GetMinerIndex"):
        await DataUniverseAdapter().run(Step(id="s", capability="social_data", inputs={}), caller)


async def test_a_garbage_bucket_is_an_adapter_error() -> None:
    def answers(name: str, synapse: Any) -> Any:
        if name == "GetMinerIndex":
            return sn13_answers(name, synapse)
        return {"data_entities": "everything"}

    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "data_universe"), answers)
    with pytest.raises(AdapterError, match="GetDataEntityBucket"):
        await DataUniverseAdapter(max_buckets=1).run(
            Step(id="s", capability="social_data", inputs={"keywords": ["gpu"]}), caller
        )


async def test_when_every_bucket_call_fails_the_error_surfaces() -> None:
    meta = CallMeta(
        provider=Provider(hotkey="5P"), operation="GetDataEntityBucket", started_ns=1, latency_ms=1
    )

    def answers(name: str, synapse: Any) -> Any:
        return sn13_answers(name, synapse) if name == "GetMinerIndex" else ProducerUnavailable("down", meta)

    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "data_universe"), answers)
    with pytest.raises(ProducerUnavailable):
        await DataUniverseAdapter(max_buckets=2).run(
            Step(id="s", capability="social_data", inputs={"keywords": ["gpu"]}), caller
        )


def test_bucket_ids_serialise_like_sn13() -> None:
    bucket = DataEntityBucketId(
        time_bucket=TimeBucket(id=5), source=DataSource.X, label=DataLabel(value="#a")
    )
    assert bucket.model_dump(mode="json") == {"time_bucket": {"id": 5}, "source": 2, "label": {"value": "#a"}}


def test_invalid_index_entries_are_skipped_not_fatal() -> None:
    index = CompressedMinerIndex(
        sources={
            2: [
                CompressedEntityBucket(label="#gpu", time_bucket_ids=[0, 7], sizes_bytes=[1, 1]),
                CompressedEntityBucket(label="#gpu" + "x" * 200, time_bucket_ids=[9], sizes_bytes=[1]),
            ],
            99: [CompressedEntityBucket(label="#gpu", time_bucket_ids=[8], sizes_bytes=[1])],
        }
    )
    chosen = select_buckets(index, [DataSource.X], ["gpu"], [], limit=5)
    assert [b.time_bucket.id for b in chosen] == [7]


async def test_the_request_budget_is_kept_per_sn13_miner_across_jobs() -> None:
    adapter = DataUniverseAdapter(requests_per_hour=2, max_buckets=1)
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "data_universe"), sn13_answers)
    step = Step(id="social", capability="social_data", inputs={"keywords": ["gpu"]})
    await adapter.run(step, caller)
    await adapter.run(step, caller)
    with pytest.raises(AdapterError, match=r"budget .* is spent"):
        await adapter.run(step, caller)  # SN13 would blacklist a third bucket request within the hour
    assert [c[0] for c in caller.calls] == ["GetMinerIndex", "GetDataEntityBucket", "GetDataEntityBucket"]


async def test_concurrent_jobs_share_one_index_request() -> None:
    adapter = DataUniverseAdapter(requests_per_hour=10, max_buckets=1)
    caller = ScriptedCaller(candidate(RouteKind.DENDRITE, "data_universe"), sn13_answers)
    step = Step(id="social", capability="social_data", inputs={"keywords": ["gpu"]})
    await asyncio.gather(adapter.run(step, caller), adapter.run(step, caller), adapter.run(step, caller))
    assert [c[0] for c in caller.calls].count("GetMinerIndex") == 1
