"""`python neurons/miner.py` and `python neurons/validator.py` as operators run them."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import bittensor as bt
import pytest

from orchestra.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


# A route for web_search, so a miner has a blueprint to serve; nothing listens there.
WITH_DESEARCH = {"ORCHESTRA_DESEARCH_API_KEY": "test-key", "ORCHESTRA_DESEARCH_URL": "http://127.0.0.1:9"}


def run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "neurons" / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def start(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "neurons" / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def wallet_flags(wallets: dict[str, bt.Wallet], name: str) -> list[str]:
    wallet = wallets[name]
    return [
        "--wallet.path",
        str(wallet.path),
        "--wallet.name",
        wallet.name,
        "--wallet.hotkey",
        wallet.hotkey_str,
    ]


@pytest.mark.parametrize("script", ["miner.py", "validator.py"])
def test_help_lists_bittensor_and_orchestra_flags(script: str) -> None:
    result = run(script, "--help")
    assert result.returncode == 0
    for flag in (
        "--netuid",
        "--wallet.name",
        "--wallet.hotkey",
        "--subtensor.network",
        "--axon.port",
        "--logging.debug",
        "--neuron.",
    ):
        assert flag in result.stdout


def test_miner_help_has_the_blacklist_switches() -> None:
    assert "--blacklist.force_validator_permit" in run("miner.py", "--help").stdout


@pytest.mark.parametrize("script", ["miner.py", "validator.py"])
def test_a_missing_netuid_is_a_usage_error(script: str) -> None:
    result = run(script, "--subtensor.network", "mock")
    assert result.returncode == 2 and "--netuid" in result.stderr


def test_a_missing_wallet_is_reported_with_what_to_do(tmp_path: Path) -> None:
    result = run(
        "miner.py",
        "--netuid",
        "1",
        "--subtensor.network",
        "mock",
        "--wallet.path",
        str(tmp_path),
        "--wallet.name",
        "nobody",
    )
    assert result.returncode == 2
    assert "cannot load hotkey" in result.stderr and "btcli wallet" in result.stderr


def test_a_miner_whose_routes_serve_no_blueprint_refuses_to_start(wallets: dict[str, bt.Wallet]) -> None:
    result = run(
        "miner.py",
        "--netuid", "3",
        "--subtensor.network", "mock",
        "--axon.port", str(free_port()),
        *wallet_flags(wallets, "miner"),
        env={"ORCHESTRA_DESEARCH_API_KEY": ""},
    )  # fmt: skip
    assert result.returncode == 2
    assert "serve no blueprint" in result.stderr and "ORCHESTRA_DESEARCH_API_KEY" in result.stderr


def test_an_unknown_network_is_reported(wallets: dict[str, bt.Wallet]) -> None:
    result = run("miner.py", "--netuid", "1", "--subtensor.network", "moon", *wallet_flags(wallets, "miner"))
    assert result.returncode == 2 and "unknown network 'moon'" in result.stderr


def test_miner_serves_on_mock_network_and_stops_cleanly_on_sigint(wallets: dict[str, bt.Wallet]) -> None:
    port = free_port()
    process = start(
        "miner.py",
        "--netuid", "3",
        "--subtensor.network", "mock",
        "--axon.port", str(port),
        *wallet_flags(wallets, "miner"),
        env=WITH_DESEARCH,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=60)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output


def test_validator_runs_steps_on_mock_network_and_saves_its_state(
    wallets: dict[str, bt.Wallet], tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    process = start(
        "validator.py",
        "--netuid", "3",
        "--subtensor.network", "mock",
        "--neuron.step_interval_s", "0.2",
        "--neuron.state_path", str(state),
        *wallet_flags(wallets, "validator"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not state.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    saved = json.loads(state.read_text())
    assert saved["step"] >= 1 and saved["hotkeys"] == [wallets["validator"].hotkey.ss58_address]
