"""Run an Orchestra validator.

    python neurons/validator.py --netuid <N> --subtensor.network test \\
        --wallet.name <coldkey> --wallet.hotkey <hotkey>

Scores are kept in ~/.orchestra/<wallet>/<hotkey>/netuid<N>/validator_state.json unless
ORCHESTRA_STATE_PATH / --neuron.state_path says otherwise. `--help` lists every flag.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from orchestra.config import DEFAULT_DATA_DIR, ValidatorSettings
from orchestra.entrypoint import open_chain, open_wallet, serve, setup
from orchestra.errors import OrchestraError
from orchestra.validator.neuron import Validator


def main(argv: list[str] | None = None) -> int:
    try:
        config, settings = setup("validator", ValidatorSettings, argv)
        wallet = open_wallet(config)
        chain = open_chain(config, wallet, validator=True)
        if settings.state_path is None:
            state = (
                DEFAULT_DATA_DIR
                / wallet.name
                / wallet.hotkey_str
                / f"netuid{config.netuid}"
                / "validator_state.json"
            )
            settings = settings.model_copy(update={"state_path": state})
        validator = Validator(wallet=wallet, chain=chain, netuid=config.netuid, settings=settings)
    except OrchestraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return serve(validator.run)


if __name__ == "__main__":
    sys.exit(main())
