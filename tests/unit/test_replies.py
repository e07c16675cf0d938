"""Reply understanding: intents, promised dates and amounts, and ``recoup classify``."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.classify import classify as classify_command
from cli.common import EXIT_PARTIAL
from domain.replies import ReplyIntent, classify, is_stop_keyword, read_reply
from domain.replies.dates import find_amount, find_date
from tests.reply_eval import FRESH, LABELLED, part_of, read_combined, rows_of, score

# 2026-03-04 is a Wednesday.
WED = datetime.fromisoformat("2026-03-04T10:00:00-05:00")


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


# --- intents and the precedence conventions -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("My lawyer will call you. Stop texting me.", ReplyIntent.ATTORNEY),
        ("I'll pay friday but talk to my attorney first", ReplyIntent.ATTORNEY),
        ("this isn't my debt, my attorney is handling it", ReplyIntent.ATTORNEY),
        ("I'll pay on the 20th, now stop texting me", ReplyIntent.STOP),
        ("wrong number, stop texting", ReplyIntent.STOP),
        ("not mine. stop calling me", ReplyIntent.STOP),
        ("I'll pay friday if you send me proof I owe it", ReplyIntent.DISPUTE),
        ("I dispute this, but I will pay $50 next week to be safe", ReplyIntent.DISPUTE),
    ],
)
def test_precedence(text: str, intent: ReplyIntent) -> None:
    assert classify(text, WED).intent is intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("just paid online, conf #A123", ReplyIntent.PAY_NOW),
        ("send me the link, I'll pay right now", ReplyIntent.PAY_NOW),
        ("can I do $50 a month?", ReplyIntent.PAYMENT_PLAN),
        ("not my account, never opened it", ReplyIntent.DISPUTE),
        ("STOP", ReplyIntent.STOP),
        ("please stop texting me", ReplyIntent.STOP),
        ("wrong number", ReplyIntent.WRONG_PERSON),
        ("he passed away last year", ReplyIntent.WRONG_PERSON),
        ("lost my job, can't afford anything right now", ReplyIntent.HARDSHIP),
        ("filed chapter 7 last month", ReplyIntent.ATTORNEY),
        ("call me back after 5 pls", ReplyIntent.CALLBACK),
        ("who is this?", ReplyIntent.CALLBACK),
        ("ok", ReplyIntent.OTHER),
        ("", ReplyIntent.OTHER),
    ],
)
def test_each_intent(text: str, intent: ReplyIntent) -> None:
    assert classify(text, WED).intent is intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I won't pay this", ReplyIntent.DISPUTE),
        ("I'm not paying anything until I see the contract", ReplyIntent.DISPUTE),
        ("no voy a pagar eso, no es mío", ReplyIntent.DISPUTE),
        ("I can't pay right now, I'm unemployed", ReplyIntent.HARDSHIP),
        ("no puedo pagar, estoy sin trabajo", ReplyIntent.HARDSHIP),
        ("no problem, I'll pay friday", ReplyIntent.PROMISE_TO_PAY),
    ],
)
def test_negations(text: str, intent: ReplyIntent) -> None:
    assert classify(text, WED).intent is intent


@pytest.mark.parametrize(
    ("text", "intent", "when"),
    [
        ("le pago el viernes", ReplyIntent.PROMISE_TO_PAY, date(2026, 3, 6)),
        ("Pagaré a fin de mes", ReplyIntent.PROMISE_TO_PAY, date(2026, 3, 31)),
        ("mañana le deposito", ReplyIntent.PROMISE_TO_PAY, date(2026, 3, 5)),
        ("la próxima semana pago", ReplyIntent.PROMISE_TO_PAY, date(2026, 3, 9)),
        ("la proxima semana pago", ReplyIntent.PROMISE_TO_PAY, date(2026, 3, 9)),
        ("En dos semanas le pago todo", ReplyIntent.PROMISE_TO_PAY, date(2026, 3, 18)),
        ("ya pagué en línea", ReplyIntent.PAY_NOW, None),
        ("¿Puedo pagar en abonos?", ReplyIntent.PAYMENT_PLAN, None),
        ("PAREN DE ENVIARME MENSAJES", ReplyIntent.STOP, None),
        ("número equivocado", ReplyIntent.WRONG_PERSON, None),
        ("tengo abogado", ReplyIntent.ATTORNEY, None),
    ],
)
def test_spanish(text: str, intent: ReplyIntent, when: date | None) -> None:
    reading = classify(text, WED)
    assert (reading.intent, reading.promise_date) == (intent, when)


def test_quoted_email_is_not_read() -> None:
    email = (
        "Thanks, I will pay on Friday.\n\nOn Mon, Mar 2, 2026 Pinecrest wrote:\n"
        "> Please pay by 3/10. To opt out reply STOP. Call our attorney line.\n"
    )
    reading = classify(email, WED)
    assert (reading.intent, reading.promise_date) == (ReplyIntent.PROMISE_TO_PAY, date(2026, 3, 6))


def test_date_and_amount_only_for_promises() -> None:
    assert classify("paid the $64.10 balance today", WED).promise_amount is None
    reading = classify("I will pay $1,200 on 11/20", WED)
    assert (reading.promise_date, reading.promise_amount) == (date(2026, 11, 20), Decimal("1200"))


def test_confidence_is_higher_for_clear_replies() -> None:
    clear = classify("I will pay $200 on Friday, I promise", WED).confidence
    muddled = classify("stop. i'll pay friday", WED).confidence
    assert 0 < muddled < clear <= 0.99
    assert classify("hmm", WED).confidence <= 0.5


def test_read_reply_and_stop_keywords_keep_working() -> None:
    assert read_reply("STOP") is ReplyIntent.STOP
    assert read_reply("I will pay on Friday.") is ReplyIntent.PROMISE_TO_PAY
    assert read_reply("Voy a pagar el viernes.") is ReplyIntent.PROMISE_TO_PAY
    assert read_reply("okay") is ReplyIntent.OTHER
    assert is_stop_keyword(" stop! ") and not is_stop_keyword("please stop")


def test_classify_is_deterministic() -> None:
    text = "ill send 90 next fri, then 50 a month"
    assert len({classify(text, WED) for _ in range(5)}) == 1


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "received", "expected"),
    [
        # Weekday names: the first such day strictly after the local date.
        ("Friday", "2026-03-04T10:00-05:00", date(2026, 3, 6)),
        ("next Fri", "2026-03-06T10:00-05:00", date(2026, 3, 13)),  # said on a Friday
        ("friday", "2026-03-06T10:00-05:00", date(2026, 3, 13)),
        ("el viernes", "2026-03-04T10:00-05:00", date(2026, 3, 6)),
        ("el próximo lunes", "2027-08-21T10:00-05:00", date(2027, 8, 23)),
        ("monday", "2026-12-30T10:00-05:00", date(2027, 1, 4)),  # year rollover
        # Relative days.
        ("tonight", "2026-03-04T10:00-05:00", date(2026, 3, 4)),
        ("esta noche", "2026-03-04T10:00-05:00", date(2026, 3, 4)),
        ("today", "2026-03-04T10:00-05:00", date(2026, 3, 4)),
        ("tmrw", "2026-03-31T10:00-05:00", date(2026, 4, 1)),  # month rollover
        ("mañana", "2026-12-31T10:00-05:00", date(2027, 1, 1)),
        ("manana", "2026-03-04T10:00-05:00", date(2026, 3, 5)),
        ("pasado mañana", "2026-03-04T10:00-05:00", date(2026, 3, 6)),
        # Weeks and months.
        ("next week", "2026-03-04T10:00-05:00", date(2026, 3, 9)),
        ("next week", "2026-03-09T10:00-05:00", date(2026, 3, 16)),  # said on a Monday
        ("la semana que viene", "2026-03-04T10:00-05:00", date(2026, 3, 9)),
        ("in two weeks", "2026-06-17T10:00-04:00", date(2026, 7, 1)),
        ("in 2 wks", "2026-03-04T10:00-05:00", date(2026, 3, 18)),
        ("en dos semanas", "2026-03-04T10:00-05:00", date(2026, 3, 18)),
        ("in 10 days", "2026-12-28T10:00-05:00", date(2027, 1, 7)),
        ("in a month", "2026-01-31T10:00-05:00", date(2026, 2, 28)),
        ("this weekend", "2026-03-04T10:00-05:00", date(2026, 3, 7)),
        ("this weekend", "2026-03-08T10:00-05:00", date(2026, 3, 8)),  # a Sunday
        ("end of the week", "2026-03-04T10:00-05:00", date(2026, 3, 6)),
        ("end of the month", "2028-02-10T10:00-05:00", date(2028, 2, 29)),  # leap year
        ("end of month", "2027-02-10T10:00-05:00", date(2027, 2, 28)),
        ("fin de mes", "2026-12-05T10:00-05:00", date(2026, 12, 31)),
        ("a finales de mes", "2026-04-05T10:00-05:00", date(2026, 4, 30)),
        ("end of next month", "2026-12-05T10:00-05:00", date(2027, 1, 31)),
        ("next month", "2026-12-05T10:00-05:00", date(2027, 1, 1)),
        ("mid-month", "2026-03-20T10:00-05:00", date(2026, 4, 15)),
        # Day of the month: this month, or the next month that has the day.
        ("the 15th", "2026-03-04T10:00-05:00", date(2026, 3, 15)),
        ("the 3rd", "2026-10-27T10:00-05:00", date(2026, 11, 3)),
        ("the 4th", "2026-03-04T10:00-05:00", date(2026, 3, 4)),  # today is not past
        ("on the 5th", "2026-12-20T10:00-05:00", date(2027, 1, 5)),
        ("the 31st", "2026-04-05T10:00-05:00", date(2026, 5, 31)),  # April has no 31st
        ("el 15", "2026-03-20T10:00-05:00", date(2026, 4, 15)),
        ("el día 20", "2026-03-04T10:00-05:00", date(2026, 3, 20)),
        # Calendar dates: US month/day; a date already past rolls to next year.
        ("12/20", "2026-03-04T10:00-05:00", date(2026, 12, 20)),
        ("3/4", "2026-03-04T10:00-05:00", date(2026, 3, 4)),
        ("2/27", "2027-03-01T10:00-06:00", date(2028, 2, 27)),
        ("1/3", "2026-12-21T10:00-05:00", date(2027, 1, 3)),
        ("4/5", "2026-03-04T10:00-05:00", date(2026, 4, 5)),  # April 5, not May 4
        ("12/20/2027", "2026-03-04T10:00-05:00", date(2027, 12, 20)),
        ("12/20/27", "2026-03-04T10:00-05:00", date(2027, 12, 20)),
        ("Dec 20", "2026-03-04T10:00-05:00", date(2026, 12, 20)),
        ("December 20th", "2026-03-04T10:00-05:00", date(2026, 12, 20)),
        ("January 4th", "2026-12-29T10:00-05:00", date(2027, 1, 4)),
        ("the 1st of March", "2027-02-22T10:00-05:00", date(2027, 3, 1)),
        ("20 de diciembre", "2026-03-04T10:00-05:00", date(2026, 12, 20)),
        ("Tuesday, June 8", "2027-06-02T10:00-07:00", date(2027, 6, 8)),
        # No date for an unknown day.
        ("when I get paid", "2026-03-04T10:00-05:00", None),
        ("payday", "2026-03-04T10:00-05:00", None),
        ("cuando cobre", "2026-03-04T10:00-05:00", None),
        ("I'll pay asap", "2026-03-04T10:00-05:00", None),
    ],
)
def test_date_rules(text: str, received: str, expected: date | None) -> None:
    assert find_date(text, at(received).date()) == expected


def test_first_calendar_date_wins() -> None:
    today = date(2026, 3, 4)
    assert find_date("friday or maybe 3/20", today) == date(2026, 3, 20)
    assert find_date("50 on the 28th and the rest next month", today) == date(2026, 3, 28)
    assert find_date("tomorrow or friday", today) == date(2026, 3, 5)


def test_dates_resolve_in_the_senders_local_day() -> None:
    # 23:30 at UTC-5 on June 30 is already July 1 in UTC: the sender's day is June 30.
    received = at("2026-06-30T23:30:00-05:00")
    assert classify("I'll pay tomorrow", received).promise_date == date(2026, 7, 1)
    assert classify("I'll pay tonight", received).promise_date == date(2026, 6, 30)
    assert classify("paying end of the month", received).promise_date == date(2026, 6, 30)
    # Naive means UTC.
    assert classify("I'll pay tomorrow", datetime(2026, 6, 30, 23, 30)).promise_date == date(
        2026, 7, 1
    )


# --- amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("I can pay $90 friday", "90.00"),
        ("90 dollars on monday", "90.00"),
        ("will send 90.50", "90.50"),
        ("$1,200 by 11/20", "1200.00"),
        ("$ 45", "45.00"),
        ("i can pay 65 on the 22nd", "65.00"),
        ("Le pago el día 20, son 85", "85.00"),
        ("le mando 60 dolares", "60.00"),
        ("fifty dollars friday", "50.00"),
        ("noventa dólares el viernes", "90.00"),
        ("paying on the 15th", None),
        ("I'll pay on 12/20", None),
        ("call me at 555-0172 after 4", None),
        ("pay in 2 weeks", None),
    ],
)
def test_amounts(text: str, amount: str | None) -> None:
    assert find_amount(text) == (Decimal(amount) if amount else None)


# --- accuracy: held-out split and fresh set (see tests/reply_eval.py) -----------------------

needs_labelled = pytest.mark.skipif(not LABELLED.exists(), reason="replies-dev.jsonl not present")


@needs_labelled
def test_split_is_fixed_and_about_60_40() -> None:
    ids = [r["id"] for r in rows_of("dev") + rows_of("holdout")]
    assert len(ids) == 200
    assert sum(part_of(i) == "dev" for i in ids) == 117
    assert part_of("dev-0001") == part_of("dev-0001")


@needs_labelled
def test_held_out_accuracy_floor() -> None:
    # Measured 75.9% intent (63/83), 100% dates (22/22) before any look at these replies;
    # 77.1% (64/83) after two fixes found with the simulator texts (not with these replies).
    # 84.3% (70/83), dates 22/22, measured once after broadening the cues with the train set
    # (never tuned on these replies).
    s = score(rows_of("holdout"))
    # Only the figures: the held-out texts are never printed, not even on failure.
    assert s.intent_accuracy >= 0.70, f"{s.intent_ok}/{s.total}"
    assert s.date_accuracy >= 0.90, f"{s.date_ok}/{s.dated}"


@needs_labelled
def test_dev_part_stays_exact() -> None:
    # The rules were tuned on the dev part: 100% intent and dates.
    s = score(rows_of("dev"))
    assert s.intent_accuracy >= 0.99, s.misses
    assert s.date_accuracy >= 0.99, s.misses


def test_train_set_accuracy_floor() -> None:
    rows = rows_of("train")
    assert len(rows) == 320
    # Measured 83.8% intent (268/320) and 97.3% dates (36/37) before the rules were broadened
    # with it, 96.6% (309/320) and 97.3% after; the floor is that minus 3 points. The misses
    # left are label conventions that differ from the dev file's (questions about the debt
    # labelled other, "ill pay today" as a promise), kept so as to follow the dev file.
    s = score(rows)
    assert s.intent_accuracy >= 0.935, s.misses
    assert s.date_accuracy >= 0.90, s.misses


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # Only the debtor's turns of a call transcript are read.
        (
            "Agent: How would you like to handle the balance?\nCustomer: could we break it up?",
            ReplyIntent.PAYMENT_PLAN,
        ),
        # A debt discharged in bankruptcy is not owed: a dispute, not a pending case.
        ("this was discharged in my bankruptcy", ReplyIntent.DISPUTE),
        ("I filed bankruptcy, my attorney is Ann Lee", ReplyIntent.ATTORNEY),
        # A call asked for alongside a substantive intent yields to it.
        ("Can you call me? I want to set up payments", ReplyIntent.PAYMENT_PLAN),
        ("call me on my cell, not my house", ReplyIntent.CALLBACK),
        # A strong dispute outranks a plan offered with it.
        ("I don't owe this, but fine, set me up on a payment plan", ReplyIntent.DISPUTE),
        ("Never heard of a Darnell Price", ReplyIntent.WRONG_PERSON),
        ("never heard of this company", ReplyIntent.DISPUTE),
        ("no Veronica here", ReplyIntent.WRONG_PERSON),
        ("aquí no vive ninguna Guadalupe", ReplyIntent.WRONG_PERSON),
        ("remove my number", ReplyIntent.STOP),
        ("La cliente pidió que no la vuelvan a llamar.", ReplyIntent.STOP),
        ("me pueden llamar por favor", ReplyIntent.CALLBACK),
        ("who dis", ReplyIntent.CALLBACK),
        ("sent it through the link you texted", ReplyIntent.PAY_NOW),
        ("acabo de pagar todo", ReplyIntent.PAY_NOW),
        ("check's in the mail", ReplyIntent.PAY_NOW),
        ("house flooded, lost everything, please give me time", ReplyIntent.HARDSHIP),
        ("i can pay it in installments, like 4 payments", ReplyIntent.PAYMENT_PLAN),
        ("se puede en plazos? 3 o 4 pagos", ReplyIntent.PAYMENT_PLAN),
        ("is this a scam?", ReplyIntent.OTHER),
    ],
)
def test_broadened_cue_families(text: str, intent: ReplyIntent) -> None:
    assert classify(text, WED).intent is intent


def test_fresh_set_accuracy_floor() -> None:
    rows = rows_of("fresh")
    assert len(rows) >= 80 and {r["intent"] for r in rows} == {i.value for i in ReplyIntent}
    # Measured 97.9% intent (93/95) and 100% dates (34/34) on first run.
    s = score(rows)
    assert s.intent_accuracy >= 0.90, s.misses
    assert s.date_accuracy >= 0.90, s.misses


# --- the command ----------------------------------------------------------------------------

app = typer.Typer()
app.command()(classify_command)
runner = CliRunner()


def test_cli_one_text() -> None:
    result = runner.invoke(
        app,
        ["--text", "ill pay $90 next fri", "--received-at", "2026-03-06T18:00:00-06:00"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "intent": "promise_to_pay",
        "promise_date": "2026-03-13",
        "promise_amount": "90.00",
        "confidence": pytest.approx(json.loads(result.stdout)["confidence"]),
        "runner_up": json.loads(result.stdout)["runner_up"],
    }
    assert 0 < json.loads(result.stdout)["confidence"] <= 1
    channel = ["--channel", "email", "--text", "STOP", "--received-at", "2026-03-06"]
    stop = json.loads(runner.invoke(app, channel).stdout)
    assert stop == {
        "intent": "stop",
        "promise_date": None,
        "promise_amount": None,
        "confidence": 0.99,
        "runner_up": stop["runner_up"],
    }
    rules = runner.invoke(app, [*channel, "--reader", "rules"])
    assert json.loads(rules.stdout)["runner_up"] is None  # the rules give no second choice


def test_cli_needs_text_or_file() -> None:
    assert runner.invoke(app, []).exit_code == 2
    assert runner.invoke(app, ["--text", "hi"]).exit_code == 2  # no --received-at
    assert runner.invoke(app, ["--text", "hi", "--received-at", "soon"]).exit_code == 2


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_file_with_a_bad_line(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "in.jsonl",
        [
            json.dumps({"id": "a", "channel": "sms", "text": "pay on 12/28",
                        "received_at": "2026-12-16T07:49:00-06:00", "extra": 1}),
            "{not json",
            json.dumps({"id": "b", "text": "hi"}),
            json.dumps({"id": "c", "text": "STOP", "received_at": "yesterday"}),
            json.dumps({"id": "d", "channel": "email", "text": "wrong number",
                        "received_at": "2026-12-16T07:49:00Z"}),
        ],
    )  # fmt: skip
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["--in", str(source), "--out", str(out)])
    assert result.exit_code == EXIT_PARTIAL
    assert "line 2" in result.stderr and "not JSON" in result.stderr
    assert "line 3" in result.stderr and "received_at" in result.stderr
    assert "line 4" in result.stderr and "received_at" in result.stderr
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written == [
        {"id": "a", "intent": "promise_to_pay", "promise_date": "2026-12-28",
         "promise_amount": None, "confidence": written[0]["confidence"],
         "runner_up": written[0]["runner_up"]},
        {"id": "d", "intent": "wrong_person", "promise_date": None,
         "promise_amount": None, "confidence": written[1]["confidence"],
         "runner_up": written[1]["runner_up"]},
    ]  # fmt: skip


def test_cli_evaluate(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in FRESH.read_text("utf-8").splitlines()][:20]
    rows.append({"id": "x", "text": "ok", "received_at": "2026-03-04T10:00:00Z", "intent": "stop"})
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in rows])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["--in", str(source), "--out", str(out), "--evaluate"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 21
    s = score(rows, read_combined)  # --reader combined is the default
    dated = sum(1 for r in rows if r.get("promise_date"))
    assert f"intent accuracy: {s.intent_ok}/21" in result.stdout
    assert f"promise_date accuracy: {s.date_ok}/{dated}" in result.stdout
    assert "confusion matrix" in result.stdout and "ptp=promise_to_pay" in result.stdout
    # Without --out only the evaluation is printed.
    alone = runner.invoke(app, ["--in", str(source), "--evaluate"])
    assert alone.exit_code == 0 and '"intent"' not in alone.stdout
