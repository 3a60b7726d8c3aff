"""One settings object for every Relay process, read from the environment.

Dev defaults work out of the box; `RELAY_ENV=production` refuses the
placeholder secrets so a real deployment cannot start with them. The outreach
engine's execution knobs carry the `OUTREACH_` prefix (`OUTREACH_MAX_ATTEMPTS=3`);
what the clinic decides about outreach (cadences, quiet hours, the daily cap,
the sender's messages per second) is in the cadence file
(relay/outreach/cadence.yaml, or `RELAY_CADENCE_FILE`), and the two
`OUTREACH_` values that override it are for tests and `make bench`.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Placeholders that make the dev stack work and must never reach production.
DEV_ACCOUNT_SID = "AC00000000000000000000000000000000"
DEV_AUTH_TOKEN = "dev-auth-token-not-secret"
DEV_API_TOKEN = "dev-api-token-not-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    relay_env: str = "development"

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'relay.db'}"
    redis_url: str = ""  # empty: `make run` starts the embedded redis-server
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_port: int = 5055
    api_port: int = 8000
    public_base_url: str = ""  # default: http://127.0.0.1:<api_port>

    # --- how many of each server process (workers and replicas) ------------
    # Replica I of Rasa listens on RASA_URL's port + I and calls its own action
    # server on ACTION_SERVER_PORT + I (`relay serve rasa|actions --replica I`);
    # the API spreads conversations over them (relay/inbound/rasa_client.py).
    rasa_replicas: int = Field(default=1, ge=1)
    # Workers per process; unset: from this machine's cores (the properties below say why).
    rasa_workers: int | None = Field(default=None, ge=1)
    action_server_workers: int | None = Field(default=None, ge=1)
    api_workers: int | None = Field(default=None, ge=1)
    # Rasa loads at least this many, and at most twice as many, of a session's latest events (plus its
    # slots and form): a turn late in a long conversation costs what an early one does (bot/tracker_store.py).
    rasa_tracker_window_events: int = Field(default=60, ge=10)

    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: SecretStr = SecretStr(DEV_AUTH_TOKEN)
    twilio_api_base_url: str = ""  # tests point the official client at a local fake

    api_token: SecretStr = SecretStr(DEV_API_TOKEN)
    rasa_python: str = ""  # read by scripts/find-rasa-python; listed for documentation

    # How long a text's turn may wait for Rasa before the patient is told we
    # cannot answer (and a person is asked to). Long: past the webhook's
    # deadline below, the answer goes out through the REST API when ready.
    rasa_timeout_seconds: float = 30.0
    # The SMS webhook answers Twilio (which gives up after 15 s) by this time at
    # the latest: with the bot's reply, or empty while the reply is still being
    # worked out and then sent through the REST API (relay/inbound/late_replies.py).
    sms_turn_deadline_seconds: float = 10.0
    # A call must be answered well inside Twilio's 15 s webhook limit, so voice
    # turns wait less for Rasa than texts do.
    voice_rasa_timeout_seconds: float = 5.0
    # Speech recognised with less confidence than this is asked again, not guessed at.
    voice_min_confidence: float = 0.5
    # How long the front desk's phone rings before the caller hears "no one is available".
    voice_dial_timeout_seconds: int = 20
    # Who answers the carrier keywords (STOP, START, HELP, ...): "twilio" (Twilio
    # answers its standard English words itself; Relay answers the rest, such as
    # the Spanish ones) or "relay" (Relay answers every keyword). Unset: "twilio"
    # in production, where a real Twilio number answers them, "relay" elsewhere
    # (the simulator and `relay chat` have no Twilio in front). Either way every
    # keyword reaches the consent ledger. See docs/keywords.md.
    sms_keyword_replies: Literal["twilio", "relay"] | None = None
    verification_minutes: int = 30
    verification_max_attempts: int = 3

    log_level: str = "INFO"
    # Where `relay serve api` listens; loopback unless a proxy on another host needs it.
    api_host: str = "127.0.0.1"
    # The outreach cadence file; empty: relay/outreach/cadence.yaml.
    relay_cadence_file: str = ""

    # --- the outreach engine's execution (OUTREACH_*) -----------------------
    # Timing invariant: a send job can hold a row in `sending` for at most
    # `outreach_send_job_timeout_seconds` (RQ kills the job then), so
    # `outreach_sending_grace_seconds` must be larger: only after it may the
    # sweep assume the job is dead and resolve the row.
    #
    # The periodic sweep (RQ cron), and how many rows may wait in RQ at once:
    # a sweep queues due rows only up to that (scheduler.sweep). Sweeps come
    # about every 1 to 2 s while rows are left behind, so this must outlast
    # 2 s of the workers' pace: 500 starved two workers at about 280 sends/s.
    outreach_sweep_interval_seconds: int = 30
    outreach_sweep_batch_size: int = 2000
    # A row `queued` this long whose RQ job is gone (Redis flushed) is queued again.
    outreach_queued_recovery_seconds: int = 60
    # A row `sending` this long belongs to a dead job (see the invariant above).
    outreach_sending_grace_seconds: int = 300
    # How long the sweep keeps trying to find out whether an interrupted send
    # went out before it hands the row to staff (state failed, "send_unconfirmed").
    outreach_unconfirmed_review_seconds: int = 3600
    outreach_send_job_timeout_seconds: int = 60
    # Temporary failures (network, 429, 5xx, 30003): retries with exponential
    # backoff base * 2^(attempt-1), capped, plus up to `backoff_jitter` of it at random.
    outreach_max_attempts: int = 5
    outreach_backoff_base_seconds: float = 60.0
    outreach_backoff_max_seconds: float = 3600.0
    outreach_backoff_jitter: float = 0.25
    # Messages per second per sender number; unset: the cadence file's. 0 turns it off.
    outreach_rate_limit_per_second: int | None = None
    # The window is 1 s plus this guard, so jitter between taking a slot and
    # the request reaching Twilio cannot squeeze N+1 sends into one second there.
    outreach_rate_limit_guard_ms: int = 100
    # How long a send job waits for a slot before giving the row back to the sweep.
    outreach_rate_limit_max_wait_seconds: float = 20.0
    outreach_rate_limit_retry_seconds: float = 5.0
    # Automated messages per patient per local day; unset: the cadence file's.
    outreach_daily_cap: int | None = None
    # Messages the stuck-send lookup reads from Twilio (newest first, one page).
    outreach_lookup_page_size: int = 50

    # --- clinic data from the EHR (FHIR_*) ----------------------------------
    # The identifier system of the MRN on a FHIR Patient; empty: the identifier typed MR (v2-0203).
    fhir_mrn_system: str = ""
    # The EHR's FHIR R4 base URL; set, it turns on `relay sync fhir` on a schedule and the write-back.
    fhir_base_url: str = ""
    # Authentication: SMART Backend Services (a client-credentials JWT signed with FHIR_PRIVATE_KEY_FILE,
    # RS384 or ES384) when FHIR_CLIENT_ID is set, else a static bearer token when FHIR_BEARER_TOKEN is set.
    fhir_client_id: str = ""
    fhir_token_url: str = ""  # empty: read from the server's .well-known/smart-configuration
    fhir_private_key_file: str = ""
    fhir_key_id: str = ""  # the `kid` of the key in the JWKS the EHR knows
    fhir_scope: str = "system/*.read system/Appointment.write"
    fhir_bearer_token: SecretStr = SecretStr("")
    fhir_sync_interval_seconds: int = 300
    fhir_page_size: int = 200
    fhir_timeout_seconds: float = 30.0
    # Tries per request on connection errors, 429 and 5xx, with exponential back-off from the base.
    fhir_max_attempts: int = 5
    fhir_backoff_base_seconds: float = 1.0

    # --- the staff console (CONSOLE_*) --------------------------------------
    # A console session ends after this long without a request.
    console_idle_minutes: int = 15
    # Failed passwords or codes in a row that lock an account, and for how long.
    console_lockout_attempts: int = 5
    console_lockout_minutes: int = 15
    # How long the enrolment link `relay create-user` prints stays valid.
    console_enrolment_hours: int = 24
    # argon2id's cost for console passwords. "standard" is argon2-cffi's default (RFC 9106's
    # low-memory profile: 64 MiB, 3 passes); "test" is the same algorithm at its cheapest, for the test
    # suite, which signs in hundreds of times. Production always uses "standard" (relay.staff.accounts).
    console_password_cost: Literal["standard", "test"] = "standard"

    @property
    def is_production(self) -> bool:
        return self.relay_env.lower() == "production"

    @property
    def base_url(self) -> str:
        """The public URL Twilio calls; signatures are computed against it."""
        return (self.public_base_url or f"http://127.0.0.1:{self.api_port}").rstrip("/")

    @property
    def keyword_replier(self) -> Literal["twilio", "relay"]:
        """Who answers the carrier keywords here: SMS_KEYWORD_REPLIES, else by RELAY_ENV."""
        if self.sms_keyword_replies is not None:
            return self.sms_keyword_replies
        return "twilio" if self.is_production else "relay"

    @property
    def rasa_port(self) -> int:
        return urlparse(self.rasa_url).port or 5005

    @property
    def rasa_urls(self) -> list[str]:
        """The base URL of each Rasa replica: RASA_URL's port, then the ports after it."""
        url = urlparse(self.rasa_url.rstrip("/"))
        host = url.hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
        return [f"{url.scheme or 'http'}://{host}:{self.rasa_port + i}{url.path}" for i in range(self.rasa_replicas)]

    @property
    def rasa_worker_count(self) -> int:
        """Sanic workers in each Rasa replica. Unset: the cores shared out among the replicas.

        A turn's time is almost all Rasa's (make bench: ours is about 15 ms of it),
        and a Rasa worker predicts one message at a time on one core, so as many
        workers in all as there are cores keeps them busy (2 on a 2-core machine,
        16 on 16). Each worker loads the model itself (about 1 GB), so a machine
        short of memory sets RASA_WORKERS lower.
        """
        return self.rasa_workers or max(1, usable_cores() // self.rasa_replicas)

    @property
    def action_server_worker_count(self) -> int:
        """Sanic workers in each action server. Unset: one per Rasa worker of its replica.

        Our actions call the database synchronously inside rasa_sdk's event loop,
        so a worker runs one action at a time: one each means a Rasa worker never
        queues behind another's action. They use little CPU and about 110 MB each.
        """
        return self.action_server_workers or self.rasa_worker_count

    @property
    def api_worker_count(self) -> int:
        """uvicorn worker processes. Unset: the cores, at most 4.

        The API's own work in a turn is about 1% of Rasa's (14 ms of 1,450), so
        a few processes keep up with all the Rasa a machine can run; more than one
        so that a CPU-heavy request (an import, a report) in one process does not
        hold up Twilio's webhooks in another. Past 4 they only cost memory.
        """
        return self.api_workers or min(usable_cores(), 4)

    @model_validator(mode="after")
    def _grace_outlasts_a_job(self) -> "Settings":
        if self.outreach_sending_grace_seconds <= self.outreach_send_job_timeout_seconds:
            raise ValueError("OUTREACH_SENDING_GRACE_SECONDS must exceed OUTREACH_SEND_JOB_TIMEOUT_SECONDS")
        return self

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
            raise ValueError("RELAY_ENV=production refuses placeholder settings: " + ", ".join(placeholders))
        return self


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@lru_cache
def get_settings() -> Settings:
    return Settings()
