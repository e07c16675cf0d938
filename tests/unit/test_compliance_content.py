"""Content rules: time-barred debts are never threatened with suit; the validation
notice goes out in writing within five days of the first contact."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.errors import TemplateError
from adapters.playbook_files import list_playbooks, load_playbook
from adapters.portfolio_file import parse_portfolio
from adapters.templates import TemplateRenderer
from bootstrap.settings import Settings
from domain.channels import Channel
from domain.compliance.content import content_problems, validation_notice_problems
from domain.contact import MessageContext
from domain.disclosures import required_texts
from domain.playbook import Playbook, Step

SETTINGS = Settings()


def message(*, time_barred: bool) -> MessageContext:
    return MessageContext(
        debtor_name="Ada Old", account_id="A-1", creditor="Acme", collector="Acme Recovery",
        balance=Decimal("80.00"), currency="USD", due_date=date(2015, 1, 1),
        days_past_due=4000, time_barred=time_barred,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("If you do not pay we may file a lawsuit.", "en"),
        ("We will take legal action.", "en"),
        ("Your wages could be garnished.", "en"),
        ("Podemos presentar una demanda.", "es"),
    ],
)
def test_a_threat_of_suit_is_refused_only_for_time_barred_debts(text: str, language: str) -> None:
    full = " ".join([text, *required_texts(Channel.EMAIL, language)])
    assert content_problems(Channel.EMAIL, language, full, time_barred=False) == []
    problems = content_problems(Channel.EMAIL, language, full, time_barred=True)
    assert len(problems) == 1 and "1006.26(b)" in problems[0]


def test_every_shipped_template_is_safe_for_a_time_barred_debt() -> None:
    renderer = TemplateRenderer(SETTINGS.template_dir)
    for name in ("first_notice", "reminder", "call_script", "final_notice"):
        for channel in Channel:
            if channel is Channel.LETTER and name != "first_notice":
                continue  # letters carry the validation notice only
            for language in ("en", "es"):
                renderer.render(name, channel, language, message(time_barred=True))


def test_the_renderer_refuses_a_template_that_threatens_suit(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "en"
    folder.mkdir(parents=True)
    (folder / "harsh.sms.txt.j2").write_text("Pay {{ balance|money(currency) }} or we sue.")
    renderer = TemplateRenderer(tmp_path / "templates")
    renderer.render("harsh", Channel.SMS, "en", message(time_barred=False))
    with pytest.raises(TemplateError, match=r"time-barred"):
        renderer.render("harsh", Channel.SMS, "en", message(time_barred=True))


def test_shipped_playbooks_send_the_validation_notice_in_time() -> None:
    for name in list_playbooks(SETTINGS.playbook_dir):
        book = load_playbook(name, search_dir=SETTINGS.playbook_dir)
        assert validation_notice_problems(book) == [], name


def _book(*steps: tuple[int, Channel, str]) -> Playbook:
    return Playbook(
        name="p",
        steps=[
            Step(id=f"s{i}", day=day, channel=channel, template=template)
            for i, (day, channel, template) in enumerate(steps)
        ],
    )


def test_the_validation_notice_must_be_an_email_within_five_days() -> None:
    on_day_five = _book((0, Channel.SMS, "reminder"), (5, Channel.EMAIL, "first_notice"))
    assert validation_notice_problems(on_day_five) == []
    on_day_six = _book((0, Channel.SMS, "reminder"), (6, Channel.EMAIL, "first_notice"))
    assert "1006.34" in validation_notice_problems(on_day_six)[0]
    by_text_only = _book((0, Channel.SMS, "first_notice"), (3, Channel.SMS, "reminder"))
    assert validation_notice_problems(by_text_only)


def test_the_portfolio_file_carries_time_barred(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "account_id,name,email,amount_due,due_date,time_barred\n"
        "A-1,Ada Old,ada@example.com,80.00,2015-01-01,yes\n"
        "A-2,Bo New,bo@example.com,80.00,2026-01-01,\n"
    )
    parsed = parse_portfolio(path, as_of=date(2026, 11, 1))
    assert parsed.problems == []
    assert [a.time_barred for a in parsed.accounts] == [True, False]
