"""A scripted `Caller` for adapter unit tests: answers from a function, records what was asked."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bittensor as bt

from orchestra.routing import Candidate, RouteSpec
from orchestra.transports.base import CallMeta, CallReply
from orchestra.transports.dendrite import synapse_body
from protocol.models import Provider, RouteKind

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    data.pop("_about", None)
    return data


def candidate(kind: RouteKind, adapter: str, *, api_key: str | None = "secret-key") -> Candidate:
    route = RouteSpec(
        name=f"test-{adapter}",
        netuid=13 if kind is RouteKind.DENDRITE else 22,
        kind=kind,
        adapter=adapter,
        capabilities=("social_data",) if kind is RouteKind.DENDRITE else ("web_search",),
        endpoint=None if kind is RouteKind.DENDRITE else "https://api.example",
        api_key=api_key,
    )
    return Candidate(
        route=route,
        provider=Provider(hotkey="5Producer", uid=0)
        if kind is RouteKind.DENDRITE
        else Provider(host="api.example"),
    )


class ScriptedCaller:
    def __init__(self, candidate: Candidate, answer: Callable[[str, Any], Any]) -> None:
        self._candidate = candidate
        self._answer = answer
        self.calls: list[tuple[str, Any, dict[str, str] | None]] = []

    @property
    def candidate(self) -> Candidate:
        return self._candidate

    def _reply(self, operation: str, payload: Any) -> CallReply:
        meta = CallMeta(provider=self._candidate.provider, operation=operation, started_ns=1, latency_ms=1.0)
        return CallReply(payload=payload, meta=meta, receipt_index=len(self.calls) - 1)

    async def dendrite(self, synapse: bt.Synapse) -> CallReply:
        name = type(synapse).__name__
        self.calls.append((name, synapse_body(synapse), None))
        answer = self._answer(name, synapse)
        if isinstance(answer, BaseException):
            raise answer
        return self._reply(name, answer)

    async def http(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> CallReply:
        self.calls.append((f"{method} {path}", json_body, headers))
        answer = self._answer(path, json_body)
        if isinstance(answer, BaseException):
            raise answer
        return self._reply(f"{method} {path}", answer)

    async def fetch(self, url: str) -> CallReply:
        self.calls.append((f"FETCH {url}", None, None))
        answer = self._answer(url, None)
        if isinstance(answer, BaseException):
            raise answer
        return self._reply(f"GET {url}", answer)
