"""The Chutes/Targon stand-in speaks the OpenAI-compatible surface and answers only from its input."""

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import bittensor as bt
import httpx
import pytest
from jsonschema import Draft202012Validator

from orchestra.adapters.inference import (
    CHAT_PATH,
    CHUTES_DEFAULT_MODEL,
    InferenceAdapter,
    chat_request,
    parse_completion,
    user_message,
)
from orchestra.devnet.faults import Fault, FaultInjector, FaultKind
from orchestra.devnet.inference import InferenceEmulator
from orchestra.routing import Candidate, RouteSpec
from orchestra.schema import compile_schema
from orchestra.transports.base import CallReply
from orchestra.transports.http import HttpTransport
from protocol.models import Provider, RouteKind, Step
from tests.orchestra.adapters.fakes import recorded

KEY = "cpk_devnet"
RECORDS = [
    {
        "text": "NimbusGPU lists H100 at $2.49/hr and A100 at $1.29/hr, billed per second. "
        "Users praise its clean API.",
        "url": "https://nimbusgpu.example/pricing",
        "source": "web",
    },
    {
        "text": "CoreForge Cloud lists H100 at $2.89/hr. It offers InfiniBand clusters up to 512 GPUs.",
        "url": "https://coreforge.example/pricing",
        "source": "web",
    },
    {"text": "VoltStack has the cheapest spot capacity at $1.99/hr for an H100.", "source": "x"},
    {"text": "The weather in Lisbon was sunny all week.", "source": "reddit"},
]
COMPETITORS = {
    "type": "object",
    "properties": {
        "competitors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "h100_price": {"type": "number", "minimum": 0},
                    "pricing": {"type": "string", "maxLength": 80},
                    "url": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "segment": {"enum": ["budget", "enterprise"]},
                },
                "required": ["name", "h100_price", "pricing", "url", "segment"],
                "additionalProperties": False,
            },
        },
        "summary": {"type": "string"},
    },
    "required": ["competitors", "summary"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[InferenceEmulator]:
    running = InferenceEmulator.chutes(api_key=KEY).start()
    yield running
    running.stop()


def chat(emulator: InferenceEmulator, body: Any, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.post(f"{emulator.base_url}{CHAT_PATH}", json=body, headers=headers, timeout=5)


def ask(prompt: str, records: list[dict[str, Any]] | None = None, **options: Any) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": user_message(prompt, records)},
    ]
    arguments = {"model": CHUTES_DEFAULT_MODEL, "max_tokens": 512, "temperature": 0.0, "seed": 1, **options}
    return chat_request(messages, **arguments)


def content(reply: httpx.Response) -> str:
    assert reply.status_code == 200, reply.text
    return parse_completion(reply.json()).text


def test_models_are_listed_without_a_key_in_the_documented_shape(emulator: InferenceEmulator) -> None:
    reply = httpx.get(f"{emulator.base_url}/models", timeout=5)
    assert reply.status_code == 200
    assert reply.headers["X-Orchestra-Devnet"] == "stand-in"
    body = reply.json()
    documented = recorded("chutes_models.json")
    assert body["object"] == documented["object"]
    assert [m["id"] for m in body["data"]] == list(emulator.models)
    assert all(set(documented["data"][0]) <= set(m) for m in body["data"])


@pytest.mark.parametrize("key", [None, "wrong", f"{KEY}x"])
def test_chat_needs_the_bearer_key(emulator: InferenceEmulator, key: str | None) -> None:
    reply = chat(emulator, ask("hello"), key=key)
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"


def test_the_key_without_bearer_is_refused(emulator: InferenceEmulator) -> None:
    reply = httpx.post(
        f"{emulator.base_url}{CHAT_PATH}", json=ask("hello"), headers={"Authorization": KEY}, timeout=5
    )
    assert reply.status_code == 401


def test_a_body_that_is_not_json_is_400(emulator: InferenceEmulator) -> None:
    reply = httpx.post(
        f"{emulator.base_url}{CHAT_PATH}",
        content=b"{{{",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": CHUTES_DEFAULT_MODEL}, "messages", "missing_required_parameter"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model", "missing_required_parameter"),
        ({**ask("hi"), "temperature": 5}, "temperature", "invalid_value"),
        ({**ask("hi"), "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role", "invalid_value"),
        ({**ask("hi"), "response_format": {"type": "yaml"}}, "response_format.type", "invalid_value"),
        ({**ask("hi"), "stream": True}, "stream", None),
        (["not", "an", "object"], None, "invalid_value"),
    ],
)
def test_malformed_requests_are_400_with_an_openai_style_error(
    emulator: InferenceEmulator, body: Any, param: str | None, code: str | None
) -> None:
    reply = chat(emulator, body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param and error["code"] == code


def test_an_unknown_model_is_404_model_not_found(emulator: InferenceEmulator) -> None:
    reply = chat(emulator, ask("hi", model="openai/gpt-99"))
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"


def test_a_plain_answer_is_verbatim_context_closest_to_the_question(emulator: InferenceEmulator) -> None:
    reply = chat(emulator, ask("What does NimbusGPU charge for an H100?", RECORDS))
    assert reply.headers["X-Orchestra-Devnet"] == "stand-in"
    body = reply.json()
    answer = content(reply)
    context = " ".join(record["text"] for record in RECORDS)
    sentences = re.split(r"(?<=[.!?])\s+", answer)
    assert 1 <= len(sentences) <= 3
    assert all(sentence in context for sentence in sentences)
    assert "NimbusGPU lists H100 at $2.49/hr" in answer
    assert "Lisbon" not in answer
    assert body["id"].startswith("chatcmpl-devnet-") and body["object"] == "chat.completion"
    assert body["model"] == CHUTES_DEFAULT_MODEL
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] == len(answer.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_answers_are_deterministic(emulator: InferenceEmulator) -> None:
    first = content(chat(emulator, ask("cheapest H100 spot capacity", RECORDS)))
    second = content(chat(emulator, ask("cheapest H100 spot capacity", RECORDS)))
    assert first == second and "VoltStack" in first


def test_without_context_it_says_it_is_a_stand_in_without_knowledge(emulator: InferenceEmulator) -> None:
    answer = content(chat(emulator, ask("What is the capital of France?")))
    assert "devnet stand-in" in answer and "no knowledge" in answer
    assert "Paris" not in answer


def test_structured_output_validates_and_is_traceable_to_the_input(emulator: InferenceEmulator) -> None:
    reply = chat(emulator, ask("Compare GPU clouds on H100 price", RECORDS, json_schema=COMPETITORS))
    document = json.loads(content(reply))
    Draft202012Validator(COMPETITORS).validate(document)
    context = " ".join(record["text"] for record in RECORDS)
    names = [item["name"] for item in document["competitors"]]
    assert names == ["NimbusGPU", "CoreForge Cloud", "VoltStack"]
    prices = {item["name"]: item["h100_price"] for item in document["competitors"]}
    assert prices == {"NimbusGPU": 2.49, "CoreForge Cloud": 2.89, "VoltStack": 1.99}
    for item in document["competitors"]:
        assert item["pricing"] in context and item["name"] in item["pricing"]
    urls = {item["name"]: item["url"] for item in document["competitors"]}
    assert urls["NimbusGPU"] == "https://nimbusgpu.example/pricing"
    assert urls["VoltStack"] is None  # its record has no URL: nothing is made up
    assert document["summary"] in context


@pytest.mark.parametrize(
    "schema",
    [
        compile_schema({"competitors": [{"name": "str", "pricing": "dict"}]}).json_schema(),
        compile_schema({"title": "str", "count": "int", "ok": "bool", "tags": ["str"]}).json_schema(),
        {
            "$defs": {
                "vendor": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            },
            "type": "object",
            "properties": {
                "vendors": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/vendor"},
                    "minItems": 1,
                    "maxItems": 2,
                },
                "cheapest": {"type": ["number", "null"]},
                "gpus": {"type": "integer", "minimum": 100},
                "tier": {"type": "string", "enum": ["budget", "premium"]},
                "when": {"type": "string", "format": "date"},
            },
            "required": ["vendors", "cheapest", "gpus", "tier"],
        },
        {"type": "array", "items": {"type": "string"}},
    ],
)
def test_structured_output_is_valid_for_varied_schemas(
    emulator: InferenceEmulator, schema: dict[str, Any]
) -> None:
    document = json.loads(content(chat(emulator, ask("Compare GPU clouds", RECORDS, json_schema=schema))))
    Draft202012Validator(schema).validate(document)


def test_structured_output_without_context_is_built_from_the_user_turn(emulator: InferenceEmulator) -> None:
    schema = {
        "type": "object",
        "properties": {"entities": {"type": "array", "items": {"type": "string"}}},
        "required": ["entities"],
    }
    document = json.loads(
        content(chat(emulator, ask("Compare NimbusGPU with VoltStack.", json_schema=schema)))
    )
    assert document == {"entities": ["NimbusGPU", "VoltStack"]}


def test_a_schema_it_cannot_fill_honestly_is_refused(emulator: InferenceEmulator) -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}},
        "required": ["code"],
    }
    reply = chat(emulator, ask("What is the code?", RECORDS, json_schema=schema))
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "unsupported_schema"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": 5}}},
        {
            "type": "object",
            "properties": {"a": {"$ref": "https://schemas.example/a.json"}},
            "required": ["a"],
        },
    ],
)
def test_an_invalid_or_remote_schema_is_400(emulator: InferenceEmulator, schema: dict[str, Any]) -> None:
    reply = chat(emulator, ask("q", RECORDS, json_schema=schema))
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_schema"


def test_json_object_mode_wraps_the_extractive_answer(emulator: InferenceEmulator) -> None:
    body = {**ask("NimbusGPU H100 price", RECORDS), "response_format": {"type": "json_object"}}
    document = json.loads(content(chat(emulator, body)))
    assert set(document) == {"answer"} and "NimbusGPU lists H100" in document["answer"]


def test_max_tokens_cuts_the_answer_and_says_so(emulator: InferenceEmulator) -> None:
    full = content(chat(emulator, ask("NimbusGPU H100 price", RECORDS)))
    reply = chat(emulator, ask("NimbusGPU H100 price", RECORDS, max_tokens=3))
    body = reply.json()
    cut = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "length"
    assert full.startswith(cut) and len(cut.split()) == 3
    assert body["usage"]["completion_tokens"] == 3


def test_injected_faults_reach_the_wire() -> None:
    faults = FaultInjector(faults=(Fault(FaultKind.ERROR),), seed=1)
    running = InferenceEmulator.targon(api_key=KEY, faults=faults).start()
    try:
        reply = chat(running, ask("hi", model="deepseek-ai/DeepSeek-V3"))
    finally:
        running.stop()
    assert reply.status_code == 503
    assert faults.counts == {"5xx": 1}


class LoopbackCaller:
    """Calls the stand-in over real HTTP the way the openai route does: base URL + path, Bearer key."""

    def __init__(self, emulator: InferenceEmulator, transport: HttpTransport) -> None:
        self._transport = transport
        route = RouteSpec(
            name="sn64-chutes",
            netuid=64,
            kind=RouteKind.OPENAI,
            adapter="chutes",
            capabilities=("llm_inference",),
            endpoint=emulator.base_url,
            api_key=KEY,
        )
        self._candidate = Candidate(route=route, provider=Provider(host="127.0.0.1"))

    @property
    def candidate(self) -> Candidate:
        return self._candidate

    async def dendrite(self, synapse: bt.Synapse) -> CallReply:
        raise NotImplementedError

    async def http(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> CallReply:
        route = self._candidate.route
        assert route.endpoint is not None and route.api_key is not None
        bearer = {"Authorization": f"Bearer {route.api_key.get_secret_value()}", **(headers or {})}
        reply = await self._transport.request(
            method, f"{route.endpoint}{path}", json_body=json_body, headers=bearer, timeout=5
        )
        return dataclasses.replace(reply, receipt_index=0)


async def test_our_adapter_reads_the_stand_in_answers(emulator: InferenceEmulator) -> None:
    transport = HttpTransport()
    try:
        step = Step(
            id="answer",
            capability="llm_inference",
            inputs={"prompt": "Which provider has the cheapest H100?", "context": RECORDS},
        )
        [record] = await InferenceAdapter.chutes().run(step, LoopbackCaller(emulator, transport))
    finally:
        await transport.aclose()
    assert record.source == "chutes" and record.title == CHUTES_DEFAULT_MODEL
    assert "VoltStack has the cheapest spot capacity at $1.99/hr for an H100." in record.text
    assert record.metrics["completion_tokens"] == len(record.text.split())


def test_a_recursive_schema_gets_a_bounded_valid_answer(emulator: InferenceEmulator) -> None:
    schema = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
                "required": ["name", "children"],
            }
        },
        "$ref": "#/$defs/node",
    }
    many = [
        {"text": f"Vendor{n} and Vendor{n + 1} compete. Vendor{n + 1} leads.", "source": "web"}
        for n in range(10)
    ]
    reply = chat(emulator, ask("Who competes?", many, json_schema=schema))
    Draft202012Validator(schema).validate(json.loads(content(reply)))
