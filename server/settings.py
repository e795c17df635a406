"""Typed settings read from the environment (12-factor), validated once at start-up.

``Settings.from_env()`` raises ``SettingsError`` naming every missing or invalid variable, so a
web, worker or beat process with a bad configuration stops before it serves anything.
Variable names are the upper-case field names (``DATABASE_URL``, ``APIFY_API_KEY``, ...);
``.env.example`` lists them with their defaults.
"""
from __future__ import annotations

from datetime import time
from typing import Literal

from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated


DEVELOPMENT_SECRET_KEY = "development-only-console-secret"


class SettingsError(RuntimeError):
    """The environment does not describe a runnable service; the message lists each problem."""


class Settings(BaseSettings):
    """Every knob of the service. Times are seconds unless the name says otherwise."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    environment: Literal["production", "development", "test"] = "production"
    app_version: str = "0.1.0"

    # Connections
    database_url: str = Field(description="Postgres DSN; Supabase's transaction pooler (6543) works.")
    redis_url: str = Field(description="Redis URL: Celery broker and rate-limit storage.")
    db_pool_size: int = Field(5, ge=1, le=50)
    db_check_idle_seconds: float = Field(
        30.0, ge=0, description="A pooled connection idle longer than this is checked with a query before reuse.")
    db_max_connection_age_seconds: float = Field(1800.0, ge=60, description="Pooled connections are replaced after this.")
    db_pool_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Longest wait for a pooled Postgres connection; then 503 + Retry-After.")
    redis_ssl_cert_reqs: Literal["none", "required"] | None = Field(
        None, description="For rediss:// URLs (required then): 'required' verifies the server certificate "
                          "(against REDIS_SSL_CA_CERTS when set), 'none' accepts a self-signed one (Heroku Redis).")
    redis_ssl_ca_certs: str | None = Field(None, description="CA bundle (PEM file) for rediss:// certificates.")

    # Apify
    apify_api_key: str = Field(min_length=1)
    apify_actor_id: str = "datadoping/instagram-followers-scraper"
    apify_actor_input: Literal["auto", "usernames", "account", "username"] = "auto"
    apify_api_url: str = "https://api.apify.com"
    apify_max_retries: int = Field(4, ge=0, le=10)
    apify_memory_mbytes: int = Field(1024, ge=128, le=32768)
    apify_run_timeout_seconds: int = Field(1800, ge=10)
    apify_wait_seconds: int = Field(120, ge=1, description="Longest wait for a run inside one task.")
    apify_max_followers_per_account: int = Field(1000, ge=1)

    # Airtable and the default tenant
    airtable_access_token: str = Field(min_length=1)
    airtable_api_url: str = "https://api.airtable.com"
    airtable_base_id: str = Field(pattern=r"^app[A-Za-z0-9]{14}$")
    airtable_requests_per_second: int = Field(5, ge=1, le=50)
    airtable_penalty_seconds: float = Field(30.0, ge=0)
    airtable_timeout_seconds: float = Field(30.0, gt=0)
    airtable_rate_margin_seconds: float = Field(
        0.01, ge=0, le=5, description="Added to the 1 s window of the per-base limit (clock rounding).")
    airtable_token_requests_per_second: int = Field(50, ge=1, le=1000)
    airtable_max_rate_limit_waits: int = Field(8, ge=0, le=100, description="429 penalties waited per request.")
    airtable_plan: Literal["free", "team", "business", "enterprise"] = Field(
        "team", description="Airtable plan of the default tenant's workspace (records per base, API calls per month).")
    airtable_capacity_margin: float = Field(
        0.1, ge=0, lt=1, description="Share of a base's record limit kept free (records the service does not know).")
    airtable_transient_retries: int = Field(
        6, ge=0, le=20, description="Retries of a request met by 500/502/503/504 or a connection error.")
    airtable_retry_backoff_seconds: float = Field(
        1.0, gt=0, le=30, description="First wait before such a retry; doubles, at most 30 s.")
    default_tenant_name: str = "default"
    num_va_tables: int = Field(80, ge=1, le=999)
    profiles_per_table: int = Field(180, ge=1, le=10000)
    daily_run_utc: time = time(6, 0)

    # Scrape pipeline
    chunk_size: int = Field(50, ge=1, le=1000)
    insert_batch_size: int = Field(1000, ge=1, le=10000)
    max_accounts_per_request: int = Field(500_000, ge=1)
    max_content_length_mb: int = Field(32, ge=1)
    max_profiles_per_ingest: int = Field(100_000, ge=1, description="Profiles per POST /api/ingest.")
    chunk_lease_seconds: int = Field(60, ge=5)
    chunk_dispatch_window: int = Field(8, ge=1, description="Chunks of one job sent at once.")
    chunk_max_attempts: int = Field(5, ge=1)
    chunk_retry_backoff_seconds: float = Field(5.0, gt=0, description="First retry delay; doubles.")

    # Lifecycle
    unfollow_after_days: int = Field(7, ge=0)
    delete_completed_after_hours: int = Field(24, ge=0)
    expire_pending_after_days: int = Field(3, ge=1)
    raw_retention_days: int = Field(90, ge=1)

    # Celery
    task_soft_time_limit: int = Field(900, ge=10)
    task_time_limit: int = Field(960, ge=10)
    broker_visibility_timeout: int = Field(7200, ge=60)
    worker_max_tasks_per_child: int = Field(200, ge=1)
    celery_queue: str = Field("default", min_length=1, description="Queue the tasks go to.")

    # HTTP edge
    allowed_origins: Annotated[list[str], NoDecode] = []
    ratelimit_default: str = "600 per minute"
    ratelimit_per_address: str = "1200 per minute"
    ratelimit_storage_url: str | None = None
    api_key_cache_seconds: float = Field(
        5.0, ge=0, le=300, description="API key → tenant cached per process; a revoked key works at most this long.")
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    sentry_dsn: str | None = None

    # Operator console (/console/)
    secret_key: str = Field(DEVELOPMENT_SECRET_KEY, min_length=16,
                            description="Signs console session cookies; required (32+ characters) in production.")
    console_session_hours: int = Field(12, ge=1, le=720, description="Console sign-in lifetime.")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// connection string")
        return value

    @field_validator("task_time_limit")
    @classmethod
    def _hard_after_soft(cls, value: int, info) -> int:
        soft = info.data.get("task_soft_time_limit")
        if soft is not None and value <= soft:
            raise ValueError("must be greater than TASK_SOFT_TIME_LIMIT")
        return value

    @field_validator("broker_visibility_timeout")
    @classmethod
    def _visibility_covers_tasks(cls, value: int, info) -> int:
        hard = info.data.get("task_time_limit")
        if hard is not None and value <= 2 * hard:
            raise ValueError("must exceed twice TASK_TIME_LIMIT, or Redis redelivers running tasks")
        return value

    @field_validator("secret_key")
    @classmethod
    def _real_secret_in_production(cls, value: str, info) -> str:
        if info.data.get("environment") == "production" and (value == DEVELOPMENT_SECRET_KEY or len(value) < 32):
            raise ValueError("must be set to a random value of 32+ characters in production")
        return value
    @model_validator(mode="after")
    def _redis_tls_agrees(self) -> "Settings":
        """A rediss:// URL needs REDIS_SSL_CERT_REQS, and the TLS options need a rediss:// URL."""
        tls_urls = [name for name, url in (("REDIS_URL", self.redis_url),
                                           ("RATELIMIT_STORAGE_URL", self.ratelimit_storage_url))
                    if url and url.startswith("rediss://")]
        if tls_urls and self.redis_ssl_cert_reqs is None:
            raise ValueError(f"{' and '.join(tls_urls)} use TLS (rediss://): set REDIS_SSL_CERT_REQS=required "
                             "(with REDIS_SSL_CA_CERTS for a private CA) or REDIS_SSL_CERT_REQS=none "
                             "(a self-signed certificate, as on Heroku Redis)")
        if not tls_urls and (self.redis_ssl_cert_reqs or self.redis_ssl_ca_certs):
            raise ValueError("REDIS_SSL_CERT_REQS and REDIS_SSL_CA_CERTS apply to rediss:// URLs only, "
                             "but REDIS_URL is not rediss://")
        if self.redis_ssl_ca_certs:
            if self.redis_ssl_cert_reqs != "required":
                raise ValueError("REDIS_SSL_CA_CERTS needs REDIS_SSL_CERT_REQS=required")
            if not Path(self.redis_ssl_ca_certs).is_file():
                raise ValueError(f"REDIS_SSL_CA_CERTS: no file at {self.redis_ssl_ca_certs}")
        return self

    def redis_ssl_options(self, url: str | None = None) -> dict:
        """Keyword arguments of ``redis.Redis.from_url`` for TLS to ``url`` (default
        ``REDIS_URL``): ``{"ssl_cert_reqs": "none"|"required", "ssl_ca_certs"?: path}``, or ``{}``
        for a plain redis:// URL."""
        url = url or self.redis_url
        if not url.startswith("rediss://"):
            return {}
        options = {"ssl_cert_reqs": self.redis_ssl_cert_reqs}
        if self.redis_ssl_ca_certs:
            options["ssl_ca_certs"] = self.redis_ssl_ca_certs
        return options

    @property
    def limiter_storage_url(self) -> str:
        """Where the rate limits are counted: shared Redis, never process memory."""
        return self.ratelimit_storage_url or self.redis_url

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Build settings from ``os.environ`` plus ``overrides`` (field name → value).

        Raises ``SettingsError`` listing each offending variable and the reason.
        """
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]).upper()
                reason = "is required" if err["type"] == "missing" else err["msg"]
                if not name:  # a rule over several variables names them in its message
                    reason = reason.removeprefix("Value error, ")
                problems.append(f"{name} {reason}".strip())
            raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
