"""Spot checks against the devnet's real stand-ins over loopback.

A miner's engine makes real calls (receipts and evidence recorded by the executor), then the
validator's `SpotChecker` repeats them on its own routes and metagraph: unchanged evidence matches,
evidence a fabricator rewrote (digests recomputed, so it still verifies) does not, and what cannot be
fairly repeated (a host the validator has no route for, a producer that is down) stays unchecked.
"""

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from pydantic import SecretStr

from orchestra.adapters import Adapter, default_adapters
from orchestra.adapters.data_universe import DataUniverseApiAdapter
from orchestra.chain import MetagraphCache
from orchestra.config import SN13_NETUID, SN22_NETUID, route_secrets
from orchestra.devnet.faults import Fault, FaultKind
from orchestra.devnet.network import LocalNetwork
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.errors import ConfigError
from orchestra.executor import Executor
from orchestra.proofs import canonical_json, digest
from orchestra.routing import LedgerDirectory, Router, RouteSpec
from orchestra.transports.dendrite import DendriteTransport
from orchestra.transports.http import HttpTransport
from orchestra.validator.spotcheck import SpotChecker, SpotOutcome
from protocol.models import (
    CallEvidence,
    CallReceipt,
    CallStatus,
    Constraints,
    Plan,
    Provider,
    RouteKind,
    Step,
)

CALLER_STAKE_TAO = 20_000.0  # SN13 and SN22 miners answer permit holders with this much stake
QUERY = "H100 GPU cloud pricing"
BLOCK = 18_999_990
ADDRESS = "0x" + "11" * 20


@dataclass(frozen=True)
class Recorded:
    receipts: list[CallReceipt]
    evidence: list[CallEvidence]

    def ok(self) -> list[int]:
        return [i for i, r in enumerate(self.receipts) if r.status is CallStatus.OK]

    def one(self, operation: str) -> tuple[CallReceipt, CallEvidence]:
        index = next(i for i, r in enumerate(self.receipts) if re.fullmatch(operation, r.operation))
        return self.receipts[index], self.evidence[index]


class Devnet:
    """Every stand-in up, a miner engine that records real calls, and a validator's own routes."""

    def __init__(self) -> None:
        self.net = LocalNetwork()
        self.net.start_producers(sn13_miners=1, sn22_miners=1, extended=True)
        for name in ("miner", "validator"):
            self.net.register(name, SN13_NETUID, stake_tao=CALLER_STAKE_TAO, validator_permit=True)
            self.net.register(name, SN22_NETUID, stake_tao=CALLER_STAKE_TAO, validator_permit=True)
        self.graphs = MetagraphCache(self.net.chain, [SN13_NETUID, SN22_NETUID])
        self.graphs.refresh()
        self.miner_routes = self.directory("miner")()
        self.validator_routes = self.directory("validator")
        self.transports: list[HttpTransport | DendriteTransport] = []

    def http(self) -> HttpTransport:
        transport = HttpTransport()
        self.transports.append(transport)
        return transport

    def dendrite(self, wallet: str) -> DendriteTransport:
        transport = DendriteTransport(self.net.wallet(wallet))
        self.transports.append(transport)
        return transport

    async def close_transports(self) -> None:
        for transport in self.transports:
            await transport.aclose()
        self.transports.clear()

    @staticmethod
    def adapters() -> dict[str, Adapter]:
        """Fresh adapters: the SN13 one caches miner indexes, and each recording must make its calls."""
        adapters = default_adapters(sn13_requests_per_hour=600)
        adapters["data_universe_api"] = DataUniverseApiAdapter(initial_wait_s=0.3, poll_interval_s=0.2)
        return adapters

    def directory(self, name: str) -> LedgerDirectory:
        """A neuron's routes from its own Ledger, with the operator's own keys (as neurons build them)."""
        keys = {adapter: SecretStr(key) for adapter, key in self.net.keys.items()}
        kinds = {adapter_name: a.route_kinds for adapter_name, a in self.adapters().items()}
        return LedgerDirectory(self.net.ledger(name), adapters=kinds, secrets=route_secrets(keys))

    async def record(self, adapter: str, capability: str, inputs: dict[str, Any]) -> Recorded:
        """Run one step through the miner's executor on the route of `adapter`: real calls, real receipts."""
        routes = [r for r in self.miner_routes if r.adapter == adapter]
        executor = Executor(
            Router(routes, self.graphs.get),
            self.adapters(),
            http=self.http(),
            dendrite=self.dendrite("miner"),
        )
        step = Step(id="step", capability=capability, inputs=inputs)
        deadline = asyncio.get_running_loop().time() + 20
        execution = await executor.run(Plan(steps=[step]), deadline=deadline, constraints=Constraints())
        assert execution.outcomes["step"].ok, execution.outcomes["step"].error
        return Recorded(execution.receipts, execution.evidence)

    def checker(self, **options: Any) -> SpotChecker:
        settings: dict[str, Any] = {
            "rate": 1.0,
            "max_per_answer": 8,
            "seed": 3,
            "dendrite_requests_per_hour": 600,
        }
        settings.update(options)
        return SpotChecker(
            routes=self.validator_routes,
            http=self.http(),
            dendrite=self.dendrite("validator"),
            metagraph=self.graphs.get,
            **settings,
        )


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[Devnet]:
    devnet = Devnet()
    try:
        yield devnet
    finally:
        asyncio.run(devnet.net.aclose())


@pytest_asyncio.fixture
async def devnet(stand_ins: Devnet) -> AsyncIterator[Devnet]:
    """The module's stand-ins; the clients a test opens are closed on its own event loop."""
    try:
        yield stand_ins
    finally:
        await stand_ins.close_transports()


# What each producer is asked: adapter, capability, step inputs.
CALLS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "sn22-desearch-api": ("desearch", "web_search", {"query": QUERY}),
    "sn22-miner-search": ("desearch_miners", "web_search", {"query": QUERY}),
    "sn22-miner-x": ("desearch_miners", "social_search", {"query": "H100 GPU pricing"}),
    "sn13-miner": ("data_universe", "social_data", {"keywords": ["h100"], "sources": ["x"]}),
    "sn13-api": ("data_universe_api", "social_data", {"keywords": ["h100"], "sources": ["x"]}),
    "sn19-rpc": (
        "blockmachine",
        "chain_rpc",
        {
            "chain": "eth",
            "block": BLOCK,
            "calls": [
                {"method": "eth_getBalance", "params": [ADDRESS]},
                {"method": "eth_getBlockByNumber", "params": []},
                {"method": "eth_blockNumber"},
            ],
        },
    ),
    "sn64-chutes": (
        "chutes",
        "llm_inference",
        {
            "prompt": "Which provider rents the H100 cheapest, and at what price?",
            "context": [
                {"text": "VoltStack rents H100 at $1.99/hr with simple hourly pricing.", "source": "web"},
                {"text": "CoreForge Cloud lists H100 at $2.89/hr and A100 at $1.59/hr.", "source": "web"},
            ],
        },
    ),
    "sn4-targon": ("targon", "llm_inference", {"prompt": "Summarise: Lumen Compute H100 costs $2.25/hr."}),
}


async def record(devnet: Devnet, producer: str) -> Recorded:
    adapter, capability, inputs = CALLS[producer]
    return await devnet.record(adapter, capability, inputs)


# ------------------------------------------------------------------ honest evidence matches

# The calls that cannot be repeated: creating an on-demand job starts another job.
UNREPEATABLE = {"POST /on-demand/constellation/jobs"}


@pytest.mark.parametrize("producer", sorted(CALLS))
async def test_unchanged_evidence_matches_the_producers_fresh_answer(devnet: Devnet, producer: str) -> None:
    recorded = await record(devnet, producer)
    checker = devnet.checker()
    results = [await checker.check(i, recorded.receipts[i], recorded.evidence[i]) for i in recorded.ok()]
    assert results
    for result in results:
        receipt = recorded.receipts[result.index]
        if receipt.operation in UNREPEATABLE:
            assert result.outcome is SpotOutcome.UNCHECKED and "not repeatable" in result.reason
        else:
            assert result.outcome is SpotOutcome.MATCH, (receipt.operation, result)
            assert result.similarity == 1.0


# ------------------------------------------------------------------ fabricated evidence does not


def invent_figures(text: str) -> str:
    """Every figure in `text` moved (2.89 -> 1.39): the subtle rewrite a fabricator makes."""
    return re.sub(r"\d+\.\d+", lambda m: f"{float(m.group()) / 2 + 0.02:.2f}", text)


INVENTED = "Zorblax Cloud rents quantum racks for free to every startup, say analysts at Quuxly."


def rewrite_items(value: Any, rewrite: Callable[[str], str]) -> Any:
    """Apply `rewrite` to every item text (snippets, tweet texts, post contents), keeping the links."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("snippet", "text", "completion") and isinstance(item, str):
                out[key] = rewrite(item)
            elif key == "content" and isinstance(item, str):
                post = json.loads(item) if item.startswith("{") else None
                out[key] = json.dumps({**post, "text": rewrite(post["text"])}) if post else rewrite(item)
            else:
                out[key] = rewrite_items(item, rewrite)
        return out
    if isinstance(value, list):
        return [rewrite_items(item, rewrite) for item in value]
    return value


def forge_rpc(response: Any) -> Any:
    forged = copy.deepcopy(response)
    forged[0]["result"] = "0x3635c9adc5dea00000"  # a balance the account never had, at a pinned block
    return forged


def forge_chat(response: Any) -> Any:
    forged = copy.deepcopy(response)
    forged["choices"][0]["message"]["content"] = INVENTED
    return forged


def forge_index(response: Any) -> Any:
    index = json.loads(response["compressed_index_serialized"])
    for buckets in index["sources"].values():
        for bucket in buckets:
            bucket["label"] = "#invented"
    return {**response, "compressed_index_serialized": json.dumps(index)}


def forge_submissions(response: Any) -> Any:
    return {
        "submissions": [
            {**s, "s3_path": s["s3_path"].replace("Miner", "Ghost")} for s in response["submissions"]
        ]
    }


# (producer, operation of the call to forge, forgery)
FORGERIES: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("sn22-desearch-api", "POST /desearch/ai/search", lambda r: rewrite_items(r, invent_figures)),
    ("sn22-desearch-api", "POST /desearch/ai/search", lambda r: rewrite_items(r, lambda _: INVENTED)),
    ("sn22-miner-search", "ScraperStreamingSynapse", lambda r: rewrite_items(r, invent_figures)),
    ("sn22-miner-x", "TwitterSearchSynapse", lambda r: rewrite_items(r, lambda _: INVENTED)),
    ("sn13-miner", "GetDataEntityBucket", lambda r: rewrite_items(r, lambda _: INVENTED)),
    ("sn13-miner", "GetMinerIndex", forge_index),
    ("sn13-api", "GET /devnet-s3/.*", lambda r: rewrite_items(r, lambda _: INVENTED)),
    ("sn13-api", "GET /on-demand/constellation/jobs/.*", forge_submissions),
    ("sn19-rpc", "POST /rpc/eth", forge_rpc),
    ("sn64-chutes", "POST .*/chat/completions", forge_chat),
    ("sn64-chutes", "POST .*/chat/completions", lambda r: rewrite_items(r, invent_figures)),
    ("sn4-targon", "POST .*/chat/completions", forge_chat),
]


def fabricate(
    receipt: CallReceipt, evidence: CallEvidence, forge: Callable[[Any], Any]
) -> tuple[CallReceipt, CallEvidence]:
    """What a fabricator returns: the real call's receipt with the response digest recomputed over
    invented content, so that the receipt still verifies against its evidence."""
    response = forge(evidence.response)
    assert response != evidence.response
    forged = CallEvidence(request=evidence.request, response=response)
    return receipt.model_copy(update={"response_digest": digest(response)}), forged


@pytest.mark.parametrize(
    ("producer", "operation", "forge"), FORGERIES, ids=[f"{p}:{n}" for n, (p, _, _) in enumerate(FORGERIES)]
)
async def test_fabricated_evidence_mismatches(
    devnet: Devnet, producer: str, operation: str, forge: Callable[[Any], Any]
) -> None:
    recorded = await record(devnet, producer)
    receipt, evidence = fabricate(*recorded.one(operation), forge)
    result = await devnet.checker().check(0, receipt, evidence)
    assert result.outcome is SpotOutcome.MISMATCH, result
    assert result.similarity is not None and result.similarity < 1.0


# ------------------------------------------------------------------ what cannot be repeated fairly


@dataclass
class Bystander:
    """A host a miner would like the validator to call; it counts every request it gets."""

    port: int
    hits: list[str]


@pytest.fixture
def bystander() -> Iterator[Bystander]:
    hits: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"search": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = ThreadedAiohttpServer(app).start()
    yield Bystander(server.port, hits)
    server.stop()


async def test_a_host_the_validator_has_no_route_for_is_unchecked_and_never_called(
    devnet: Devnet, bystander: Bystander
) -> None:
    receipt, evidence = (await record(devnet, "sn22-desearch-api")).one("POST /desearch/ai/search")
    elsewhere = receipt.model_copy(update={"provider": Provider(host=f"127.0.0.1:{bystander.port}")})
    checker = devnet.checker()
    result = await checker.check(0, elsewhere, evidence)
    assert result.outcome is SpotOutcome.UNCHECKED and "no route of this validator reaches" in result.reason
    assert checker.choose([elsewhere], [evidence], [True]) == []  # not even drawn
    assert bystander.hits == []


async def test_a_path_that_would_leave_the_routes_host_is_not_sent(
    devnet: Devnet, bystander: Bystander
) -> None:
    receipt, evidence = (await record(devnet, "sn22-desearch-api")).one("POST /desearch/ai/search")
    for path in (f"@127.0.0.1:{bystander.port}/desearch/ai/search", f"//127.0.0.1:{bystander.port}/x"):
        request = {**evidence.request, "path": path}
        smuggled = CallEvidence(request=request, response=evidence.response)
        forged = receipt.model_copy(update={"request_digest": digest(request)})
        result = await devnet.checker().check(0, forged, smuggled)
        assert result.outcome is SpotOutcome.UNCHECKED
    assert bystander.hits == []


def smuggle_rpc_write(request: dict[str, Any]) -> dict[str, Any]:
    write = {"jsonrpc": "2.0", "id": 9, "method": "eth_sendRawTransaction", "params": ["0x00"]}
    return {**request, "body": [*request["body"], write]}


# A miner rewrites what it claims to have sent, hoping the validator will send it with its own key.
SMUGGLED: list[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]], str]] = [
    ("sn19-rpc", "POST /rpc/eth", smuggle_rpc_write, "read-only allow-list"),
    (
        "sn22-desearch-api",
        "POST /desearch/ai/search",
        lambda r: {**r, "body": {**r["body"], "count": 10_000}},
        "not a search request",
    ),
    (
        "sn64-chutes",
        "POST .*/chat/completions",
        lambda r: {**r, "body": {**r["body"], "n": 64}},
        "not a completion request",
    ),
    (
        "sn64-chutes",
        "POST .*/chat/completions",
        lambda r: {**r, "body": {**r["body"], "max_tokens": 1_000_000}},
        "not a completion request",
    ),
    (
        "sn13-api",
        "GET /on-demand/constellation/jobs/.*",
        lambda r: {**r, "path": "/on-demand/account/keys"},
        "only job status reads",
    ),
]


@pytest.mark.parametrize(("producer", "operation", "smuggle", "why"), SMUGGLED)
async def test_a_request_the_adapter_would_not_make_is_not_resent(
    devnet: Devnet,
    producer: str,
    operation: str,
    smuggle: Callable[[dict[str, Any]], dict[str, Any]],
    why: str,
) -> None:
    receipt, evidence = (await record(devnet, producer)).one(operation)
    request = smuggle(evidence.request)
    forged = receipt.model_copy(update={"request_digest": digest(request)})
    checker = devnet.checker()
    smuggled = CallEvidence(request=request, response=evidence.response)
    result = await checker.check(0, forged, smuggled)
    assert result.outcome is SpotOutcome.UNCHECKED and why in result.reason
    assert checker.choose([forged], [smuggled], [True]) == []


async def test_a_presigned_download_is_unchecked(devnet: Devnet) -> None:
    receipt, evidence = (await record(devnet, "sn13-api")).one("GET /devnet-s3/.*")
    request = {"method": "GET", "url": "https://bucket.s3.example/on-demand-jobs/x.json"}
    fetched = receipt.model_copy(update={"request_digest": digest(request)})
    result = await devnet.checker().check(
        0, fetched, CallEvidence(request=request, response=evidence.response)
    )
    assert result.outcome is SpotOutcome.UNCHECKED and "presigned download" in result.reason


@pytest.mark.parametrize(
    ("producer", "provider", "operation"),
    [
        ("sn22-desearch-api", "desearch", "POST /desearch/ai/search"),
        ("sn64-chutes", "chutes", "POST .*/chat/completions"),
        ("sn13-miner", "sn13-miner-1", "GetDataEntityBucket"),
        ("sn22-miner-search", "sn22-miner-1", "ScraperStreamingSynapse"),
    ],
)
@pytest.mark.parametrize("fault", [FaultKind.DOWN, FaultKind.GARBAGE, FaultKind.SCHEMA, FaultKind.TIMEOUT])
async def test_a_producer_failing_the_requery_leaves_the_call_unchecked(
    devnet: Devnet, producer: str, provider: str, operation: str, fault: FaultKind
) -> None:
    receipt, evidence = (await record(devnet, producer)).one(operation)
    forged_receipt, forged = fabricate(receipt, evidence, lambda r: rewrite_items(r, lambda _: INVENTED))
    devnet.net.set_faults({provider: (Fault(fault),)})
    try:
        checker = devnet.checker(timeout_s=1.0)
        for call in ((receipt, evidence), (forged_receipt, forged)):  # honest or not: no verdict
            result = await checker.check(0, *call)
            assert result.outcome is SpotOutcome.UNCHECKED, result
            assert result.reason.startswith(("the re-query failed", "the producer's answer is not in"))
    finally:
        devnet.net.set_faults({provider: ()})


async def test_an_unknown_synapse_or_an_axon_not_on_the_metagraph_is_unchecked(devnet: Devnet) -> None:
    receipt, evidence = (await record(devnet, "sn13-miner")).one("GetDataEntityBucket")
    assert receipt.dendrite is not None
    unknown = receipt.model_copy(update={"operation": "GetContentsByBuckets"})
    stranger = receipt.model_copy(
        update={
            "dendrite": receipt.dendrite.model_copy(
                update={"axon_hotkey": devnet.net.wallet("stranger").hotkey.ss58_address}
            )
        }
    )
    checker = devnet.checker()
    assert "not a producer synapse" in (await checker.check(0, unknown, evidence)).reason
    assert "no serving axon" in (await checker.check(0, stranger, evidence)).reason
    no_dendrite = SpotChecker(
        routes=devnet.validator_routes, http=devnet.http(), dendrite=None, metagraph=devnet.graphs.get
    )
    assert (await no_dendrite.check(0, receipt, evidence)).outcome is SpotOutcome.UNCHECKED


async def test_sn13_requeries_keep_the_hourly_budget(devnet: Devnet) -> None:
    recorded = await record(devnet, "sn13-miner")
    checker = devnet.checker(dendrite_requests_per_hour=1, reuse_s=0)
    bucket = recorded.one("GetDataEntityBucket")
    first, second = await checker.check(0, *bucket), await checker.check(0, *bucket)
    assert first.outcome is SpotOutcome.MATCH
    assert second.outcome is SpotOutcome.UNCHECKED and "budget" in second.reason


# ------------------------------------------------------------------ sampling and whole answers


async def test_repeats_of_one_request_share_one_requery(devnet: Devnet) -> None:
    receipt, evidence = (await record(devnet, "sn22-desearch-api")).one("POST /desearch/ai/search")
    desearch = devnet.net.desearch
    assert desearch is not None
    before = desearch.requests
    checker = devnet.checker()
    results = await asyncio.gather(*(checker.check(i, receipt, evidence) for i in range(5)))
    assert {r.outcome for r in results} == {SpotOutcome.MATCH}
    assert desearch.requests == before + 1


async def test_check_answer_draws_from_eligible_answered_calls_only(devnet: Devnet) -> None:
    recorded = await record(devnet, "sn13-api")
    n = len(recorded.receipts)
    checker = devnet.checker(rate=1.0, max_per_answer=10)
    everything = await checker.check_answer(recorded.receipts, recorded.evidence, [True] * n)
    repeatable = [i for i in recorded.ok() if recorded.receipts[i].operation not in UNREPEATABLE]
    assert sorted(r.index for r in everything) == repeatable
    assert {r.outcome for r in everything} == {SpotOutcome.MATCH}
    # A receipt that failed verification is never drawn, nor is a call withheld from the evidence.
    eligible = [i != repeatable[0] for i in range(n)]
    evidence: list[CallEvidence | None] = list(recorded.evidence)
    evidence[repeatable[1]] = None
    drawn = {r.index for r in await checker.check_answer(recorded.receipts, evidence, eligible)}
    assert drawn == set(repeatable[2:])


async def test_the_sample_honours_rate_and_cap_and_is_reproducible_only_with_a_seed(devnet: Devnet) -> None:
    recorded = await record(devnet, "sn13-api")
    receipts, evidence, eligible = recorded.receipts, recorded.evidence, [True] * len(recorded.receipts)
    repeatable = len(devnet.checker(rate=1.0, max_per_answer=64).choose(receipts, evidence, eligible))
    assert repeatable > 2
    assert len(devnet.checker(rate=1.0, max_per_answer=2).choose(receipts, evidence, eligible)) == 2
    assert devnet.checker(rate=0.0).choose(receipts, evidence, eligible) == []
    seeded = [devnet.checker(rate=0.5, seed=11).choose(receipts, evidence, eligible) for _ in range(2)]
    assert seeded[0] == seeded[1]
    # Over many answers the share drawn is the rate, fractional expected counts included.
    checker = devnet.checker(rate=0.25, max_per_answer=8, seed=5)
    drawn = sum(len(checker.choose(receipts, evidence, eligible)) for _ in range(400))
    assert 0.2 * 400 * repeatable < drawn < 0.3 * 400 * repeatable
    unseeded = devnet.checker(rate=0.5, seed=None)
    assert len({tuple(unseeded.choose(receipts, evidence, eligible)) for _ in range(60)}) > 1


async def test_an_answer_whose_checks_run_out_of_time_is_unchecked_not_failed(devnet: Devnet) -> None:
    recorded = await record(devnet, "sn22-desearch-api")
    devnet.net.set_faults({"desearch": (Fault(FaultKind.SLOW, delay_s=3.0),)})
    try:
        checker = devnet.checker(answer_timeout_s=0.3)
        results = await checker.check_answer(
            recorded.receipts, recorded.evidence, [True] * len(recorded.receipts)
        )
    finally:
        devnet.net.set_faults({"desearch": ()})
    assert [r.outcome for r in results] == [SpotOutcome.UNCHECKED]
    assert "no verdict within" in results[0].reason


def test_misaligned_inputs_and_bad_settings_are_refused(devnet: Devnet) -> None:
    checker = devnet.checker()
    with pytest.raises(ValueError, match="aligned"):
        checker.choose([], [None], [])
    for bad in ({"rate": 1.5}, {"max_per_answer": -1}, {"timeout_s": 0}):
        with pytest.raises(ConfigError):
            devnet.checker(**bad)


# ------------------------------------------------------------------ the stand-ins are repeatable


@pytest.mark.parametrize("producer", sorted(CALLS))
async def test_each_stand_in_answers_a_repeated_request_the_same(devnet: Devnet, producer: str) -> None:
    """Spot checks rely on it. Only the inference stand-ins differ between two answers, and only in the
    completion's `id` and `created` envelope, which the text policy ignores."""
    recorded = await record(devnet, producer)
    checker = devnet.checker(reuse_s=0)
    for index in recorded.ok():
        receipt, evidence = recorded.receipts[index], recorded.evidence[index]
        if receipt.operation in UNREPEATABLE:
            continue
        fresh = await checker.prepare(receipt, evidence).send()
        if receipt.route is RouteKind.OPENAI:
            assert {k: v for k, v in fresh.items() if k not in ("id", "created")} == {
                k: v for k, v in evidence.response.items() if k not in ("id", "created")
            }
        elif "/on-demand/constellation/jobs/" in receipt.operation:
            # Job status lists presigned URLs signed at the time of asking; the submissions are the same.
            paths = [[s["s3_path"] for s in answer["submissions"]] for answer in (fresh, evidence.response)]
            assert paths[0][: len(paths[1])] == paths[1]
        else:
            assert canonical_json(fresh) == canonical_json(evidence.response), receipt.operation


def test_routes_are_the_validators_own(devnet: Devnet) -> None:
    # The validator reaches every keyed stand-in with its own credentials from its own Ledger.
    routes: list[RouteSpec] = list(devnet.validator_routes())
    keyed = {r.adapter for r in routes if r.api_key is not None}
    assert keyed == {"desearch", "data_universe_api", "chutes", "targon"}
