"""Run an Orchestra miner.

    python neurons/miner.py --netuid <N> --subtensor.network test \\
        --wallet.name <coldkey> --wallet.hotkey <hotkey> --axon.port 8091

Routes to producer subnets come from the miner's Subnet Ledger (seeded on first start): SN13 by
dendrite, and each hosted API whose key is set (ORCHESTRA_DESEARCH_API_KEY, ORCHESTRA_CHUTES_API_KEY,
ORCHESTRA_TARGON_API_KEY, ORCHESTRA_DATA_UNIVERSE_API_KEY; docs/Miner_Design.md), or from a routes
file that replaces them (ORCHESTRA_ROUTES_FILE / --neuron.routes_file).
`python neurons/miner.py --help` lists every flag.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from orchestra.config import MinerSettings
from orchestra.entrypoint import open_chain, open_wallet, serve, setup
from orchestra.errors import OrchestraError
from orchestra.miner.neuron import Miner
from orchestra.ports import LOOPBACK


def main(argv: list[str] | None = None) -> int:
    try:
        config, settings = setup("miner", MinerSettings, argv)
        wallet = open_wallet(config)
        chain = open_chain(config, wallet, validator=False)
        devnet = chain.is_devnet
        miner = Miner(
            wallet=wallet,
            chain=chain,
            netuid=config.netuid,
            settings=settings,
            port=config.axon.port,
            external_ip=LOOPBACK if devnet else config.axon.external_ip,
            external_port=config.axon.external_port,
            bind_host=LOOPBACK if devnet else None,
        )
    except OrchestraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return serve(miner.run)


if __name__ == "__main__":
    sys.exit(main())
