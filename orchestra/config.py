"""Configuration: one pydantic-settings model per process, CLI flags on top.

Environment variables (`ORCHESTRA_*`, or a `.env` file) set the defaults; command-line flags override
them. bittensor's own flags (`--netuid --wallet.* --subtensor.* --axon.* --logging.*`) are parsed by
bittensor's parsers and keep their usual meaning.
"""

import argparse
import json
import os
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import bittensor as bt
from bittensor.core.config import DefaultMunch
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.entry import Route
from orchestra.errors import ConfigError
from orchestra.routing import RouteSpec
from protocol.models import MAX_DEADLINE_MS, MIN_DEADLINE_MS, RouteKind

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

SN4_NETUID = 4
SN13_NETUID = 13
SN19_NETUID = 19
SN22_NETUID = 22
SN64_NETUID = 64
DEFAULT_DATA_DIR = Path.home() / ".orchestra"


# Adapter -> the setting holding the operator's key for it.
ADAPTER_KEY_FIELDS = {
    "desearch": "desearch_api_key",
    "data_universe_api": "data_universe_api_key",
    "chutes": "chutes_api_key",
    "targon": "targon_api_key",
}


class AdapterKeys(BaseSettings):
    """The operator's producer API keys. A miner calls producers with them; a validator re-probes Ledger
    routes, re-queries sampled calls and pre-queries logic traps with its own."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRA_", env_file=".env", extra="ignore")

    desearch_api_key: SecretStr | None = Field(default=None, description="Desearch API key (SN22).")
    data_universe_api_key: SecretStr | None = Field(
        default=None, description="Data Universe on-demand API key (SN13, X-API-Key)."
    )
    chutes_api_key: SecretStr | None = Field(default=None, description="Chutes API key (SN64, cpk_...).")
    targon_api_key: SecretStr | None = Field(default=None, description="Targon API key (SN4, sn4_...).")

    @field_validator(*ADAPTER_KEY_FIELDS.values())
    @classmethod
    def _empty_key_is_no_key(cls, value: SecretStr | None) -> SecretStr | None:
        return _no_empty_secret(value)

    def adapter_keys(self) -> dict[str, SecretStr | None]:
        """The operator's credentials by the adapter that uses them."""
        return {adapter: getattr(self, name) for adapter, name in ADAPTER_KEY_FIELDS.items()}


class MinerSettings(AdapterKeys):
    """Miner options. Env: ORCHESTRA_<NAME>; flags: --neuron.<name> and --blacklist.<name>."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRA_", env_file=".env", extra="ignore")

    max_concurrent_jobs: int = Field(default=4, ge=1, le=256, description="Tasks run at once; more wait.")
    queue_timeout_s: float = Field(default=2.0, ge=0, description="How long a task may wait for a free slot.")
    sync_interval_s: float = Field(default=60.0, ge=1, description="Seconds between metagraph refreshes.")
    max_evidence_bytes: int = Field(default=4 * 1024 * 1024, ge=0, description="Evidence returned per task.")
    routes_file: Path | None = Field(default=None, description="JSON list of routes replacing the defaults.")
    desearch_url: str = Field(default="https://api.desearch.ai", description="Desearch API base URL (SN22).")
    llm_planner: bool = Field(
        default=True, description="Ask an inference route for plans when one is routable."
    )
    llm_synthesis: bool = Field(
        default=True, description="Fill the target schema with an inference route when one is routable."
    )
    max_calls_per_job: int = Field(default=64, ge=1, le=512, description="Producer calls one task may make.")
    retry_rounds: int = Field(default=2, ge=0, le=5, description="Retries of transiently failed providers.")
    step_timeout_s: float | None = Field(
        default=None, gt=0, description="Longest one plan step may take (default: until the task deadline)."
    )
    hedge: bool = Field(default=True, description="Send a second request when a provider passes its p95.")
    breaker_failures: int = Field(
        default=3, ge=1, description="Consecutive failures that open a provider's circuit."
    )
    breaker_cooldown_s: float = Field(
        default=15.0, gt=0, description="Seconds an open circuit waits before one trial call."
    )
    data_universe_netuid: int = Field(default=SN13_NETUID, description="Netuid of SN13 Data Universe.")
    sn13_requests_per_hour: int = Field(
        default=2, ge=1, description="Requests per SN13 miner, per kind, per hour (SN13 blacklists beyond 2)."
    )
    ledger_url: str | None = Field(
        default=None, description="Ledger database URL (default: SQLite in the user data dir)."
    )
    probe_interval_s: float = Field(default=300.0, ge=1, description="Seconds between Ledger probe rounds.")
    blacklist_force_validator_permit: bool = Field(default=True, description="Only answer validators.")
    blacklist_allow_non_registered: bool = Field(default=False, description="Answer unregistered hotkeys.")
    blacklist_min_stake: float = Field(default=0.0, ge=0, description="Minimum caller stake in TAO.")


class ValidatorSettings(AdapterKeys):
    """Validator options. Env: ORCHESTRA_<NAME>; flags: --neuron.<name>."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRA_", env_file=".env", extra="ignore")

    alpha: float = Field(default=0.1, gt=0, le=1, description="EMA weight of the newest score.")
    sample_size: int = Field(default=16, ge=1, description="Miners queried per step.")
    step_interval_s: float = Field(default=60.0, ge=0, description="Seconds between validation steps.")
    weights_interval_steps: int = Field(default=5, ge=1, description="Steps between weight submissions.")
    deadline_ms: int = Field(
        default=30_000,
        ge=MIN_DEADLINE_MS,
        le=MAX_DEADLINE_MS,
        description="Deadline given to miners per task.",
    )
    query_grace_s: float = Field(default=3.0, ge=0, description="Transport allowance over the deadline.")
    vpermit_tao_limit: float = Field(
        default=4096.0, ge=0, description="Permit holders above this stake are not queried."
    )
    producer_netuids: list[int] = Field(
        default=[SN13_NETUID], description="Subnets whose axons receipts may name."
    )
    state_path: Path | None = Field(default=None, description="Where scores are saved between restarts.")
    seed: int | None = Field(default=None, description="Seed for challenge generation (tests, replays).")
    ledger_url: str | None = Field(
        default=None, description="Ledger database URL (default: SQLite in the user data dir)."
    )
    ledger_interval_steps: int = Field(default=5, ge=1, description="Steps between LedgerSync rounds.")
    ledger_quorum: int = Field(default=1, ge=1, description="Verdicts a proposal needs before it is decided.")
    ledger_stake_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Share of voting stake that must accept a proposal."
    )
    ledger_window_days: float = Field(default=7.0, gt=0, description="Window of Ledger contributions scored.")
    ledger_coverage_target: int = Field(
        default=10, ge=1, description="Subnets a miner must cover for full Ledger coverage."
    )
    trap_rate: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of challenges drawn with a logic trap.",
    )
    spot_check_rate: float = Field(
        default=0.25, ge=0, le=1, description="Share of verified receipts the validator re-queries."
    )
    spot_checks_per_answer: int = Field(
        default=2, ge=0, le=16, description="Most receipts re-queried per answer."
    )
    sn13_requests_per_hour: int = Field(
        default=2,
        ge=1,
        description="Re-queries per SN13 miner, per kind, per hour (SN13 allows 2).",
    )
    replay_memory_s: float = Field(
        default=3_600.0, gt=0, description="How long receipts are remembered to refuse their reuse."
    )


def _no_empty_secret(value: SecretStr | None) -> SecretStr | None:
    return value if value is not None and value.get_secret_value().strip() else None


def _groups(name: str) -> tuple[str, str]:
    return (
        ("blacklist", name.removeprefix("blacklist_")) if name.startswith("blacklist_") else ("neuron", name)
    )


def _flag_type(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if annotation is bool:
        return _boolean
    if get_origin(annotation) is list:
        return lambda text: [int(part) for part in text.split(",") if part.strip()]
    if annotation is SecretStr:
        return str
    return annotation


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_settings_args(parser: argparse.ArgumentParser, model: type[BaseSettings]) -> None:
    for name, info in model.model_fields.items():
        group, key = _groups(name)
        parser.add_argument(
            f"--{group}.{key}", type=_flag_type(info.annotation), default=None, help=info.description
        )


def neuron_parser(role: str, settings: type[BaseSettings]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"neurons/{role}.py", description=f"Orchestra {role}")
    parser.add_argument("--netuid", type=int, required=True, help="Orchestra's netuid on the chosen network.")
    bt.Wallet.add_args(parser)
    bt.Subtensor.add_args(parser)
    bt.Axon.add_args(parser)
    bt.logging.add_args(parser)
    add_settings_args(parser, settings)
    return parser


def load_config(
    role: str, model: type[SettingsT], argv: list[str] | None = None
) -> tuple["bt.Config", SettingsT]:
    """Parse bittensor's flags and Orchestra's, then build the settings: env first, flags on top.

    `bt.Config` in 10.5 ignores the command line unless BT_NO_PARSE_CLI_ARGS=false, so the flags are
    parsed here with bittensor's own parsers and laid over bittensor's defaults.
    """
    parser = neuron_parser(role, model)
    parser.set_defaults(**{"subtensor.chain_endpoint": None})  # None: follow --subtensor.network
    namespace = parser.parse_args(argv)
    config = bt.Config()
    for dotted, value in vars(namespace).items():
        node: Any = config
        *sections, key = dotted.split(".")
        for section in sections:
            if not isinstance(node.get(section), dict):
                node[section] = DefaultMunch(None)
            node = node[section]
        node[key] = value
    overrides: dict[str, Any] = {}
    for name in model.model_fields:
        group, key = _groups(name)
        value = config[group].get(key) if isinstance(config.get(group), dict) else None
        if value is not None:
            overrides[name] = value
    try:
        return config, model(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid {role} settings: {exc}") from None


def route_secrets(adapter_keys: Mapping[str, SecretStr | None]) -> Callable[[int, Route], str | None]:
    """The operator's credentials, by the adapter a Ledger route names. Keys never come from the Ledger."""
    keys = {name: key.get_secret_value() for name, key in adapter_keys.items() if key is not None}

    def lookup(_netuid: int, route: Route) -> str | None:
        return keys.get(route.adapter or "")

    return lookup


def default_routes(settings: MinerSettings) -> list[RouteSpec]:
    """Production routes: SN22 through the Desearch API (when a key is set) and SN13 miners by dendrite."""
    routes = [
        RouteSpec(
            name="sn13-data-universe-miners",
            netuid=settings.data_universe_netuid,
            kind=RouteKind.DENDRITE,
            adapter="data_universe",
            capabilities=("social_data",),
            timeout_s=15.0,
            max_providers=16,  # each SN13 miner takes few requests an hour: spread them
        )
    ]
    if settings.desearch_api_key is not None:
        routes.insert(
            0,
            RouteSpec(
                name="sn22-desearch-api",
                netuid=SN22_NETUID,
                kind=RouteKind.HTTP,
                adapter="desearch",
                capabilities=("web_search", "social_search"),
                endpoint=settings.desearch_url,
                api_key=settings.desearch_api_key,
                timeout_s=20.0,
            ),
        )
    return routes


def load_routes(path: Path) -> list[RouteSpec]:
    """Routes from a JSON list of `RouteSpec` objects. `"api_key": "env:NAME"` reads the key from NAME."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read routes file {path}: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigError(f"routes file {path} must hold a JSON list of routes")
    routes = []
    for index, entry in enumerate(raw):
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("api_key"), str)
            and entry["api_key"].startswith("env:")
        ):
            variable = entry["api_key"][4:]
            if variable not in os.environ:
                raise ConfigError(f"route {index} reads its key from ${variable}, which is not set")
            entry = {**entry, "api_key": os.environ[variable]}
        try:
            routes.append(RouteSpec.model_validate(entry))
        except ValidationError as exc:
            raise ConfigError(f"route {index} in {path} is invalid: {exc}") from None
    return routes
