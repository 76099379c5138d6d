"""A local stand-in for an OpenAI-compatible inference API (SN64 Chutes, SN4 Targon) under `/v1`.

It speaks the hosted APIs' surface: `GET /v1/models` without auth (as Chutes serves it) and
`POST /v1/chat/completions` with `Authorization: Bearer <key>`, OpenAI-style error bodies
(`{"error": {"message", "type", "param", "code"}}`: 401 for a bad key, 400 for a malformed request,
404 `model_not_found`), and chat completions with `choices`, `finish_reason` and `usage`.

It is not a language model and does not pretend to be one. Answers are deterministic and built only
from the text the caller sent, so everything downstream can be traced to evidence:

* plain chat: the 2-3 context sentences sharing the most words with the question, verbatim;
* `response_format` `json_schema`: a document valid against the schema, filled from that text
  (strings from sentences matching the field name, numbers found in the text, one array item per
  capitalised name), checked with `jsonschema` before it is sent; `json_object`: `{"answer": ...}`.

Context is what the caller quotes (`> ` lines, as `orchestra.adapters.inference.user_message` writes
it); without quotes, every paragraph of the user turns but the last. Token counts are word counts.
Every response carries `X-Orchestra-Devnet: stand-in`.
"""

import itertools
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from jsonschema import FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator, validator_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from referencing.exceptions import Unresolvable

from orchestra.adapters.inference import CHUTES_DEFAULT_MODEL, TARGON_DEFAULT_MODEL
from orchestra.devnet.faults import FaultInjector
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.planner.analysis import STOPWORDS, content_tokens, words
from orchestra.transports.openai import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ModelCard,
    ModelList,
    OpenAIErrorBody,
    Usage,
)

log = logging.getLogger(__name__)

STAND_IN_HEADER = {"X-Orchestra-Devnet": "stand-in"}
CHUTES_MODELS = (CHUTES_DEFAULT_MODEL, "Qwen/Qwen3-235B-A22B", "unsloth/gemma-3-12b-it")
TARGON_MODELS = (TARGON_DEFAULT_MODEL, "deepseek-ai/DeepSeek-R1")
MODELS_CREATED = 1_735_689_600  # a fixed "created" for the model list: 2025-01-01
MAX_ANSWER_SENTENCES = 3
MAX_ARRAY_ITEMS = 10
MAX_SCHEMA_DEPTH = 12
MAX_FILLED_VALUES = 5_000


class Message(BaseModel):
    """A chat message; content may be a string or OpenAI content parts (only text parts are read)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class JsonSchemaSpec(BaseModel):
    """`response_format.json_schema`: the schema travels under the key `schema`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1, max_length=64)
    body: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class ChatRequest(BaseModel):
    """What the stand-in accepts: OpenAI's chat completion fields; unknown sampling options are ignored.

    A server's reading, more lenient than the client-side `orchestra.transports.openai` request models
    (which forbid unknown keys and take only text content), hence these request models of its own.
    """

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    response_format: ResponseFormat | None = None


class InferenceEmulator:
    """Serves an OpenAI-compatible inference API on 127.0.0.1 for the devnet and the tests.

    `name` says which producer it stands in for ("chutes", "targon"); `models` are the ids it lists
    and answers for. `base_url` (ending in `/v1`) is what a route's endpoint should be.
    """

    def __init__(
        self,
        *,
        api_key: str,
        models: Sequence[str],
        name: str,
        faults: FaultInjector | None = None,
        port: int | None = None,
    ) -> None:
        if not models:
            raise ValueError("an inference stand-in needs at least one model id")
        self.api_key = api_key
        self.models = tuple(models)
        self.name = name
        self.faults = faults
        middlewares = [faults.middleware] if faults is not None else []
        app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=middlewares)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        self.server = ThreadedAiohttpServer(app, port=port)
        self.requests = 0
        self._ids = itertools.count(1)

    @classmethod
    def chutes(cls, *, api_key: str, faults: FaultInjector | None = None) -> "InferenceEmulator":
        return cls(api_key=api_key, models=CHUTES_MODELS, name="chutes", faults=faults)

    @classmethod
    def targon(cls, *, api_key: str, faults: FaultInjector | None = None) -> "InferenceEmulator":
        return cls(api_key=api_key, models=TARGON_MODELS, name="targon", faults=faults)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, as a route's endpoint: `http://127.0.0.1:<port>/v1`."""
        return f"{self.server.url}/v1"

    def start(self) -> "InferenceEmulator":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    async def list_models(self, request: web.Request) -> web.Response:
        listing = ModelList(
            data=[
                ModelCard(id=model, created=MODELS_CREATED, owned_by=self.name, root=model)
                for model in self.models
            ]
        )
        return web.json_response(listing.model_dump(mode="json"), headers=STAND_IN_HEADER)

    async def chat_completions(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(
                401,
                "Incorrect or missing API key; send Authorization: Bearer <key>.",
                kind="invalid_request_error",
                code="invalid_api_key",
            )
        try:
            raw = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "We could not parse the JSON body of your request.", code="invalid_json")
        try:
            chat = ChatRequest.model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            param = ".".join(str(part) for part in problem["loc"]) or None
            code = "missing_required_parameter" if problem["type"] == "missing" else "invalid_value"
            return _error(400, f"Invalid request: {param}: {problem['msg']}", param=param, code=code)
        if chat.stream:
            return _error(400, "The devnet stand-in does not stream; send stream=false.", param="stream")
        if chat.model not in self.models:
            return _error(
                404,
                f"The model `{chat.model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        try:
            content = self.answer(chat.messages, chat.response_format)
        except Unanswerable as exc:
            return _error(400, str(exc), param="response_format", code=exc.code)
        return web.json_response(self._completion(chat, content), headers=STAND_IN_HEADER)

    def answer(self, messages: Sequence[Message], response_format: ResponseFormat | None) -> str:
        """The assistant's content for a chat; raises `Unanswerable` for a schema it cannot honour."""
        chat_input = read_input(messages)
        if response_format is None or response_format.type == "text":
            return extractive_answer(chat_input, stand_in=self.name)
        spec = response_format.json_schema
        if response_format.type == "json_schema" and spec is not None and spec.body is not None:
            return json.dumps(fill_schema(spec.body, chat_input), ensure_ascii=False)
        return json.dumps({"answer": extractive_answer(chat_input, stand_in=self.name)}, ensure_ascii=False)

    def _completion(self, chat: ChatRequest, content: str) -> dict[str, Any]:
        limit = chat.max_completion_tokens or chat.max_tokens
        spans = list(re.finditer(r"\S+", content))
        finish_reason = "stop"
        if limit is not None and len(spans) > limit:
            content = content[: spans[limit - 1].end()]  # cut like a real model: mid-answer, mid-JSON
            finish_reason = "length"
        prompt_tokens = sum(len(message.text().split()) for message in chat.messages)
        completion_tokens = len(content.split())
        completion = ChatCompletion(
            id=f"chatcmpl-devnet-{next(self._ids)}",
            object="chat.completion",
            created=int(time.time()),
            model=chat.model,
            system_fingerprint=f"devnet-stand-in-{self.name}",
            choices=[
                ChatChoice(
                    index=0,
                    message=AssistantMessage(role="assistant", content=content),
                    logprobs=None,
                    finish_reason=finish_reason,
                )
            ],
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
        )
        # Only what was set: the message's unset optional fields (tool calls, refusal...) stay out.
        body: dict[str, Any] = completion.model_dump(mode="json", exclude_unset=True)
        return body


def _error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> web.Response:
    error = OpenAIErrorBody(message=message, type=kind, param=param, code=code)
    return web.json_response({"error": error.model_dump(mode="json")}, status=status, headers=STAND_IN_HEADER)


# --------------------------------------------------------------------------------------------------
# Reading a chat: the question and the context it quotes
# --------------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\[\d+\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_URL = re.compile(r"https?://[^\s<>\"')\];]+")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_DATETIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})\b")
_NUMBER = re.compile(r"(?<![\w.\-/:])\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w.]\d|[A-Za-z])")
_PLAIN_WORD = re.compile(r"^[A-Z][a-z]+$")
_CODED = re.compile(r"\d|[a-z][A-Z]")  # a digit or an inner capital: "NimbusGPU", "Llama3"
_MODEL_CODE = re.compile(r"^[A-Z]{1,2}\d{2,4}[A-Za-z]?$")  # "H100", "A100", "L40S": hardware, not a vendor
_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)*(?:\s+[A-Z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)*)*")
# Capitalised words that name no entity: units, generic acronyms and sentence openers.
_NOT_NAMES = words(
    "ai api apis cpu cpus gpu gpus usd eur gb tb mb hr hrs us eu uk sla slas sdk cli faq llm llms vm vms "
    "ram ssd soc json http https url task context records source devnet"
)
_URL_FIELDS = words("url urls link links website site homepage uri href")
_NAME_FIELDS = words(
    "name names title company companies vendor vendors provider providers product products brand brands "
    "competitor competitors entity entities organisation organization organisations organizations "
    "firm firms player players service services platform platforms"
)


@dataclass(frozen=True)
class Passage:
    """One quoted context record: the header line above it (`[1] source: web; url: ...`) and its sentences."""

    header: str
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class ChatInput:
    """What a chat gives the stand-in to work with."""

    question: str
    passages: tuple[Passage, ...]
    all_text: str = ""
    sentences: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sentences", tuple(s for p in self.passages for s in p.sentences))


def sentences_of(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def read_input(messages: Sequence[Message]) -> ChatInput:
    """Split the user turns into the question and the context passages (quoted lines, else paragraphs)."""
    users = [message.text() for message in messages if message.role == "user"]
    all_text = "\n\n".join(users)
    passages: list[Passage] = []
    header = ""
    quoted: list[str] = []
    unquoted: list[str] = []

    def close() -> None:
        if quoted:
            passages.append(Passage(header, tuple(sentences_of("\n".join(quoted)))))
            quoted.clear()

    for text in users:
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(">"):
                quoted.append(stripped[1:].strip())
                continue
            close()
            if _HEADER.match(stripped):
                header = stripped
            elif stripped:
                unquoted.append(line)
        close()
    if passages:
        # The question follows the quoted records (as `user_message` writes it), else it is all the rest.
        lines = (users[-1] if users else "").splitlines()
        quoted_at = [i for i, line in enumerate(lines) if line.strip().startswith(">")]
        after = lines[quoted_at[-1] + 1 :] if quoted_at else lines
        rest = [line for line in after if line.strip() and line.strip() != "Task:"]
        question = "\n".join(rest) if rest else "\n".join(unquoted)
        return ChatInput(question=question.strip(), passages=tuple(passages), all_text=all_text)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", all_text) if p.strip()]
    if len(paragraphs) > 1:
        context = tuple(Passage("", tuple(sentences_of(p))) for p in paragraphs[:-1])
        return ChatInput(question=paragraphs[-1], passages=context, all_text=all_text)
    return ChatInput(question=all_text.strip(), passages=(), all_text=all_text)


def _overlap(sentence: str, terms: set[str]) -> int:
    return len(set(content_tokens(sentence)) & terms)


def best_sentences(sentences: Sequence[str], terms: set[str], limit: int) -> list[str]:
    """Up to `limit` distinct sentences sharing the most terms (at least one), in their original order."""
    scored = [(-_overlap(s, terms), i) for i, s in enumerate(sentences)]
    chosen: list[int] = []
    seen: set[str] = set()
    for score, index in sorted(scored):
        if score == 0 or len(chosen) == limit:
            break
        if sentences[index] not in seen:
            seen.add(sentences[index])
            chosen.append(index)
    return [sentences[i] for i in sorted(chosen)]


def extractive_answer(chat: ChatInput, *, stand_in: str) -> str:
    """The context sentences closest to the question, verbatim; or a plain note saying why there are none."""
    if not chat.sentences:
        return (
            f"This is the Orchestra devnet stand-in for {stand_in}: it is not a language model, has no "
            "knowledge of its own and was given no context to answer from."
        )
    chosen = best_sentences(chat.sentences, set(content_tokens(chat.question)), MAX_ANSWER_SENTENCES)
    if not chosen:
        return (
            f"This is the Orchestra devnet stand-in for {stand_in}: none of the given context shares a word "
            "with the question."
        )
    return " ".join(chosen)


def names_in(sentences: Sequence[str]) -> list[str]:
    """Distinct capitalised names (companies, products) in order of first appearance.

    When several names open sentences (as subjects: "NimbusGPU lists ..."), only those are kept, so
    a feature named mid-sentence ("no InfiniBand clusters") does not pass for a vendor.
    """
    found: list[str] = []
    subjects: set[str] = set()
    for sentence in sentences:
        for match in _NAME.finditer(sentence):
            parts = match.group(0).split()
            while parts and (parts[0].lower() in STOPWORDS or parts[0].lower() in _NOT_NAMES):
                parts.pop(0)  # "The NimbusGPU ..." -> "NimbusGPU"; "Pricing" at a sentence start -> nothing
            while parts and parts[-1].lower() in _NOT_NAMES:
                parts.pop()
            opens = match.start() == 0
            at_start = opens and len(parts) == len(match.group(0).split())
            if at_start and len(parts) > 1 and _PLAIN_WORD.match(parts[0]) and _CODED.search(parts[1]):
                parts.pop(0)  # "Tried NimbusGPU this week" -> "NimbusGPU"
            name = " ".join(parts)
            ordinary = at_start and len(parts) == 1 and not _CODED.search(name)
            if not name or ordinary or _MODEL_CODE.match(name):
                continue
            if name not in found:
                found.append(name)
            if opens:
                subjects.add(name)
    return [name for name in found if name in subjects] if len(subjects) > 1 else found


def numbers_in(sentence: str) -> list[tuple[int, float, bool]]:
    """(position, value, is_integral) of each number written in the sentence ("$2.49", "1,024", "99.95")."""
    out = []
    for match in _NUMBER.finditer(sentence):
        whole = match.group(1).replace(",", "")
        out.append((match.start(), float(whole + (match.group(2) or "")), match.group(2) is None))
    return out


def field_terms(name: str) -> set[str]:
    """`h100_price` -> {"h100", "price"}; `numberOfUsers` -> {"number", "users"}."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ")
    return set(content_tokens(spaced))


# --------------------------------------------------------------------------------------------------
# Structured output: a document valid against the caller's JSON Schema, filled from the input
# --------------------------------------------------------------------------------------------------


class Unanswerable(Exception):
    """The stand-in cannot honour the requested format; `code` is the OpenAI-style error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


_MISSING: Any = object()


def fill_schema(schema: dict[str, Any], chat: ChatInput) -> Any:
    """A JSON value valid against `schema`, built from the chat's text. Raises `Unanswerable`."""
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise Unanswerable(f"Invalid schema for response_format: {exc.message}", "invalid_schema") from None
    validator = cls(schema, format_checker=FormatChecker())
    filler = _Filler(schema, chat)
    # Without quoted context (a planner's call, say) the user turns themselves are the material.
    focus = list(chat.sentences) or sentences_of(chat.all_text)
    try:
        filled = filler.value(schema, "", focus, depth=0)
        if filled is not _MISSING and validator.is_valid(filled):
            return filled
        minimal = filler.minimal(schema, depth=0)
        if minimal is not _MISSING and validator.is_valid(minimal):
            log.info("devnet stand-in fell back to a minimal document for a schema it could not fill")
            return minimal
    except Unresolvable as exc:  # a `$ref` to another document: never fetched
        raise Unanswerable(f"Schema reference {exc} cannot be resolved locally.", "invalid_schema") from None
    raise Unanswerable(
        "The devnet stand-in cannot build a document valid against this schema from the given text.",
        "unsupported_schema",
    )


class _Filler:
    """Walks a JSON Schema and fills each value from the sentences in focus (pure, deterministic)."""

    def __init__(self, root: dict[str, Any], chat: ChatInput) -> None:
        self.root = root
        self.chat = chat
        # Recursive schemas could otherwise fan out into millions of nodes on one request.
        self.budget = MAX_FILLED_VALUES

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < MAX_SCHEMA_DEPTH:
            schema = self._pointer(schema["$ref"])
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def _types(self, schema: dict[str, Any]) -> list[str]:
        kind = schema.get("type")
        if isinstance(kind, str):
            return [kind]
        if isinstance(kind, list):
            return [k for k in kind if isinstance(k, str)]
        if "properties" in schema:
            return ["object"]
        if "items" in schema:
            return ["array"]
        if "enum" in schema:
            return ["enum"]
        return ["string"]

    def value(self, schema: Any, hint: str, focus: list[str], depth: int, entity: str | None = None) -> Any:
        """A value for `schema` named `hint`, or `_MISSING` when the text holds nothing for it."""
        schema = self.resolve(schema)
        self.budget -= 1
        if depth > MAX_SCHEMA_DEPTH or self.budget < 0:
            return _MISSING
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._enum(schema["enum"], focus)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return self._alternatives(schema[key], hint, focus, depth, entity)
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            return self.value(merged, hint, focus, depth + 1, entity)
        for kind in self._types(schema):
            found = self._typed(kind, schema, hint, focus, depth, entity)
            if found is not _MISSING:
                return found
        return None if "null" in self._types(schema) else _MISSING

    def _alternatives(
        self, options: list[Any], hint: str, focus: list[str], depth: int, entity: str | None
    ) -> Any:
        nullable = False
        for option in options:
            resolved = self.resolve(option)
            if resolved.get("type") == "null":
                nullable = True
                continue
            found = self.value(resolved, hint, focus, depth + 1, entity)
            if found is not _MISSING and Draft202012Validator(resolved).is_valid(found):
                return found
        return None if nullable else _MISSING

    def _typed(
        self, kind: str, schema: dict[str, Any], hint: str, focus: list[str], depth: int, entity: str | None
    ) -> Any:
        if kind == "object":
            return self._object(schema, hint, focus, depth, entity)
        if kind == "array":
            return self._array(schema, hint, focus, depth)
        if kind in ("number", "integer"):
            return self._number(schema, hint, focus, integral=kind == "integer")
        if kind == "boolean":
            terms = field_terms(hint)
            return bool(terms) and any(_overlap(s, terms) for s in focus)
        if kind == "string":
            return self._string(schema, hint, focus, entity)
        return _MISSING

    def _enum(self, options: list[Any], focus: list[str]) -> Any:
        words = set(content_tokens(" ".join(focus)))
        for option in options:
            if isinstance(option, str) and set(content_tokens(option)) & words:
                return option
        return options[0]

    def _object(
        self, schema: dict[str, Any], hint: str, focus: list[str], depth: int, entity: str | None
    ) -> Any:
        properties = schema.get("properties")
        required = set(schema.get("required") or [])
        out: dict[str, Any] = {}
        if isinstance(properties, dict):
            for name, sub in properties.items():
                found = self.value(sub, name, focus, depth + 1, entity)
                if found is _MISSING and name in required:
                    found = self.minimal(sub, depth + 1)
                if found is not _MISSING:
                    out[name] = found
            return out
        extra = schema.get("additionalProperties", True)
        if extra is False or not focus:
            return out
        value = self.value(extra if isinstance(extra, dict) else {"type": "string"}, hint, focus, depth + 1)
        if value is not _MISSING and value is not None:
            out[hint or "text"] = value
        return out

    def _array(self, schema: dict[str, Any], hint: str, focus: list[str], depth: int) -> Any:
        items = self.resolve(schema.get("items", {}))
        high = min(int(schema.get("maxItems", MAX_ARRAY_ITEMS)), MAX_ARRAY_ITEMS)
        low = int(schema.get("minItems", 0))
        kinds = self._types(items)
        out: list[Any] = []
        if "object" in kinds:
            for name in names_in(focus)[:high]:
                mentions = [s for s in focus if name in s]
                out.append(self.value(items, hint, mentions, depth + 1, entity=name))
        elif "string" in kinds and "enum" not in items and (field_terms(hint) & _NAME_FIELDS or not focus):
            out = [name for name in names_in(focus)[:high] if Draft202012Validator(items).is_valid(name)]
        elif "string" in kinds and "enum" not in items:
            chosen = best_sentences(focus, field_terms(hint), high) or list(focus[: min(2, high)])
            out = [s for s in (self._fit(items, s) for s in chosen) if s is not None]
        elif kinds and kinds[0] in ("number", "integer"):
            numbers = [v for s in focus for _, v, whole in numbers_in(s) if whole or kinds[0] == "number"]
            out = [int(v) if kinds[0] == "integer" else v for v in dict.fromkeys(numbers)][:high]
        out = [item for item in out if item is not _MISSING]
        if schema.get("uniqueItems"):
            out = [item for i, item in enumerate(out) if item not in out[:i]]
        return out if len(out) >= low else _MISSING

    def _number(self, schema: dict[str, Any], hint: str, focus: list[str], *, integral: bool) -> Any:
        terms = field_terms(hint)
        check = Draft202012Validator(schema)
        ranked = sorted(range(len(focus)), key=lambda i: (-_overlap(focus[i], terms), i))
        for index in ranked:
            sentence = focus[index]
            numbers = numbers_in(sentence)
            anchor = _first_term_position(sentence, terms)
            # Prefer the number written right after the field's own word ("H100 at $2.49").
            numbers.sort(key=lambda n: (n[0] < anchor, abs(n[0] - anchor)))
            for _, value, whole in numbers:
                candidate: float | int = int(value) if integral else value
                if (whole or not integral) and check.is_valid(candidate):
                    return candidate
        return _MISSING

    def _string(self, schema: dict[str, Any], hint: str, focus: list[str], entity: str | None) -> Any:
        terms = field_terms(hint)
        fmt = schema.get("format")
        url_like = fmt in ("uri", "url") or bool(terms & _URL_FIELDS)
        text = " ".join(focus)
        candidates: list[str] = []
        if fmt == "date-time":
            candidates = _DATETIME.findall(text) + _DATETIME.findall(self._headers(focus))
        elif fmt == "date":
            candidates = _DATE.findall(text) + _DATE.findall(self._headers(focus))
        elif url_like:
            candidates = _URL.findall(self._headers(focus)) + _URL.findall(text)
            candidates = [c.rstrip(".,") for c in candidates]
        elif terms & _NAME_FIELDS:
            candidates = ([entity] if entity else []) + names_in(focus)
        if not candidates and not url_like and fmt not in ("date", "date-time"):
            candidates = best_sentences(focus, terms, len(focus)) + list(focus)
        for candidate in candidates:
            fitted = self._fit(schema, candidate)
            if fitted is not None:
                return fitted
        return _MISSING

    def _headers(self, focus: list[str]) -> str:
        """The header lines (`[n] source; url`) of the passages the focus sentences come from."""
        wanted = set(focus)
        return "\n".join(p.header for p in self.chat.passages if wanted & set(p.sentences))

    def _fit(self, schema: dict[str, Any], text: str) -> str | None:
        """`text`, or its longest word-boundary prefix within `maxLength`, if valid against `schema`."""
        limit = schema.get("maxLength")
        if isinstance(limit, int) and len(text) > limit:
            cut = text[:limit]
            text = cut[: cut.rfind(" ")].rstrip(" ,;:") if " " in cut else cut
        checker = Draft202012Validator(schema, format_checker=FormatChecker())
        return text if text and checker.is_valid(text) else None

    def minimal(self, schema: Any, depth: int) -> Any:
        """The emptiest value valid against `schema` (no invented facts), or `_MISSING`."""
        schema = self.resolve(schema)
        if depth > MAX_SCHEMA_DEPTH:
            return _MISSING
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                for option in schema[key]:
                    found = self.minimal(option, depth + 1)
                    if found is not _MISSING and Draft202012Validator(self.resolve(option)).is_valid(found):
                        return found
                return _MISSING
        kinds = self._types(schema)
        if "null" in kinds:
            return None
        kind = kinds[0] if kinds else "string"
        if kind == "object":
            out: dict[str, Any] = {}
            properties = schema.get("properties") or {}
            for name in schema.get("required") or []:
                found = self.minimal(properties.get(name, {}), depth + 1)
                if found is _MISSING:
                    return _MISSING
                out[name] = found
            return out
        if kind == "array":
            low = int(schema.get("minItems", 0))
            item = self.minimal(schema.get("items", {}), depth + 1) if low else None
            return _MISSING if low and item is _MISSING else [item] * low
        if kind in ("number", "integer"):
            for key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
                bound = schema.get(key)
                if isinstance(bound, (int, float)):
                    step = 0 if key in ("minimum", "maximum") else 1 if key == "exclusiveMinimum" else -1
                    value = bound + step
                    return int(value) if kind == "integer" else value
            return 0
        if kind == "boolean":
            return False
        return ""


def _first_term_position(sentence: str, terms: set[str]) -> int:
    lowered = sentence.lower()
    positions = [lowered.find(term) for term in terms if lowered.find(term) >= 0]
    return min(positions) if positions else 0
