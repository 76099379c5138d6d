import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.transports import (
    AuthenticationFailed,
    ContextLengthExceeded,
    InvalidResponse,
    ModelNotFound,
    NoCapacity,
    ProducerFailed,
    ProducerRejected,
    QuotaExhausted,
    Throttled,
    TransportError,
)
from orchestra.transports.http import HttpTransport
from orchestra.transports.openai import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    CompletionError,
    EmptyCompletion,
    JsonSchemaFormat,
    JsonSchemaSpec,
    OpenAITransport,
    TruncatedCompletion,
    completion_text,
    error_detail,
)
from protocol.models import CallStatus


def chat_completion(
    content: str | None = "Paris.", finish_reason: str = "stop", **message: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "deepseek-ai/DeepSeek-V3-0324",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


# name -> (status, body: JSON value or raw text, extra headers)
ANSWERS: dict[str, tuple[int, Any, dict[str, str]]] = {
    "ok": (200, chat_completion(), {}),
    "truncated": (200, chat_completion("The capital of Fr", finish_reason="length"), {}),
    "unauthorised": (
        401,
        {
            "error": {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        {},
    ),
    "forbidden": (403, {"detail": "Invalid token."}, {}),
    "missing-model-openai": (
        404,
        {
            "error": {
                "message": "The model `gpt-9` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        },
        {},
    ),
    "missing-model-vllm": (
        404,
        {
            "error": {
                "message": "The model `nope` does not exist.",
                "type": "NotFoundError",
                "param": None,
                "code": 404,
            }
        },
        {},
    ),
    "too-long-openai": (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 8192 tokens. However, your messages "
                "resulted in 9000 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
        {},
    ),
    "too-long-vllm-flat": (
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 "
            "tokens.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        {},
    ),
    "bad-request": (
        400,
        {"error": {"message": "temperature: must be <= 2", "type": "invalid_request_error", "code": None}},
        {},
    ),
    "limited": (
        429,
        {
            "error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        },
        {"Retry-After": "7"},
    ),
    "chutes-capacity": (429, {"detail": "Infrastructure is at maximum capacity, try again later"}, {}),
    "quota": (
        429,
        {
            "error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
        {},
    ),
    "cold": (
        503,
        {"detail": "No instances available (yet) for chute_id='0df3133d-c477-56d2-b4db-f2093bb150a1'"},
        {},
    ),
    "broken": (500, {"error": {"message": "Internal error", "type": "InternalServerError", "code": 500}}, {}),
    "gateway": (502, "<html>Bad Gateway</html>", {}),
    "html-200": (200, "<html>hello</html>", {}),
    "no-choices": (200, {"id": "x", "object": "chat.completion", "model": "m"}, {}),
    "choices-not-list": (200, {"id": "x", "choices": "Paris"}, {}),
    "no-message": (200, {"id": "x", "choices": [{"index": 0, "finish_reason": "stop", "text": "Paris"}]}, {}),
    "empty-choices": (200, {"id": "x", "choices": []}, {}),
    "in-band-error": (
        200,
        {"error": "infra_overload", "detail": "Infrastructure is at maximum capacity, try again later"},
        {},
    ),
    "models": (200, {"object": "list", "data": [{"id": "deepseek-ai/DeepSeek-V3", "object": "model"}]}, {}),
    "models-wrong": (200, {"object": "list", "data": "deepseek"}, {}),
    "completion": (
        200,
        {"id": "c", "object": "text_completion", "choices": [{"index": 0, "text": "Paris"}]},
        {},
    ),
}


class Seen:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []


@pytest.fixture(scope="module")
def seen() -> Seen:
    return Seen()


@pytest.fixture(scope="module")
def server(seen: Seen) -> Iterator[ThreadedAiohttpServer]:
    async def answer(request: web.Request) -> web.Response:
        seen.requests.append((request.path, dict(request.headers), await request.read()))
        status, body, headers = ANSWERS[request.match_info["name"]]
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/html", headers=headers)
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{name}/v1/{tail:.*}", answer)
    running = ThreadedAiohttpServer(app).start()
    yield running
    running.stop()


@pytest.fixture
async def transport() -> AsyncIterator[OpenAITransport]:
    http = HttpTransport()
    yield OpenAITransport(http)
    await http.aclose()


def chat_url(server: ThreadedAiohttpServer, name: str) -> str:
    return f"{server.url}/{name}/v1/chat/completions"


REQUEST = ChatCompletionRequest(
    model="deepseek-ai/DeepSeek-V3-0324",
    messages=[ChatMessage(role="user", content="Capital of France?")],
    temperature=0.0,
    max_tokens=64,
    seed=7,
).body()


async def test_a_chat_completion_comes_back_with_the_bearer_key_sent(
    server: ThreadedAiohttpServer, seen: Seen, transport: OpenAITransport
) -> None:
    reply = await transport.request(
        "POST", chat_url(server, "ok"), json_body=REQUEST, timeout=5, api_key="cpk_test"
    )
    path, headers, body = seen.requests[-1]
    assert path == "/ok/v1/chat/completions"
    assert headers["Authorization"] == "Bearer cpk_test"
    assert json.loads(body) == REQUEST
    assert reply.payload == chat_completion()
    assert reply.meta.status_code == 200
    assert completion_text(reply.payload) == "Paris."


async def test_the_route_key_replaces_any_authorization_the_caller_set(
    server: ThreadedAiohttpServer, seen: Seen, transport: OpenAITransport
) -> None:
    await transport.request(
        "POST",
        chat_url(server, "ok"),
        json_body=REQUEST,
        headers={"authorization": "Bearer someone-else", "X-Enable-Thinking": "false"},
        timeout=5,
        api_key="cpk_route",
    )
    _, headers, _ = seen.requests[-1]
    assert headers["Authorization"] == "Bearer cpk_route"
    assert headers["X-Enable-Thinking"] == "false"


async def test_without_a_key_no_authorization_is_sent(
    server: ThreadedAiohttpServer, seen: Seen, transport: OpenAITransport
) -> None:
    await transport.request("GET", f"{server.url}/models/v1/models", timeout=5, api_key=None)
    _, headers, _ = seen.requests[-1]
    assert "Authorization" not in headers


@pytest.mark.parametrize(
    ("name", "error", "status", "transient"),
    [
        ("unauthorised", AuthenticationFailed, CallStatus.REJECTED, False),
        ("forbidden", AuthenticationFailed, CallStatus.REJECTED, False),
        ("missing-model-openai", ModelNotFound, CallStatus.REJECTED, False),
        ("missing-model-vllm", ModelNotFound, CallStatus.REJECTED, False),
        ("too-long-openai", ContextLengthExceeded, CallStatus.REJECTED, False),
        ("too-long-vllm-flat", ContextLengthExceeded, CallStatus.REJECTED, False),
        ("bad-request", ProducerRejected, CallStatus.REJECTED, False),
        ("limited", Throttled, CallStatus.REJECTED, True),
        ("chutes-capacity", Throttled, CallStatus.REJECTED, True),
        ("quota", QuotaExhausted, CallStatus.REJECTED, False),
        ("cold", NoCapacity, CallStatus.UNAVAILABLE, True),
        ("in-band-error", NoCapacity, CallStatus.UNAVAILABLE, True),
        ("broken", ProducerFailed, CallStatus.ERROR, True),
        ("gateway", ProducerFailed, CallStatus.ERROR, True),
        ("html-200", InvalidResponse, CallStatus.INVALID_RESPONSE, False),
        ("no-choices", InvalidResponse, CallStatus.INVALID_RESPONSE, False),
        ("choices-not-list", InvalidResponse, CallStatus.INVALID_RESPONSE, False),
        ("no-message", InvalidResponse, CallStatus.INVALID_RESPONSE, False),
        ("empty-choices", InvalidResponse, CallStatus.INVALID_RESPONSE, False),
    ],
)
async def test_failures_are_typed(
    server: ThreadedAiohttpServer,
    transport: OpenAITransport,
    name: str,
    error: type[TransportError],
    status: CallStatus,
    transient: bool,
) -> None:
    with pytest.raises(error) as caught:
        await transport.request("POST", chat_url(server, name), json_body=REQUEST, timeout=5, api_key="k")
    assert type(caught.value) is error  # the most specific class, not a parent that happens to match
    assert caught.value.status is status
    assert caught.value.transient is transient
    assert caught.value.meta.provider.host == f"127.0.0.1:{server.port}"


async def test_a_plain_bad_request_is_not_mistaken_for_a_missing_model_or_a_long_prompt(
    server: ThreadedAiohttpServer, transport: OpenAITransport
) -> None:
    with pytest.raises(ProducerRejected) as caught:
        await transport.request("POST", chat_url(server, "bad-request"), json_body=REQUEST, timeout=5)
    assert not isinstance(caught.value, (ModelNotFound, ContextLengthExceeded, AuthenticationFailed))
    assert "temperature: must be <= 2" in str(caught.value)


async def test_rate_limiting_exposes_retry_after_and_keeps_the_error_body(
    server: ThreadedAiohttpServer, transport: OpenAITransport
) -> None:
    with pytest.raises(Throttled) as caught:
        await transport.request("POST", chat_url(server, "limited"), json_body=REQUEST, timeout=5)
    assert caught.value.retry_after_s == 7.0
    assert caught.value.meta.status_code == 429
    assert caught.value.payload["error"]["code"] == "rate_limit_exceeded"


async def test_the_provider_message_is_in_the_error(
    server: ThreadedAiohttpServer, transport: OpenAITransport
) -> None:
    with pytest.raises(NoCapacity) as caught:
        await transport.request("POST", chat_url(server, "cold"), json_body=REQUEST, timeout=5)
    assert "No instances available (yet)" in str(caught.value)


async def test_a_truncated_completion_is_delivered_and_told_apart(
    server: ThreadedAiohttpServer, transport: OpenAITransport
) -> None:
    reply = await transport.request("POST", chat_url(server, "truncated"), json_body=REQUEST, timeout=5)
    with pytest.raises(TruncatedCompletion) as caught:
        completion_text(reply.payload)
    assert caught.value.text == "The capital of Fr"
    assert completion_text(reply.payload, allow_truncated=True) == "The capital of Fr"


@pytest.mark.parametrize(("name", "path"), [("models", "/v1/models"), ("completion", "/v1/completions")])
async def test_other_endpoints_are_checked_against_their_own_shape(
    server: ThreadedAiohttpServer, transport: OpenAITransport, name: str, path: str
) -> None:
    reply = await transport.request("GET", f"{server.url}/{name}{path}", timeout=5)
    assert reply.payload == ANSWERS[name][1]


async def test_a_model_list_of_the_wrong_shape_is_invalid(
    server: ThreadedAiohttpServer, transport: OpenAITransport
) -> None:
    with pytest.raises(InvalidResponse, match="data"):
        await transport.request("GET", f"{server.url}/models-wrong/v1/models", timeout=5)


def test_completion_text_refuses_empty_answers() -> None:
    with pytest.raises(EmptyCompletion, match="no content"):
        completion_text(chat_completion(content=None))
    with pytest.raises(EmptyCompletion, match="no content"):
        completion_text(chat_completion(content="   "))
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
    with pytest.raises(EmptyCompletion, match="tool calls"):
        completion_text(chat_completion(content=None, tool_calls=[tool_call], finish_reason="tool_calls"))
    with pytest.raises(EmptyCompletion, match="refused: not allowed"):
        completion_text(chat_completion(content=None, refusal="not allowed"))


def test_a_reasoning_model_that_spent_its_budget_thinking_is_truncated_not_empty() -> None:
    payload = chat_completion(content=None, finish_reason="length", reasoning_content="Let me think...")
    with pytest.raises(TruncatedCompletion):
        completion_text(payload, allow_truncated=True)
    assert ChatCompletion.model_validate(payload).choices[0].message.reasoning_content == "Let me think..."


def test_completion_text_refuses_what_is_not_a_chat_completion() -> None:
    with pytest.raises(CompletionError, match="choices"):
        completion_text({"object": "list", "data": []})
    with pytest.raises(CompletionError):
        completion_text("Paris")


def test_the_lowest_index_choice_is_the_answer() -> None:
    payload = chat_completion()
    payload["choices"] = [
        {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "stop"},
        {"index": 0, "message": {"role": "assistant", "content": "first"}, "finish_reason": "stop"},
    ]
    assert completion_text(payload) == "first"


def test_a_structured_output_request_uses_the_wire_names() -> None:
    request = ChatCompletionRequest(
        model="m",
        messages=[ChatMessage(role="system", content="Be terse."), ChatMessage(role="user", content="Hi")],
        response_format=JsonSchemaFormat(
            json_schema=JsonSchemaSpec(name="answer", json_schema={"type": "object"}, strict=True)
        ),
    )
    assert request.body() == {
        "model": "m",
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
        "stream": False,
    }
    assert ChatCompletionRequest.model_validate(request.body()) == request
    assert ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"},
        }
    ).body()["response_format"] == {"type": "json_object"}


def test_a_streaming_request_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="stream"):
        ChatCompletionRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
        )


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"error": {"message": "m", "type": "t", "code": "c"}}, "m", "c"),
        ({"error": {"message": "m", "type": "BadRequestError", "code": 400}}, "m", "400"),
        ({"object": "error", "message": "m", "type": "t", "code": 400}, "m", "400"),
        ({"detail": "No instances available (yet)"}, "No instances available (yet)", None),
        ({"detail": [{"loc": ["body", "model"], "msg": "Field required"}]}, "Field required", None),
        ({"error": "infra_overload", "detail": "at capacity"}, "at capacity", "infra_overload"),
    ],
)
def test_error_bodies_of_every_envelope_are_read(
    body: dict[str, Any], message: str, code: str | None
) -> None:
    detail = error_detail(body)
    assert detail is not None
    assert detail.message == message
    assert detail.code == code


def test_answers_are_not_error_bodies() -> None:
    assert error_detail(chat_completion()) is None
    assert error_detail(["not", "a", "dict"]) is None
