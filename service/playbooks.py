"""Playbooks: the shipped ones, one by name or file, and their JSON Schema.

Thin by design: the playbook files adapter does the reading and the checking; the
entry points call it through here (``PlaybookError`` is in ``service.errors``).
"""

from __future__ import annotations

from adapters.playbook_files import list_playbooks, load_playbook, playbook_json_schema

__all__ = ["list_playbooks", "load_playbook", "playbook_json_schema"]
