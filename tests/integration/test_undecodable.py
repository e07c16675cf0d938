"""A worker that cannot decode a payload says so by name (bootstrap.undecodable).

Against the real dev server and Recoup's own workers (``running``: the suite's key ring,
``test-1`` only), a client encrypts with a key they do not hold, as a command run from
another directory did with a key ring of its own (issue 18): the activity fails at once,
for good, as ``CodecKeyError``; the workflow task fails with a message naming the key
(readable without the codec), and the worker logs it once, not a traceback an attempt.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from datetime import timedelta

import pytest
from pydantic import SecretStr
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bootstrap.codec import data_converter
from bootstrap.settings import Settings
from bootstrap.undecodable import FAILURE_TYPE
from domain import names
from domain.channels import Channel
from tests.api_support import eventually
from tests.conftest import CODEC_KEY, CODEC_KEY_ID

UNLIMITED = RetryPolicy(maximum_attempts=0, initial_interval=timedelta(milliseconds=50))


@workflow.defn
class SendsWithAnotherKey:
    """Asks Recoup's email worker to send: its input is encrypted with this worker's key."""

    @workflow.run
    async def run(self, task_queue: str) -> None:
        await workflow.execute_activity(
            names.SEND_EMAIL,
            "an input only the other key opens",
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=UNLIMITED,  # only a non-retryable failure ends it
        )


def foreign_key() -> tuple[str, str]:
    """A key id no test used before (the worker logs once per key id per process)."""
    return f"other-{uuid.uuid4().hex[:8]}", base64.b64encode(os.urandom(32)).decode()


def client_with(client: Client, keys: dict[str, str], active: str) -> Client:
    settings = Settings(
        codec_keys={key_id: SecretStr(secret) for key_id, secret in keys.items()},
        codec_key_id=active,
    )
    return Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=data_converter(settings),
    )


def decode_failures(caplog: pytest.LogCaptureFixture, key_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if key_id in r.getMessage()]


async def test_an_activity_whose_input_the_worker_cannot_decode_fails_for_good_by_name(
    client: Client, settings: Settings, running: list[Worker], caplog: pytest.LogCaptureFixture
) -> None:
    other_id, other_key = foreign_key()
    # The workflow's worker holds both keys and encrypts with the other one; Recoup's
    # email worker holds only the suite's.
    both = client_with(client, {CODEC_KEY_ID: CODEC_KEY, other_id: other_key}, other_id)
    queue = f"undecodable-{uuid.uuid4().hex[:8]}"
    async with Worker(
        both,
        task_queue=queue,
        workflows=[SendsWithAnotherKey],
        workflow_runner=UnsandboxedWorkflowRunner(),  # this module imports cryptography
    ):
        handle = await both.start_workflow(
            SendsWithAnotherKey.run,
            settings.queues.for_channel(Channel.EMAIL),
            id=f"undecodable-activity-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state is RetryState.NON_RETRYABLE_FAILURE
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == (FAILURE_TYPE, True)
    # Which key the input needs, and which the worker has.
    assert f"codec key id {other_id!r}" in cause.message
    assert f"it has {CODEC_KEY_ID}" in cause.message

    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [1]  # not retried, although its retry policy allows any number
    logged = decode_failures(caplog, other_id)
    assert len(logged) == 1 and logged[0].exc_info is None  # one line, no traceback


async def test_a_workflow_task_the_worker_cannot_decode_names_the_key_and_logs_it_once(
    client: Client, settings: Settings, running: list[Worker], caplog: pytest.LogCaptureFixture
) -> None:
    other_id, other_key = foreign_key()
    other = client_with(client, {other_id: other_key}, other_id)
    handle = await other.start_workflow(
        names.ACCOUNT_CAMPAIGN,
        "an input only the other key opens",
        id=f"undecodable-workflow-{uuid.uuid4().hex[:8]}",
        task_queue=settings.queues.campaigns,
    )
    # Without the codec: the operator reads it even when nothing can decode.
    plain = Client(client.service_client, namespace=client.namespace)
    try:
        # Temporal retries a failed workflow task: wait for a few attempts.
        await eventually(
            lambda: plain.get_workflow_handle(handle.id).describe(),
            lambda d: d.raw_description.pending_workflow_task.attempt >= 3,
        )
        history = await plain.get_workflow_handle(handle.id).fetch_history()
        failed = [
            e.workflow_task_failed_event_attributes.failure
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        assert failed, "the workflow task should have failed"
        failure = failed[0]
        assert failure.application_failure_info.type == FAILURE_TYPE
        assert failure.message.startswith("this worker cannot decode a payload: ")
        assert f"codec key id {other_id!r}" in failure.message
        assert f"it has {CODEC_KEY_ID}" in failure.message
        # Three attempts and more, one line in the log, without a traceback.
        logged = decode_failures(caplog, other_id)
        assert len(logged) == 1, [r.getMessage() for r in logged]
        assert logged[0].exc_info is None
        assert logged[0].getMessage().startswith("workflow tasks fail: ")
    finally:
        await plain.get_workflow_handle(handle.id).terminate("test over")
