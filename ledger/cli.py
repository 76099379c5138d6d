"""`orchestra ledger ...`: seed, read and serve the Subnet Ledger from the command line.

    orchestra ledger seed
    orchestra ledger list --capability social_search
    orchestra ledger show 13
    orchestra ledger history 13 --json
    orchestra ledger search "social sentiment"
    orchestra ledger stats --json
    orchestra ledger serve --port 8090
    orchestra ledger keys create --name my-app --tier developer

Every subcommand takes `--db URL` (default: `ORCHESTRA_LEDGER_URL`, else a SQLite file in the user's
data directory). User errors (an unknown netuid, a capability outside the vocabulary) print one line to
stderr and exit with status 2.
"""

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from ledger.api.keys import KeyStore, Tier
from ledger.api.settings import LedgerApiSettings
from ledger.entry import NETUID_MAX, SubnetStatus, Verification
from ledger.errors import LedgerError
from ledger.search import search
from ledger.store import LedgerStore, StoredEntry, SubnetFilter, default_url
from ledger.vocabulary import Capability, is_capability
from protocol.models import RouteKind

USER_ERROR = 2
MAX_LIST = 100_000
VERIFIED_CAPTION = "✓ verified by validators"


def add_ledger_parser(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> argparse.ArgumentParser:
    """Add `ledger` and its subcommands to a parent command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: ORCHESTRA_LEDGER_URL, else a SQLite file in the data dir)",
    )
    ledger = subparsers.add_parser("ledger", help="the Subnet Ledger: seed, list, show, search, serve")
    commands = ledger.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")

    commands.add_parser("seed", parents=[common], help="load the bundled seed entries (idempotent)")

    listing = commands.add_parser("list", parents=[common], help="list subnets, optionally filtered")
    listing.add_argument("--capability", help="only subnets offering this capability (see vocabulary)")
    listing.add_argument("--status", choices=[s.value for s in SubnetStatus])
    listing.add_argument("--verification", choices=[v.value for v in Verification])
    listing.add_argument("--route-kind", choices=[k.value for k in RouteKind])
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    show = commands.add_parser("show", parents=[common], help="one subnet: entry, routes and health")
    show.add_argument("netuid", type=int)
    show.add_argument("--json", action="store_true")

    history = commands.add_parser("history", parents=[common], help="a subnet's versions, newest first")
    history.add_argument("netuid", type=int)
    history.add_argument("--limit", type=int, default=50)
    history.add_argument("--json", action="store_true")

    find = commands.add_parser("search", parents=[common], help="rank subnets for a capability query")
    find.add_argument("text", nargs="+", help='e.g. "social sentiment"')
    find.add_argument("--limit", type=int, default=10)
    find.add_argument("--json", action="store_true")

    stats = commands.add_parser("stats", parents=[common], help="counts of subnets, routes and versions")
    stats.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", parents=[common], help="run the HTTP API (127.0.0.1 by default)")
    serve.add_argument(
        "--host", default=None, help="bind address (default: ORCHESTRA_LEDGER_HOST or 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=None, help="port (default: ORCHESTRA_LEDGER_PORT or 8090)")
    serve.add_argument(
        "--devnet",
        action="store_true",
        default=None,
        help="allow webhooks to loopback/private addresses (local networks only)",
    )

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    create = key_commands.add_parser("create", parents=[common], help="create a key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--tier", choices=[t.value for t in Tier], default=Tier.FREE.value)
    key_commands.add_parser("list", parents=[common], help="list keys (never the keys themselves)")
    revoke = key_commands.add_parser("revoke", parents=[common], help="revoke a key by id")
    revoke.add_argument("id", type=int)
    return ledger


def run_ledger(args: argparse.Namespace) -> int:
    """Run a parsed `ledger` command. Returns the exit code."""
    console = Console()
    try:
        _validate(args)
        if args.ledger_command == "keys":
            handler = _KEY_HANDLERS[args.keys_command]
        else:
            handler = _HANDLERS[args.ledger_command]
        store = LedgerStore(args.db)
        try:
            return handler(store, args, console)
        finally:
            store.close()
    except LedgerError as exc:
        _fail(exc.message)
    except sa.exc.SQLAlchemyError as exc:
        url = args.db or default_url()
        shown = sa.engine.make_url(url).render_as_string(hide_password=True) if "://" in url else url
        _fail(f"database {shown}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    return USER_ERROR


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _validate(args: argparse.Namespace) -> None:
    capability = getattr(args, "capability", None)
    if capability is not None and not is_capability(capability):
        known = ", ".join(c.value for c in Capability)
        raise LedgerError(f"unknown capability {capability!r} (known: {known})")
    netuid = getattr(args, "netuid", None)
    if netuid is not None and not 0 <= netuid <= NETUID_MAX:
        raise LedgerError(f"netuid must be between 0 and {NETUID_MAX}, not {netuid}")
    limit = getattr(args, "limit", None)
    if limit is not None and limit < 1:
        raise LedgerError(f"--limit must be at least 1, not {limit}")


def _seed(store: LedgerStore, _args: argparse.Namespace, console: Console) -> int:
    from ledger.seed import seed_ledger

    try:
        report = seed_ledger(store)
    except ValueError as exc:  # an unreadable or invalid seed file
        raise LedgerError(str(exc)) from None
    console.print(
        f"seeded the Ledger: {report.added} added, {report.updated} updated, {report.unchanged} unchanged"
    )
    return 0


def _list(store: LedgerStore, args: argparse.Namespace, console: Console) -> int:
    rows = store.select(
        SubnetFilter(
            capability=args.capability,
            status=SubnetStatus(args.status) if args.status else None,
            verification=Verification(args.verification) if args.verification else None,
            route_kind=args.route_kind,
            limit=MAX_LIST,
        )
    )
    if args.json:
        _print_json([_stored_json(row) for row in rows])
        return 0
    table = _table(
        f"{len(rows)} subnets",
        "netuid",
        "name",
        "status",
        "capabilities",
        "routes",
        "version",
        numeric=("netuid", "version"),
        fixed=("status",),
        caption=VERIFIED_CAPTION,
    )
    for row in rows:
        entry = row.entry
        table.add_row(
            str(entry.netuid),
            entry.name,
            _status(entry.status, entry.verification),
            ", ".join(entry.capabilities),
            ", ".join(sorted({r.kind.value for r in entry.routes})) or "-",
            str(row.version),
        )
    console.print(table)
    return 0


def _show(store: LedgerStore, args: argparse.Namespace, console: Console) -> int:
    stored = store.get(args.netuid)
    health = store.health(args.netuid)
    if args.json:
        _print_json({**_stored_json(stored), "health": [h.model_dump(mode="json") for h in health]})
        return 0
    entry = stored.entry
    about = Table.grid(padding=(0, 2))
    about.add_column(style="bold")
    about.add_column()
    about.add_row("subnet", f"SN{entry.netuid} {entry.name}")
    about.add_row("status", f"{entry.status.value}, {entry.verification.value}")
    about.add_row("version", f"{stored.version} (updated {stored.updated_at:%Y-%m-%d %H:%M} UTC)")
    about.add_row("capabilities", ", ".join(entry.capabilities) or "-")
    if entry.tags:
        about.add_row("tags", ", ".join(entry.tags))
    if entry.owner:
        about.add_row("owner", entry.owner)
    for name, link in sorted(entry.links.items()):
        about.add_row(name, link)
    about.add_row("source", entry.provenance.source)
    if entry.description:
        about.add_row("description", entry.description)
    console.print(about)
    if entry.routes:
        routes = _table(
            "routes", "route", "kind", "auth", "capabilities", "endpoint / synapse", fixed=("kind",)
        )
        for route in entry.routes:
            routes.add_row(
                route.name,
                route.kind.value,
                route.auth.value,
                ", ".join(route.capabilities) or "-",
                route.endpoint or route.synapse or "-",
            )
        console.print(routes)
    if health:
        table = _table(
            "health (7 days)",
            "route",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "success 24h",
            "uptime 7d",
            "last seen",
            numeric=("p50 ms", "p95 ms", "p99 ms", "success 24h", "uptime 7d"),
            fixed=("route",),
        )
        for h in health:
            table.add_row(
                h.route,
                _number(h.latency_p50_ms),
                _number(h.latency_p95_ms),
                _number(h.latency_p99_ms),
                _percent(h.success_rate),
                _percent(h.uptime_7d),
                f"{h.last_seen:%Y-%m-%d %H:%M}" if h.last_seen else "-",
            )
        console.print(table)
    else:
        console.print("health: no samples in the last 7 days")
    return 0


def _history(store: LedgerStore, args: argparse.Namespace, console: Console) -> int:
    versions = store.history(args.netuid, limit=args.limit)
    if args.json:
        _print_json([v.model_dump(mode="json") for v in versions])
        return 0
    table = _table(
        f"SN{args.netuid}: {len(versions)} versions, newest first",
        "version",
        "created",
        "compatibility",
        "source",
        "changes",
        numeric=("version",),
        fixed=("compatibility",),
    )
    for v in versions:
        paths = [str(change.get("path") or "(new subnet)") for change in v.changes]
        shown = ", ".join(paths[:5]) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")
        table.add_row(
            str(v.version), f"{v.created_at:%Y-%m-%d %H:%M}", v.compatibility.value, v.source, shown
        )
    console.print(table)
    return 0


def _search(store: LedgerStore, args: argparse.Namespace, console: Console) -> int:
    query = " ".join(args.text)
    hits = search(query, store.entries(), limit=args.limit)
    if args.json:
        _print_json([hit.model_dump(mode="json") for hit in hits])
        return 0
    if not hits:
        console.print(f"no subnet matches {query!r}")
        return 0
    table = _table(
        f"search: {query}",
        "netuid",
        "name",
        "score",
        "matched capabilities",
        "status",
        numeric=("netuid", "score"),
        fixed=("status",),
        caption=VERIFIED_CAPTION,
    )
    for hit in hits:
        table.add_row(
            str(hit.netuid),
            hit.name,
            f"{hit.score:.2f}",
            ", ".join(hit.matched_capabilities) or "-",
            _status(hit.status, hit.verification),
        )
    console.print(table)
    return 0


def _stats(store: LedgerStore, args: argparse.Namespace, console: Console) -> int:
    stats = store.stats().as_dict()
    if args.json:
        _print_json(stats)
        return 0
    table = Table(title="Subnet Ledger")
    table.add_column("")
    table.add_column("count", justify="right")
    for name, value in stats.items():
        table.add_row(name, str(value))
    console.print(table)
    return 0


def _serve(store: LedgerStore, args: argparse.Namespace, _console: Console) -> int:
    from ledger.api.server import serve

    overrides = {name: getattr(args, name) for name in ("host", "port", "devnet")}
    settings = LedgerApiSettings(**{name: value for name, value in overrides.items() if value is not None})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(store, settings)
    return 0


def _create_key(store: LedgerStore, args: argparse.Namespace, console: Console) -> int:
    created = KeyStore(store).create(args.name, Tier(args.tier))
    console.print(f"created API key {created.id} ({created.name}, {created.tier.value} tier):")
    # Plain print: the key must come out on one line, whatever the terminal width.
    print(created.key)
    console.print("store it now: the Ledger keeps only its hash and cannot show it again")
    return 0


def _list_keys(store: LedgerStore, _args: argparse.Namespace, console: Console) -> int:
    table = Table(title="API keys")
    for column in ("id", "name", "tier", "prefix", "created", "revoked"):
        table.add_column(column)
    for key in KeyStore(store).all():
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-"
        table.add_row(
            str(key.id), key.name, key.tier.value, key.prefix, f"{key.created_at:%Y-%m-%d}", revoked
        )
    console.print(table)
    return 0


def _revoke_key(store: LedgerStore, args: argparse.Namespace, console: Console) -> int:
    key = KeyStore(store).revoke(args.id)
    console.print(f"revoked API key {key.id} ({key.name})")
    return 0


Handler = Callable[[LedgerStore, argparse.Namespace, Console], int]

_HANDLERS: dict[str, Handler] = {
    "seed": _seed,
    "list": _list,
    "show": _show,
    "history": _history,
    "search": _search,
    "stats": _stats,
    "serve": _serve,
}
_KEY_HANDLERS: dict[str, Handler] = {"create": _create_key, "list": _list_keys, "revoke": _revoke_key}


def _stored_json(stored: StoredEntry) -> dict[str, Any]:
    return {
        "entry": stored.entry.model_dump(mode="json"),
        "version": stored.version,
        "updated_at": stored.updated_at.isoformat(),
    }


def _print_json(value: Any) -> None:
    # Plain print, not rich: JSON output must not be wrapped or highlighted.
    print(json.dumps(value, indent=None, separators=(",", ":")))


def _table(
    title: str,
    *columns: str,
    numeric: tuple[str, ...] = (),
    fixed: tuple[str, ...] = (),
    caption: str | None = None,
) -> Table:
    """A table whose numbers and short words never wrap and whose other cells fold, never get cut."""
    table = Table(title=title, caption=caption)
    for column in columns:
        if column in numeric:
            table.add_column(column, justify="right", no_wrap=True)
        elif column in fixed:
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, overflow="fold")
    return table


def _status(status: SubnetStatus, verification: Verification) -> str:
    return f"{status.value} ✓" if verification is Verification.VERIFIED else status.value


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main(argv: list[str] | None = None) -> int:
    """`python -m ledger.cli seed|list|...`, the same as `orchestra ledger ...`."""
    parser = argparse.ArgumentParser(prog="orchestra")
    add_ledger_parser(parser.add_subparsers(dest="command", required=True))
    return run_ledger(parser.parse_args(["ledger", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
