"""The `orchestra` command."""

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from ledger.cli import add_ledger_parser, run_ledger
from orchestra.devnet.adversaries import MinerKind
from orchestra.devnet.faults import parse_faults
from orchestra.devnet.localnet import (
    DEFAULT_NETUID,
    DEMO_OBJECTIVE,
    SCENARIOS,
    LocalnetReport,
    run_localnet,
)
from orchestra.errors import ConfigError
from protocol.version import PROTOCOL_VERSION

HONEST_KINDS = (MinerKind.HONEST.value, MinerKind.SLOW.value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orchestra", description="Orchestra: orchestration across Bittensor subnets."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    localnet = commands.add_parser(
        "localnet",
        help="run the whole subnet on 127.0.0.1: devnet chain, emulated producers, 2 miners (8 in the "
        "adversarial scenario), 1 validator",
    )
    localnet.add_argument(
        "--steps", type=int, default=3, help="validator steps after the demo job (default 3)"
    )
    localnet.add_argument(
        "--netuid", type=int, default=DEFAULT_NETUID, help="Orchestra's netuid on the devnet"
    )
    localnet.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    localnet.add_argument("--seed", type=int, default=None, help="seed the validator's challenges")
    localnet.add_argument("--verbose", action="store_true", help="log what every component does (stderr)")
    localnet.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="honest",
        help="honest: the demo job and steps; schema-drift: then follow a producer's schema change "
        "through the Ledger; adversarial: 2 honest, 1 slow and 5 cheating miners (lazy, fabricator, "
        "replayer, copier, schema-only), passing when every honest miner outweighs every cheater",
    )
    localnet.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="make emulated providers fail, e.g. 'desearch=5xx:0.3,sn22-miner-1=timeout:0.3,chutes=garbage' "
        "(faults: slow[:rate[:seconds]], timeout, 5xx, garbage, schema, down; providers: desearch, "
        "sn13-api, chutes, targon, blockmachine, sn13-miner-N, sn22-miner-N)",
    )
    localnet.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="then send this many challenges and count valid results",
    )

    commands.add_parser("version", help="print the package and protocol versions")
    add_ledger_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "ledger":
        return run_ledger(args)
    if args.command == "version":
        from importlib.metadata import version

        print(f"orchestra-subnet {version('orchestra-subnet')} (protocol {PROTOCOL_VERSION})")
        return 0
    if args.steps < 0:
        parser.error("--steps must be 0 or more")
    if args.jobs < 0:
        parser.error("--jobs must be 0 or more")
    if args.faults:
        try:
            parse_faults(args.faults)
        except ConfigError as exc:
            parser.error(f"--faults: {exc.message}")
    return _localnet(args)


def _localnet(args: argparse.Namespace) -> int:
    _quiet_logging(args.verbose)
    console = Console(stderr=args.json)
    began = time.perf_counter()
    try:
        if args.json:
            report = asyncio.run(
                run_localnet(
                    steps=args.steps,
                    netuid=args.netuid,
                    seed=args.seed,
                    scenario=args.scenario,
                    faults=args.faults,
                    jobs=args.jobs,
                )
            )
        else:
            with console.status("starting the local network") as status:
                report = asyncio.run(
                    run_localnet(
                        steps=args.steps,
                        netuid=args.netuid,
                        seed=args.seed,
                        scenario=args.scenario,
                        faults=args.faults,
                        jobs=args.jobs,
                        progress=status.update,
                    )
                )
    except Exception as exc:  # the command's contract: a readable failure and a non-zero exit
        if args.verbose:
            console.print_exception()
        message = f"localnet failed: {type(exc).__name__}: {exc}"
        if args.json:
            print(json.dumps({"error": message}))
        else:
            console.print(f"[red]{message}[/red]")
        return 1
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        _print_report(console, report, time.perf_counter() - began)
    return 0 if report.ok else 1


def _quiet_logging(verbose: bool) -> None:
    import bittensor as bt

    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if verbose:
        bt.logging.set_info()
    else:
        # bittensor reports every refused request (and every call it makes to one) as an ERROR line.
        bt.logging.disable_logging()


def _print_report(console: Console, report: LocalnetReport, seconds: float) -> None:
    job = report.job
    console.print(Panel(DEMO_OBJECTIVE, title="Demo job", subtitle="sent by the validator to miner uid 1"))
    if report.error:
        console.print(f"[red]The job failed:[/red] {report.error}")
    if job["result"] is not None:
        console.print(
            Syntax(json.dumps(job["result"], indent=2), "json", background_color="default", word_wrap=True)
        )
    if report.summary:
        console.print(f"[dim]{report.summary}[/dim]")
    verdict = "[green]valid[/green]" if job["valid"] else "[red]invalid[/red]"
    console.print(f"Result {verdict} against the target schema · {job['latency_ms']:.0f} ms")
    console.print(f"Proof root {job['proof_root']}")

    receipts = Table(title=f"Receipts: {job['receipts_verified']} of {job['receipts']} verified")
    for column in ("step", "call", "provider", "status", "ms", "verified"):
        receipts.add_column(column, overflow="fold")
    for line in report.receipts:
        receipts.add_row(
            line.step_id,
            line.call,
            line.provider,
            line.status,
            f"{line.latency_ms:.0f}",
            "[green]yes[/green]" if line.verified else f"[red]no: {', '.join(line.faults)}[/red]",
        )
    console.print(receipts)
    signed = sum(1 for line in report.receipts if line.producer_signed)
    console.print(
        f"[dim]{signed} of {len(report.receipts)} answers carried the producer axon's own signature: "
        "a stock bittensor 10.5 Axon signs only the requests it refuses, and hosted APIs sign nothing. "
        "The others are the miner's word, checked for its signature, the task window, the producer's "
        "registration and the payload digests; the validator's steps re-query a sample of them to "
        "test their content.[/dim]"
    )

    miners = Table(title="Miners: EMA scores and weights read back from the chain")
    for column in ("uid", "kind", "hotkey", "score", "weight"):
        miners.add_column(column, overflow="fold")
    for miner in report.miners:
        kind = miner.kind if miner.kind in HONEST_KINDS else f"[red]{miner.kind}[/red]"
        miners.add_row(str(miner.uid), kind, miner.hotkey, f"{miner.score:.4f}", f"{miner.weight:.4f}")
    console.print(miners)
    if report.adversarial is not None:
        _print_adversarial(console, report.adversarial)
    if report.ledger is not None:
        _print_ledger(console, report.ledger)
    if report.reliability is not None:
        r = report.reliability
        console.print(
            Panel(
                f"{r['valid']} of {r['jobs']} jobs valid ({r['valid_share']:.1%}), {r['invalid']} invalid, "
                f"{r['failed']} failed {r['errors'] or ''}\n"
                f"latency p50 {r['latency_ms_p50']:.0f} ms, p95 {r['latency_ms_p95']:.0f} ms\n"
                f"faults: {r['faults'] or 'none'}",
                title="Reliability",
            )
        )
    state = "[green]set[/green]" if report.weights_set else "[red]not set[/red]"
    outcome = "[green]OK[/green]" if report.ok else "[red]FAILED[/red]"
    console.print(f"Weights {state} on chain · localnet {outcome} in {seconds:.1f}s")


def _print_adversarial(console: Console, summary: dict[str, Any]) -> None:
    slow = summary["slow_min_weight"]
    verdict = (
        "[green]every honest miner outweighs every cheater[/green]"
        if summary["separated"]
        else "[red]a cheater's weight reaches an honest miner's[/red]"
    )
    lines = [
        f"honest min weight {summary['honest_min_weight']:.4f}"
        + (f", slow {slow:.4f}" if slow is not None else "")
        + f"; cheater max weight {summary['cheater_max_weight']:.4f}: {verdict}",
        "mean step scores by kind:",
        *(
            f"  {kind:<12} total {parts.get('total', 0.0):.4f}  "
            + " ".join(f"{name} {value:.2f}" for name, value in parts.items() if name != "total")
            for kind, parts in summary["mean_step_scores_by_kind"].items()
        ),
    ]
    console.print(Panel("\n".join(lines), title="Adversarial miners"))


def _print_ledger(console: Console, ledger: dict[str, Any]) -> None:
    hook = ledger["webhook"]
    console.print(
        Panel(
            "\n".join(
                [
                    f"detected by miner uids {ledger['detected_by'] or 'none'}",
                    f"accepted proposals {len(ledger['accepted'])}, rejected {len(ledger['rejected'])}",
                    f"SN{ledger['netuid']} is now version {ledger['version']} "
                    f"([bold]{ledger['compatibility']}[/bold], {ledger['verification']})",
                    *(f"  {path}" for path in ledger["changes"]),
                    f"evidence {ledger['evidence_digest']}",
                    f"webhook events {hook['events']} "
                    f"(signatures {'valid' if hook['signatures_valid'] else 'INVALID'})",
                    *(
                        f"uid {uid}: Ledger score {s['before']:.4f} -> {s['after']:.4f}"
                        for uid, s in ledger["ledger_scores"].items()
                    ),
                ]
            ),
            title="Ledger: the Desearch stand-in changed its response schema",
        )
    )


if __name__ == "__main__":
    sys.exit(main())
