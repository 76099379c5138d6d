"""The Ledger's seed: subnets catalogued from public facts, shipped as package data.

A fresh Ledger starts from these entries instead of empty; `scripts/build_ledger_seed.py` regenerates them.
"""

import json
from pathlib import Path

from pydantic import ValidationError

from ledger.entry import SubnetEntry
from ledger.store import LedgerStore, SeedReport

SEED_VERSION_SOURCE = "seed"
SEED_PATH = Path(__file__).resolve().parent / "data" / "seed.json"


def load_seed_entries(path: Path | None = None) -> list[SubnetEntry]:
    """Every seeded subnet, validated; `ValueError` names the file and, for a bad entry, its netuid."""
    source = SEED_PATH if path is None else path
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the Ledger seed {source}: {exc}") from None
    if not isinstance(raw, list):
        raise ValueError(f"the Ledger seed {source} must hold a JSON list of subnet entries")
    entries: list[SubnetEntry] = []
    seen: set[int] = set()
    for index, item in enumerate(raw):
        netuid = item.get("netuid") if isinstance(item, dict) else None
        label = f"netuid {netuid}" if netuid is not None else f"item {index}"
        try:
            entry = SubnetEntry.model_validate(item)
        except ValidationError as exc:
            raise ValueError(f"the Ledger seed {source} has an invalid entry for {label}: {exc}") from None
        if entry.netuid in seen:
            raise ValueError(f"the Ledger seed {source} lists netuid {entry.netuid} twice")
        seen.add(entry.netuid)
        entries.append(entry)
    return entries


def seed_ledger(store: LedgerStore) -> SeedReport:
    """Load the bundled seed. Idempotent; never overwrites what a probe or a validator changed since."""
    return store.seed(load_seed_entries(), source=SEED_VERSION_SOURCE)


def ensure_seeded(store: LedgerStore) -> int:
    """Load the seed into a Ledger with no versions yet; one that holds anything is left alone.

    Returns how many subnets were added.
    """
    if store.head() > 0:
        return 0
    return seed_ledger(store).added
