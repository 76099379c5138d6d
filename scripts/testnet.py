#!/usr/bin/env python
"""Testnet operations for subnet owners, miners and validators, with the bittensor SDK Orchestra pins.

    python scripts/testnet.py status        --netuid N [--wallet.name W --wallet.hotkey H]
    python scripts/testnet.py create-subnet --wallet.name OWNER
    python scripts/testnet.py register      --netuid N --wallet.name W --wallet.hotkey H
    python scripts/testnet.py stake         --netuid N --wallet.name W --wallet.hotkey H --amount 10

Every command that spends TAO prints the cost and the balance and asks before it signs (unless --yes).
`--subtensor.network` defaults to `test`; `local` works against a subtensor localnet node.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bittensor as bt
from bittensor.utils.balance import Balance


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)
    for name, needs_netuid, help_text in (
        ("status", True, "show the subnet and, with a wallet, that hotkey's registration and stake"),
        ("create-subnet", False, "register a new subnet owned by the wallet's coldkey"),
        ("register", True, "register the wallet's hotkey on the subnet (burned registration)"),
        ("stake", True, "stake TAO from the coldkey to the hotkey on the subnet (validators need stake)"),
    ):
        command = commands.add_parser(name, help=help_text)
        if needs_netuid:
            command.add_argument("--netuid", type=int, required=True)
        if name == "stake":
            command.add_argument("--amount", type=float, required=True, help="TAO to stake")
        command.add_argument("--yes", action="store_true", help="do not ask before signing")
        bt.Wallet.add_args(command)
        bt.Subtensor.add_args(command)
        command.set_defaults(**{"subtensor.network": "test", "subtensor.chain_endpoint": None})
    return root


def confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def report(response: Any) -> int:
    ok = bool(getattr(response, "success", False))
    print(("done: " if ok else "failed: ") + str(getattr(response, "message", response)))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    flags = vars(args)
    wallet = bt.Wallet(name=flags["wallet.name"], hotkey=flags["wallet.hotkey"], path=flags["wallet.path"])
    subtensor = bt.Subtensor(network=flags["subtensor.chain_endpoint"] or flags["subtensor.network"])
    if args.command == "status":
        return status(subtensor, args.netuid, wallet)
    balance = subtensor.get_balance(wallet.coldkeypub.ss58_address)
    if args.command == "create-subnet":
        cost = subtensor.get_subnet_burn_cost()
        print(f"creating a subnet costs {cost}; coldkey balance {balance}")
        if not confirm("create it?", args.yes):
            return 1
        return report(subtensor.register_subnet(wallet))
    if not subtensor.subnet_exists(args.netuid):
        print(f"netuid {args.netuid} does not exist on {subtensor.network}")
        return 1
    if args.command == "register":
        if subtensor.is_hotkey_registered(wallet.hotkey.ss58_address, netuid=args.netuid):
            print(f"{wallet.hotkey.ss58_address} is already registered on netuid {args.netuid}")
            return 0
        print(f"registering costs {subtensor.recycle(args.netuid)}; coldkey balance {balance}")
        if not confirm(f"register {wallet.hotkey.ss58_address} on netuid {args.netuid}?", args.yes):
            return 1
        return report(subtensor.burned_register(wallet=wallet, netuid=args.netuid))
    amount = Balance.from_tao(args.amount)
    print(f"staking {amount} from a coldkey balance of {balance}")
    if not confirm(f"stake to {wallet.hotkey.ss58_address} on netuid {args.netuid}?", args.yes):
        return 1
    return report(subtensor.add_stake(wallet, args.netuid, wallet.hotkey.ss58_address, amount))


def status(subtensor: "bt.Subtensor", netuid: int, wallet: "bt.Wallet") -> int:
    if not subtensor.subnet_exists(netuid):
        print(f"netuid {netuid} does not exist on {subtensor.network}")
        return 1
    graph = subtensor.metagraph(netuid)
    block = subtensor.get_current_block()
    print(f"netuid {netuid} on {subtensor.network}: {int(graph.n)} neurons, block {block}")
    try:
        hotkey = wallet.hotkey.ss58_address
    except Exception:  # no hotkey on disk: subnet status only
        return 0
    if hotkey in graph.hotkeys:
        uid = graph.hotkeys.index(hotkey)
        permit, serving = bool(graph.validator_permit[uid]), graph.axons[uid].is_serving
        print(f"{hotkey}: uid {uid}, stake {float(graph.S[uid]):.4f}, permit {permit}, serving {serving}")
    else:
        print(f"{hotkey} is not registered on netuid {netuid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
