"""Readable validation errors: every message names where it came from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


class FieldProblem(BaseModel):
    """One problem with one field of one record."""

    location: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.field}: {self.message}"


def dotted(loc: Sequence[int | str]) -> str:
    """``('steps', 2, 'channel')`` → ``'steps[2].channel'``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(root)"


def problems(
    exc: ValidationError,
    location: str = "",
    rename: dict[str, str] | None = None,
) -> list[FieldProblem]:
    """Flatten a pydantic error into problems; ``rename`` maps model fields to input names."""
    rename = rename or {}
    found = []
    for err in exc.errors(include_url=False):
        field = dotted(err["loc"])
        head = field.split(".")[0].split("[")[0]
        if head in rename:
            field = rename[head] + field[len(head) :]
        found.append(FieldProblem(location=location, field=field, message=_message(err)))
    return found


def _message(err: Any) -> str:
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] not in {"missing", "value_error"} and "input" in err:
        shown = repr(err["input"])
        if len(shown) <= 60:
            msg = f"{msg} (got {shown})"
    return msg
