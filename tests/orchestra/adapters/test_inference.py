"""The Chutes/Targon adapter sends documented chat completion requests and reads recorded answers."""

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from orchestra.adapters.base import AdapterError
from orchestra.adapters.inference import (
    CHAT_PATH,
    CHUTES_DEFAULT_MODEL,
    MAX_CONTEXT_CHARS,
    MAX_CONTEXT_RECORDS,
    MAX_RECORD_CHARS,
    TARGON_DEFAULT_MODEL,
    InferenceAdapter,
    InferenceError,
    answer_text,
    chat_request,
    parse_completion,
)
from orchestra.routing import Candidate, RouteSpec
from orchestra.transports.base import CallMeta, ProducerRejected
from protocol.models import Provider, RouteKind, Step
from tests.orchestra.adapters.fakes import ScriptedCaller, recorded

REQUEST_SCHEMA = Draft202012Validator(recorded("openai_chat_request.schema.json"))
CONTEXT = [
    {
        "text": "NimbusGPU lists H100 at $2.49/hr.\nBilled per second.",
        "url": "https://n.example",
        "source": "web",
    },
    {"text": "VoltStack lists H100 at $1.99/hr.", "url": None, "source": "x"},
]


def openai_candidate(name: str = "chutes", netuid: int = 64) -> Candidate:
    route = RouteSpec(
        name=f"sn{netuid}-{name}",
        netuid=netuid,
        kind=RouteKind.OPENAI,
        adapter=name,
        capabilities=("llm_inference",),
        endpoint="https://llm.chutes.ai/v1" if name == "chutes" else "https://api.targon.com/v1",
        api_key="cpk_secret",
    )
    return Candidate(route=route, provider=Provider(host="llm.chutes.ai"))


def step(**inputs: Any) -> Step:
    return Step(id="answer", capability="llm_inference", inputs=inputs)


def caller_answering(payload: Any, name: str = "chutes") -> ScriptedCaller:
    return ScriptedCaller(openai_candidate(name), lambda path, body: payload)


def test_the_request_body_uses_only_documented_fields() -> None:
    body = InferenceAdapter.chutes().request_body({"prompt": "Which is cheapest?", "context": CONTEXT})
    assert not list(REQUEST_SCHEMA.iter_errors(body))
    assert body["stream"] is False


def test_a_structured_output_request_is_documented_and_strict() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
    body = chat_request(
        [{"role": "user", "content": "hi"}],
        model="m",
        max_tokens=50,
        temperature=0.0,
        seed=7,
        json_schema=schema,
        schema_name="plan",
    )
    assert not list(REQUEST_SCHEMA.iter_errors(body))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "plan", "schema": schema, "strict": True},
    }
    assert body["seed"] == 7 and body["temperature"] == 0.0 and body["max_tokens"] == 50


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "robot", "content": "hi"}]},
        {"messages": []},
        {"schema_name": "has spaces", "json_schema": {"type": "object"}},
        {"max_tokens": 0},
    ],
)
def test_chat_request_refuses_what_the_api_would_refuse(change: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "m",
        "max_tokens": 10,
        "temperature": 0.0,
        "seed": None,
    }
    with pytest.raises(ValidationError):
        chat_request(**{**arguments, **change})


def test_messages_are_system_then_numbered_quoted_context_then_the_prompt() -> None:
    body = InferenceAdapter.targon().request_body(
        {"prompt": "Which is cheapest?", "system": "Answer in one line.", "context": CONTEXT}
    )
    system, user = body["messages"]
    assert system == {"role": "system", "content": "Answer in one line."}
    assert user["role"] == "user"
    text = user["content"]
    assert (
        "[1] source: web; url: https://n.example\n> NimbusGPU lists H100 at $2.49/hr.\n> Billed per second."
        in text
    )
    assert "[2] source: x\n> VoltStack lists H100 at $1.99/hr." in text
    assert text.endswith("Which is cheapest?")
    assert text.index("[1]") < text.index("[2]") < text.index("Which is cheapest?")


def test_without_context_the_user_turn_is_the_prompt_and_a_default_system_is_set() -> None:
    system, user = InferenceAdapter.chutes().request_body({"prompt": "  Hello?  "})["messages"]
    assert system["role"] == "system" and system["content"]
    assert user == {"role": "user", "content": "Hello?"}


def test_context_is_bounded_in_records_and_characters() -> None:
    adapter = InferenceAdapter.chutes()
    short = [{"text": f"record {n}", "source": "web"} for n in range(MAX_CONTEXT_RECORDS + 5)]
    text = adapter.request_body({"prompt": "q", "context": short})["messages"][1]["content"]
    assert f"[{MAX_CONTEXT_RECORDS}]" in text and f"[{MAX_CONTEXT_RECORDS + 1}]" not in text
    long = [{"text": f"record {n} " + "x" * 5_000, "source": "web"} for n in range(MAX_CONTEXT_RECORDS)]
    text = adapter.request_body({"prompt": "q", "context": long})["messages"][1]["content"]
    assert max(len(line) for line in text.splitlines()) <= MAX_RECORD_CHARS + 10
    assert len(text) < MAX_CONTEXT_CHARS + 1_000
    assert text.endswith("Task:\nq")


def test_each_provider_has_its_default_model_and_a_step_may_choose() -> None:
    assert InferenceAdapter.chutes().request_body({"prompt": "q"})["model"] == CHUTES_DEFAULT_MODEL
    assert InferenceAdapter.targon().request_body({"prompt": "q"})["model"] == TARGON_DEFAULT_MODEL
    assert InferenceAdapter.targon(default_model="x/y").request_body({"prompt": "q"})["model"] == "x/y"
    chosen = InferenceAdapter.chutes().request_body({"prompt": "q", "model": "Qwen/Qwen3-235B-A22B"})
    assert chosen["model"] == "Qwen/Qwen3-235B-A22B"


def test_sampling_is_pinned_for_reproducibility_and_bounded() -> None:
    adapter = InferenceAdapter.chutes()
    default = adapter.request_body({"prompt": "q"})
    assert default["temperature"] == 0.0 and isinstance(default["seed"], int)
    assert adapter.request_body({"prompt": "q"})["seed"] == default["seed"]
    wild = adapter.request_body({"prompt": "q", "temperature": 9, "max_tokens": 10**9})
    assert wild["temperature"] == 2.0 and wild["max_tokens"] == 8192
    odd = adapter.request_body({"prompt": "q", "temperature": True, "max_tokens": "many"})
    assert odd["temperature"] == default["temperature"] and odd["max_tokens"] == default["max_tokens"]


@pytest.mark.parametrize("inputs", [{}, {"prompt": "   "}, {"prompt": 42}, {"prompt": "x" * 40_000}])
async def test_a_step_without_a_usable_prompt_makes_no_call(inputs: dict[str, Any]) -> None:
    caller = caller_answering(recorded("chutes_chat_completion.json"))
    with pytest.raises(AdapterError):
        await InferenceAdapter.chutes().run(step(**inputs), caller)
    assert caller.calls == []


async def test_a_recorded_chutes_answer_becomes_one_answer_record() -> None:
    caller = caller_answering(recorded("chutes_chat_completion.json"))
    [record] = await InferenceAdapter.chutes().run(step(prompt="H100 price?", context=CONTEXT), caller)
    [(operation, body, headers)] = caller.calls
    assert operation == f"POST {CHAT_PATH}"
    assert headers is None  # the openai transport adds the Bearer key, never the adapter
    assert body["model"] == CHUTES_DEFAULT_MODEL
    assert record.kind == "answer" and record.source == "chutes"
    assert record.text == "According to record [1], NimbusGPU lists the H100 at $2.49/hr, billed per second."
    assert record.title == "deepseek-ai/DeepSeek-V3-0324"
    assert record.metrics == {"prompt_tokens": 142.0, "completion_tokens": 21.0}
    assert record.receipt_index == 0


async def test_a_recorded_targon_answer_becomes_one_answer_record() -> None:
    caller = caller_answering(recorded("targon_chat_completion.json"), name="targon")
    [record] = await InferenceAdapter.targon().run(step(prompt="H100 price?"), caller)
    assert record.source == "targon" and record.title == "deepseek-ai/DeepSeek-V3"
    assert record.text.startswith("CoreForge Cloud charges $2.89/hr")
    assert "truncated" not in record.metrics


async def test_a_truncated_answer_is_kept_and_flagged() -> None:
    caller = caller_answering(recorded("chat_completion_truncated.json"))
    [record] = await InferenceAdapter.chutes().run(step(prompt="cheapest three?"), caller)
    assert record.metrics["truncated"] == 1.0
    assert record.text.endswith("and")


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (recorded("chat_completion_no_choices.json"), "no choices"),
        (recorded("chat_completion_reasoning_only.json"), "empty"),
        (recorded("openai_error.json"), "does not exist"),
        ({"choices": [{"message": {"role": "assistant", "content": "   "}}]}, "empty"),
        ({"choices": [{"message": {"role": "assistant", "content": None, "refusal": "no"}}]}, "refusal"),
        ({"choices": "not a list"}, "shape"),
        (["not", "an", "object"], "JSON object"),
    ],
)
async def test_answers_without_assistant_text_are_adapter_errors_tied_to_the_receipt(
    payload: Any, says: str
) -> None:
    caller = caller_answering(payload)
    with pytest.raises(InferenceError, match=says) as raised:
        await InferenceAdapter.chutes().run(step(prompt="q"), caller)
    assert isinstance(raised.value, AdapterError)
    assert raised.value.receipt_index == 0


async def test_a_transport_refusal_is_not_swallowed() -> None:
    meta = CallMeta(provider=Provider(host="llm.chutes.ai"), operation="POST", started_ns=1, latency_ms=1.0)
    refusal = ProducerRejected("401", meta, recorded("openai_error.json"))
    caller = caller_answering(refusal)
    with pytest.raises(ProducerRejected):
        await InferenceAdapter.chutes().run(step(prompt="q"), caller)


def test_answer_text_for_the_planner_and_synthesiser() -> None:
    assert answer_text(recorded("targon_chat_completion.json")).startswith("CoreForge Cloud")
    assert answer_text(recorded("chat_completion_truncated.json")).endswith("and")
    with pytest.raises(InferenceError) as raised:
        answer_text(recorded("chat_completion_no_choices.json"), receipt_index=3)
    assert raised.value.receipt_index == 3


def test_parse_completion_takes_the_first_choice_by_index() -> None:
    payload = {
        "choices": [
            {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "stop"},
            {"index": 0, "message": {"role": "assistant", "content": "first"}, "finish_reason": "length"},
        ]
    }
    completion = parse_completion(payload)
    assert completion.text == "first" and completion.truncated
    assert completion.prompt_tokens is None  # no usage block: no invented counts


async def test_an_answer_without_usage_has_no_token_metrics() -> None:
    payload = {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    [record] = await InferenceAdapter.targon().run(step(prompt="q"), caller_answering(payload, "targon"))
    assert record.metrics == {} and record.title == TARGON_DEFAULT_MODEL
