"""Connection and topology settings of each broker sink (nested under ``Settings``).

Defaults follow the messaging seed where it gives a value (events kept 7 days, audit
logs 30 days, partitions by customer id, streams capped at 10,000 entries and 24 h)
and suit one local broker; ``docs/events.md`` lists production values.
Environment: ``RECOUP_KAFKA__BOOTSTRAP_SERVERS``, ``RECOUP_RABBITMQ__URL``, ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class TlsConfig(BaseModel):
    cafile: Path | None = Field(default=None, description="CA bundle to trust.")
    certfile: Path | None = Field(default=None, description="Client certificate (mutual TLS).")
    keyfile: Path | None = None


class KafkaConfig(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsConfig = Field(default_factory=TlsConfig)
    topic_prefix: str = Field(default="", description="Prepended to every topic name.")
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1, description="3 in production (the seed).")
    events_retention_days: float = Field(default=7, gt=0)
    audit_retention_days: float = Field(default=30, gt=0)
    request_timeout_seconds: float = Field(default=10, gt=0)


class RabbitConfig(BaseModel):
    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    tenant_urls: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Per tenant: its own virtual host and user (amqp://user:pw@host/vhost).",
    )
    tls: TlsConfig = Field(default_factory=TlsConfig)
    exchange_prefix: str = Field(default="recoup", description="Names exchanges and queues.")
    queue_type: Literal["classic", "quorum"] = Field(
        default="classic", description="quorum in production (mirroring is deprecated)."
    )
    message_ttl_days: float = Field(default=7, gt=0)


class RedisStreamsConfig(BaseModel):
    url: SecretStr | None = Field(
        default=None, description="Default: RECOUP_REDIS_URL. rediss:// for TLS, AUTH in the URL."
    )
    stream_prefix: str = Field(default="", description="Prepended to every stream name.")
    max_length: int = Field(default=10_000, ge=1)
    ttl_hours: float = Field(default=24, gt=0)
    consumer_groups: list[str] = Field(
        default_factory=lambda: ["real-time-dashboard", "agent-coordinator", "context-engine"]
    )
