"""Configuration of the Ledger API process, from `ORCHESTRA_LEDGER_*` environment variables."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.api.keys import Tier


class LedgerApiSettings(BaseSettings):
    """One settings model for `orchestra ledger serve`; CLI flags override these values."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRA_LEDGER_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Bind address; loopback unless told otherwise.")
    port: int = Field(default=8090, ge=0, le=65_535)
    devnet: bool = Field(
        default=False, description="Allow webhooks to loopback and private addresses (local networks only)."
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for admin endpoints (creating keys); unset disables them."
    )
    rate_free_per_minute: int = Field(default=60, ge=1, description="Anonymous callers and free keys.")
    rate_developer_per_minute: int = Field(default=600, ge=1)
    rate_production_per_minute: int = Field(default=6_000, ge=1)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_backoff_base_s: float = Field(
        default=5.0, ge=0, description="Delay before the 2nd attempt; doubles with every failure."
    )
    webhook_backoff_max_s: float = Field(default=3_600.0, ge=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, description="Per delivery attempt.")
    webhook_interval_s: float = Field(default=2.0, gt=0, description="How often the dispatcher looks.")
    webhook_batch: int = Field(default=100, ge=1, le=10_000, description="Deliveries per dispatcher pass.")
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    webhooks_per_key: int = Field(default=25, ge=1)
    dispatch_webhooks: bool = Field(default=True, description="Run the delivery loop inside the API process.")

    def rate_limit(self, tier: Tier) -> int:
        """Requests per minute allowed for `tier`."""
        return {
            Tier.FREE: self.rate_free_per_minute,
            Tier.DEVELOPER: self.rate_developer_per_minute,
            Tier.PRODUCTION: self.rate_production_per_minute,
        }[tier]
