"""The devnet's Ledger: SN13 and SN22 as the seed describes them, pointed at the local stand-ins.

Only the routes an Orchestra adapter speaks are kept, and SN22's hosted API is replaced by the
Desearch stand-in's URL: a devnet Ledger never names an address outside 127.0.0.1, so its probes
cannot send traffic anywhere else.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ledger.api.webhooks import verify_signature
from ledger.entry import ProbeRecipe, Provenance, SubnetEntry
from ledger.seed import load_seed_entries
from ledger.store import LedgerStore
from orchestra.adapters.desearch import SEARCH_PATH
from orchestra.config import SN13_NETUID, SN22_NETUID
from orchestra.devnet.servers import ThreadedAiohttpServer

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


def devnet_entries(desearch_url: str) -> list[SubnetEntry]:
    seed = {entry.netuid: entry for entry in load_seed_entries()}
    out = []
    for netuid, adapter in ((SN13_NETUID, "data_universe"), (SN22_NETUID, "desearch")):
        entry = seed[netuid]
        routes = []
        for route in entry.routes:
            if route.adapter != adapter:
                continue
            if route.endpoint is not None:
                # The bundled corpus is about GPU pricing: the probe must ask something it has results for.
                route = route.model_copy(update={"endpoint": desearch_url, "probe": DESEARCH_PROBE})
            routes.append(route)
        out.append(
            entry.model_copy(update={"routes": tuple(routes), "provenance": Provenance(source=DEVNET_SOURCE)})
        )
    return out


def open_devnet_ledger(path: Path, desearch_url: str) -> LedgerStore:
    """A fresh SQLite Ledger at `path`, holding the devnet's entries."""
    store = LedgerStore(f"sqlite:///{path}")
    store.seed(devnet_entries(desearch_url), source=DEVNET_SOURCE)
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
