"""What a campaign costs in Temporal Cloud billable Actions, counted from workflow histories.

Temporal Cloud bills by *Action*; the published rules are at
https://docs.temporal.io/cloud/actions (pricing: https://docs.temporal.io/cloud/pricing).
``count_history`` applies them to one run's event history; ``account_cost`` and
``campaign_cost`` fetch every run of an account's workflow (following continue-as-new)
and of its child workflows (the ``PaymentPlan``), or of a whole campaign, and add up.

The rules, event by event (the numbers are Actions):

- ``WorkflowExecutionStarted`` 1: a client start, a continue-as-new run, a retry or cron
  run. The first run of a *child* counts 0 here: its start is on the parent's side.
- ``StartChildWorkflowExecutionInitiated`` 2: "one for starting the Workflow, and another
  for the attempted Execution" (counted even when the start then fails).
- ``ActivityTaskScheduled`` 1, and each retry 1 more. A history keeps only the last
  attempt (``ActivityTaskStarted.attempt``), so retries are ``attempt - 1``.
- ``MarkerRecorded``: 1 per workflow task that recorded any markers, however many ("Temporal
  Cloud counts all RecordMarkers from each Workflow Task as one action"). Local activities
  are markers; so are ``workflow.patched`` markers, which therefore count under the same rule
  (a task that recorded only patch markers is overhead: versioning, not work).
- ``TimerStarted`` 1 (implicit timers such as ``wait_condition(timeout=...)`` included).
- Signals: ``SignalExternalWorkflowExecutionInitiated`` 1 (sent by this workflow);
  ``WorkflowExecutionSignaled`` 1 when a client sent it, 0 when another workflow did (its
  ``external_workflow_execution`` is set), because the sender's history already counts it.
- ``WorkflowExecutionUpdateAccepted`` 1 (its ``...Completed`` is the same update).
- ``UpsertWorkflowSearchAttributes`` 1 per command, 0 when it only sets
  ``TemporalChangeVersion`` (exempt); attributes given at start are free.
- ``WorkflowExecutionOptionsUpdated`` 1; ``NexusOperationScheduled`` and
  ``NexusOperationCancelRequested`` 1 each.
- Not billed by the rules: memo changes (``WorkflowPropertiesModified``), cancel requests,
  workflow-task events, completions.

Not in any history, so not counted: queries (pass ``queries=`` if you know how many were
sent), activity heartbeats that reached the server, rejected updates (a validator's "no"
leaves no event), workflow resets, the extra Actions of local-activity workflow-task
heartbeats, exports and schedules. The real bill can only be higher.

The *overhead* beside each count is the part of it that the same business steps would
not need: activity retries, continue-as-new restarts, search-attribute upserts,
``workflow.patched`` markers and options updates (``actions - overhead`` is what the steps
themselves cost). It is not the bare-Temporal floor of ``bench.engine``: that one is
measured, from a bare workflow with the same activities, timers and signals as a real
campaign and nothing else (``bench.floor``), and costed with ``count_history`` too.

The counting is here and not in ``domain/`` because it reads temporalio's history protos,
and ``domain/`` stays free of Temporal imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from statistics import fmean

from pydantic import BaseModel, computed_field
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.campaign import account_workflow_id, portfolio_workflow_id
from workflows import search_attributes as sa

ACTIONS_DOC = "https://docs.temporal.io/cloud/actions"
# Exempt from the upsert rule: the SDKs' versioning (patch) attribute.
_CHANGE_VERSION = "TemporalChangeVersion"
_PATCH = "core_patch"  # the marker ``workflow.patched`` records
# Histories fetched at once while costing a campaign: enough to overlap round trips,
# few enough not to crowd a small server.
_CONCURRENCY = 16


class ActionCounts(BaseModel):
    """Billable Actions by category; ``total`` is their sum."""

    workflow_starts: int = 0
    child_workflow_starts: int = 0
    activities: int = 0
    activity_retries: int = 0
    local_activities: int = 0
    timers: int = 0
    signals: int = 0
    updates: int = 0
    search_attribute_upserts: int = 0
    options_updates: int = 0
    nexus_operations: int = 0
    queries: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return sum(self.categories().values())

    def categories(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in type(self).model_fields}

    def __add__(self, other: ActionCounts) -> ActionCounts:
        mine, theirs = self.categories(), other.categories()
        return ActionCounts(**{k: mine[k] + theirs[k] for k in mine})


def total_of(counts: Iterable[ActionCounts]) -> ActionCounts:
    result = ActionCounts()
    for c in counts:
        result = result + c
    return result


class HistoryCost(BaseModel):
    """One history's Actions, and the part of them the same work would not need."""

    actions: ActionCounts
    overhead: ActionCounts


def count_history(events: Sequence[HistoryEvent], *, queries: int = 0) -> HistoryCost:
    """The billable Actions in one run's history (rules in the module docstring)."""
    counts: dict[str, int] = dict.fromkeys(ActionCounts.model_fields, 0)
    overhead: dict[str, int] = dict.fromkeys(ActionCounts.model_fields, 0)
    # Workflow task → whether one of its markers is work (a local activity): a task that
    # only recorded ``workflow.patched`` markers is versioning, overhead.
    marker_tasks: dict[int, bool] = {}

    def add(category: str, n: int = 1, *, needed: bool = True) -> None:
        counts[category] += n
        if not needed:
            overhead[category] += n

    for e in events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            a = e.workflow_execution_started_event_attributes
            if a.continued_execution_run_id:
                # Continue-as-new, retry or cron: a new start, but not one the work needs.
                add("workflow_starts", needed=False)
            elif not a.HasField("parent_workflow_execution"):
                add("workflow_starts")
            # else: a child's first run, paid for by the parent's initiated event.
        elif t == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            add("child_workflow_starts", 2)
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            add("activities")
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries = max(0, e.activity_task_started_event_attributes.attempt - 1)
            add("activity_retries", retries, needed=False)
        elif t == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = e.marker_recorded_event_attributes
            task = marker.workflow_task_completed_event_id
            marker_tasks[task] = marker_tasks.get(task, False) or marker.marker_name != _PATCH

        elif t == EventType.EVENT_TYPE_TIMER_STARTED:
            add("timers")
        elif t == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            add("signals")
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if not e.workflow_execution_signaled_event_attributes.HasField(
                "external_workflow_execution"
            ):
                add("signals")
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            add("updates")
        elif t == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) - {_CHANGE_VERSION}:
                add("search_attribute_upserts", needed=False)
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
            add("options_updates", needed=False)
        elif t in (
            EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
            EventType.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED,
        ):
            add("nexus_operations")
    add("local_activities", sum(marker_tasks.values()))
    add("local_activities", len(marker_tasks) - sum(marker_tasks.values()), needed=False)
    add("queries", queries)
    return HistoryCost(actions=ActionCounts(**counts), overhead=ActionCounts(**overhead))


# --- fetching ------------------------------------------------------------------------


class CostNotFound(LookupError):
    """No workflow to cost: the account or campaign never ran (or is past retention)."""


class RunCost(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    actions: ActionCounts
    overhead: ActionCounts


class CostReport(BaseModel):
    """One account's campaign(s): every run of its workflow and of its children."""

    tenant_id: str
    account_id: str
    workflow_id: str
    runs: list[RunCost]
    # Started as a child (of a portfolio): the 2 Actions of that start are in the parent's
    # history; they are added here so the account shows what it really cost.
    started_by: str | None = None
    parent_start_actions: int = 0
    actions: ActionCounts
    overhead: ActionCounts


class Spread(BaseModel):
    mean: float
    min: int
    max: int


class CampaignCostReport(BaseModel):
    """A campaign: its portfolio workflow's own Actions, and each account's."""

    tenant_id: str
    campaign_id: str
    portfolio_runs: list[RunCost]
    # The portfolio's Actions without the child starts already charged to its accounts.
    portfolio_actions: ActionCounts
    portfolio_overhead: ActionCounts
    accounts: list[CostReport]
    per_account: Spread
    per_account_overhead: Spread
    actions: ActionCounts
    overhead: ActionCounts


class _Run(BaseModel):
    cost: RunCost
    parent: str | None  # the parent's workflow id, on a child's first run
    linked: list[tuple[str, str]]  # runs this one leads to: previous/next run, children


def _links(
    workflow_id: str, events: Sequence[HistoryEvent]
) -> tuple[str | None, list[tuple[str, str]]]:
    parent: str | None = None
    linked: list[tuple[str, str]] = []
    for e in events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            a = e.workflow_execution_started_event_attributes
            if a.continued_execution_run_id:
                linked.append((workflow_id, a.continued_execution_run_id))
            elif a.HasField("parent_workflow_execution"):
                parent = a.parent_workflow_execution.workflow_id
        elif t == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            child = e.child_workflow_execution_started_event_attributes.workflow_execution
            linked.append((child.workflow_id, child.run_id))
        else:
            # Continue-as-new, and the retry or cron run a closing run can lead to.
            next_run = ""
            if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                next_run = (
                    e.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                )
            elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                next_run = e.workflow_execution_completed_event_attributes.new_execution_run_id
            elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                next_run = e.workflow_execution_failed_event_attributes.new_execution_run_id
            elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
                next_run = e.workflow_execution_timed_out_event_attributes.new_execution_run_id
            if next_run:
                linked.append((workflow_id, next_run))
    return parent, linked


async def _fetch_run(client: Client, workflow_id: str, run_id: str) -> _Run:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    events = list(history.events)
    cost = count_history(events)
    workflow_type = (
        events[0].workflow_execution_started_event_attributes.workflow_type.name if events else ""
    )
    parent, linked = _links(workflow_id, events)
    return _Run(
        cost=RunCost(
            workflow_id=workflow_id,
            run_id=run_id,
            workflow_type=workflow_type,
            actions=cost.actions,
            overhead=cost.overhead,
        ),
        parent=parent,
        linked=linked,
    )


async def _closure(
    client: Client,
    seeds: Iterable[tuple[str, str]],
    limit: asyncio.Semaphore,
    *,
    children: bool = True,
) -> list[_Run]:
    """Every run reachable from ``seeds`` by continue-as-new (both ways) and, with
    ``children``, by child starts."""
    seen: set[tuple[str, str]] = set()
    found: list[_Run] = []
    frontier = list(seeds)

    async def one(ref: tuple[str, str]) -> _Run:
        async with limit:
            return await _fetch_run(client, *ref)

    while frontier:
        batch = [r for r in dict.fromkeys(frontier) if r not in seen]
        seen.update(batch)
        runs = await asyncio.gather(*(one(r) for r in batch))
        found.extend(runs)
        frontier = [
            link
            for run in runs
            for link in run.linked
            if link not in seen and (children or link[0] == run.cost.workflow_id)
        ]
    return found


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _visible_runs(client: Client, query: str) -> list[tuple[str, str]]:
    return [(x.id, x.run_id) async for x in client.list_workflows(query)]


async def _latest_run(client: Client, workflow_id: str) -> list[tuple[str, str]]:
    """The current run, straight from the server: visibility can lag a fresh workflow."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return []
        raise
    return [(workflow_id, described.run_id)]


def _account_report(
    tenant_id: str, account_id: str, runs: Sequence[_Run], queries: int
) -> CostReport:
    workflow_id = account_workflow_id(tenant_id, account_id)
    parents = [r.parent for r in runs if r.cost.workflow_id == workflow_id and r.parent]
    # The parent's StartChildWorkflowExecutionInitiated: 2 Actions for each chain of runs
    # a parent started.
    parent_starts = 2 * len(parents)
    extra = ActionCounts(child_workflow_starts=parent_starts, queries=queries)
    return CostReport(
        tenant_id=tenant_id,
        account_id=account_id,
        workflow_id=workflow_id,
        runs=[r.cost for r in runs],
        started_by=min(parents) if parents else None,
        parent_start_actions=parent_starts,
        actions=total_of(r.cost.actions for r in runs) + extra,
        overhead=total_of(r.cost.overhead for r in runs),
    )


async def account_cost(
    client: Client, tenant_id: str, account_id: str, *, queries: int = 0
) -> CostReport:
    """Every run of the account's workflow id, its continue-as-new runs and its children.

    ``queries``: how many queries were sent to it, if known (they leave no history).
    Raises ``CostNotFound`` when the account never had a campaign.
    """
    workflow_id = account_workflow_id(tenant_id, account_id)
    seeds = await _visible_runs(client, f"WorkflowId = {_quoted(workflow_id)}")
    seeds += await _latest_run(client, workflow_id)
    if not seeds:
        raise CostNotFound(f"no campaign for account {account_id!r} (tenant {tenant_id!r})")
    runs = await _closure(client, seeds, asyncio.Semaphore(_CONCURRENCY))
    return _account_report(tenant_id, account_id, runs, queries)


def _without_child_starts(counts: ActionCounts, n: int) -> ActionCounts:
    return counts.model_copy(update={"child_workflow_starts": counts.child_workflow_starts - n})


def _spread(values: Sequence[int]) -> Spread:
    if not values:
        return Spread(mean=0.0, min=0, max=0)
    return Spread(mean=fmean(values), min=min(values), max=max(values))


async def campaign_cost(client: Client, tenant_id: str, campaign_id: str) -> CampaignCostReport:
    """The portfolio workflow and every account campaign of ``campaign_id``.

    Accounts are found by their search attributes (``RecoupTenant``, ``RecoupCampaign``),
    so accounts started one by one under a campaign id count too. Raises ``CostNotFound``
    when there is neither a portfolio nor an account.
    """
    limit = asyncio.Semaphore(_CONCURRENCY)
    portfolio_id = portfolio_workflow_id(tenant_id, campaign_id)
    portfolio_seeds = await _latest_run(client, portfolio_id)
    query = (
        f"{sa.TENANT.name} = {_quoted(tenant_id)} AND {sa.CAMPAIGN.name} = {_quoted(campaign_id)}"
    )
    prefix = account_workflow_id(tenant_id, "")
    by_account: dict[str, list[tuple[str, str]]] = {}
    for wid, rid in await _visible_runs(client, query):
        if wid == portfolio_id:
            portfolio_seeds.append((wid, rid))
        elif wid.startswith(prefix):
            by_account.setdefault(wid.removeprefix(prefix), []).append((wid, rid))
    if not portfolio_seeds and not by_account:
        raise CostNotFound(f"no campaign {campaign_id!r} (tenant {tenant_id!r})")

    # Only the portfolio's own runs: its children are costed account by account below.
    portfolio_runs = await _closure(client, portfolio_seeds, limit, children=False)

    async def one(account_id: str, seeds: list[tuple[str, str]]) -> CostReport:
        runs = await _closure(client, seeds, limit)
        return _account_report(tenant_id, account_id, runs, 0)

    accounts = sorted(
        await asyncio.gather(*(one(a, s) for a, s in by_account.items())),
        key=lambda r: r.account_id,
    )
    # Child starts the accounts already carry come out of the portfolio's share.
    moved = sum(a.parent_start_actions for a in accounts if a.started_by == portfolio_id)
    p_actions = _without_child_starts(total_of(r.cost.actions for r in portfolio_runs), moved)
    # Child starts are never overhead, so the portfolio's overhead needs no such correction.
    p_overhead = total_of(r.cost.overhead for r in portfolio_runs)
    return CampaignCostReport(
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        portfolio_runs=[r.cost for r in portfolio_runs],
        portfolio_actions=p_actions,
        portfolio_overhead=p_overhead,
        accounts=accounts,
        per_account=_spread([a.actions.total for a in accounts]),
        per_account_overhead=_spread([a.overhead.total for a in accounts]),
        actions=p_actions + total_of(a.actions for a in accounts),
        overhead=p_overhead + total_of(a.overhead for a in accounts),
    )
