"""``bench.payloads``: it finds every contact input of a recorded campaign and its parts."""

from __future__ import annotations

from bench.payloads import (
    DEFAULT_HISTORY,
    HISTORY_KEY,
    HISTORY_KEY_ID,
    activity_inputs,
    measure,
)
from domain import names
from tests.conftest import CODEC_KEY, CODEC_KEY_ID


def test_every_contact_input_is_measured_and_its_parts_fit_inside_it() -> None:
    contact_activities = {names.SEND_EMAIL, names.SEND_SMS, names.PLACE_CALL}
    contacts = [n for n, _ in activity_inputs(DEFAULT_HISTORY) if n in contact_activities]
    result = measure(DEFAULT_HISTORY)

    assert result["contact_inputs"] == len(contacts) > 0
    # The records and the facts are parts of the inputs: each weighs something, and
    # together less than all the inputs do.
    assert result["records_deflated_bytes"] > 0
    assert result["facts_and_message_deflated_bytes"] > 0
    assert (
        result["records_deflated_bytes"] + result["facts_and_message_deflated_bytes"]
        < result["inputs_deflated_bytes"]
    )
    # Deflate already takes out most of what the records repeat.
    assert result["packing_records_deflated_bytes"] < result["packing_records_plain_bytes"] / 2


def test_the_benchmark_reads_histories_with_the_key_the_tests_record_them_with() -> None:
    assert (HISTORY_KEY_ID, HISTORY_KEY) == (CODEC_KEY_ID, CODEC_KEY)
