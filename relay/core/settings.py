"""One settings object for every Relay process, read from the environment.

Dev defaults work out of the box; `RELAY_ENV=production` refuses the
placeholder secrets so a real deployment cannot start with them.
"""

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Placeholders that make the dev stack work and must never reach production.
DEV_ACCOUNT_SID = "AC00000000000000000000000000000000"
DEV_AUTH_TOKEN = "dev-auth-token-not-secret"
DEV_API_TOKEN = "dev-api-token-not-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    relay_env: str = "development"

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'relay.core.db'}"
    redis_url: str = ""  # empty: `make run` starts the embedded redis-server
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_port: int = 5055
    api_port: int = 8000
    public_base_url: str = ""  # default: http://127.0.0.1:<api_port>

    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: SecretStr = SecretStr(DEV_AUTH_TOKEN)
    twilio_api_base_url: str = ""  # tests point the official client at a local fake

    api_token: SecretStr = SecretStr(DEV_API_TOKEN)
    rasa_python: str = ""  # read by scripts/find-rasa-python; listed for documentation

    rasa_timeout_seconds: float = 6.0
    # A call must be answered well inside Twilio's 15 s webhook limit, so voice
    # turns wait less for Rasa than texts do.
    voice_rasa_timeout_seconds: float = 5.0
    # Speech recognised with less confidence than this is asked again, not guessed at.
    voice_min_confidence: float = 0.5
    # How long the front desk's phone rings before the caller hears "no one is available".
    voice_dial_timeout_seconds: int = 20
    verification_minutes: int = 30
    verification_max_attempts: int = 3

    @property
    def is_production(self) -> bool:
        return self.relay_env.lower() == "production"

    @property
    def base_url(self) -> str:
        """The public URL Twilio calls; signatures are computed against it."""
        return (self.public_base_url or f"http://127.0.0.1:{self.api_port}").rstrip("/")

    @property
    def rasa_port(self) -> int:
        return urlparse(self.rasa_url).port or 5005

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> "Settings":
        if not self.is_production:
            return self
        placeholders = []
        if self.twilio_account_sid == DEV_ACCOUNT_SID:
            placeholders.append("TWILIO_ACCOUNT_SID")
        if self.twilio_auth_token.get_secret_value() == DEV_AUTH_TOKEN:
            placeholders.append("TWILIO_AUTH_TOKEN")
        if self.api_token.get_secret_value() == DEV_API_TOKEN:
            placeholders.append("API_TOKEN")
        if not self.public_base_url:
            placeholders.append("PUBLIC_BASE_URL")
        if placeholders:
            raise ValueError(
                "RELAY_ENV=production refuses placeholder settings: " + ", ".join(placeholders)
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
