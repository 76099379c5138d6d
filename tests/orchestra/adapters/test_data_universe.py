import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from orchestra.adapters.base import AdapterError, Record
from orchestra.adapters.data_universe import (
    JOBS_PATH,
    CompressedEntityBucket,
    CompressedMinerIndex,
    DataEntityBucketId,
    DataLabel,
    DataSource,
    DataUniverseAdapter,
    DataUniverseApiAdapter,
    GetDataEntityBucket,
    GetMinerIndex,
    JobInputError,
    TimeBucket,
    plan_jobs,
    rank_posts,
    select_buckets,
    upload_records,
)
from orchestra.transports import ProducerFailed, ProducerRejected, ProducerUnavailable
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


# --- The Data Universe API's on-demand jobs (`http` route) -------------------------------------------

ENDPOINT = "https://api.example"  # the endpoint of fakes.candidate's http routes


class FakeTime:
    """A clock that only moves when the adapter sleeps, so polling runs instantly and exactly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def api_adapter(fake: FakeTime, **kwargs: Any) -> DataUniverseApiAdapter:
    return DataUniverseApiAdapter(sleep=fake.sleep, clock=fake.clock, **kwargs)


def on_endpoint(submissions: dict[str, Any]) -> dict[str, Any]:
    """The recorded submissions with their S3 URLs moved under the route's endpoint."""
    moved: dict[str, Any] = json.loads(json.dumps(submissions))
    for item in moved["submissions"]:
        if item.get("s3_presigned_url"):
            item["s3_presigned_url"] = item["s3_presigned_url"].replace(
                "https://example-od-bucket.s3.amazonaws.com", f"{ENDPOINT}/s3"
            )
    return moved


def api_answers(*statuses: dict[str, Any], upload: Any = None) -> Callable[[str, Any], Any]:
    """Answers job creation, then each status poll in turn (the last repeats), then downloads."""
    polls = iter(statuses)
    last: list[dict[str, Any]] = []

    def answer(path: str, body: Any) -> Any:
        if path == JOBS_PATH:
            return recorded("sn13_ondemand_create_job.json")["response"]
        if path.startswith(f"{JOBS_PATH}/"):
            last[:] = [next(polls, last[0] if last else {"submissions": []})]
            return last[0]
        return recorded("sn13_ondemand_upload.json") if upload is None else upload

    return answer


def social(**inputs: Any) -> Step:
    return Step(id="social", capability="social_data", inputs={"sources": ["x"], **inputs})


def test_a_job_request_has_the_recorded_shape() -> None:
    plan = plan_jobs(
        {
            "keywords": ["h100", "gpucloud"],
            "usernames": ["@rag_ravi"],
            "sources": ["twitter"],
            "limit": 20,
            "start_date": "2026-10-01T00:00:00Z",
            "end_date": "2026-10-15",
        }
    )
    [job] = plan.jobs
    assert (
        job.model_dump(mode="json", exclude_none=True) == recorded("sn13_ondemand_create_job.json")["request"]
    )


def test_a_query_becomes_at_most_ten_content_words() -> None:
    plan = plan_jobs(
        {"query": "What do people say about the pricing of H100 GPU cloud providers and their " * 3}
    )
    keywords = plan.jobs[0].model_dump()["job"]["job"]["keywords"]
    assert keywords == ["people", "say", "pricing", "h100", "gpu", "cloud", "providers"]
    assert [j.job.job.platform for j in plan.jobs] == ["x", "reddit"]  # the default sources


def test_a_reddit_job_carries_its_subreddit_and_handles_without_at() -> None:
    [job] = plan_jobs(
        {"keywords": ["h100"], "sources": ["reddit"], "subreddit": "r/gpucloud", "usernames": ["@m"]}
    ).jobs
    assert job.model_dump(mode="json", exclude_none=True)["job"]["job"] == {
        "platform": "reddit",
        "subreddit": "r/gpucloud",
        "usernames": ["m"],
        "keywords": ["h100"],
    }


@pytest.mark.parametrize(
    ("inputs", "complaint"),
    [
        ({"keywords": [f"k{i}" for i in range(11)]}, "len\\(keywords\\)"),
        ({"keywords": ["a"], "usernames": [f"u{i}" for i in range(11)]}, "len\\(usernames\\)"),
        ({"keywords": ["a"], "sources": ["reddit"], "subreddit": "gpucloud"}, "must start with r/"),
        ({"keywords": ["a"], "limit": 0}, "greater than or equal to 1"),
        ({"keywords": ["a"], "limit": 1001}, "less than or equal to 1000"),
        ({"keywords": ["a"], "limit": "plenty"}, "whole number"),
        ({"keywords": ["a"], "count": True}, "whole number"),
        ({"keywords": ["a"], "sources": ["myspace"]}, "no source 'myspace'"),
        ({"keywords": ["a"], "sources": ["youtube"]}, "needs `channels`"),
        (
            {"keywords": ["a"], "channels": [f"c{i}" for i in range(11)], "sources": ["youtube"]},
            "len\\(channels\\)",
        ),
        (
            {"keywords": ["a"], "start_date": "2026-10-02", "end_date": "2026-10-01"},
            "end_date cannot be earlier",
        ),
        ({"keywords": ["a"], "keyword_mode": "some"}, "keyword_mode"),
        ({"query": "the of and"}, "needs keywords, a query"),
    ],
)
async def test_inputs_the_api_would_refuse_are_a_typed_error_before_any_call(
    inputs: dict[str, Any], complaint: str
) -> None:
    caller = ScriptedCaller(candidate(RouteKind.HTTP, "data_universe_api"), api_answers())
    with pytest.raises(JobInputError, match=complaint) as raised:
        await api_adapter(FakeTime()).run(social(**inputs), caller)
    assert caller.calls == []
    assert isinstance(raised.value, AdapterError) and raised.value.receipt_index is None


async def test_adapter_creates_a_job_polls_until_a_submission_and_downloads_it() -> None:
    fake = FakeTime()
    submissions = on_endpoint(recorded("sn13_ondemand_job_submissions.json"))
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "data_universe_api"),
        api_answers(recorded("sn13_ondemand_job_pending.json"), submissions),
    )
    records = await api_adapter(fake).run(social(keywords=["h100"], limit=4), caller)

    operations = [c[0] for c in caller.calls]
    job_id = recorded("sn13_ondemand_create_job.json")["response"]["job_id"]
    assert operations[:3] == [f"POST {JOBS_PATH}", f"GET {JOBS_PATH}/{job_id}", f"GET {JOBS_PATH}/{job_id}"]
    assert operations[3].startswith("GET /s3/on-demand-jobs/") and "HighTrust" in operations[3]
    assert "X-Amz-Signature=11ee" in operations[3]  # the presigned query goes along unchanged
    assert len(operations) == 4  # one download held enough posts
    assert [c[2] for c in caller.calls[:3]] == [{"X-API-Key": "secret-key"}] * 3
    assert caller.calls[3][2] is None  # the key never goes to the storage URL
    assert caller.calls[0][1]["job"]["job"] == {"platform": "x", "keywords": ["h100"]}
    assert fake.sleeps == [2.0, 2.0]  # the initial wait, then the first poll interval
    assert {r.source for r in records} == {"x", "reddit", "youtube"}
    assert all(r.receipt_index == 3 for r in records)  # the download's receipt


async def test_recorded_upload_becomes_posts_of_every_source() -> None:
    records = upload_records(recorded("sn13_ondemand_upload.json"), receipt_index=7)
    by_url = {r.url: r for r in records}
    assert len(records) == 4  # the unreadable entity is skipped
    tweet = by_url["https://x.com/rag_ravi/status/1850000000000006613"]
    assert tweet.author == "rag_ravi" and tweet.metrics["like_count"] == 352
    assert tweet.published == "2026-10-14T09:58:00+00:00"
    reddit = by_url["https://www.reddit.com/r/gpucloud/comments/9bc03e/"]
    assert reddit.title == "Experiences with NimbusGPU?" and reddit.metrics == {
        "score": 41,
        "num_comments": 12,
    }
    video = by_url["https://www.youtube.com/watch?v=dQw4w9WgXcQ"]
    assert video.text == "today we rent an H100 for two dollars fifty an hour"
    assert video.author == "GPU Diaries" and video.title == "Renting an H100 for a week"
    variant = by_url["https://x.com/gpu_goblin/status/1850000000000014170"]
    assert variant.source == "x" and variant.metrics == {"like_count": 9}
    assert all(r.receipt_index == 7 for r in records)


@pytest.mark.parametrize("payload", [[], {"rows": []}, {"data_entities": "all of them"}])
def test_an_upload_of_another_shape_is_an_adapter_error(payload: Any) -> None:
    with pytest.raises(AdapterError, match="data_entities") as raised:
        upload_records(payload, receipt_index=5)
    assert raised.value.receipt_index == 5


async def test_submissions_are_downloaded_most_trusted_first_under_either_trust_name() -> None:
    submissions = on_endpoint(recorded("sn13_ondemand_job_submissions.json"))
    for item in submissions["submissions"]:  # the field's older name
        item["miner_vtrust"] = {"a": 0.1, "b": 0.9, "c": 0.95}[item["miner_hotkey"][-1]]
        del item["miner_incentive"]
    caller = ScriptedCaller(candidate(RouteKind.HTTP, "data_universe_api"), api_answers(submissions))
    await api_adapter(FakeTime()).run(social(keywords=["h100"], limit=1), caller)
    assert ["HighTrust" in c[0] for c in caller.calls[2:]] == [True]  # 0.9; "c" has no URL yet


async def test_a_failed_download_moves_on_to_the_next_submission() -> None:
    meta = CallMeta(provider=Provider(host="api.example"), operation="GET", started_ns=1, latency_ms=1)
    submissions = on_endpoint(recorded("sn13_ondemand_job_submissions.json"))
    answers = api_answers(submissions)

    def answer(path: str, body: Any) -> Any:
        if "HighTrust" in path:
            return ProducerRejected("403 Request has expired", meta)
        return answers(path, body)

    caller = ScriptedCaller(candidate(RouteKind.HTTP, "data_universe_api"), answer)
    records = await api_adapter(FakeTime()).run(social(keywords=["h100"]), caller)
    assert ["HighTrust" in c[0] for c in caller.calls[2:]] == [True, False]
    assert records and all(r.receipt_index == 3 for r in records)


async def test_every_download_failing_surfaces_the_transport_error() -> None:
    meta = CallMeta(provider=Provider(host="api.example"), operation="GET", started_ns=1, latency_ms=1)
    answers = api_answers(on_endpoint(recorded("sn13_ondemand_job_submissions.json")))

    def answer(path: str, body: Any) -> Any:
        return ProducerUnavailable("storage down", meta) if "/s3/" in path else answers(path, body)

    caller = ScriptedCaller(candidate(RouteKind.HTTP, "data_universe_api"), answer)
    with pytest.raises(ProducerUnavailable):
        await api_adapter(FakeTime()).run(social(keywords=["h100"]), caller)
    assert len(caller.calls) == 4  # create, poll, and max_downloads=2 downloads


async def test_polling_is_bounded_and_ends_in_an_adapter_error_naming_the_last_poll() -> None:
    fake = FakeTime()
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "data_universe_api"),
        api_answers(recorded("sn13_ondemand_job_pending.json")),
    )
    with pytest.raises(AdapterError, match="no submission after 4 polls") as raised:
        await api_adapter(fake, max_polls=4, initial_wait_s=1, poll_interval_s=2, max_interval_s=3).run(
            social(keywords=["h100"]), caller
        )
    assert [c[0].split()[0] for c in caller.calls] == ["POST"] + ["GET"] * 4
    assert fake.sleeps == [1, 2, 3, 3]  # backoff 1.5, capped at max_interval_s
    assert raised.value.receipt_index == 4


async def test_polling_stops_when_the_job_expires() -> None:
    fake = FakeTime()
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "data_universe_api"),
        api_answers(recorded("sn13_ondemand_job_pending.json")),
    )
    with pytest.raises(AdapterError, match="expired without a submission") as raised:
        await api_adapter(fake, initial_wait_s=50, poll_interval_s=40, max_interval_s=60, max_polls=10).run(
            social(keywords=["h100"]), caller
        )
    assert fake.sleeps == [50, 40]  # a third poll would come after the two-minute expiry
    assert raised.value.receipt_index == 2


async def test_a_longer_job_ttl_is_asked_for_with_expire_at() -> None:
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "data_universe_api"),
        api_answers(on_endpoint(recorded("sn13_ondemand_job_submissions.json"))),
    )
    before = dt.datetime.now(dt.timezone.utc)
    await api_adapter(FakeTime(), job_ttl_s=300).run(social(keywords=["h100"]), caller)
    expire_at = dt.datetime.fromisoformat(caller.calls[0][1]["job"]["expire_at"])
    assert dt.timedelta(seconds=299) < expire_at - before < dt.timedelta(seconds=310)


async def test_a_submission_stored_on_s3_is_fetched_without_the_api_key() -> None:
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "data_universe_api"),
        api_answers(recorded("sn13_ondemand_job_submissions.json")),
    )
    records = await api_adapter(FakeTime()).run(social(keywords=["h100"]), caller)
    fetched = [c for c in caller.calls if c[0].startswith("FETCH ")]
    assert fetched and fetched[0][0].startswith("FETCH https://example-od-bucket.s3.amazonaws.com/")
    assert all(headers is None for _, _, headers in fetched)  # the presigned URL is the only credential
    assert records and {r.receipt_index for r in records} <= {len(caller.calls) - 1, len(caller.calls) - 2}


@pytest.mark.parametrize(
    ("create", "status", "where", "receipt"),
    [
        ({"id": "no job_id"}, {"submissions": []}, "job creation", 0),
        ({"job_id": "../../admin"}, {"submissions": []}, "job id", 0),
        ({"job_id": "0f1c\n"}, {"submissions": []}, "job id", 0),
        ({"job_id": "0f1c"}, {"submissions": "soon"}, "job status", 1),
        ({"job_id": "0f1c"}, {"submissions": [{"miner_hotkey": "no job_id"}]}, "job status", 1),
    ],
)
async def test_answers_that_break_the_documented_shape_are_adapter_errors(
    create: Any, status: Any, where: str, receipt: int
) -> None:
    answers = {JOBS_PATH: create}
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "data_universe_api"), lambda path, body: answers.get(path, status)
    )
    with pytest.raises(AdapterError, match=where) as raised:
        await api_adapter(FakeTime()).run(social(keywords=["h100"]), caller)
    assert raised.value.receipt_index == receipt


async def test_a_refusal_from_the_api_propagates_unchanged() -> None:
    meta = CallMeta(provider=Provider(host="api.example"), operation="POST", started_ns=1, latency_ms=1)
    refusal = ProducerRejected("401", meta, recorded("sn13_ondemand_errors.json")["401"])
    caller = ScriptedCaller(candidate(RouteKind.HTTP, "data_universe_api"), lambda *_: refusal)
    with pytest.raises(ProducerRejected) as raised:
        await api_adapter(FakeTime()).run(social(keywords=["h100"]), caller)
    assert raised.value.payload == {"detail": "Invalid or missing X-API-Key Header"}
    assert len(caller.calls) == 1


async def test_one_platform_failing_does_not_lose_the_other() -> None:
    meta = CallMeta(provider=Provider(host="api.example"), operation="POST", started_ns=1, latency_ms=1)
    answers = api_answers(on_endpoint(recorded("sn13_ondemand_job_submissions.json")))

    def answer(path: str, body: Any) -> Any:
        if path == JOBS_PATH and body["job"]["job"]["platform"] == "reddit":
            return ProducerFailed("503", meta)
        return answers(path, body)

    caller = ScriptedCaller(candidate(RouteKind.HTTP, "data_universe_api"), answer)
    records = await api_adapter(FakeTime()).run(social(keywords=["h100"], sources=["x", "reddit"]), caller)
    assert records
    assert [c[1]["job"]["job"]["platform"] for c in caller.calls if c[0] == f"POST {JOBS_PATH}"] == [
        "x",
        "reddit",
    ]


async def test_posts_are_ranked_by_keywords_met_and_cut_to_the_limit() -> None:
    caller = ScriptedCaller(
        candidate(RouteKind.HTTP, "data_universe_api"),
        api_answers(on_endpoint(recorded("sn13_ondemand_job_submissions.json"))),
    )
    records = await api_adapter(FakeTime()).run(social(keywords=["infiniband", "nimbusgpu"], limit=2), caller)
    assert [r.url for r in records] == [
        "https://x.com/gpu_goblin/status/1850000000000014170",  # both keywords
        "https://x.com/rag_ravi/status/1850000000000006613",  # one, and first in the upload
    ]


def test_ranking_drops_duplicates_and_keeps_order_among_equals() -> None:
    def post(url: str, text: str) -> Record:
        return Record(kind="post", text=text, source="x", receipt_index=0, url=url)

    ranked = rank_posts(
        [post("a", "nothing"), post("b", "gpu"), post("a", "again"), post("c", "gpu h100")], ("gpu", "h100")
    )
    assert [r.url for r in ranked] == ["c", "b", "a"]
    assert ranked[2].text == "nothing"


def test_youtube_without_channels_is_left_out_when_other_sources_can_answer() -> None:
    plan = plan_jobs({"keywords": ["h100"], "sources": ["x", "youtube"]})
    assert [job.job.job.platform for job in plan.jobs] == ["x"]
    with pytest.raises(JobInputError, match="needs `channels`"):
        plan_jobs({"keywords": ["h100"], "sources": ["youtube"]})
