"""The devnet's adversarial miners: each cheat does what it claims, and keeps every hash consistent."""

import asyncio
import threading
import time
from typing import Any, cast

import pytest

from orchestra.devnet.adversaries import (
    ADVERSARIAL_LINEUP,
    Copier,
    DevnetMiner,
    Fabricator,
    Honest,
    Lazy,
    MinerKind,
    Replayer,
    ResponseBoard,
    SchemaOnly,
    Slow,
    behaviour_for,
    fabricate,
    invented_answer,
    junk_answer,
    launder,
    miner_kind,
)
from orchestra.devnet.localnet import MinerLine, adversarial_summary
from orchestra.errors import ConfigError
from orchestra.miner.neuron import Miner
from orchestra.proofs import compute_proof_root, digest, evidence_matches
from orchestra.schema import compile_schema, iter_leaf_paths
from protocol.models import (
    CallEvidence,
    CallReceipt,
    CallStatus,
    Constraints,
    DendriteProof,
    ErrorCode,
    Plan,
    Provider,
    RouteKind,
    Step,
    TaskError,
    TaskResult,
    TaskSpec,
)

ME = "5MinerOwnHotkeyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
OTHER = "5AnotherMinerHotkeyxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
PRODUCER = "5ProducerAxonHotkeyxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

OBJECTIVE = (
    "Which GPU cloud vendors are cheapest for H100 GPU cloud rental? List the top 2 with their pricing "
    "and main weaknesses."
)
VENDORS_SCHEMA: dict[str, Any] = {
    "vendors": [{"name": "str", "price_usd": "float", "weaknesses": "list[str]", "website": "str?"}],
    "summary": "str",
}
COMPETITORS_SCHEMA: dict[str, Any] = {
    "competitors": [{"name": "str", "pricing": "dict", "strengths": "list"}],
    "recommendation": {"price_point": "float", "rationale": "str"},
}
PROVIDERS_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "providers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "strengths": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name", "strengths"],
            },
        },
        "cheapest_price": {"type": "number"},
    },
    "required": ["providers", "cheapest_price"],
}
OFFERS_ENUM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "offers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "vendor": {"type": "string"},
                    "price": {"type": "number", "minimum": 0},
                    "currency": {"type": "string", "enum": ["USD", "EUR"]},
                    "tier": {"type": ["string", "null"], "enum": ["budget", "standard", "premium", None]},
                },
                "required": ["vendor", "price", "currency"],
            },
        }
    },
    "required": ["offers"],
}
AWKWARD_SCHEMA: dict[str, Any] = {
    "Top Vendors": [{"Vendor Name": "str", "List price ($)": "float", "pros & cons": {"pros": "list[str]"}}],
    "bottom-line": "str",
}
CHAIN_SCHEMA: dict[str, Any] = {
    "account": "str",
    "block_number": "int",
    "block_hash": "str",
    "balance_wei": "str",
    "nonce": "int",
}
SCHEMAS = [VENDORS_SCHEMA, COMPETITORS_SCHEMA, PROVIDERS_JSON_SCHEMA, OFFERS_ENUM_SCHEMA, AWKWARD_SCHEMA]

WEB_RESPONSE = {
    "completion": (
        "Current H100 list prices (/hr): VoltStack $1.99, CoreForge Cloud $2.89. VoltStack stands out for "
        "the cheapest spot capacity. The main drawbacks are frequent spot preemptions and slow support "
        "tickets."
    ),
    "search": [
        {
            "link": "https://voltstack.example/pricing",
            "snippet": "VoltStack lists H100 at $1.99/hr.",
            "title": "VoltStack pricing",
        },
        {
            "link": "https://coreforge.example/pricing",
            "snippet": "CoreForge Cloud lists H100 at $2.89/hr. Watch out for expensive egress.",
            "title": "CoreForge Cloud pricing",
        },
    ],
}
SOCIAL_RESPONSE = {
    "data_entities": [
        {
            "content": '{"text": "Moved to VoltStack because of the cheapest spot capacity. #gpucloud"}',
            "uri": "https://x.com/someone/status/1",
        }
    ]
}
HONEST_RESULT: dict[str, Any] = {
    "vendors": [
        {
            "name": "VoltStack",
            "price_usd": 1.99,
            "weaknesses": ["Frequent spot preemptions", "Slow support tickets"],
            "website": "https://voltstack.example/pricing",
        },
        {
            "name": "CoreForge Cloud",
            "price_usd": 2.89,
            "weaknesses": ["Expensive egress"],
            "website": "https://coreforge.example/pricing",
        },
    ],
    "summary": "VoltStack lists H100 at $1.99/hr.",
}


def spec_for(schema: dict[str, Any], objective: str = OBJECTIVE, task_id: str = "task-1") -> TaskSpec:
    return TaskSpec(
        task_id=task_id, objective=objective, target_schema=schema, constraints=Constraints(deadline_ms=1_000)
    )


def http_receipt(response: Any, request: Any, started_ns: int) -> CallReceipt:
    return CallReceipt(
        step_id="web",
        attempt=1,
        netuid=22,
        route=RouteKind.HTTP,
        operation="POST /desearch/ai/search",
        provider=Provider(host="127.0.0.1:9"),
        request_digest=digest(request),
        response_digest=digest(response),
        started_ns=started_ns,
        latency_ms=40.0,
        status=CallStatus.OK,
    )


def dendrite_receipt(request: Any, response: Any, *, signer: str, nonce: int, step_id: str) -> CallReceipt:
    proof = DendriteProof(
        synapse="GetDataEntityBucket",
        dendrite_hotkey=signer,
        dendrite_nonce=nonce,
        dendrite_uuid="uuid-1",
        body_hash="body",
        dendrite_signature="0x" + "ab" * 64,
        axon_hotkey=PRODUCER,
    )
    return CallReceipt(
        step_id=step_id,
        attempt=1,
        netuid=13,
        route=RouteKind.DENDRITE,
        operation="GetDataEntityBucket",
        provider=Provider(hotkey=PRODUCER, uid=0),
        request_digest=digest(request),
        response_digest=digest(response),
        started_ns=nonce,
        latency_ms=20.0,
        status=CallStatus.OK,
        dendrite=proof,
    )


def honest_outcome(spec: TaskSpec, *, signer: str = ME, signed_ns: int | None = None) -> TaskResult:
    """An honest answer as the service builds it: a web call, a signed social call, provenance."""
    now = time.time_ns()
    web_request = {"method": "POST", "path": "/desearch/ai/search", "body": {"prompt": spec.objective}}
    social_request = {"data_entity_bucket_id": {"label": {"value": "#gpucloud"}}}
    receipts = [
        http_receipt(WEB_RESPONSE, web_request, now - 500_000_000),
        dendrite_receipt(
            social_request,
            SOCIAL_RESPONSE,
            signer=signer,
            nonce=signed_ns if signed_ns is not None else now - 400_000_000,
            step_id="social",
        ),
    ]
    evidence = [
        CallEvidence(request=web_request, response=WEB_RESPONSE),
        CallEvidence(request=social_request, response=SOCIAL_RESPONSE),
    ]
    plan = Plan(
        blueprint="market_research",
        steps=[
            Step(id="web", capability="web_search"),
            Step(id="social", capability="social_data", required=False),
            Step(id="synthesise", capability="llm_inference", depends_on=["web", "social"], required=False),
        ],
    )
    return TaskResult(
        task_id=spec.task_id,
        result=HONEST_RESULT,
        plan=plan,
        receipts=receipts,
        evidence=evidence,
        provenance={"$.vendors[0].name": [0, 1], "$.vendors[1].name": [0], "$.summary": [1]},
        proof_root=compute_proof_root(spec, receipts, HONEST_RESULT),
    )


def evidence_text(outcome: TaskResult) -> str:
    return " ".join(str(item.response) for item in outcome.evidence if item is not None).lower()


def leaves(result: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    return [value for _, _, value in iter_leaf_paths(compile_schema(schema).root, result)]


class StubService:
    """Test double for the miner's service: answers every task with a prepared outcome."""

    def __init__(self, outcome: TaskResult) -> None:
        self.outcome = outcome
        self.handled = 0

    async def handle(self, spec: TaskSpec) -> TaskResult:
        self.handled += 1
        return self.outcome.model_copy(update={"task_id": spec.task_id})


class StubMiner:
    """Test double for a `Miner`: the two things a behaviour uses, its service and its hotkey."""

    def __init__(self, outcome: TaskResult, hotkey: str = ME) -> None:
        self.service = StubService(outcome)
        self.hotkey = hotkey


def as_miner(stub: StubMiner) -> Miner:
    return cast(Miner, stub)


# ----------------------------------------------------------------------------------------- kinds


def test_kinds_are_named_as_reports_show_them_and_unknown_kinds_are_refused() -> None:
    assert [k.value for k in ADVERSARIAL_LINEUP] == [
        "honest",
        "honest",
        "slow",
        "lazy",
        "fabricator",
        "replayer",
        "copier",
        "schema-only",
    ]
    assert {k for k in MinerKind if k.cheats} == {
        MinerKind.LAZY,
        MinerKind.FABRICATOR,
        MinerKind.REPLAYER,
        MinerKind.COPIER,
        MinerKind.SCHEMA_ONLY,
    }
    assert miner_kind("schema-only") is MinerKind.SCHEMA_ONLY
    with pytest.raises(ConfigError, match="unknown miner kind 'sneaky'"):
        miner_kind("sneaky")


def test_every_kind_gets_the_behaviour_of_its_name() -> None:
    board = ResponseBoard()
    expected = {
        MinerKind.HONEST: Honest,
        MinerKind.SLOW: Slow,
        MinerKind.LAZY: Lazy,
        MinerKind.FABRICATOR: Fabricator,
        MinerKind.REPLAYER: Replayer,
        MinerKind.COPIER: Copier,
        MinerKind.SCHEMA_ONLY: SchemaOnly,
    }
    for kind, cls in expected.items():
        behaviour = behaviour_for(kind.value, board)
        assert type(behaviour) is cls and behaviour.kind is kind
    assert issubclass(DevnetMiner, Miner)


def test_bad_slow_share_and_copier_patience_are_refused() -> None:
    with pytest.raises(ConfigError, match="share of the deadline"):
        Slow(share=1.0)
    with pytest.raises(ConfigError, match="patience"):
        Copier(ResponseBoard(), patience=0)


# ----------------------------------------------------------------------------------------- the board


async def test_the_board_finds_an_answer_by_objective_and_schema_whatever_the_task_id() -> None:
    board = ResponseBoard()
    posted = honest_outcome(spec_for(VENDORS_SCHEMA, task_id="honest-task"))
    board.post(spec_for(VENDORS_SCHEMA, task_id="honest-task"), posted)
    found = await board.wait(spec_for(VENDORS_SCHEMA, task_id="copier-task"), timeout=0, since=0)
    assert found == posted
    other_schema = spec_for(COMPETITORS_SCHEMA, task_id="copier-task")
    assert await board.wait(other_schema, timeout=0, since=0) is None
    other_objective = spec_for(VENDORS_SCHEMA, objective="Something else entirely.")
    assert await board.wait(other_objective, timeout=0, since=0) is None


async def test_the_board_wakes_a_waiter_when_another_thread_posts() -> None:
    board = ResponseBoard()
    spec = spec_for(VENDORS_SCHEMA)
    posted = honest_outcome(spec)
    poster = threading.Timer(0.05, board.post, args=(spec, posted))
    poster.start()
    try:
        found = await board.wait(spec_for(VENDORS_SCHEMA, task_id="mine"), timeout=10, since=0)
    finally:
        poster.join()
    assert found == posted


async def test_the_board_ignores_answers_older_than_asked_and_forgets_the_oldest() -> None:
    board = ResponseBoard(max_entries=2)
    spec = spec_for(VENDORS_SCHEMA)
    board.post(spec, honest_outcome(spec))
    assert await board.wait(spec, timeout=0, since=time.monotonic() + 1) is None
    board.post(spec_for(COMPETITORS_SCHEMA), honest_outcome(spec))
    board.post(spec_for(AWKWARD_SCHEMA), honest_outcome(spec))
    assert len(board) == 2
    assert await board.wait(spec, timeout=0, since=0) is None


# ----------------------------------------------------------------------------------------- lazy


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_lazy_answer_is_schema_valid_has_no_receipts_and_a_root_that_recomputes(
    schema: dict[str, Any],
) -> None:
    spec = spec_for(schema)
    answer = invented_answer(spec)
    assert answer.ok and compile_schema(schema).is_valid(answer.result)
    assert answer.receipts == [] and answer.evidence == []
    assert answer.proof_root == compute_proof_root(spec, [], answer.result)
    filled = [v for v in leaves(answer.result or {}, schema) if v not in (None, "", [], {})]
    assert len(filled) == len(leaves(answer.result or {}, schema)), "every field holds something plausible"


def test_the_lazy_answer_gives_the_count_and_order_the_objective_asks_for() -> None:
    schema = {"ranking": [{"provider": "str", "price_usd": "float", "unit": "str?"}]}
    cheapest_first = spec_for(
        schema,
        "List the top 4 GPU cloud providers for H100 GPU cloud rental, ordered from cheapest to most "
        "expensive, with each one's price.",
    )
    ranking = (invented_answer(cheapest_first).result or {})["ranking"]
    prices = [item["price_usd"] for item in ranking]
    assert len(ranking) == 4 and prices == sorted(prices)
    dearest_first = spec_for(
        schema, "Rank the top 3 GPU cloud vendors by the price of H100 rental, most expensive first."
    )
    prices = [item["price_usd"] for item in (invented_answer(dearest_first).result or {})["ranking"]]
    assert len(prices) == 3 and prices == sorted(prices, reverse=True)


def test_the_lazy_answer_invents_new_names_for_every_task_and_respects_enums() -> None:
    first = invented_answer(spec_for(OFFERS_ENUM_SCHEMA, task_id="a"))
    second = invented_answer(spec_for(OFFERS_ENUM_SCHEMA, task_id="b"))
    names = [[o["vendor"] for o in (a.result or {})["offers"]] for a in (first, second)]
    assert names[0] != names[1]
    for offer in (first.result or {})["offers"]:
        assert offer["currency"] in ("USD", "EUR") and offer["price"] >= 0


def test_the_lazy_answer_echoes_the_account_and_block_a_chain_objective_names() -> None:
    address = "0x" + "3f" * 20
    spec = spec_for(
        CHAIN_SCHEMA,
        f"On the Ethereum chain at block 18999000, look up the account {address}: report its balance in "
        "wei, its nonce and the hash of that block.",
    )
    result = invented_answer(spec).result or {}
    assert result["account"] == address and result["block_number"] == 18_999_000
    assert result["block_hash"].startswith("0x") and len(result["block_hash"]) == 66
    assert result["balance_wei"].isdigit()


def test_a_schema_no_one_can_compile_gets_the_typed_error_an_honest_miner_would_give() -> None:
    spec = spec_for({"vendors": "strang"})
    for answer in (invented_answer(spec), junk_answer(spec)):
        assert answer.result is None and answer.error is not None
        assert answer.error.code is ErrorCode.INVALID_SCHEMA


# ----------------------------------------------------------------------------------------- schema-only


@pytest.mark.parametrize("schema", [*SCHEMAS, CHAIN_SCHEMA])
def test_the_schema_only_answer_has_the_shape_and_nothing_in_it(schema: dict[str, Any]) -> None:
    spec = spec_for(schema)
    answer = junk_answer(spec)
    assert answer.ok and compile_schema(schema).is_valid(answer.result)
    assert answer.receipts == [] and answer.proof_root == compute_proof_root(spec, [], answer.result)
    for value in leaves(answer.result or {}, schema):
        assert value in ("n/a", 0, 0.0, False, [], {}, None, "USD", "budget"), value


# ----------------------------------------------------------------------------------------- fabricator


def test_the_fabricator_changes_the_facts_yet_every_digest_and_the_root_check_out() -> None:
    spec = spec_for(VENDORS_SCHEMA)
    honest = honest_outcome(spec)
    fake = fabricate(spec, honest)
    result = fake.result or {}
    names = [v["name"] for v in result["vendors"]]
    assert "VoltStack" not in names and "CoreForge Cloud" not in names
    assert [v["price_usd"] for v in result["vendors"]] == [1.39, 2.02]
    assert compile_schema(VENDORS_SCHEMA).is_valid(result)
    for receipt, item in zip(fake.receipts, fake.evidence, strict=True):
        assert item is not None and evidence_matches(receipt, item)
    assert [r.request_digest for r in fake.receipts] == [r.request_digest for r in honest.receipts]
    assert fake.receipts[1].dendrite == honest.receipts[1].dendrite, "signatures untouched"
    assert fake.proof_root == compute_proof_root(spec, fake.receipts, fake.result)


def test_the_fabricated_evidence_supports_every_fabricated_value_and_forgets_the_real_ones() -> None:
    spec = spec_for(VENDORS_SCHEMA)
    fake = fabricate(spec, honest_outcome(spec))
    text = evidence_text(fake)
    for value in leaves(fake.result or {}, VENDORS_SCHEMA):
        for item in value if isinstance(value, list) else [value]:
            shown = f"{item:.2f}" if isinstance(item, float) else str(item)
            assert shown.lower() in text, shown
    assert "voltstack" not in text and "1.99" not in text and "slow support" not in text


def test_a_fabrication_that_breaks_the_schema_or_an_error_answer_goes_back_unchanged() -> None:
    spec = spec_for({"vendors": [{"name": "str", "price_usd": "float", "tier": "str"}]})
    result = {"vendors": [{"name": "VoltStack", "price_usd": 1.99, "tier": "slow"}]}
    constrained = spec.model_copy(
        update={
            "target_schema": {
                "type": "object",
                "properties": {
                    "vendors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "price_usd": {"type": "number"},
                                "tier": {"type": "string", "enum": ["slow", "standard"]},
                            },
                        },
                    }
                },
            }
        }
    )
    honest = honest_outcome(constrained).model_copy(update={"result": result})
    assert fabricate(constrained, honest) == honest
    failed = TaskResult(task_id=spec.task_id, error=TaskError(code=ErrorCode.NO_ROUTE, message="none"))
    assert fabricate(spec, failed) == failed


# ----------------------------------------------------------------------------------------- laundering


def test_a_copy_drops_the_other_miners_signed_receipts_and_retimes_the_rest() -> None:
    honest_spec = spec_for(VENDORS_SCHEMA, task_id="honest-task")
    original = honest_outcome(honest_spec, signer=OTHER)
    mine = spec_for(VENDORS_SCHEMA, task_id="copier-task")
    now = time.time_ns()
    copy = launder(original, mine, hotkey=ME, arrived_ns=now - 10**9, now_ns=now)
    assert copy.task_id == "copier-task" and copy.result == original.result
    assert [r.step_id for r in copy.receipts] == ["web"]
    assert [e.response if e else None for e in copy.evidence] == [WEB_RESPONSE]
    receipt = copy.receipts[0]
    assert receipt.started_ns != original.receipts[0].started_ns
    assert receipt.started_ns + receipt.latency_ms * 1e6 < now
    assert copy.provenance == {"$.vendors[0].name": [0], "$.vendors[1].name": [0]}
    assert copy.plan is not None and [s.id for s in copy.plan.steps] == ["web", "synthesise"]
    assert copy.plan.steps[1].depends_on == ["web"]
    assert copy.proof_root == compute_proof_root(mine, copy.receipts, copy.result)


def test_a_replay_keeps_its_own_fresh_signed_receipts_and_drops_stale_ones() -> None:
    spec = spec_for(VENDORS_SCHEMA)
    now = time.time_ns()
    fresh = launder(
        honest_outcome(spec, signed_ns=now - 10**9), spec, hotkey=ME, arrived_ns=now - 5 * 10**8, now_ns=now
    )
    assert [r.route for r in fresh.receipts] == [RouteKind.HTTP, RouteKind.DENDRITE]
    stale = launder(
        honest_outcome(spec, signed_ns=now - 60 * 10**9), spec, hotkey=ME, arrived_ns=now, now_ns=now
    )
    assert [r.route for r in stale.receipts] == [RouteKind.HTTP]
    assert stale.proof_root == compute_proof_root(spec, stale.receipts, stale.result)


def test_an_undisguised_copy_keeps_every_receipt_as_it_was() -> None:
    honest_spec = spec_for(VENDORS_SCHEMA, task_id="honest-task")
    original = honest_outcome(honest_spec, signer=OTHER)
    mine = spec_for(VENDORS_SCHEMA, task_id="copier-task")
    copy = launder(original, mine, hotkey=ME, arrived_ns=time.time_ns(), disguise=False)
    assert copy.receipts == original.receipts and copy.evidence == original.evidence
    assert copy.plan == original.plan and copy.provenance == original.provenance
    assert copy.task_id == "copier-task"
    assert copy.proof_root == compute_proof_root(mine, copy.receipts, copy.result) != original.proof_root


# ----------------------------------------------------------------------------------------- behaviours


async def test_honest_and_slow_miners_post_good_answers_and_keep_them_unchanged() -> None:
    board = ResponseBoard()
    spec = spec_for(VENDORS_SCHEMA)
    miner = StubMiner(honest_outcome(spec))
    answer = await Slow(board, share=0).answer(spec, as_miner(miner))
    assert answer == miner.service.outcome
    assert await board.wait(spec_for(VENDORS_SCHEMA, task_id="other"), timeout=0, since=0) == answer
    failing = StubMiner(TaskResult(task_id="x", error=TaskError(code=ErrorCode.NO_ROUTE, message="none")))
    quiet = ResponseBoard()
    await Honest(quiet).answer(spec, as_miner(failing))
    assert len(quiet) == 0


async def test_the_copier_returns_a_posted_answer_as_its_own_or_invents_one() -> None:
    board = ResponseBoard()
    honest_spec = spec_for(VENDORS_SCHEMA, task_id="honest-task")
    board.post(honest_spec, honest_outcome(honest_spec, signer=OTHER))
    copier = StubMiner(honest_outcome(honest_spec))
    mine = spec_for(VENDORS_SCHEMA, task_id="copier-task")
    copied = await Copier(board, patience=0.01).answer(mine, as_miner(copier))
    assert copied.result == HONEST_RESULT and copied.task_id == "copier-task"
    assert copier.service.handled == 0, "a copier does no work of its own"
    alone = spec_for(COMPETITORS_SCHEMA, task_id="nobody-answered")
    invented = await Copier(board, patience=0.01).answer(alone, as_miner(copier))
    assert invented.ok and invented.receipts == [] and invented.result != HONEST_RESULT


async def test_lazy_and_schema_only_miners_never_touch_their_service() -> None:
    spec = spec_for(VENDORS_SCHEMA)
    miner = StubMiner(honest_outcome(spec))
    for behaviour in (Lazy(), SchemaOnly()):
        answer = await behaviour.answer(spec, as_miner(miner))
        assert answer.ok and answer.receipts == []
    assert miner.service.handled == 0


async def test_the_fabricator_does_the_work_and_lies_about_it() -> None:
    spec = spec_for(VENDORS_SCHEMA)
    miner = StubMiner(honest_outcome(spec))
    answer = await Fabricator().answer(spec, as_miner(miner))
    assert miner.service.handled == 1
    assert answer.result != HONEST_RESULT and len(answer.receipts) == 2


# ----------------------------------------------------------------------------------------- the summary


def test_the_adversarial_summary_says_whether_every_honest_miner_outweighs_every_cheater() -> None:
    lines = [
        MinerLine(1, "h1", 0.4, 0.3, "honest"),
        MinerLine(2, "h2", 0.4, 0.3, "honest"),
        MinerLine(3, "s", 0.38, 0.25, "slow"),
        MinerLine(4, "l", 0.2, 0.15, "lazy"),
        MinerLine(5, "f", 0.0, 0.0, "fabricator"),
    ]
    steps = [{1: {"total": 0.6, "receipts": 1.0}, 4: {"total": 0.3, "receipts": 0.0}}]
    summary = adversarial_summary(lines, steps)
    assert summary["separated"] is True
    assert summary["honest_min_weight"] == 0.3 and summary["slow_min_weight"] == 0.25
    assert summary["cheater_max_weight"] == 0.15
    assert summary["mean_score_by_kind"]["honest"] == 0.4
    assert summary["mean_step_scores_by_kind"]["lazy"] == {"total": 0.3, "receipts": 0.0}
    lines[3] = MinerLine(4, "l", 0.39, 0.26, "lazy")
    assert adversarial_summary(lines, steps)["separated"] is False, "the slow miner must beat it too"


def test_a_waiter_that_gave_up_does_not_break_later_posts() -> None:
    board = ResponseBoard()

    async def wait_briefly() -> TaskResult | None:
        return await board.wait(spec_for(VENDORS_SCHEMA), timeout=0.01, since=0)

    assert asyncio.run(wait_briefly()) is None
    board.post(spec_for(VENDORS_SCHEMA), honest_outcome(spec_for(VENDORS_SCHEMA)))
    assert len(board) == 1
