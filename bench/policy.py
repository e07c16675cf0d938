"""The adaptive contact policy against the fixed playbook cadence, on every shipped population.

Runs ``recoup simulate``'s core (real workflows, agents and compliance gate on the
time-skipping server) once per population and policy, in this process, and prints
one JSON line: per population the recovered amount per contact under each policy,
their ratio (adaptive / fixed; the goal is > 1 everywhere), and the compliance
violations (must be 0).

    .venv/bin/python -m bench.policy --accounts 200 --seed 1
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.playbook_files import load_playbook
from bench.common import machine
from bootstrap.settings import Settings
from cli.simulate import simulate
from domain.policy import ContactPolicy
from simulators.population import Population

POPULATIONS = Path(__file__).resolve().parent.parent / "populations"


async def compare(accounts: int, seed: int, playbook_name: str) -> dict[str, Any]:
    settings = Settings()
    playbook = load_playbook(playbook_name, search_dir=settings.playbook_dir)
    results: dict[str, Any] = {}
    for path in sorted(POPULATIONS.glob("*.yaml")):
        population = Population.load(path)
        runs = {}
        for policy in (ContactPolicy.FIXED, ContactPolicy.ADAPTIVE):
            runs[policy.value] = await simulate(
                population,
                playbook=playbook,
                policy=policy,
                accounts=accounts,
                seed=seed,
                log=lambda line: print(line, file=sys.stderr),
            )
        fixed, adaptive = runs["fixed"], runs["adaptive"]
        results[population.name] = {
            "recovered_per_contact": {
                "fixed": fixed["recovered_per_contact"],
                "adaptive": adaptive["recovered_per_contact"],
            },
            "ratio": round(adaptive["recovered_per_contact"] / fixed["recovered_per_contact"], 3)
            if fixed["recovered_per_contact"]
            else None,
            "recovered": {"fixed": fixed["recovered"], "adaptive": adaptive["recovered"]},
            "contacts": {"fixed": fixed["contacts"], "adaptive": adaptive["contacts"]},
            "compliance_violations": fixed["compliance_violations"]
            + adaptive["compliance_violations"],
            "wall_seconds": {"fixed": fixed["wall_seconds"], "adaptive": adaptive["wall_seconds"]},
        }
    return results


def main(
    accounts: Annotated[int, typer.Option(help="Accounts per simulated portfolio.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the populations and debtors.")] = 1,
    playbook: Annotated[str, typer.Option(help="Playbook name or file.")] = "standard",
) -> None:
    """Adaptive vs fixed policy on every shipped population; one JSON line."""
    results = asyncio.run(compare(accounts, seed, playbook))
    ratios = [r["ratio"] for r in results.values() if r["ratio"] is not None]
    print(
        json.dumps(
            {
                "benchmark": "policy",
                "machine": machine(),
                "accounts": accounts,
                "seed": seed,
                "playbook": playbook,
                "populations": results,
                "min_ratio": min(ratios) if ratios else None,
            }
        )
    )


if __name__ == "__main__":
    typer.run(main)
