"""The Data Universe API stand-in over real loopback HTTP, and our adapter against it end to end."""

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orchestra.adapters.data_universe import (
    JOBS_PATH,
    DataUniverseApiAdapter,
    upload_records,
)
from orchestra.devnet.data_universe_api import DEFAULT_MINERS, DataUniverseApiEmulator
from orchestra.devnet.faults import Fault, FaultInjector, FaultKind
from orchestra.executor import Executor
from orchestra.routing import Router, RouteSpec
from orchestra.transports.http import HttpTransport
from protocol.models import CallStatus, Constraints, Plan, RouteKind, Step
from tests.orchestra.adapters.fakes import recorded

KEY = "devnet-key"
START = 1_792_000_000.0  # a fixed moment for the emulator's clock (2026-10-14 17:46 UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[DataUniverseApiEmulator]:
    running = DataUniverseApiEmulator(KEY, submission_delay_s=10, clock=clock).start()
    yield running
    running.stop()


def create(emulator: DataUniverseApiEmulator, body: Any, key: str | None = KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.post(f"{emulator.url}{JOBS_PATH}", json=body, headers=headers, timeout=5)


def status(emulator: DataUniverseApiEmulator, job_id: str, key: str | None = KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.get(f"{emulator.url}{JOBS_PATH}/{job_id}", headers=headers, timeout=5)


def job(platform: str = "x", **fields: Any) -> dict[str, Any]:
    payload = {"platform": platform, **fields.pop("payload", {"keywords": ["h100"]})}
    return {"job": {"job": payload, **fields}}


def submitted(emulator: DataUniverseApiEmulator, clock: Clock, body: Any, after_s: float) -> Any:
    reply = create(emulator, body)
    assert reply.status_code == 201, reply.text
    clock.now += after_s
    return status(emulator, reply.json()["job_id"]).json()["submissions"]


def test_a_job_is_created_with_201_and_a_uuid(emulator: DataUniverseApiEmulator) -> None:
    reply = create(emulator, recorded("sn13_ondemand_create_job.json")["request"])
    assert reply.status_code == 201
    assert reply.headers["X-Orchestra-Devnet"] == "stand-in"
    assert set(reply.json()) == {"job_id"}
    assert len(reply.json()["job_id"]) == 36


def test_a_wrong_key_is_401_and_a_missing_key_422_as_fastapi_answers(
    emulator: DataUniverseApiEmulator,
) -> None:
    errors = recorded("sn13_ondemand_errors.json")
    wrong = create(emulator, job(), key="nope")
    assert (wrong.status_code, wrong.json()) == (401, errors["401"])
    missing = create(emulator, job("reddit", payload={"subreddit": "gpucloud"}), key=None)
    assert (missing.status_code, missing.json()) == (422, errors["422"])
    assert status(emulator, "any", key="nope").status_code == 401
    assert wrong.headers["X-Orchestra-Devnet"] == missing.headers["X-Orchestra-Devnet"] == "stand-in"


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({}, ["body", "job"], "missing"),
        ({"job": {"job": {"platform": "myspace"}}}, ["body", "job", "job"], "union_tag_invalid"),
        (job(payload={"keywords": [str(i) for i in range(11)]}), ["body", "job", "job", "x"], "value_error"),
        (job(payload={"usernames": [str(i) for i in range(11)]}), ["body", "job", "job", "x"], "value_error"),
        (job(limit=0), ["body", "job", "limit"], "greater_than_equal"),
        (job(limit=1001), ["body", "job", "limit"], "less_than_equal"),
        (job(keyword_mode="some"), ["body", "job", "keyword_mode"], "literal_error"),
        (job(start_date="2026-10-02", end_date="2026-10-01"), ["body", "job"], "value_error"),
        (job(start_date="yesterday"), ["body", "job", "start_date"], "datetime_from_date_parsing"),
    ],
)
def test_malformed_bodies_are_422_with_fastapi_problems(
    emulator: DataUniverseApiEmulator, body: Any, loc: list[Any], kind: str
) -> None:
    reply = create(emulator, body)
    assert reply.status_code == 422
    [problem] = reply.json()["detail"]
    assert set(problem) >= {"type", "loc", "msg", "input"}
    assert (problem["loc"], problem["type"]) == (loc, kind)
    assert emulator.jobs == {}


def test_a_body_that_is_not_json_is_a_json_invalid_problem(emulator: DataUniverseApiEmulator) -> None:
    reply = httpx.post(
        f"{emulator.url}{JOBS_PATH}", content=b'{"job": ', headers={"X-API-Key": KEY}, timeout=5
    )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_jobs_and_paths_are_404(emulator: DataUniverseApiEmulator) -> None:
    unknown = status(emulator, "0f1c7e1a-6a3b-4d0e-9a55-3c2b7f1d9e42")
    assert (unknown.status_code, unknown.json()) == (404, recorded("sn13_ondemand_errors.json")["404"])
    elsewhere = httpx.get(f"{emulator.url}/on-demand/elsewhere", timeout=5)
    assert (elsewhere.status_code, elsewhere.json()) == (404, {"detail": "Not Found"})
    assert elsewhere.headers["X-Orchestra-Devnet"] == "stand-in"


def test_miner_submissions_appear_one_by_one_after_the_delay(
    emulator: DataUniverseApiEmulator, clock: Clock
) -> None:
    job_id = create(emulator, job()).json()["job_id"]
    seen = []
    for _ in range(4):
        seen.append(status(emulator, job_id).json()["submissions"])
        clock.now += 5
    assert [len(s) for s in seen] == [0, 0, 1, 2]  # at 10 s, 15 s, 20 s after creation
    clock.now += 100
    final = status(emulator, job_id).json()["submissions"]
    assert [s["miner_hotkey"] for s in final] == [hotkey for hotkey, _ in DEFAULT_MINERS]
    assert [s["submitted_at"] for s in final] == sorted(s["submitted_at"] for s in final)
    recorded_keys = set(recorded("sn13_ondemand_job_submissions.json")["submissions"][0])
    assert all(set(s) == recorded_keys for s in final)
    assert all(s["job_id"] == job_id and s["s3_presigned_url"].startswith(emulator.url) for s in final)


def test_no_submission_arrives_too_close_to_expiry(emulator: DataUniverseApiEmulator, clock: Clock) -> None:
    emulator.submission_delay_s = 60  # miners upload 60, 90 and 120 s after a job is created
    soon = (dt.datetime.fromtimestamp(START, dt.timezone.utc) + dt.timedelta(seconds=5)).isoformat()
    assert submitted(emulator, clock, job(expire_at=soon), after_s=1_000) == []  # 5 s is raised to 30 s
    assert len(submitted(emulator, clock, job(), after_s=1_000)) == 2  # 120 s is past a default job's 115 s


def test_a_submission_downloads_the_posts_a_miner_found(
    emulator: DataUniverseApiEmulator, clock: Clock
) -> None:
    [best, *_] = submitted(emulator, clock, job(payload={"keywords": ["h100"]}, limit=5), after_s=60)
    download = httpx.get(best["s3_presigned_url"], timeout=5)
    assert download.status_code == 200
    assert download.headers["X-Orchestra-Devnet"] == "stand-in"
    upload = download.json()
    assert len(download.content) == best["s3_content_length"]
    entities = upload["data_entities"]
    assert len(entities) == 5
    assert all("h100" in json.loads(e["content"])["text"].lower() for e in entities)
    assert [e["datetime"] for e in entities] == sorted((e["datetime"] for e in entities), reverse=True)
    posts = upload_records(upload, receipt_index=0)
    assert len(posts) == 5 and {p.source for p in posts} == {"x"}
    assert emulator.downloads == [best["s3_path"]]


def test_jobs_filter_like_the_api(emulator: DataUniverseApiEmulator, clock: Clock) -> None:
    def posts(body: Any) -> list[dict[str, Any]]:
        [first, *_] = submitted(emulator, clock, body, after_s=60)
        entities = httpx.get(first["s3_presigned_url"], timeout=5).json()["data_entities"]
        return [json.loads(e["content"]) for e in entities]

    any_of = posts(job(payload={"keywords": ["h100", "infiniband"]}, limit=1000))
    all_of = posts(job(payload={"keywords": ["h100", "infiniband"]}, keyword_mode="all", limit=1000))
    assert all_of and len(all_of) < len(any_of)
    reddit = posts(job("reddit", payload={"subreddit": "r/gpucloud"}, limit=1000))
    assert reddit and {p["communityName"] for p in reddit} == {"r/gpucloud"}
    author = posts(job(payload={"usernames": ["@rag_ravi"]}, limit=1000))
    assert author and {p["username"] for p in author} == {"rag_ravi"}
    assert posts(job(end_date="2020-01-01T00:00:00Z")) == []
    assert posts(job("youtube", payload={"channels": ["GPU Diaries"]})) == []  # no videos in the corpus


def test_presigned_urls_are_checked_and_expire(emulator: DataUniverseApiEmulator, clock: Clock) -> None:
    [best, *_] = submitted(emulator, clock, job(), after_s=60)
    url = best["s3_presigned_url"]
    forged = httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=5)
    assert forged.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in forged.text
    clock.now += 3_601
    late = httpx.get(url, timeout=5)
    assert late.status_code == 403 and "<Code>AccessDenied</Code>" in late.text
    assert emulator.downloads == []


def test_faults_are_injected_into_the_api(clock: Clock) -> None:
    faults = FaultInjector((Fault(FaultKind.ERROR, 1.0),))
    emulator = DataUniverseApiEmulator(KEY, clock=clock, faults=faults).start()
    try:
        reply = create(emulator, job())
    finally:
        emulator.stop()
    assert reply.status_code == 503
    assert reply.headers["X-Orchestra-Devnet"] == "stand-in"
    assert emulator.jobs == {}


# --- Our adapter, through the executor and a real HttpTransport, against the live stand-in ----------


def api_route(name: str, emulator: DataUniverseApiEmulator) -> RouteSpec:
    return RouteSpec(
        name=name,
        netuid=13,
        kind=RouteKind.HTTP,
        adapter="data_universe_api",
        capabilities=("social_data", "social_search"),
        endpoint=emulator.url,
        api_key=KEY,
    )


async def execute(routes: list[RouteSpec], step: Step, adapter: DataUniverseApiAdapter) -> Any:
    http = HttpTransport()
    try:
        executor = Executor(Router(routes, lambda _: None), {adapter.name: adapter}, http=http)
        deadline = asyncio.get_running_loop().time() + 20
        return await executor.run(Plan(steps=[step]), deadline=deadline, constraints=Constraints())
    finally:
        await http.aclose()


def quick_adapter() -> DataUniverseApiAdapter:
    return DataUniverseApiAdapter(initial_wait_s=0.05, poll_interval_s=0.05, max_polls=40, max_interval_s=0.1)


async def test_the_adapter_gets_posts_from_the_stand_in_over_loopback() -> None:
    emulator = DataUniverseApiEmulator(KEY, submission_delay_s=0.05).start()
    try:
        step = Step(
            id="social", capability="social_data", inputs={"keywords": ["h100"], "sources": ["x", "reddit"]}
        )
        result = await execute([api_route("du-api", emulator)], step, quick_adapter())
    finally:
        emulator.stop()
    outcome = result.outcomes["social"]
    assert outcome.ok, outcome.error
    assert {r.source for r in outcome.records} == {"x", "reddit"}
    assert all("h100" in r.text.lower() or "h100" in (r.title or "").lower() for r in outcome.records)
    assert all(r.status is CallStatus.OK for r in result.receipts)
    operations = [r.operation for r in result.receipts]
    assert operations.count(f"POST {JOBS_PATH}") == 2
    for record in outcome.records:
        assert result.receipts[record.receipt_index].operation.startswith("GET /devnet-s3/")
    best = DEFAULT_MINERS[0][0]
    assert emulator.downloads[0].endswith(f"/{best}.json")  # the most trusted miner's upload first
    assert KEY not in json.dumps([e.model_dump(mode="json") for e in result.evidence])


async def test_a_job_without_submissions_falls_back_to_the_next_route() -> None:
    silent = DataUniverseApiEmulator(KEY, submission_delay_s=1_000).start()
    answering = DataUniverseApiEmulator(KEY, submission_delay_s=0.05).start()
    try:
        step = Step(
            id="social", capability="social_search", inputs={"query": "H100 pricing", "sources": ["x"]}
        )
        adapter = DataUniverseApiAdapter(initial_wait_s=0.05, poll_interval_s=0.05, max_polls=3)
        result = await execute(
            [api_route("silent", silent), api_route("answering", answering)], step, adapter
        )
    finally:
        silent.stop()
        answering.stop()
    outcome = result.outcomes["social"]
    assert outcome.ok and outcome.records
    assert silent.requests["status"] == 3 and silent.downloads == []
    assert answering.downloads
    hosts = [r.provider.host for r in result.receipts]
    assert hosts.count(silent.url.removeprefix("http://")) == 4  # the job, then three polls, all receipted
