"""Which layer may import which: an AST scan of every first-party ``.py`` file.

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
Standard library and third-party imports are free; the rules are about Recoup's own
packages. A rule names packages, or single modules where a layer needs one module of
a package and no more (``api.app``, not ``api``).

=============  ======================================================================
layer          may import
=============  ======================================================================
domain         domain
workflows      domain, workflows
activities     domain, adapters, activities
adapters       domain, adapters
simulators     domain, simulators
bootstrap      domain, adapters, bootstrap, workflows.search_attributes (the visibility
               schema the dev server and ``recoup temporal setup`` register)
service        domain, adapters, bootstrap, workflows (workflows it starts, their search
               attributes), service
workers        anything but api, cli, bench and tests
api            domain, service, bootstrap, api
cli            domain, service, bootstrap, cli, api.app and api.server (to serve the
               APIs), workers.run (to run workers), simulators (dev, demo, simulate),
               workflows.search_attributes (registered on ``recoup simulate``'s server)
bench          anything but tests
=============  ======================================================================

``tests/`` may import anything; ``api/grpc_gen`` (generated stubs) is not scanned.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LAYERS = (
    "domain",
    "workflows",
    "activities",
    "adapters",
    "simulators",
    "bootstrap",
    "service",
    "workers",
    "api",
    "cli",
    "bench",
)
FIRST_PARTY = frozenset((*LAYERS, "tests"))


@dataclass(frozen=True)
class Rule:
    """What a layer may import: ``allowed`` names, or everything but ``forbidden``."""

    allowed: frozenset[str] | None = None
    forbidden: frozenset[str] = frozenset()

    def permits(self, module: str) -> bool:
        if self.allowed is None:
            return not any(_within(module, name) for name in self.forbidden)
        return any(_within(module, name) for name in self.allowed)

    def describe(self) -> str:
        if self.allowed is None:
            return "anything but " + ", ".join(sorted(self.forbidden))
        return ", ".join(sorted(self.allowed))


def only(*names: str) -> Rule:
    return Rule(allowed=frozenset(names))


def all_but(*names: str) -> Rule:
    return Rule(forbidden=frozenset(names))


RULES: dict[str, Rule] = {
    "domain": only("domain"),
    "workflows": only("domain", "workflows"),
    # Search attributes: a portfolio's activity starts account campaigns with them.
    "activities": only("domain", "adapters", "activities", "workflows.search_attributes"),
    "adapters": only("domain", "adapters"),
    "simulators": only("domain", "simulators"),
    "bootstrap": only("domain", "adapters", "bootstrap", "workflows.search_attributes"),
    "service": only("domain", "adapters", "bootstrap", "workflows", "service"),
    "workers": all_but("api", "cli", "bench", "tests"),
    "api": only("domain", "service", "bootstrap", "api"),
    "cli": only(
        "domain",
        "service",
        "bootstrap",
        "cli",
        "api.app",
        "api.server",
        "workers.run",
        "simulators",
        "workflows.search_attributes",
    ),
    "bench": all_but("tests"),
}

SKIPPED = (ROOT / "api" / "grpc_gen",)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    module: str
    layer: str

    def __str__(self) -> str:
        rule = RULES[self.layer].describe()
        return (
            f"{self.path}:{self.line}: {self.layer} imports {self.module} "
            f"({self.layer} may import {rule})"
        )


def _within(module: str, name: str) -> bool:
    return module == name or module.startswith(name + ".")


def imported(source: str) -> list[tuple[int, str]]:
    """Each first-party import of ``source`` as ``(line, module)``, wherever it stands.

    ``from pkg import name`` counts as ``pkg.name``: the name may be a module
    (``from workflows import search_attributes``), and a rule naming ``pkg`` still
    covers it. Relative imports stay within their package and are not listed.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, module) for line, module in found if module.split(".")[0] in FIRST_PARTY]


def violations(path: Path, layer: str) -> list[Violation]:
    rule = RULES[layer]
    where = path.relative_to(ROOT).as_posix()
    return [
        Violation(where, line, module, layer)
        for line, module in imported(path.read_text(encoding="utf-8"))
        if not rule.permits(module)
    ]


def _files(layer: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / layer).rglob("*.py"))
        if not any(path.is_relative_to(skipped) for skipped in SKIPPED)
    ]


def test_every_layer_imports_only_what_its_rule_allows() -> None:
    found = [v for layer in LAYERS for path in _files(layer) for v in violations(path, layer)]
    assert not found, "imports across layers that the rules forbid:\n" + "\n".join(
        str(v) for v in found
    )


def test_every_layer_has_files_to_check() -> None:
    # A layer renamed or moved would otherwise pass unchecked.
    assert all(_files(layer) for layer in LAYERS)


def test_the_scan_sees_imports_under_type_checking_and_in_functions() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import httpx\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from adapters.event_log import EventLog\n"
        "def f() -> None:\n"
        "    import workers.export\n"
        "from api import app\n"
    )
    assert sorted(imported(source)) == [
        (5, "adapters.event_log.EventLog"),
        (7, "workers.export"),
        (8, "api.app"),
    ]
    cli = RULES["cli"]
    refused = sorted(module for _, module in imported(source) if not cli.permits(module))
    assert refused == ["adapters.event_log.EventLog", "workers.export"]


def test_adapters_and_domain_never_import_temporal() -> None:
    """The adapters and the domain talk to Temporal only through what the composition root
    (``bootstrap``) hands them, e.g. ``bootstrap.client.visibility_count`` and
    ``queue_backlog``: a storage or provider adapter never depends on the SDK."""
    found = []
    for layer in ("domain", "adapters"):
        for path in _files(layer):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                else:
                    continue
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                    for name in names
                    if name.split(".")[0] == "temporalio"
                ]
    assert not found, "\n".join(found)
