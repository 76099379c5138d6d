"""The devnet's Ledger: the producers the seed describes, pointed at the local stand-ins.

SN13 (miner axons and the on-demand API), SN22 (the Desearch API, and the pre-2.0 miner axons when
they run), SN64 Chutes and SN4 Targon (OpenAI-compatible inference) and SN19 Blockmachine (JSON-RPC).
Only the routes an Orchestra adapter speaks are kept and every endpoint is replaced by its stand-in's
URL: a devnet Ledger never names an address outside 127.0.0.1, so its probes cannot send traffic
anywhere else.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ledger.api.webhooks import verify_signature
from ledger.entry import AuthKind, ProbeRecipe, Provenance, Route, SubnetEntry
from ledger.seed import load_seed_entries
from ledger.store import LedgerStore
from orchestra.adapters.desearch import SEARCH_PATH
from orchestra.config import SN4_NETUID, SN13_NETUID, SN19_NETUID, SN22_NETUID, SN64_NETUID
from orchestra.devnet.servers import ThreadedAiohttpServer
from protocol.models import RouteKind

DEVNET_SOURCE = "devnet"
DESEARCH_PROBE = ProbeRecipe(
    method="POST",
    path=SEARCH_PATH,
    body={
        "prompt": "H100 GPU cloud pricing",
        "tools": ["web"],
        "count": 10,
        "date_filter": "PAST_YEAR",
        "result_type": "ONLY_LINKS",
    },
)
SN22_MINERS_ROUTE = Route(
    name="miners",
    kind=RouteKind.DENDRITE,
    auth=AuthKind.VALIDATOR_PERMIT,
    capabilities=("web_search", "social_search"),
    adapter="desearch_miners",
    synapse="ScraperStreamingSynapse",
    timeout_s=20.0,  # balanced-mode budget (15 s) plus 5 s, as SN22 validators allow
    notes="Pre-2.0 SN22 miners: ScraperStreamingSynapse and TwitterSearchSynapse, gated to validators.",
)


@dataclass(frozen=True)
class DevnetEndpoints:
    """Where the devnet's stand-ins listen. Routes of producers left at None are not in the Ledger."""

    desearch: str
    data_universe_api: str | None = None
    chutes: str | None = None  # OpenAI-compatible base URL, ending in /v1
    targon: str | None = None
    blockmachine: str | None = None
    sn22_miners: bool = False


# (netuid, seed route name) -> (adapter, which endpoint replaces the public one)
_ROUTES = {
    (SN13_NETUID, "bucket"): "data_universe",
    (SN13_NETUID, "on-demand"): "data_universe_api",
    (SN22_NETUID, "desearch-api"): "desearch",
    (SN64_NETUID, "llm"): "chutes",
    (SN4_NETUID, "inference"): "targon",
    (SN19_NETUID, "eth-rpc"): "blockmachine",
}


def devnet_entries(endpoints: DevnetEndpoints | str) -> list[SubnetEntry]:
    """The seed's entries for the devnet's producers, every endpoint pointed at a local stand-in."""
    if isinstance(endpoints, str):
        endpoints = DevnetEndpoints(desearch=endpoints)
    local = {
        "data_universe": None,
        "data_universe_api": endpoints.data_universe_api,
        "desearch": endpoints.desearch,
        "chutes": endpoints.chutes,
        "targon": endpoints.targon,
        "blockmachine": endpoints.blockmachine,
    }
    seed = {entry.netuid: entry for entry in load_seed_entries()}
    out = []
    for netuid in sorted({netuid for netuid, _ in _ROUTES}):
        entry = seed[netuid]
        routes = []
        for route in entry.routes:
            adapter = _ROUTES.get((netuid, route.name))
            if adapter is None or route.adapter != adapter:
                continue
            if adapter != "data_universe":
                if local[adapter] is None:
                    continue
                update: dict[str, object] = {"endpoint": local[adapter]}
                if adapter == "desearch":
                    # The bundled corpus is about GPU pricing: the probe must ask what it has results for.
                    update["probe"] = DESEARCH_PROBE
                route = route.model_copy(update=update)
            routes.append(route)
        if netuid == SN22_NETUID and endpoints.sn22_miners:
            routes.append(SN22_MINERS_ROUTE)
        if routes:
            out.append(
                entry.model_copy(
                    update={"routes": tuple(routes), "provenance": Provenance(source=DEVNET_SOURCE)}
                )
            )
    return out


def open_devnet_ledger(path: Path, endpoints: DevnetEndpoints | str) -> LedgerStore:
    """A fresh SQLite Ledger at `path`, holding the devnet's entries."""
    store = LedgerStore(f"sqlite:///{path}")
    store.seed(devnet_entries(endpoints), source=DEVNET_SOURCE)
    return store


@dataclass(frozen=True)
class ReceivedEvent:
    payload: dict[str, Any]
    signature_valid: bool
    event_id: str


class WebhookReceiver:
    """A subscriber's endpoint on 127.0.0.1 that checks each delivery's HMAC signature."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.events: list[ReceivedEvent] = []
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self.server = ThreadedAiohttpServer(app)

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"

    def start(self) -> "WebhookReceiver":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        valid = self.secret is not None and verify_signature(
            self.secret, request.headers.get("X-Orchestra-Signature", ""), body
        )
        self.events.append(
            ReceivedEvent(
                payload=json.loads(body),
                signature_valid=valid,
                event_id=request.headers.get("X-Orchestra-Event-Id", ""),
            )
        )
        return web.json_response({"ok": True})
