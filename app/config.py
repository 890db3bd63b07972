"""Settings from the environment: one object, read once."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.wal_checkpoint import CHECKPOINT_EVERY_S

APP_VERSION = "0.1.0"


class Settings(BaseSettings):
    """Every knob of the app. Well-known variables (DATABASE_URL, DATA_DIR, ...) have no prefix."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="Default: a SQLite file in the data directory."
    )
    redis_url: str | None = None
    # Connections per instance (PostgreSQL: pool plus overflow; SQLite: one pool). As many
    # requests as connections use the database at once; the rest queue, first come first
    # served. Default: 4 for SQLite, which has one writer at a time (a few connections
    # queue writes fairly in the app, where many would poll SQLite's busy handler); 10 (+10)
    # for PostgreSQL. Fewer (6) cut the slowest 1 % of pulls and pushes by half when every
    # push was to another account, but cost 10 to 20 % of throughput in the load test's
    # mix, where pushes of one account wait for its lock while holding their connection.
    db_pool_size: int | None = Field(default=None, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # Keys this app writes to Redis start with this, so apps can share one Redis.
    redis_key_prefix: str = "crg:"
    # Embedded SQLite deployments migrate on start; PostgreSQL deployments run
    # `alembic upgrade head` explicitly, unless they opt in here.
    migrate_on_start: bool | None = None
    # Set to false to run without the neural voice (bells and captions only).
    voice_enabled: bool = True
    # A deploy's build tag: part of the shown version and of the service worker's bytes.
    app_build: str = ""
    # Synthesised speech is cached per spoken line; instances may share this directory.
    speech_cache_dir_override: Path | None = Field(default=None, alias="SPEECH_CACHE_DIR")

    # Accounts and sync. COOKIE_SECURE=false relaxes the `__Host-` cookie to a plain one for
    # http://127.0.0.1 development; the default is secure outside development and test.
    cookie_secure: bool | None = None
    session_days: int = Field(default=90, ge=1, le=400)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    # Failed sign-ins per window: from `login_slowdown_after` on, answers are delayed;
    # past the per-account or per-address maximum, 429 with Retry-After until the window ends.
    login_window_s: int = Field(default=900, ge=1)
    login_slowdown_after: int = Field(default=3, ge=1)
    login_slowdown_step_s: float = Field(default=0.5, ge=0)
    login_max_failures_account: int = Field(default=10, ge=1)
    login_max_failures_address: int = Field(default=50, ge=1)
    # New sessions (renders that really happen) per client address and window; past it,
    # 429 with Retry-After. Sessions already rendered are still served.
    render_limit_per_address: int = Field(default=30, ge=1)
    render_limit_window_s: int = Field(default=3600, ge=1)
    # Renders at once per instance; more wait their turn, so other requests keep a core.
    render_concurrency: int = Field(default=1, ge=1, le=64)
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    sync_max_mutations: int = Field(default=500, ge=1)
    # SQLite: how often each process copies the write-ahead log into the database file
    # (app/wal_checkpoint.py). Each copy ends with a disk sync: slow storage may want fewer.
    wal_checkpoint_every_s: float = Field(default=CHECKPOINT_EVERY_S, gt=0, le=60)
    sync_pull_limit: int = Field(default=1000, ge=1)
    # PostgreSQL: each process listens for writes (LISTEN), so that a poll with nothing new
    # is answered from memory until one comes (app/sync/polls.py). Off: every poll is read.
    listen_for_writes: bool = True
    tombstone_keep_days: int = Field(default=180, ge=180)

    # Daily reminders by Web Push. Every instance must send with one VAPID key: set
    # VAPID_PRIVATE_KEY (PEM, or the private scalar in base64url) when instances do not
    # share DATA_DIR, where the key is otherwise made on first run.
    vapid_private_key: SecretStr | None = None
    # The operator's contact for push services (RFC 8292): a mailto: or https: URL.
    vapid_subject: str = Field(default="mailto:reminders@localhost",
                               pattern=r"^(mailto:|https://)\S+$")
    # The push services a subscription may point to ("*." takes subdomains): the server
    # sends only there, never to an address a client made up.
    push_services: list[str] = [
        "https://fcm.googleapis.com",  # Chrome, Android
        "https://updates.push.services.mozilla.com",  # Firefox
        "https://web.push.apple.com",  # Safari, iOS and iPadOS home-screen apps
        "https://*.notify.windows.com",  # Edge
    ]
    reminders_enabled: bool = True  # this instance looks for due reminders and sends them
    reminder_check_s: float = Field(default=30, gt=0, le=3600)
    # New or changed reminders per client address and hour; past it, 429.
    reminder_saves_per_hour: int = Field(default=30, ge=1)

    # Operations. LOG_JSON defaults to JSON lines in production, readable lines elsewhere.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool | None = None
    # GET /metrics (Prometheus); with METRICS_TOKEN set it needs `Authorization: Bearer ...`.
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _production_cookies_are_secure(self) -> "Settings":
        if self.environment == "production" and self.cookie_secure is False:
            raise ValueError("COOKIE_SECURE=false is refused in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'rest.db').resolve()}"

    @property
    def db_connections(self) -> int:
        if self.is_sqlite:
            return self.db_pool_size or 4
        return (self.db_pool_size or 10) + self.db_max_overflow

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def should_migrate_on_start(self) -> bool:
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.is_sqlite

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment == "production"

    @property
    def session_cookie_name(self) -> str:
        # __Host- binds the cookie to this exact origin; browsers refuse it without Secure.
        return "__Host-crg_session" if self.secure_cookies else "crg_session"

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment == "production"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def speech_cache_dir(self) -> Path:
        return self.speech_cache_dir_override or self.data_dir / "speech"


@lru_cache
def get_settings() -> Settings:
    return Settings()
