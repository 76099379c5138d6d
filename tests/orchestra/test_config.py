import json
from pathlib import Path

import pytest

from orchestra.config import MinerSettings, ValidatorSettings, default_routes, load_config, load_routes
from orchestra.errors import ConfigError
from protocol.models import RouteKind


def test_bittensor_flags_and_ours_parse_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_MAX_CONCURRENT_JOBS", "7")
    monkeypatch.setenv("ORCHESTRA_BLACKLIST_MIN_STAKE", "5")
    config, settings = load_config(
        "miner",
        MinerSettings,
        [
            "--netuid", "42",
            "--subtensor.network", "test",
            "--wallet.name", "cold",
            "--wallet.hotkey", "hot",
            "--axon.port", "9000",
            "--neuron.max_concurrent_jobs", "9",
            "--blacklist.force_validator_permit", "false",
        ],
    )  # fmt: skip
    assert (config.netuid, config.subtensor.network, config.wallet.name, config.wallet.hotkey) == (
        42,
        "test",
        "cold",
        "hot",
    )
    assert config.axon.port == 9000
    assert settings.max_concurrent_jobs == 9  # the flag wins over the environment
    assert settings.blacklist_min_stake == 5.0  # the environment is the default
    assert settings.blacklist_force_validator_permit is False


def test_validator_list_settings_parse_from_flags() -> None:
    _, settings = load_config(
        "validator", ValidatorSettings, ["--netuid", "1", "--neuron.producer_netuids", "13,19"]
    )
    assert settings.producer_netuids == [13, 19]


def test_invalid_setting_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_concurrent_jobs"):
        load_config("miner", MinerSettings, ["--netuid", "1", "--neuron.max_concurrent_jobs", "0"])


def test_default_routes_need_a_key_for_the_desearch_api() -> None:
    assert [r.name for r in default_routes(MinerSettings())] == ["sn13-data-universe-miners"]
    routes = default_routes(MinerSettings(desearch_api_key="k"))
    assert [(r.name, r.kind) for r in routes] == [
        ("sn22-desearch-api", RouteKind.HTTP),
        ("sn13-data-universe-miners", RouteKind.DENDRITE),
    ]
    assert routes[0].api_key is not None and routes[0].api_key.get_secret_value() == "k"


def write(tmp_path: Path, routes: object) -> Path:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(routes))
    return path


ROUTE = {
    "name": "ds",
    "netuid": 22,
    "kind": "http",
    "adapter": "desearch",
    "capabilities": ["web_search"],
    "endpoint": "https://api.desearch.ai",
}


def test_routes_file_with_a_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_DESEARCH_KEY", "from-env")
    [route] = load_routes(write(tmp_path, [{**ROUTE, "api_key": "env:MY_DESEARCH_KEY"}]))
    assert route.api_key is not None and route.api_key.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"not": "a list"}, "JSON list"),
        ([{**ROUTE, "api_key": "env:NOT_SET_ANYWHERE"}], "not set"),
        ([{**ROUTE, "capabilities": ["astrology"]}], "route 0"),
    ],
)
def test_bad_routes_files_are_config_errors(tmp_path: Path, content: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_routes(write(tmp_path, content))


def test_unreadable_routes_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_routes(tmp_path / "missing.json")
