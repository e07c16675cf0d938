"""The account campaign's decision core: what the campaign decides on each event, pure.

``workflows/account_campaign.py`` is a thin Temporal shell around it: it keeps the loop,
the timers, the signal and update handlers and the activities, and carries out the
effects the core hands it. The core sees the clock and the run's ids only through its
``Host``, and does no I/O, so every decision here can be tested without Temporal
(``tests/unit/test_campaign_core.py``) and replays as it ran.

Modules, each over one ``Campaign`` (state, input, host, effect sink):

- ``campaign``: the ``Campaign`` itself, its host and its effects;
- ``outbox``: events, commands and agent envelopes the campaign exports;
- ``status``: its status, what it waits for next, the web UI's details;
- ``steps``: the playbook step's options, conditions and addresses, the gate's decisions;
- ``legal``: opt-outs, consent, cease/attorney/dispute, stored revocations;
- ``payments``, ``replies``, ``approvals``, ``supervision``, ``learning``, ``research``,
  ``contacts`` (a send's result), ``arrangements``: the rest of its behaviour.
"""
