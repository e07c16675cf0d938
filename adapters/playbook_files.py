"""Load playbooks from YAML or JSON files, with errors that point at the step.

A playbook is referred to by name (a file ``{name}.yaml``, ``.yml`` or ``.json``
in the playbook directory, tried in that order) or by the path of a file.
Validation is the domain's (``domain.playbook``); this module only finds the
file, parses it and says *where* a problem is: ``steps[2] (id 'call').channel``
rather than pydantic's bare ``steps.2.channel``, because people edit playbooks
by step id, not by index.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from adapters.errors import AdapterError, unknown_name
from domain.errors import FieldProblem, dotted, problems
from domain.playbook import Playbook, Step

EXTENSIONS = (".yaml", ".yml", ".json")
SCHEMA_ID = "urn:recoup:schema:playbook"


class PlaybookError(AdapterError):
    """A playbook cannot be found, parsed or validated.

    ``problems`` holds one entry per problem (empty when the file itself is the
    problem); ``str(error)`` lists them all, one per line.
    """

    def __init__(self, message: str, problems: Sequence[FieldProblem] = ()) -> None:
        self.problems = list(problems)
        super().__init__(message + "".join(f"\n  {p}" for p in self.problems))


def load_playbook(ref: str, *, search_dir: Path) -> Playbook:
    """The playbook named ``ref`` in ``search_dir``, or in the file at path ``ref``."""
    if _is_path(ref):
        return _load_file(Path(ref))
    for extension in EXTENSIONS:
        candidate = search_dir / f"{ref}{extension}"
        if candidate.is_file():
            playbook = _load_file(candidate)
            if playbook.name != ref:
                # Otherwise `--playbook gentle` could silently run a playbook that
                # reports itself (search attributes, events) under another name.
                raise PlaybookError(
                    f"{candidate}: invalid playbook",
                    [
                        FieldProblem(
                            location=str(candidate),
                            field="name",
                            message=f"must match the file name {ref!r} (got {playbook.name!r})",
                        )
                    ],
                )
            return playbook
    raise PlaybookError(
        unknown_name("playbook", ref, list_playbooks(search_dir), place=str(search_dir))
    )


def list_playbooks(search_dir: Path) -> list[str]:
    """Names of the playbooks in ``search_dir``, sorted; empty if it does not exist."""
    if not search_dir.is_dir():
        return []
    return sorted(
        {
            path.stem
            for path in search_dir.iterdir()
            if path.suffix.lower() in EXTENSIONS and path.is_file()
        }
    )


def playbook_json_schema() -> str:
    """The JSON Schema of a playbook file, as written to ``docs/playbook.schema.json``."""
    schema: dict[str, Any] = {
        **Playbook.model_json_schema(),
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Recoup playbook",
        "description": (
            "The cadence of a collection campaign: ordered steps, each on one channel "
            "with one template, and the conditions that stop it. See docs/playbooks.md."
        ),
    }
    # Sorted keys: the file is committed, so regenerating it must not reorder it.
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- reading -----------------------------------------------------------------------


def _is_path(ref: str) -> bool:
    # Playbook names cannot contain dots or slashes, so anything with them is a path.
    return "/" in ref or "\\" in ref or Path(ref).suffix.lower() in EXTENSIONS


def _load_file(path: Path) -> Playbook:
    where = str(path)
    if path.suffix.lower() not in EXTENSIONS:
        raise PlaybookError(f"{where}: unsupported file type; use .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaybookError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"{where}: cannot read: {exc}") from exc

    data = _parse_json(where, text) if path.suffix.lower() == ".json" else _parse_yaml(where, text)
    if not isinstance(data, dict):
        raise PlaybookError(f"{where}: expected a mapping with 'name' and 'steps' at the top")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        raise PlaybookError(f"{where}: invalid playbook", _located(exc, data, where)) from None


def _parse_json(where: str, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaybookError(
            f"{where}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def _parse_yaml(where: str, text: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError(f"{where}: not valid YAML: {at}{problem}") from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects repeated keys.

    Plain YAML keeps the last of two ``channel:`` lines without a word, so a
    half-edited step would validate and run with the wrong channel.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is repeated", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# --- locating problems ---------------------------------------------------------------


def _located(exc: ValidationError, data: dict[Any, Any], where: str) -> list[FieldProblem]:
    """The domain's problems, with fields that name the step by index *and* id."""
    raw_steps = data.get("steps")
    steps = raw_steps if isinstance(raw_steps, list) else []
    located = []
    # problems() yields one entry per error, in exc.errors() order.
    for problem, err in zip(problems(exc, where), exc.errors(include_url=False), strict=True):
        loc = tuple(err["loc"])
        message = problem.message
        if err["type"] == "extra_forbidden":
            model: type[BaseModel] = Step if loc[0] == "steps" else Playbook
            message = f"unknown key; allowed keys: {', '.join(model.model_fields)}"
        if not loc:
            field = _locate_playbook_error(steps)
        elif loc[0] == "steps" and len(loc) >= 2 and isinstance(loc[1], int):
            field = _step_ref(steps, loc[1])
            if len(loc) > 2:
                field += "." + dotted(loc[2:])
            else:
                # A step-level rule ("fallback must differ from channel") has no
                # field in its location; its message starts with the field it is about.
                first_word = message.split(" ", 1)[0]
                if first_word in Step.model_fields:
                    field += f".{first_word}"
        else:
            field = problem.field
        located.append(FieldProblem(location=where, field=field, message=message))
    return located


def _step_ref(steps: list[Any], index: int) -> str:
    ref = f"steps[{index}]"
    step = steps[index] if index < len(steps) else None
    if isinstance(step, dict) and isinstance(step.get("id"), str):
        ref += f" (id {step['id']!r})"
    return ref


def _locate_playbook_error(steps: list[Any]) -> str:
    """Point a playbook-level error (step order, repeated id) at the step that breaks it.

    Pydantic runs the playbook's validator only once every step is valid, so the
    steps can be re-validated here and scanned the way the validator scans them;
    the first step that breaks a rule is the one its message is about.
    """
    try:
        parsed = [Step.model_validate(step) for step in steps]
    except ValidationError:
        return "(root)"
    seen: set[str] = set()
    previous_day = 0
    for index, step in enumerate(parsed):
        if step.id in seen:
            return f"{_step_ref(steps, index)}.id"
        if step.day < previous_day:
            return f"{_step_ref(steps, index)}.day"
        seen.add(step.id)
        previous_day = step.day
    return "(root)"
