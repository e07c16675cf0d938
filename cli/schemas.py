"""``recoup schemas``: the JSON Schemas of what Recoup exports, generated from the models.

The files in ``docs/schemas/`` are the published contract of the brokers' payloads
(``docs/asyncapi.yaml`` points at them, and every exported message names its file in
the CloudEvents ``dataschema`` attribute). They are generated from the pydantic models
in ``domain/``, never edited by hand: ``recoup schemas`` rewrites them, and
``recoup schemas --check`` (CI, tests) fails when they no longer match the models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from cli.common import EXIT_ERROR, console, fail
from domain.agent_messages import AgentMessage
from domain.events import SCHEMA_OF, RecordKind
from domain.messages import CommandMessage, EventMessage

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_URN = "urn:recoup:schema:"
DEFAULT_OUT = Path("docs/schemas")


@dataclass(frozen=True)
class Published:
    """One published schema: the model it is generated from, and how it is introduced."""

    kind: RecordKind
    model: type[BaseModel]
    title: str
    description: str

    @property
    def name(self) -> str:
        return SCHEMA_OF[self.kind]

    @property
    def schema_id(self) -> str:
        """Also the ``dataschema`` CloudEvents attribute of every message of this kind."""
        return f"{SCHEMA_URN}{self.name}"

    @property
    def filename(self) -> str:
        return f"{self.name}.schema.json"


PUBLISHED: tuple[Published, ...] = (
    Published(
        RecordKind.COMMAND,
        CommandMessage,
        "Recoup command message",
        'A command to a channel agent (the messaging seed\'s "Agent Command Schema"): '
        "RabbitMQ exchange recoup.commands with the target agent as routing key, Kafka "
        "topic campaign-events, Redis stream customer-context. Accepts every message the "
        "seed's schema accepts (extra properties are allowed at every level); Recoup's own "
        "messages never contain null. See docs/events.md and docs/asyncapi.yaml.",
    ),
    Published(
        RecordKind.EVENT,
        EventMessage,
        "Recoup event message",
        "Something that happened in a collection campaign (the messaging seed's \"Agent "
        'Event Schema"); event.type names it (docs/events.md lists every type, its '
        "statuses and metadata, and the topic and stream it goes to). Accepts every "
        "message the seed's schema accepts (extra properties are allowed at every level); "
        "Recoup's own messages never contain null.",
    ),
    Published(
        RecordKind.AGENT_MESSAGE,
        AgentMessage,
        "Recoup agent message",
        "The agent-to-agent envelope (the protocol seed's AgentMessage): who hands what to "
        "whom, routed direct, by role, broadcast or by topic, with natural-language content. "
        "RabbitMQ exchange recoup.events (routing key <tenant>.agent-message.<action>) or "
        "recoup.announcements (broadcasts), Kafka topic campaign-events, Redis stream "
        "conversation-threads. Recoup's own messages never contain null.",
    ),
)


class _Generator(GenerateJsonSchema):
    """Pydantic's generator without the titles it derives from field names ("Campaignid")."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def schema_document(published: Published) -> dict[str, Any]:
    """The JSON Schema of one published model (validation mode: what a consumer accepts)."""
    generated = published.model.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_Generator
    )
    return {
        **generated,
        "$schema": DRAFT,
        "$id": published.schema_id,
        "title": published.title,
        "description": published.description,
    }


def schema_texts() -> dict[str, str]:
    """File name → text of every published schema, exactly as written to disk."""
    # Sorted keys and a trailing newline: the files are committed, so regenerating them
    # must not reorder them.
    return {
        p.filename: json.dumps(schema_document(p), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
        for p in PUBLISHED
    }


def write_schemas(out_dir: Path) -> list[Path]:
    """Write every published schema into ``out_dir`` (created if missing); the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in schema_texts().items():
        path = out_dir / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(out_dir: Path) -> list[Path]:
    """The schema files in ``out_dir`` that are missing or differ from the models."""
    stale = []
    for filename, text in schema_texts().items():
        path = out_dir / filename
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


app = typer.Typer(help="Generate (or check) the JSON Schemas of exported messages in docs/schemas.")


@app.callback(invoke_without_command=True)
def schemas(
    out: Annotated[
        Path, typer.Option("--out", help="Folder of the schema files.", file_okay=False)
    ] = DEFAULT_OUT,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 if a file differs from the models."),
    ] = False,
) -> None:
    """Write command-message, event-message and agent-message.schema.json from the models."""
    if check:
        stale = stale_schemas(out)
        if stale:
            names = ", ".join(str(path) for path in stale)
            fail(f"stale schema file(s): {names}; regenerate with `recoup schemas`", EXIT_ERROR)
        console.print(f"{len(PUBLISHED)} schema files in {out} match the models")
        return
    for path in write_schemas(out):
        console.print(f"wrote {path}")
