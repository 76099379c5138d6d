"""Re-query spot checks: repeat a sample of a miner's calls and compare the answers with its evidence.

A miner's receipts are its own word. Hosted APIs sign nothing and a stock bittensor Axon does not sign
successful answers, so a miner can make real calls, replace the responses in its evidence with
invented content and recompute the digests: every receipt verifies and every value is "supported".
The one thing that catches it is asking the producer again. `SpotChecker` draws a random share of an
answer's verified calls, repeats each on the same producer with the validator's own credentials, and
compares the fresh answer with the evidence under the producer's tolerance (`tolerance.py`).

Rules that keep it fair and safe:

* Only the validator's own routes are called. An HTTP-family call is repeated through the route of
  the validator's Ledger (its own keys) whose netuid and endpoint host:port are the receipt's; a
  dendrite call goes to the axon the validator's metagraph lists for the receipt's producer hotkey.
  A miner cannot make the validator call an address it chose, nor send an operation that writes,
  creates jobs or costs more than the call it claims (`REPEATABLE` lists what may be resent).
* What cannot be repeated is UNCHECKED, never a mismatch: presigned downloads (their credentials are
  kept out of evidence), job creation, calls to hosts the validator has no route for, producers that
  are down, slow or answering garbage. A producer's outage is not held against the miner.
* Re-queries run a few at a time and an answer's checks share one time limit. A repeat of the same
  call (several miners given the same challenge ask the same producer the same thing) is answered
  from one re-query for `reuse_s` seconds, and dendrite re-queries keep SN13's per-caller hourly
  budget, so spot checks do not get the validator blacklisted.
* The sample is drawn from the operating system's randomness unless a seed is given (tests, replays):
  a miner cannot predict which of its calls will be repeated.
"""

import asyncio
import copy
import json
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import bittensor as bt
from pydantic import ValidationError

from orchestra.adapters import Adapter, AdapterError, default_adapters
from orchestra.adapters.blockmachine import GATEWAY_PATH, MAX_BATCH_CALLS, METHODS, WRITE_PREFIXES
from orchestra.adapters.data_universe import (
    JOBS_PATH,
    SN13_REQUESTS_PER_HOUR,
    CompressedMinerIndex,
    GetDataEntityBucket,
    GetJobSubmissionsResponse,
    GetMinerIndex,
    RequestBudget,
    upload_records,
)
from orchestra.adapters.desearch import (
    SEARCH_PATH,
    ScraperStreamingSynapse,
    SearchRequest,
    TwitterSearchSynapse,
    parse_scraper_answer,
    parse_twitter_answer,
)
from orchestra.adapters.desearch import parse_response as parse_desearch
from orchestra.adapters.inference import CHAT_PATH, ChatRequest, parse_completion
from orchestra.chain import MetagraphView
from orchestra.errors import ConfigError
from orchestra.executor import send_on_route
from orchestra.proofs import canonical_json, digest
from orchestra.routing import RouteSpec
from orchestra.transports.base import LoopLocal, TransportError
from orchestra.transports.dendrite import DendriteTransport, synapse_body
from orchestra.transports.http import HttpTransport
from orchestra.transports.openai import OpenAITransport
from orchestra.transports.signed_http import SignedHttpTransport
from orchestra.validator.tolerance import ToleranceTable
from protocol.models import CallEvidence, CallReceipt, CallStatus, RouteKind

log = logging.getLogger(__name__)

HTTP_KINDS = frozenset({RouteKind.HTTP, RouteKind.OPENAI, RouteKind.SIGNED_HTTP})
REUSE_S = 60.0
MAX_REMEMBERED = 1_024


class SpotOutcome(str, Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class SpotResult:
    index: int  # receipt index in the miner's response
    outcome: SpotOutcome
    policy: str  # "exact" | "overlap" | "numeric" | "text" | "generic"
    similarity: float | None
    reason: str  # for people, e.g. "2 of 10 items found again, 2 with the same text"


class Unrepeatable(Exception):
    """This call cannot (or may not) be repeated; the message says why. Never held against a miner."""


# --------------------------------------------------------------------------- what may be resent


@dataclass(frozen=True)
class ReplayRule:
    """How the validator may repeat one adapter's HTTP calls.

    `refuses(method, path, body)` says why a call may not be resent (None: it may): only the reads the
    adapter itself makes pass. `check_answer(path, payload)` raises (AdapterError, ValueError) when a
    fresh answer is not in the producer's documented shape, by the adapter's own parsers: an answer
    the engine would reject (garbage, a changed schema) is no ground for judging a miner.
    """

    refuses: Callable[[str, str, Any], str | None]
    check_answer: Callable[[str, Any], object]


_GATEWAY = re.compile(re.escape(GATEWAY_PATH).replace(re.escape("{chain}"), "[a-z]+"))


def _search(method: str, path: str, body: Any) -> str | None:
    if (method, path) != ("POST", SEARCH_PATH):
        return f"only POST {SEARCH_PATH} is resent to Desearch"
    try:
        request = SearchRequest.model_validate(body)
    except ValidationError:
        return "the body is not a search request the Desearch adapter makes"
    return "a streamed search is not resent" if request.streaming else None


def _chat(method: str, path: str, body: Any) -> str | None:
    if (method, path) != ("POST", CHAT_PATH):
        return f"only POST {CHAT_PATH} is resent to an inference API"
    try:
        ChatRequest.model_validate(body)  # no streaming, no extra choices, max_tokens bounded
    except ValidationError:
        return "the body is not a completion request the inference adapter makes"
    return None


def _json_rpc(method: str, path: str, body: Any) -> str | None:
    if method != "POST" or not (path == "" or _GATEWAY.fullmatch(path)):
        return "only JSON-RPC posts to the node or the gateway's /rpc/<chain> are resent"
    calls = body if isinstance(body, list) else [body]
    if not 0 < len(calls) <= MAX_BATCH_CALLS:
        return f"a batch is resent only with 1 to {MAX_BATCH_CALLS} calls"
    for call in calls:
        name = call.get("method") if isinstance(call, dict) else None
        if not isinstance(name, str) or name not in METHODS or name.startswith(WRITE_PREFIXES):
            return f"{name!r} is not on the read-only allow-list"
    return None


def _json_rpc_answer(_path: str, payload: Any) -> None:
    answers = payload if isinstance(payload, list) else [payload]
    if not answers or not all(isinstance(a, dict) and ("result" in a or "error" in a) for a in answers):
        raise ValueError("not JSON-RPC 2.0 response objects")


_JOB_STATUS = re.compile(re.escape(JOBS_PATH) + r"/[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _on_demand(method: str, path: str, body: Any) -> str | None:
    if method != "GET" or body is not None:
        return "creating an on-demand job is not repeatable: it would start another job"
    if not (_JOB_STATUS.fullmatch(path) or "X-Amz-Signature=" in path):
        return "only job status reads and presigned downloads are resent to the on-demand API"
    return None


def _on_demand_answer(path: str, payload: Any) -> None:
    if path.startswith(f"{JOBS_PATH}/"):
        GetJobSubmissionsResponse.model_validate(payload)
        return
    upload_records(payload, 0)
    _posts_readable(payload["data_entities"])


def _posts_readable(entities: Any) -> None:
    """SN13 entities whose content is not a JSON post are a broken answer, not a different one."""
    for entity in entities if isinstance(entities, list) else ():
        content = entity.get("content") if isinstance(entity, dict) else None
        if isinstance(content, str) and not isinstance(_json_or_none(content), dict):
            raise ValueError("an entity's content is not a JSON post")


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


# Adapter name -> how its calls are repeated.
REPEATABLE: dict[str, ReplayRule] = {
    "desearch": ReplayRule(_search, lambda _path, payload: parse_desearch(payload, 0)),
    "chutes": ReplayRule(_chat, lambda _path, payload: parse_completion(payload)),
    "targon": ReplayRule(_chat, lambda _path, payload: parse_completion(payload)),
    "blockmachine": ReplayRule(_json_rpc, _json_rpc_answer),
    "data_universe_api": ReplayRule(_on_demand, _on_demand_answer),
}


def _bucket_answer(payload: Any) -> None:
    GetDataEntityBucket.model_validate(payload)
    _posts_readable(payload.get("data_entities"))


def _index_answer(payload: Any) -> None:
    CompressedMinerIndex.model_validate_json(payload["compressed_index_serialized"])


# The producer synapses a dendrite receipt may name, by class name (the name an Axon routes by), with
# the adapters' checks that a fresh answer is in the synapse's shape.
PRODUCER_SYNAPSES: dict[str, tuple[type[bt.Synapse], Callable[[Any], object]]] = {
    "GetMinerIndex": (GetMinerIndex, _index_answer),
    "GetDataEntityBucket": (GetDataEntityBucket, _bucket_answer),
    "ScraperStreamingSynapse": (ScraperStreamingSynapse, lambda payload: parse_scraper_answer(payload, 0)),
    "TwitterSearchSynapse": (TwitterSearchSynapse, lambda payload: parse_twitter_answer(payload, 0)),
}
# What a shape check may raise on a fresh answer that is not in its producer's shape.
_SHAPE_ERRORS = (AdapterError, ValidationError, ValueError, TypeError, KeyError)


def _http_record(evidence: CallEvidence) -> tuple[str, str, Any]:
    """(method, path, body) of an HTTP evidence record, checked to stay on the route's host."""
    request = evidence.request
    if not isinstance(request, dict):
        raise Unrepeatable("the request evidence is not an HTTP request record")
    if "url" in request:
        raise Unrepeatable("a presigned download: its credentials are kept out of evidence")
    method, path = request.get("method"), request.get("path")
    if not isinstance(method, str) or not isinstance(path, str):
        raise Unrepeatable("the request evidence names no method and path")
    # Appended to the validator's endpoint, so it must stay a path: no userinfo, no scheme, no spaces.
    if path and (not path.startswith("/") or re.search(r"[\s\\@]", path) or "://" in path):
        raise Unrepeatable(f"{path[:80]!r} is not a plain path")
    return method.upper(), path, request.get("body")


def host_of(url: str) -> str:
    """`host[:port]` as the HTTP transport writes it into receipts (default ports dropped)."""
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return normal_host(host)


def normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    for default in (":443", ":80"):
        host = host.removesuffix(default)
    return host


def _as_recorded(payload: Any) -> Any:
    """A fresh answer normalised the way evidence is stored (the parse of its canonical JSON)."""
    try:
        return json.loads(canonical_json(payload))
    except (ValueError, TypeError) as exc:
        raise Unrepeatable(f"the fresh answer has no canonical JSON form: {exc}") from None


# --------------------------------------------------------------------------- the checker


@dataclass(frozen=True)
class Requery:
    """One call ready to repeat: `send()` returns the fresh answer as evidence stores answers, or
    raises `Unrepeatable`. `key` names the request on its target, so repeats of it can share an answer."""

    key: str
    send: Callable[[], Awaitable[Any]]


class _LoopState:
    """What one event loop's checks share: the concurrency bound and the re-queries in flight or fresh."""

    def __init__(self, max_concurrency: int) -> None:
        self.slots = asyncio.Semaphore(max_concurrency)
        self.recent: dict[str, tuple[float, asyncio.Future[Any]]] = {}


async def _nothing_to_close(_: _LoopState) -> None:
    return None


class SpotChecker:
    """Samples an answer's calls, repeats them on the validator's own routes and compares."""

    def __init__(
        self,
        *,
        routes: Callable[[], Sequence[RouteSpec]],
        http: HttpTransport,
        dendrite: DendriteTransport | None,
        metagraph: Callable[[int], MetagraphView | None],
        rate: float = 0.25,
        max_per_answer: int = 2,
        seed: int | None = None,
        timeout_s: float = 10.0,
        answer_timeout_s: float = 30.0,
        max_concurrency: int = 4,
        reuse_s: float = REUSE_S,
        dendrite_requests_per_hour: int = SN13_REQUESTS_PER_HOUR,
        openai: OpenAITransport | None = None,
        signed: SignedHttpTransport | None = None,
        tolerances: ToleranceTable | None = None,
        adapters: Mapping[str, Adapter] | None = None,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"spot-check rate must be between 0 and 1, got {rate}")
        if max_per_answer < 0 or max_concurrency < 1 or dendrite_requests_per_hour < 1:
            raise ConfigError("max_per_answer must be >= 0, max_concurrency and the hourly budget >= 1")
        if timeout_s <= 0 or answer_timeout_s <= 0 or reuse_s < 0:
            raise ConfigError("spot-check timeouts must be positive and reuse_s not negative")
        self.routes = routes
        self.http = http
        self.dendrite = dendrite
        self.metagraph = metagraph
        self.rate = rate
        self.max_per_answer = max_per_answer
        self.timeout_s = timeout_s
        self.answer_timeout_s = answer_timeout_s
        self.reuse_s = reuse_s
        self.openai = openai if openai is not None else OpenAITransport(http)
        self.signed = signed
        self.tolerances = tolerances or ToleranceTable()
        self.adapters = dict(adapters) if adapters is not None else default_adapters()
        self.budget = RequestBudget(dendrite_requests_per_hour)
        # Unpredictable in production; reproducible only when a test or a replay asks for it.
        self._rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
        self._loops: LoopLocal[_LoopState] = LoopLocal(lambda: _LoopState(max_concurrency), _nothing_to_close)

    # ----------------------------------------------------------------- sampling

    def choose(
        self,
        receipts: Sequence[CallReceipt],
        evidence: Sequence[CallEvidence | None],
        eligible: Sequence[bool],
    ) -> list[int]:
        """Receipt indexes to re-query: a random `rate` share of the calls that can be repeated, at most
        `max_per_answer`. A fractional expected count is rounded up with the matching probability, so
        over many answers the share is `rate`. `eligible[i]` is False for receipts that already failed
        verification. Calls that cannot be repeated (downloads, job creation, hosts without a route)
        are not drawn: padding an answer with them does not thin out the checks of the others."""
        if not len(receipts) == len(evidence) == len(eligible):
            raise ValueError("receipts, evidence and eligible must be aligned")
        pool = [
            i
            for i, (receipt, item) in enumerate(zip(receipts, evidence, strict=True))
            if eligible[i]
            and item is not None
            and _answered(receipt, item)
            and self._repeatable(receipt, item)
        ]
        expected = self.rate * len(pool)
        count = math.floor(expected) + (self._rng.random() < expected - math.floor(expected))
        return sorted(self._rng.sample(pool, min(count, self.max_per_answer, len(pool))))

    def _repeatable(self, receipt: CallReceipt, evidence: CallEvidence) -> bool:
        try:
            self.prepare(receipt, evidence)
        except Unrepeatable:
            return False
        return True

    async def check_answer(
        self,
        receipts: Sequence[CallReceipt],
        evidence: Sequence[CallEvidence | None],
        eligible: Sequence[bool],
    ) -> list[SpotResult]:
        """Choose and check an answer's sample concurrently, within `answer_timeout_s` in all."""
        chosen = self.choose(receipts, evidence, eligible)
        tasks: dict[int, asyncio.Task[SpotResult]] = {}
        for index in chosen:
            item = evidence[index]
            assert item is not None  # choose() takes only calls with evidence
            tasks[index] = asyncio.ensure_future(self._bounded(index, receipts[index], item))
        if not tasks:
            return []
        _, pending = await asyncio.wait(tasks.values(), timeout=self.answer_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        results = []
        for index, task in tasks.items():
            if task in pending:
                policy = self.tolerances.policy_for(receipts[index]).name.value
                reason = f"no verdict within the answer's {self.answer_timeout_s:g}s of spot checks"
                results.append(SpotResult(index, SpotOutcome.UNCHECKED, policy, None, reason))
            else:
                results.append(task.result())
        return results

    async def _bounded(self, index: int, receipt: CallReceipt, evidence: CallEvidence) -> SpotResult:
        async with self._loops.get().slots:
            return await self.check(index, receipt, evidence)

    # ----------------------------------------------------------------- one call

    async def check(self, index: int, receipt: CallReceipt, evidence: CallEvidence) -> SpotResult:
        """Repeat one call and compare. Anything that prevents a fair comparison is UNCHECKED."""
        policy = self.tolerances.policy_for(receipt)
        try:
            if not _answered(receipt, evidence):
                raise Unrepeatable("only answered calls whose evidence hashes to the receipt are re-queried")
            fresh = await self._once(self.prepare(receipt, evidence))
            comparison = policy.compare(evidence.response, fresh, request=evidence.request)
        except Unrepeatable as exc:
            return SpotResult(index, SpotOutcome.UNCHECKED, policy.name.value, None, str(exc))
        except Exception as exc:  # a fault of ours, or an odd answer, must not count against the miner
            log.exception("spot check of receipt %d (%s) failed", index, receipt.operation)
            reason = f"the check failed: {type(exc).__name__}"
            return SpotResult(index, SpotOutcome.UNCHECKED, policy.name.value, None, reason)
        if not comparison.comparable:
            return SpotResult(index, SpotOutcome.UNCHECKED, policy.name.value, None, comparison.reason)
        outcome = SpotOutcome.MATCH if comparison.passed else SpotOutcome.MISMATCH
        return SpotResult(index, outcome, policy.name.value, comparison.similarity, comparison.reason)

    def prepare(self, receipt: CallReceipt, evidence: CallEvidence) -> Requery:
        """The re-query of one call on the validator's own route or metagraph; sends nothing.

        Raises `Unrepeatable` naming why the call cannot be repeated.
        """
        if receipt.route in HTTP_KINDS:
            return self._prepare_http(receipt, evidence)
        return self._prepare_dendrite(receipt, evidence)

    def _prepare_http(self, receipt: CallReceipt, evidence: CallEvidence) -> Requery:
        method, path, body = _http_record(evidence)
        route, rule = self._own_route(receipt, method, path, body)
        endpoint = route.endpoint or ""
        if host_of(f"{endpoint}{path}") != host_of(endpoint):
            raise Unrepeatable(f"{path[:80]!r} would leave the route's host")
        adapter = self.adapters.get(route.adapter)
        headers = adapter.auth_headers(route) if adapter is not None else None

        async def send() -> Any:
            try:
                reply = await send_on_route(
                    route,
                    method,
                    path,
                    json_body=body,
                    headers=headers,
                    timeout=self.timeout_s,
                    http=self.http,
                    openai=self.openai,
                    signed=self.signed,
                )
            except (TransportError, AdapterError) as exc:
                raise Unrepeatable(f"the re-query failed: {exc}") from None
            try:
                rule.check_answer(path, reply.payload)
            except _SHAPE_ERRORS as exc:
                raise Unrepeatable(
                    f"the producer's answer is not in its documented shape: {exc}"[:300]
                ) from None
            return _as_recorded(reply.payload)

        return Requery(f"{route.name}|{receipt.request_digest}", send)

    def _own_route(
        self, receipt: CallReceipt, method: str, path: str, body: Any
    ) -> tuple[RouteSpec, ReplayRule]:
        """The validator's route to the receipt's producer host whose adapter may resend this call."""
        host = normal_host(receipt.provider.host or "")
        same_host = [
            route
            for route in self.routes()
            if route.kind in HTTP_KINDS
            and route.netuid == receipt.netuid
            and route.endpoint is not None
            and host
            and host_of(route.endpoint) == host
        ]
        if not same_host:
            raise Unrepeatable(
                f"no route of this validator reaches {host or 'an unnamed host'} on SN{receipt.netuid}"
            )
        refusals: list[str] = []
        for route in same_host:
            rule = REPEATABLE.get(route.adapter)
            why = (
                rule.refuses(method, path, body)
                if rule is not None
                else f"{route.adapter!r} calls are not resent"
            )
            if rule is not None and why is None:
                return route, rule
            refusals.append(str(why))
        raise Unrepeatable(f"{method} {path[:80]}: {'; '.join(refusals)}")

    def _prepare_dendrite(self, receipt: CallReceipt, evidence: CallEvidence) -> Requery:
        dendrite = self.dendrite
        if dendrite is None:
            raise Unrepeatable("this validator has no dendrite to call producer axons with")
        known = PRODUCER_SYNAPSES.get(receipt.operation)
        if known is None:
            raise Unrepeatable(f"{receipt.operation[:80]!r} is not a producer synapse this validator knows")
        synapse_class, check_answer = known
        hotkey = receipt.dendrite.axon_hotkey if receipt.dendrite is not None else None
        graph = self.metagraph(receipt.netuid) if receipt.netuid is not None else None
        neuron = graph.by_hotkey(hotkey) if graph is not None and hotkey else None
        if neuron is None or not neuron.is_serving:
            raise Unrepeatable(f"no serving axon of {hotkey or 'an unnamed hotkey'} on SN{receipt.netuid}")
        try:
            synapse_class.model_validate(copy.deepcopy(evidence.request))
        except (ValidationError, ValueError, TypeError) as exc:
            raise Unrepeatable(
                f"the request evidence is not a {receipt.operation}: {str(exc)[:200]}"
            ) from None
        operation = receipt.operation

        async def send() -> Any:
            # SN13 miners allow a caller a request or two of a kind an hour; past that they blacklist it.
            if not self.budget.take(neuron.hotkey, operation):
                raise Unrepeatable(f"this hour's {operation} budget for {neuron.hotkey} is spent")
            # bittensor's validators write into the dict they are given: never hand them the evidence.
            synapse = synapse_class.model_validate(copy.deepcopy(evidence.request))
            try:
                answered, _ = await dendrite.call(
                    neuron.axon, synapse, uid=neuron.uid, timeout=self.timeout_s
                )
            except TransportError as exc:
                raise Unrepeatable(f"the re-query failed: {exc}") from None
            fresh = _as_recorded(synapse_body(answered))
            try:
                check_answer(copy.deepcopy(fresh))  # bittensor's validators write into what they read
            except _SHAPE_ERRORS as exc:
                raise Unrepeatable(
                    f"the producer's answer is not in its documented shape: {exc}"[:300]
                ) from None
            return fresh

        return Requery(f"sn{receipt.netuid}|{neuron.hotkey}|{receipt.request_digest}", send)

    async def _once(self, requery: Requery) -> Any:
        """The fresh answer to a request, shared by every check of it within `reuse_s` seconds: the
        miners given one challenge ask producers the same things, and one re-query answers them all.
        A failed re-query is not kept; the next check of the request tries again."""
        state = self._loops.get()
        now = time.monotonic()
        remembered = state.recent.get(requery.key)
        if remembered is None or now - remembered[0] >= self.reuse_s:
            future = asyncio.ensure_future(requery.send())
            remembered = state.recent[requery.key] = (now, future)
            future.add_done_callback(lambda done: _drop_failed(state.recent, requery.key, done))
            _forget_stale(state.recent, now, self.reuse_s)
        # Shielded: one check running out of time must not cancel the re-query others wait for.
        return await asyncio.shield(remembered[1])


def _drop_failed(
    recent: dict[str, tuple[float, asyncio.Future[Any]]], key: str, done: asyncio.Future[Any]
) -> None:
    # Reading the exception also marks it retrieved when every waiter gave up before it came.
    failed = done.cancelled() or done.exception() is not None
    if failed and key in recent and recent[key][1] is done:
        del recent[key]


def _forget_stale(recent: dict[str, tuple[float, asyncio.Future[Any]]], now: float, reuse_s: float) -> None:
    for key in [key for key, (at, _) in recent.items() if now - at >= reuse_s]:
        del recent[key]
    while len(recent) > MAX_REMEMBERED:
        del recent[next(iter(recent))]


def _answered(receipt: CallReceipt, evidence: CallEvidence) -> bool:
    """An `ok` call with a response whose evidence hashes to the receipt (what verification checks)."""
    if receipt.status is not CallStatus.OK or receipt.response_digest is None:
        return False
    try:
        return (
            digest(evidence.request) == receipt.request_digest
            and digest(evidence.response) == receipt.response_digest
        )
    except ValueError:  # no canonical form (NaN): verification has failed it already
        return False
