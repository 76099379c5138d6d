"""Fault injection for the devnet's emulated producers.

Each emulator takes a `FaultInjector`. HTTP stand-ins install its aiohttp `middleware`; axon
stand-ins call `before_synapse()` at the start of a forward. Which fault (if any) hits a request is
drawn per request from the injector's rules, so "30 % of calls fail" means just that.

Faults, as a user writes them on the command line (`orchestra localnet --faults ...`):

* `slow[:RATE[:SECONDS]]`     answer, but only after SECONDS (default 1.5)
* `timeout[:RATE]`            never answer within any sane timeout (holds the request for 120 s)
* `5xx[:RATE]`                answer 503 with a JSON error body
* `garbage[:RATE]`            answer 200 with bytes that are not JSON
* `schema[:RATE]`             answer 200 with the real body whose keys are renamed (a schema change)
* `down`                      refuse every request (same as `5xx:1`, but for axons: blacklist-like)

A spec names providers: `chutes=5xx:0.3,desearch=slow:0.5:2`; several faults for one provider are
joined with `+` (`chutes=5xx:0.2+slow:0.2`).
"""

import asyncio
import json
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiohttp import web

from orchestra.errors import ConfigError

TIMEOUT_HOLD_S = 120.0
DEFAULT_SLOW_S = 1.5


class FaultKind(str, Enum):
    SLOW = "slow"
    TIMEOUT = "timeout"
    ERROR = "5xx"
    GARBAGE = "garbage"
    SCHEMA = "schema"
    DOWN = "down"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    rate: float = 1.0
    delay_s: float = DEFAULT_SLOW_S

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError(f"fault rate must be between 0 and 1, got {self.rate}")
        if self.delay_s < 0:
            raise ConfigError(f"fault delay must not be negative, got {self.delay_s}")

    def __str__(self) -> str:
        text = f"{self.kind.value}:{self.rate:g}"
        return f"{text}:{self.delay_s:g}" if self.kind is FaultKind.SLOW else text


class InjectedFault(Exception):
    """Raised inside an axon forward to make the stand-in fail the way a real miner would."""


@dataclass
class FaultInjector:
    """Draws faults for requests to one emulated provider. Thread-safe; rules may change at runtime."""

    faults: tuple[Fault, ...] = ()
    seed: int | str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def set(self, faults: tuple[Fault, ...]) -> None:
        with self._lock:
            self.faults = faults

    def draw(self) -> Fault | None:
        """The fault for the next request, or None. Rules are tried in order, each at its rate."""
        with self._lock:
            for fault in self.faults:
                if self._random.random() < fault.rate:
                    self.counts[fault.kind.value] = self.counts.get(fault.kind.value, 0) + 1
                    return fault
            self.counts["ok"] = self.counts.get("ok", 0) + 1
            return None

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        fault = self.draw()
        if fault is None:
            return await handler(request)
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay_s)
            return await handler(request)
        if fault.kind is FaultKind.TIMEOUT:
            await asyncio.sleep(TIMEOUT_HOLD_S)
            return web.json_response({"error": "devnet fault: timeout"}, status=504)
        if fault.kind in (FaultKind.ERROR, FaultKind.DOWN):
            return web.json_response(
                {"error": {"message": f"devnet fault injected: {fault.kind.value}", "type": "server_error"}},
                status=503,
            )
        if fault.kind is FaultKind.GARBAGE:
            return web.Response(body=b"\x00<html>upstream hiccup", content_type="text/html", status=200)
        response = await handler(request)
        return _renamed(response)

    async def before_synapse(self) -> Fault | None:
        """For axon forwards: sleep for slow faults, raise `InjectedFault` for failures.

        Returns a SCHEMA or GARBAGE fault for the forward to apply to its answer (see `corrupt`).
        """
        fault = self.draw()
        if fault is None:
            return None
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.kind is FaultKind.TIMEOUT:
            await asyncio.sleep(TIMEOUT_HOLD_S)
            raise InjectedFault("devnet fault: timeout")
        if fault.kind in (FaultKind.ERROR, FaultKind.DOWN):
            raise InjectedFault(f"devnet fault injected: {fault.kind.value}")
        return fault


def corrupt(value: Any, fault: Fault | None) -> Any:
    """Apply a GARBAGE or SCHEMA fault to an answer's data (other faults leave it as it is)."""
    if fault is None:
        return value
    if fault.kind is FaultKind.GARBAGE:
        return "\x00garbage"
    if fault.kind is FaultKind.SCHEMA:
        return _rename_keys(value)
    return value


def _rename_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {f"{key}_v2" if isinstance(key, str) else key: _rename_keys(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_rename_keys(item) for item in value]
    return value


def _renamed(response: web.StreamResponse) -> web.StreamResponse:
    if not isinstance(response, web.Response) or response.body is None:
        return response
    try:
        body = json.loads(bytes(response.body))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return response
    renamed = web.json_response(_rename_keys(body), status=response.status)
    for name, value in response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            renamed.headers[name] = value
    return renamed


def parse_fault(text: str) -> Fault:
    """`5xx:0.3` -> Fault(ERROR, 0.3); `slow:0.5:2` -> Fault(SLOW, 0.5, 2.0)."""
    parts = text.strip().split(":")
    try:
        kind = FaultKind(parts[0].strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ConfigError(f"unknown fault {parts[0]!r}; known faults: {known}") from None
    if len(parts) > 3 or (len(parts) == 3 and kind is not FaultKind.SLOW):
        raise ConfigError(f"fault {text!r} has too many parts")
    try:
        rate = float(parts[1]) if len(parts) > 1 else 1.0
        delay = float(parts[2]) if len(parts) > 2 else DEFAULT_SLOW_S
    except ValueError:
        raise ConfigError(f"fault {text!r}: rate and delay must be numbers") from None
    return Fault(kind, rate, delay)


def parse_faults(spec: str, providers: Mapping[str, object] | None = None) -> dict[str, tuple[Fault, ...]]:
    """`chutes=5xx:0.3,desearch=slow:0.5:2+garbage:0.1` -> faults per provider name.

    With `providers`, names that are not among them are refused (listing the known ones).
    """
    out: dict[str, tuple[Fault, ...]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, rules = item.partition("=")
        name = name.strip()
        if not sep or not name or not rules.strip():
            raise ConfigError(f"fault spec {item!r} must look like provider=fault[:rate[:seconds]]")
        if providers is not None and name not in providers:
            known = ", ".join(sorted(providers))
            raise ConfigError(f"unknown provider {name!r} in --faults; providers: {known}")
        out[name] = out.get(name, ()) + tuple(parse_fault(rule) for rule in rules.split("+"))
    return out
