"""SN64 Chutes and SN4 Targon over the `openai` route: OpenAI-compatible `POST /chat/completions`.

Both producers sell inference through a hosted OpenAI-compatible API (Chutes at
`https://llm.chutes.ai/v1`, Targon at `https://api.targon.com/v1`); their miners take no queries from
outsiders. The request and response shapes are the `openai` transport's models of OpenAI's chat
completions reference as served by vLLM/SGLang: a `model`, `messages`, `max_tokens`, `temperature`,
`seed` and an optional `response_format` go in; `choices[0].message.content`, `finish_reason` and
`usage` come back. The route's transport adds `Authorization: Bearer <key>`, so this adapter never
touches the key.

Sampling is not reproducible across GPUs even with a fixed seed (see producer-subnets.md); a low
temperature and a fixed seed only narrow the spread, which is why each answer is a receipted record.
"""

import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record
from orchestra.transports.openai import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    JsonSchemaFormat,
    JsonSchemaSpec,
)
from protocol.models import RouteKind, Step

log = logging.getLogger(__name__)

CHAT_PATH = "/chat/completions"
MODELS_PATH = "/models"
CHUTES_DEFAULT_MODEL = "deepseek-ai/DeepSeek-V3-0324"
TARGON_DEFAULT_MODEL = "deepseek-ai/DeepSeek-V3"
DEFAULT_MAX_TOKENS = 1024
MAX_TOKENS_LIMIT = 8192
DEFAULT_TEMPERATURE = 0.0
DEFAULT_SEED = 1234
MAX_PROMPT_CHARS = 32_000
MAX_CONTEXT_RECORDS = 30
MAX_RECORD_CHARS = 2_000
MAX_CONTEXT_CHARS = 24_000
DEFAULT_SYSTEM = (
    "You are a careful research assistant. When context records are given, answer only from them and "
    "say so when they do not contain the answer. Be concise."
)


class InferenceError(AdapterError):
    """The provider answered, but with no usable assistant text (no choice, empty content, an error)."""


class SentMessage(ChatMessage):
    """A turn this adapter sends: plain system, user or assistant text (no tool turns, no names)."""

    role: Literal["system", "user", "assistant"]
    name: None = None
    tool_call_id: None = None


class ChatRequest(ChatCompletionRequest):
    """The transport's request body narrowed to what this adapter sends: `max_tokens` and `temperature`
    always set, `max_tokens` at most `MAX_TOKENS_LIMIT`."""

    max_tokens: int = Field(ge=1, le=MAX_TOKENS_LIMIT)
    temperature: float = Field(ge=0.0, le=2.0)


@dataclass(frozen=True)
class Completion:
    """The first choice of a chat completion, checked to hold assistant text."""

    text: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None

    @property
    def truncated(self) -> bool:
        """The provider stopped at `max_tokens`: the text is cut off (and JSON would not parse)."""
        return self.finish_reason == "length"


def chat_request(
    messages: list[dict[str, str]],
    *,
    model: str,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    json_schema: dict[str, Any] | None = None,
    schema_name: str = "result",
    strict: bool = True,
) -> dict[str, Any]:
    """The wire body of a non-streaming chat completion request.

    With `json_schema`, asks for structured output (`response_format` of type `json_schema`); `strict`
    asks the provider to enforce it, which OpenAI-style strict mode allows only for a schema subset
    (every property required, no open maps).
    Raises `ValueError` (a pydantic `ValidationError`) when an argument is outside what the API takes.
    """
    response_format = None
    if json_schema is not None:
        response_format = JsonSchemaFormat(
            json_schema=JsonSchemaSpec(name=schema_name, json_schema=json_schema, strict=strict)
        )
    sent: list[ChatMessage] = [SentMessage.model_validate(message) for message in messages]
    request = ChatRequest(
        model=model,
        messages=sent,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        response_format=response_format,
    )
    return request.body()


def parse_completion(payload: Any, *, receipt_index: int | None = None) -> Completion:
    """Read a chat completion payload. Raises `InferenceError` when it holds no assistant text."""
    if not isinstance(payload, dict):
        raise InferenceError(
            "the provider answered with something other than a JSON object", receipt_index=receipt_index
        )
    error = payload.get("error")
    if error is not None and not payload.get("choices"):
        message = error.get("message") if isinstance(error, dict) else error
        raise InferenceError(f"the provider answered with an error: {message}", receipt_index=receipt_index)
    try:
        completion = ChatCompletion.model_validate(payload)
    except ValidationError as exc:
        # The model requires a choice; a completion that is otherwise well formed but has none (a
        # gateway whose backend returned nothing) is reported as such.
        if all(_no_choices(problem) for problem in exc.errors()):
            raise InferenceError("the chat completion has no choices", receipt_index=receipt_index) from None
        raise InferenceError(
            f"the answer does not match the chat completion shape: {exc}", receipt_index=receipt_index
        ) from None
    choice = min(completion.choices, key=lambda c: c.index)
    text = choice.message.content
    if text is None or not text.strip():
        why = f" (refusal: {choice.message.refusal})" if choice.message.refusal else ""
        raise InferenceError(f"the chat completion's message is empty{why}", receipt_index=receipt_index)
    usage = completion.usage
    return Completion(
        text=text,
        model=completion.model,
        finish_reason=choice.finish_reason,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
    )


def answer_text(payload: Any, *, receipt_index: int | None = None) -> str:
    """The assistant's text from a chat completion payload; raises `InferenceError` when there is none.

    A truncated answer (`finish_reason == "length"`) is returned as it is: callers that need whole JSON
    find out when they parse it.
    """
    return parse_completion(payload, receipt_index=receipt_index).text


def user_message(prompt: str, context: list[dict[str, Any]] | None = None) -> str:
    """The user turn: numbered, quoted context records (`> ` lines), then the prompt.

    Quoting keeps record text apart from instructions, so text inside a record cannot pose as the task,
    and lets a reader (or the devnet stand-in) tell evidence from the question.
    """
    blocks: list[str] = []
    budget = MAX_CONTEXT_CHARS
    for number, item in enumerate((context or [])[:MAX_CONTEXT_RECORDS], start=1):
        text = str(item.get("text") or "").strip()
        if not text or budget <= 0:
            continue
        if len(text) > min(MAX_RECORD_CHARS, budget):
            text = text[: min(MAX_RECORD_CHARS, budget)].rstrip() + " [...]"
        budget -= len(text)
        about = [
            f"source: {item['source']}" if item.get("source") else "",
            f"url: {item['url']}" if item.get("url") else "",
        ]
        header = f"[{number}] " + "; ".join(part for part in about if part)
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())
        blocks.append(f"{header.rstrip()}\n{quoted}")
    if not blocks:
        return prompt
    return "Context records (quoted):\n\n" + "\n\n".join(blocks) + f"\n\nTask:\n{prompt}"


def build_messages(inputs: dict[str, Any]) -> list[dict[str, str]]:
    """System, then one user turn with the context records and the prompt. Raises `AdapterError`."""
    prompt = inputs.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise AdapterError("an llm_inference step needs a non-empty `prompt`")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise AdapterError(f"the prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    system = inputs.get("system")
    context = inputs.get("context")
    records = [item for item in context if isinstance(item, dict)] if isinstance(context, list) else []
    return [
        {
            "role": "system",
            "content": system if isinstance(system, str) and system.strip() else DEFAULT_SYSTEM,
        },
        {"role": "user", "content": user_message(prompt.strip(), records)},
    ]


class InferenceAdapter(Adapter):
    """`llm_inference` from an OpenAI-compatible producer API (one instance per producer)."""

    route_kinds = frozenset({RouteKind.OPENAI})

    def __init__(
        self,
        name: str,
        *,
        default_model: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int = DEFAULT_SEED,
    ) -> None:
        self.name = name
        self.default_model = default_model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed

    @classmethod
    def chutes(cls, *, default_model: str = CHUTES_DEFAULT_MODEL) -> "InferenceAdapter":
        """SN64 Chutes (`https://llm.chutes.ai/v1`)."""
        return cls("chutes", default_model=default_model)

    @classmethod
    def targon(cls, *, default_model: str = TARGON_DEFAULT_MODEL) -> "InferenceAdapter":
        """SN4 Targon (`https://api.targon.com/v1`)."""
        return cls("targon", default_model=default_model)

    def request_body(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The chat completion request for a step's inputs. Raises `AdapterError`."""
        model = inputs.get("model")
        max_tokens = inputs.get("max_tokens")
        temperature = inputs.get("temperature")
        try:
            return chat_request(
                build_messages(inputs),
                model=model.strip() if isinstance(model, str) and model.strip() else self.default_model,
                max_tokens=_bounded_int(max_tokens, self.max_tokens, 1, MAX_TOKENS_LIMIT),
                temperature=_bounded_float(temperature, self.temperature, 0.0, 2.0),
                seed=self.seed,
            )
        except ValidationError as exc:
            raise AdapterError(f"step inputs cannot form a chat completion request: {exc}") from None

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        body = self.request_body(step.inputs)
        reply = await caller.http("POST", CHAT_PATH, json_body=body)
        assert reply.receipt_index is not None
        completion = parse_completion(reply.payload, receipt_index=reply.receipt_index)
        metrics: dict[str, float] = {}
        if completion.prompt_tokens is not None:
            metrics["prompt_tokens"] = float(completion.prompt_tokens)
        if completion.completion_tokens is not None:
            metrics["completion_tokens"] = float(completion.completion_tokens)
        if completion.truncated:
            log.info("%s stopped at max_tokens=%s for step %s", self.name, body["max_tokens"], step.id)
            metrics["truncated"] = 1.0
        return [
            Record(
                kind="answer",
                text=completion.text,
                source=self.name,
                receipt_index=reply.receipt_index,
                title=completion.model or body["model"],
                metrics=metrics,
            )
        ]


def _no_choices(problem: ErrorDetails) -> bool:
    return problem["loc"] == ("choices",) and problem["type"] in ("missing", "too_short")


def _bounded_int(value: Any, default: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return min(high, max(low, int(value)))


def _bounded_float(value: Any, default: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return default
    return min(high, max(low, float(value)))
