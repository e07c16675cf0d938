"""The adaptive contact policy against the fixed playbook cadence, on every shipped population.

Runs ``recoup simulate``'s core (real workflows, agents and compliance gate on the
time-skipping server) once per population, policy and seed, in this process, and
prints one JSON line: per population and seed the recovered amount per contact under
each policy and their ratio (adaptive / fixed), with the opt-out, dispute and
complaint rates (per account) beside them; then per population the ratio's spread over
the seeds (min / median / max) and each rate's. Goals (issue 19): ratio ≥ 1.3 at every
seed, opt-out, dispute and complaint rates no higher than fixed, compliance violations 0.
An adaptive run repeats exactly for a seed (``recoup simulate``), so any figure can be
checked.

``--warm-up N`` measures a tenant's second portfolio instead of its first: the adaptive
agent first learns from N other accounts of the population, launched four weeks
earlier (``recoup simulate --warm-up``); the fixed cadence learns nothing and runs the
same measured portfolio at the same simulated instant.

    .venv/bin/python -m bench.policy --accounts 200 --seeds 1,2,3 [--warm-up 200]
"""

from __future__ import annotations

import asyncio
import json
import statistics
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
POLICIES = ("fixed", "adaptive")


def spread(values: list[float]) -> dict[str, float] | None:
    """min / median / max of ``values``; None when there are none."""
    if not values:
        return None
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def ratio(fixed: dict[str, Any], adaptive: dict[str, Any]) -> float | None:
    if not fixed["recovered_per_contact"]:
        return None
    return round(float(adaptive["recovered_per_contact"] / fixed["recovered_per_contact"]), 3)


def per_seed(fixed: dict[str, Any], adaptive: dict[str, Any]) -> dict[str, Any]:
    runs = {"fixed": fixed, "adaptive": adaptive}
    return {
        "ratio": ratio(fixed, adaptive),
        **{
            key: {policy: runs[policy][key] for policy in POLICIES}
            for key in (
                "recovered_per_contact",
                "opt_out_rate",
                "dispute_rate",
                "complaint_rate",
                "opt_outs",
                "disputes",
                "complaints",
                "recovered",
                "contacts",
                "wall_seconds",
            )
        },
        "compliance_violations": fixed["compliance_violations"] + adaptive["compliance_violations"],
    }


def summary(seeds: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A population over its seeds: medians where one figure is read (as before), and
    the spread of the ratio and of each rate."""
    runs = list(seeds.values())
    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]

    def of(key: str, policy: str) -> list[float]:
        return [float(r[key][policy]) for r in runs]

    return {
        "recovered_per_contact": {
            p: round(statistics.median(of("recovered_per_contact", p)), 2) for p in POLICIES
        },
        "ratio": round(statistics.median(ratios), 3) if ratios else None,
        "ratio_spread": spread(ratios),
        "opt_out_rate": {p: spread(of("opt_out_rate", p)) for p in POLICIES},
        "dispute_rate": {p: spread(of("dispute_rate", p)) for p in POLICIES},
        "complaint_rate": {p: spread(of("complaint_rate", p)) for p in POLICIES},
        # Seeds at which adaptive opted out, disputed or complained more than fixed.
        "seeds_more_opt_outs": [s for s, r in seeds.items() if _more(r, "opt_outs")],
        "seeds_more_disputes": [s for s, r in seeds.items() if _more(r, "disputes")],
        "seeds_more_complaints": [s for s, r in seeds.items() if _more(r, "complaints")],
        "compliance_violations": sum(r["compliance_violations"] for r in runs),
        "seeds": {str(s): r for s, r in seeds.items()},
    }


def _more(run: dict[str, Any], key: str) -> bool:
    return bool(run[key]["adaptive"] > run[key]["fixed"])


async def compare(
    accounts: int, seeds: list[int], playbook_name: str, warm_up: int = 0
) -> dict[str, Any]:
    settings = Settings()
    playbook = load_playbook(playbook_name, search_dir=settings.playbook_dir)
    results: dict[str, Any] = {}
    for path in sorted(POPULATIONS.glob("*.yaml")):
        population = Population.load(path)
        by_seed: dict[int, dict[str, Any]] = {}
        for seed in seeds:
            runs = {}
            for policy in (ContactPolicy.FIXED, ContactPolicy.ADAPTIVE):
                runs[policy.value] = await simulate(
                    population,
                    playbook=playbook,
                    policy=policy,
                    accounts=accounts,
                    seed=seed,
                    warm_up=warm_up,
                    log=lambda line: print(line, file=sys.stderr),
                )
            by_seed[seed] = per_seed(runs["fixed"], runs["adaptive"])
        results[population.name] = summary(by_seed)
    return results


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"seeds are integers separated by commas, not {text!r}") from None
    if not seeds:
        raise typer.BadParameter("give at least one seed")
    return list(dict.fromkeys(seeds))


def main(
    accounts: Annotated[int, typer.Option(help="Accounts per simulated portfolio.")] = 200,
    seeds: Annotated[
        str,
        typer.Option("--seeds", "--seed", help="Seeds of the populations and debtors: 1,2,3."),
    ] = "1,2,3",
    playbook: Annotated[str, typer.Option(help="Playbook name or file.")] = "standard",
    warm_up: Annotated[
        int,
        typer.Option(
            min=0, help="Accounts the adaptive agent learns from first (0: a cold start)."
        ),
    ] = 0,
) -> None:
    """Adaptive vs fixed policy on every shipped population and seed; one JSON line."""
    chosen = parse_seeds(seeds)
    results = asyncio.run(compare(accounts, chosen, playbook, warm_up))
    ratios = [r["ratio_spread"]["min"] for r in results.values() if r["ratio_spread"] is not None]
    print(
        json.dumps(
            {
                "benchmark": "policy",
                "machine": machine(),
                "accounts": accounts,
                "seeds": chosen,
                "playbook": playbook,
                "warm_up": warm_up,
                "populations": results,
                # The lowest ratio at any population and seed (the goal: ≥ 1.3).
                "min_ratio": min(ratios) if ratios else None,
            }
        )
    )


if __name__ == "__main__":
    typer.run(main)
