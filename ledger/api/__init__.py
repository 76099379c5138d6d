"""The Ledger's HTTP API: `create_app(store, settings)` builds it, `serve(store, settings)` runs it."""

from ledger.api.app import create_app
from ledger.api.server import serve
from ledger.api.settings import LedgerApiSettings

__all__ = ["LedgerApiSettings", "create_app", "serve"]
