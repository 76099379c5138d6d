"""The `openai` route: OpenAI-compatible inference APIs (SN64 Chutes, SN4 Targon, any vLLM/SGLang server).

`OpenAITransport` sends through the shared `HttpTransport` pool, adds `Authorization: Bearer <key>`,
and turns the error bodies these servers send into typed `TransportError`s:

* OpenAI: `{"error": {"message", "type", "param", "code"}}`, `code` a string such as
  `context_length_exceeded`, `model_not_found`, `invalid_api_key`, `insufficient_quota`;
* vLLM: the same envelope with an integer `code` (the HTTP status), or, in older releases and
  SGLang/FastChat, the flat `{"object": "error", "message", "type", "param", "code"}`;
* Chutes (FastAPI): `{"detail": "..."}`, e.g. 503 `No instances available (yet) for chute_id=...`
  when a chute has no hot instance (chutesai/chutes-api `api/chute/util.py`) and 429
  `Infrastructure is at maximum capacity, try again later`.

A 200 must hold the documented shape of the endpoint called (chat completion, completion or model
list); anything else is an `InvalidResponse`. Streaming (`stream: true`) is not supported: its
server-sent events are not JSON and are refused as such.

The pydantic models restate the parts of OpenAI's chat completions reference that Orchestra sends
and reads; adapters build requests with them and the devnet stand-ins answer with them.
"""

import logging
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestra.transports.base import (
    CallMeta,
    CallReply,
    InvalidResponse,
    ProducerFailed,
    ProducerRejected,
    ProducerUnavailable,
    strict_json,
)
from orchestra.transports.http import HttpResponse, HttpTransport, Throttled

log = logging.getLogger(__name__)

MAX_ERROR_MESSAGE_CHARS = 300

# --- request and response shapes ---------------------------------------------------------------


class ChatMessage(BaseModel):
    """One message of a chat request."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str
    name: str | None = None
    tool_call_id: str | None = None


class JsonSchemaSpec(BaseModel):
    """The `json_schema` member of a structured-output `response_format`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    # "schema" shadows a BaseModel attribute, hence the alias.
    json_schema: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["json_schema"] = "json_schema"
    json_schema: JsonSchemaSpec


class JsonObjectFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["json_object"] = "json_object"


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"] = "text"


ResponseFormat = Annotated[JsonSchemaFormat | JsonObjectFormat | TextFormat, Field(discriminator="type")]


class ChatCompletionRequest(BaseModel):
    """A non-streaming `POST /chat/completions` body."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    response_format: ResponseFormat | None = None
    stream: Literal[False] = False

    def body(self) -> dict[str, Any]:
        """The JSON body to send: unset options left out, `schema` under its wire name."""
        body: dict[str, Any] = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        return body


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    arguments: str  # JSON text, as the model wrote it


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: str = "function"
    function: FunctionCall


class AssistantMessage(BaseModel):
    """`choices[i].message`. Providers add keys of their own, which are kept."""

    model_config = ConfigDict(extra="allow")

    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None  # vLLM/SGLang reasoning parsers, DeepSeek-R1 style
    refusal: str | None = None


class ChatChoice(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int = 0
    message: AssistantMessage
    finish_reason: str | None = None  # "stop" | "length" | "tool_calls" | "content_filter" | ...


class Usage(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)


class ChatCompletion(BaseModel):
    """A `chat.completion` object. `id`, `created` and `model` are optional here because a missing
    one does not make the answer unusable; the stand-ins always fill them."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    object: str = "chat.completion"
    created: int | None = None
    model: str | None = None
    choices: list[ChatChoice] = Field(min_length=1)
    usage: Usage | None = None


class CompletionChoice(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int = 0
    text: str
    finish_reason: str | None = None


class TextCompletion(BaseModel):
    """A legacy `text_completion` object (`POST /completions`)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    object: str = "text_completion"
    created: int | None = None
    model: str | None = None
    choices: list[CompletionChoice] = Field(min_length=1)
    usage: Usage | None = None


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None


class ModelList(BaseModel):
    """`GET /models`."""

    model_config = ConfigDict(extra="allow")

    object: str = "list"
    data: list[ModelCard]


class OpenAIErrorBody(BaseModel):
    """The OpenAI error envelope's inner object; stand-ins answer failures with it."""

    model_config = ConfigDict(extra="allow")

    message: str
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


# --- reading answers ---------------------------------------------------------------------------


class CompletionError(Exception):
    """A chat completion that holds no usable assistant text.

    Raised by `completion_text`, which sees only the payload; adapters turn it into an
    `AdapterError` carrying the call's receipt index.
    """


class EmptyCompletion(CompletionError):
    """No text: `content` missing or blank (a refusal, or only tool calls)."""


class TruncatedCompletion(CompletionError):
    """The model stopped at `max_tokens` (`finish_reason == "length"`); `text` is what it wrote."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


def completion_text(payload: Any, *, allow_truncated: bool = False) -> str:
    """The assistant's text of a chat completion payload (its lowest-index choice).

    Raises `CompletionError` when the payload is not a chat completion, `TruncatedCompletion` when the
    answer was cut at `max_tokens` (unless `allow_truncated` and some text came back) and
    `EmptyCompletion` when there is no text. Truncation is told apart because the fix differs: a
    larger `max_tokens` (a reasoning model may spend it all before answering), not another provider.
    """
    try:
        completion = ChatCompletion.model_validate(payload)
    except ValidationError as exc:
        raise CompletionError(f"not a chat completion: {_first_problem(exc)}") from None
    choice = min(completion.choices, key=lambda c: c.index)
    text = choice.message.content or ""
    if choice.finish_reason == "length" and not (allow_truncated and text.strip()):
        raise TruncatedCompletion(
            f"the completion stopped at max_tokens after {len(text)} characters of text", text
        )
    if not text.strip():
        if choice.message.refusal:
            why = f"the model refused: {choice.message.refusal[:MAX_ERROR_MESSAGE_CHARS]}"
        elif choice.message.tool_calls:
            why = "the model answered with tool calls, not text"
        else:
            why = "the completion's message has no content"
        raise EmptyCompletion(why)
    return text


# --- errors ------------------------------------------------------------------------------------


class AuthenticationFailed(ProducerRejected):
    """401/403: the API key is missing, wrong, revoked or not allowed this endpoint."""


class ModelNotFound(ProducerRejected):
    """The provider does not serve the requested model (OpenAI `model_not_found`, vLLM 404)."""


class ContextLengthExceeded(ProducerRejected):
    """The prompt plus `max_tokens` exceed the model's context window (`context_length_exceeded`)."""


class QuotaExhausted(ProducerRejected):
    """The account is out of credit or quota (402, or 429 `insufficient_quota`): waiting does not help."""


class NoCapacity(ProducerUnavailable):
    """The provider has no instance free for the model (Chutes' 503 `No instances available`)."""


@dataclass(frozen=True)
class ErrorDetail:
    """What an OpenAI-compatible error body says, whichever envelope carried it."""

    message: str
    type: str | None = None
    code: str | None = None


def error_detail(payload: Any) -> ErrorDetail | None:
    """The error an OpenAI, vLLM, SGLang or Chutes error body describes; None if it describes none."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        return _detail(error.get("message"), error.get("type"), error.get("code"))
    if isinstance(error, str):  # Chutes' in-band `{"error": "infra_overload", "detail": "..."}`
        return _detail(payload.get("detail") or payload.get("message") or error, None, error)
    if payload.get("object") == "error":
        return _detail(payload.get("message"), payload.get("type"), payload.get("code"))
    detail = payload.get("detail")
    if isinstance(detail, list):  # FastAPI request validation: [{"loc", "msg", "type"}, ...]
        messages = [str(item.get("msg")) for item in detail if isinstance(item, dict) and item.get("msg")]
        return _detail("; ".join(messages) or "invalid request", "invalid_request_error", None)
    if detail is not None:
        return _detail(detail, None, None)
    if isinstance(payload.get("message"), str) and "choices" not in payload and "data" not in payload:
        return _detail(payload["message"], payload.get("type"), payload.get("code"))
    return None


def _detail(message: Any, type_: Any, code: Any) -> ErrorDetail:
    text = message if isinstance(message, str) else str(message) if message is not None else ""
    return ErrorDetail(
        message=text.strip()[:MAX_ERROR_MESSAGE_CHARS],
        type=type_ if isinstance(type_, str) else None,
        code=str(code) if isinstance(code, (str, int)) and not isinstance(code, bool) else None,
    )


_CONTEXT_LENGTH = re.compile(
    r"context[ _]length|maximum context|context window|prompt is too long|too many (?:input )?tokens", re.I
)
_MODEL_MISSING = re.compile(
    r"model\b.*\b(?:not found|does not exist|not exist|unknown|not available|not supported)"
    r"|(?:no such|unknown|invalid) model",
    re.I,
)
_NO_CAPACITY = re.compile(r"no instances available|maximum capacity|infra_overload|overloaded", re.I)
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"})


def raise_for_error(response: HttpResponse, payload: Any) -> NoReturn:
    """Raise the typed error an OpenAI-compatible failure stands for.

    `payload` is the decoded body, or None when it was not JSON. A 200 that carries an error body is
    classified by the status its `code` names (vLLM puts the HTTP status there), else as a 500.
    """
    meta = response.meta
    detail = error_detail(payload)
    status = response.status
    if status < 400:
        status = int(detail.code) if detail and detail.code and detail.code.isdigit() else 500
        status = status if 400 <= status < 600 else 500
    code = (detail.code or "").lower() if detail else ""
    kind = (detail.type or "").lower() if detail else ""
    message = detail.message if detail else ""
    said = f": {message}" if message else ""
    where = f"{meta.operation} at {meta.provider.host}"
    body = payload

    quota = code in _QUOTA_CODES or kind in _QUOTA_CODES or "quota" in message.lower()
    model_missing = code == "model_not_found" or (
        status == 404 and ("model" in message.lower() or kind == "notfounderror")
    )
    if status in (401, 403):
        raise AuthenticationFailed(f"{where} refused our credentials ({status}){said}", meta, body)
    if status == 402 or (status == 429 and quota):
        raise QuotaExhausted(f"{where} says the account is out of quota ({status}){said}", meta, body)
    if status == 429:
        raise Throttled(
            f"{where} is rate limiting us{said}", meta, body, retry_after_s=response.retry_after_s
        )
    if model_missing:
        raise ModelNotFound(f"{where} does not serve the model ({status}){said}", meta, body)
    if 400 <= status < 500 and (code == "context_length_exceeded" or _CONTEXT_LENGTH.search(message)):
        raise ContextLengthExceeded(f"{where} says the request is too long ({status}){said}", meta, body)
    if 400 <= status < 500 and _MODEL_MISSING.search(message):
        raise ModelNotFound(f"{where} does not serve the model ({status}){said}", meta, body)
    if 400 <= status < 500:
        raise ProducerRejected(f"{where} refused the request ({status}){said}", meta, body)
    if _NO_CAPACITY.search(message) or _NO_CAPACITY.search(code):
        raise NoCapacity(f"{where} has no capacity for the model ({status}){said}", meta, body)
    if status == 503:
        raise ProducerUnavailable(f"{where} is unavailable ({status}){said}", meta, body)
    raise ProducerFailed(f"{where} failed ({status}){said}", meta, body)


Shape = Literal["chat", "completion", "models"]
_SHAPES: dict[Shape, type[BaseModel]] = {
    "chat": ChatCompletion,
    "completion": TextCompletion,
    "models": ModelList,
}


def expected_shape(url: str) -> Shape | None:
    """Which documented answer the endpoint at `url` gives; None for endpoints we do not check."""
    path = urlsplit(url).path.rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/completions"):
        return "completion"
    if path.endswith("/models"):
        return "models"
    return None


def check_shape(payload: Any, shape: Shape, meta: CallMeta) -> None:
    """Raise `InvalidResponse` unless `payload` has the documented shape `shape`."""
    try:
        _SHAPES[shape].model_validate(payload)
    except ValidationError as exc:
        where = f"{meta.operation} at {meta.provider.host}"
        raise InvalidResponse(
            f"{where} answered 200 with something that is not a {shape} response: {_first_problem(exc)}",
            meta,
            payload,
        ) from None


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"[:MAX_ERROR_MESSAGE_CHARS]


# --- the transport -----------------------------------------------------------------------------


class OpenAITransport:
    """OpenAI-compatible calls over a shared `HttpTransport`, whose connection pool they reuse."""

    def __init__(self, http: HttpTransport) -> None:
        self.http = http

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float,
        api_key: str | None = None,
    ) -> CallReply:
        """One call to an OpenAI-compatible endpoint; `CallReply.payload` is the decoded JSON answer.

        With `api_key`, sends `Authorization: Bearer <api_key>`, replacing any Authorization header in
        `headers`: the route's key is the only credential this transport sends.
        """
        sent = {name: value for name, value in (headers or {}).items() if name.lower() != "authorization"}
        if api_key:
            sent["Authorization"] = f"Bearer {api_key}"
        response = await self.http.exchange(method, url, json_body=json_body, headers=sent, timeout=timeout)
        try:
            payload = strict_json(response.body) if response.body else None
        except ValueError:
            if response.status >= 400:
                raise_for_error(response, None)
            where = f"{response.meta.operation} at {response.meta.provider.host}"
            raise InvalidResponse(f"{where} did not answer with JSON", response.meta) from None
        if response.status >= 400:
            raise_for_error(response, payload)
        if isinstance(payload, dict) and _is_error_body(payload):
            raise_for_error(response, payload)
        shape = expected_shape(url)
        if shape is not None:
            check_shape(payload, shape, response.meta)
        return CallReply(payload=payload, meta=response.meta)


def _is_error_body(payload: dict[str, Any]) -> bool:
    """A 200 whose body reports an error instead of an answer (some gateways do this)."""
    if "choices" in payload or "data" in payload:
        return False
    return payload.get("error") is not None or payload.get("object") == "error"
