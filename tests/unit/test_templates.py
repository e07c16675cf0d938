"""The shipped templates, rendered for real, and the renderer's guarantees."""

from __future__ import annotations

import html
import itertools
import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.errors import TemplateError
from adapters.templates import TemplateRenderer, sms_segments
from domain.account import Tenant
from domain.arrangements import ArrangementKind, ArrangementTerms, Instalment
from domain.channels import Channel
from domain.contact import MessageContext
from domain.disclosures import DEBT_COLLECTOR, OPT_OUT, missing_disclosures
from tests.template_support import message_context as context

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
NAMES = ("first_notice", "reminder", "call_script", "final_notice")
LANGUAGES = ("en", "es")
# The channels templates ship for (letters' come with their agent): at least these three.
SHIPPED = [c for c in Channel if (TEMPLATES / "en" / f"first_notice.{c}.txt.j2").exists()]


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


@pytest.mark.parametrize(
    ("name", "channel", "language"),
    [
        combination
        for combination in itertools.product(NAMES, Channel, LANGUAGES)
        # Letters carry the validation notice only.
        if combination[1] is not Channel.LETTER or combination[0] == "first_notice"
    ],
)
def test_every_template_renders_with_its_disclosures(
    renderer: TemplateRenderer, name: str, channel: Channel, language: str
) -> None:
    message = renderer.render(name, channel, language, context())

    assert missing_disclosures(channel, language, message.text) == []
    assert "Maria Garcia" in message.text
    assert "1,234.50 USD" in message.text
    assert "Acme Health" in message.text
    if channel is Channel.EMAIL:
        assert message.subject and "\n" not in message.subject
        assert message.html is not None and "Maria Garcia" in message.html
        assert missing_disclosures(channel, language, message.html) == []
        # The footer sits inside the document, not after </html>.
        assert message.html.rstrip().endswith("</html>")
        assert message.html.index(OPT_OUT[Channel.EMAIL][language]) < message.html.index("</body>")
    elif channel is Channel.LETTER:
        # What is printed: the HTML, with the disclosure inside the document.
        assert message.subject is None and message.html is not None
        assert "Maria Garcia" in message.html
        assert missing_disclosures(channel, language, message.html) == []
        assert message.html.rstrip().endswith("</html>")
        assert message.html.index(DEBT_COLLECTOR[language]) < message.html.index("</body>")
    else:
        assert message.subject is None and message.html is None
    if channel is Channel.PHONE:
        assert message.text.startswith(DEBT_COLLECTOR[language])


def test_templates_ship_for_email_sms_and_calls() -> None:
    assert {Channel.EMAIL, Channel.SMS, Channel.PHONE} <= set(SHIPPED)


def test_templates_leave_the_disclosures_to_the_renderer() -> None:
    sentences = [*DEBT_COLLECTOR.values(), "STOP", "cobrador", "debt collector"]
    for path in TEMPLATES.rglob("*.j2"):
        text = path.read_text(encoding="utf-8")
        assert not [s for s in sentences if s in text], path


def test_spanish_dates_and_english_dates(renderer: TemplateRenderer) -> None:
    assert "March 1, 2024" in renderer.render("first_notice", Channel.EMAIL, "en", context()).text
    spanish = renderer.render("first_notice", Channel.EMAIL, "es", context()).text
    assert "1 de marzo de 2024" in spanish
    assert "Esta es una comunicación de un cobrador de deudas." in spanish


def test_html_escapes_the_debtor_name_but_text_does_not(renderer: TemplateRenderer) -> None:
    name = "<b>O'Hara & Sons</b>"
    message = renderer.render("first_notice", Channel.EMAIL, "en", context(debtor_name=name))

    assert message.html is not None
    assert "<b>O'Hara" not in message.html
    assert "&lt;b&gt;O&#39;Hara &amp; Sons&lt;/b&gt;" in message.html
    assert name in message.text


def test_a_newline_in_a_name_cannot_break_the_subject_header(
    renderer: TemplateRenderer,
) -> None:
    message = renderer.render(
        "first_notice", Channel.EMAIL, "en", context(creditor="Acme\r\nBcc: x@example.com")
    )
    assert message.subject == "Your Acme Bcc: x@example.com account ACC-000123"


def test_missing_template_is_a_template_error_naming_it(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError, match=r"'no_such_letter'.*sms.*'es'"):
        renderer.render("no_such_letter", Channel.SMS, "es", context())


def test_a_mistyped_template_gets_the_closest_name(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("frist_notice", Channel.EMAIL, "en", context())
    message = str(caught.value)
    assert "unknown template 'frist_notice'; did you mean 'first_notice'?" in message
    assert "final_notice, first_notice" in message  # the known ones, for this channel


def test_a_template_name_cannot_reach_outside_the_folder(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError, match="invalid template name"):
        renderer.render("../en/first_notice", Channel.SMS, "en", context())


def test_unsupported_language_falls_back_to_english(renderer: TemplateRenderer) -> None:
    french = renderer.render("reminder", Channel.SMS, "fr", context())
    english = renderer.render("reminder", Channel.SMS, "en", context())
    assert french == english
    assert renderer.render("reminder", Channel.SMS, "../es", context()) == english


def test_a_language_missing_one_template_falls_back_to_english(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATES, tmp_path, dirs_exist_ok=True)
    (tmp_path / "es" / "reminder.sms.txt.j2").unlink()
    message = TemplateRenderer(tmp_path).render("reminder", Channel.SMS, "es", context())
    # The body is English, so the disclosures are too.
    assert message.text.endswith("This is a debt collector. Reply STOP to opt out.")


def test_template_that_fails_to_render_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "broken.sms.txt.j2").write_text("Hi {{ nickname }}")
    (tmp_path / "en" / "syntax.sms.txt.j2").write_text("Hi {{ debtor_name ")
    renderer = TemplateRenderer(tmp_path)

    with pytest.raises(TemplateError, match=r"'broken' on sms in 'en'.*nickname"):
        renderer.render("broken", Channel.SMS, "en", context())
    with pytest.raises(TemplateError, match=r"'syntax' on sms in 'en'"):
        renderer.render("syntax", Channel.SMS, "en", context())


def test_email_needs_a_subject_but_html_is_optional(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "plain.email.txt.j2").write_text("Dear {{ debtor_name }},")
    renderer = TemplateRenderer(tmp_path)
    with pytest.raises(TemplateError, match=r"plain\.email\.subject\.j2"):
        renderer.render("plain", Channel.EMAIL, "en", context())

    (tmp_path / "en" / "plain.email.subject.j2").write_text("About {{ account_id }}\n")
    message = renderer.render("plain", Channel.EMAIL, "en", context())
    assert message.subject == "About ACC-000123"
    assert message.html is None


def test_html_without_a_body_tag_gets_the_footer_at_the_end(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    for suffix, body in [("subject", "Hi"), ("txt", "Hi"), ("html", "<p>Hi</p>")]:
        (tmp_path / "en" / f"bare.email.{suffix}.j2").write_text(body)
    message = TemplateRenderer(tmp_path).render("bare", Channel.EMAIL, "en", context())
    assert message.html is not None
    assert message.html.startswith("<p>Hi</p>\n<p ")
    assert message.html.rstrip().endswith(OPT_OUT[Channel.EMAIL]["en"] + "</p>")


@pytest.mark.parametrize("name", NAMES)
def test_english_sms_fits_two_segments_for_a_typical_account(
    renderer: TemplateRenderer, name: str
) -> None:
    text = renderer.render(name, Channel.SMS, "en", context()).text
    assert sms_segments(text) <= 2


@pytest.mark.parametrize("name", NAMES)
def test_spanish_sms_is_gsm7_apart_from_the_domain_opt_out(
    renderer: TemplateRenderer, name: str
) -> None:
    # The domain's Spanish opt-out sentence has "á" (not GSM-7); everything the
    # templates write must stay within GSM-7 so that it is the only cost.
    text = renderer.render(name, Channel.SMS, "es", context()).text
    assert sms_segments(text.replace(OPT_OUT[Channel.SMS]["es"], "")) <= 2


def test_sms_segments_gsm7_boundaries() -> None:
    assert sms_segments("") == 0
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    # Extension characters take two septets, and a part never splits one.
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("a" + "€" * 76 + "x" * 153) == 2
    assert sms_segments("a" * 152 + "€" + "x" * 152) == 3
    assert sms_segments("ñÑüé¿¡" * 20) == 1


def test_sms_segments_ucs2_boundaries() -> None:
    assert sms_segments("á" * 70) == 1
    assert sms_segments("á" * 71) == 2
    assert sms_segments("a" * 69 + "á") == 1
    assert sms_segments("á" * 134) == 2
    assert sms_segments("á" * 135) == 3
    # An emoji is two UTF-16 units and is never split across parts.
    assert sms_segments("😀" * 35) == 1
    assert sms_segments("😀" * 36) == 2
    assert sms_segments("a" + "😀" * 33 + "b" * 67) == 2
    assert sms_segments("a" * 66 + "😀" + "b" * 66) == 3


# --- The creditor and the collector ----------------------------------------------------------

PLAN = ArrangementTerms(
    kind=ArrangementKind.PAYMENT_PLAN,
    total=Decimal("1200.00"),
    instalments=[
        Instalment(due=date(2024, 4, 1), amount=Decimal("400.00")),
        Instalment(due=date(2024, 5, 1), amount=Decimal("800.00")),
    ],
    link_url="https://pay.example.com/l/abc123def456",
    instalment_number=2,
    reason="a payment was missed",
)
# An agency collecting for a creditor, and a creditor collecting its own debts.
AGENCY = Tenant(tenant_id="agency", name="Acme Recovery", creditor="Northwind Health")
CREDITOR = Tenant(tenant_id="bank", name="Fairview Bank")


def every_template() -> list[tuple[str, Channel, str]]:
    names = sorted({p.name.split(".")[0] for p in (TEMPLATES / "en").glob("*.j2")})
    found = [
        (name, channel, language)
        for name, channel, language in itertools.product(names, Channel, LANGUAGES)
        if (TEMPLATES / language / f"{name}.{channel.value}.txt.j2").is_file()
    ]
    assert len(found) == 2 * 19  # every shipped template, in both languages
    return found


def rendered_for(
    renderer: TemplateRenderer,
    tenant: Tenant,
    name: str,
    channel: Channel,
    language: str,
    account_creditor: str | None = None,
) -> list[str]:
    """What the debtor reads: subject, text and (tags and escapes removed) HTML."""
    arrangement = PLAN if name.startswith(("arrangement_", "instalment_")) else None
    message = renderer.render(
        name,
        channel,
        language,
        context(
            creditor=tenant.creditor_for(account_creditor),
            collector=tenant.name,
            arrangement=arrangement,
        ),
    )
    parts = [message.subject or "", message.text]
    if message.html is not None:
        parts.append(html.unescape(re.sub(r"<[^>]+>", " ", message.html)))
    return parts


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"[.:!?\n]+", text) if s.strip()]


@pytest.mark.parametrize(("name", "channel", "language"), every_template())
def test_a_third_party_message_names_the_creditor_and_the_collector(
    renderer: TemplateRenderer, name: str, channel: Channel, language: str
) -> None:
    subject, *bodies = rendered_for(renderer, AGENCY, name, channel, language)
    assert "Northwind Health" in subject or channel is not Channel.EMAIL, subject
    for body in bodies:  # the text, and the HTML of an email: who is owed, who writes
        assert "Northwind Health" in body and "Acme Recovery" in body, body


@pytest.mark.parametrize(("name", "channel", "language"), every_template())
def test_a_first_party_message_never_has_the_creditor_ask_itself(
    renderer: TemplateRenderer, name: str, channel: Channel, language: str
) -> None:
    assert CREDITOR.first_party and CREDITOR.creditor_for(None) == "Fairview Bank"
    for part in rendered_for(renderer, CREDITOR, name, channel, language):
        if not part:
            continue
        assert "Fairview Bank" in part, part
        for sentence in sentences(part):
            # "X has asked X to collect", "X, calling on behalf of X", "X for X",
            # "X reminder: your X account": one company, named once a sentence.
            assert sentence.count("Fairview Bank") <= 1, sentence
        for other in ("has asked", "on behalf of", "ha encargado", "en nombre de", "de parte de"):
            assert other not in part, part


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_first_notice_says_plainly_who_collects(
    renderer: TemplateRenderer, language: str
) -> None:
    agency = rendered_for(renderer, AGENCY, "first_notice", Channel.EMAIL, language)[1]
    bank = rendered_for(renderer, CREDITOR, "first_notice", Channel.EMAIL, language)[1]
    if language == "en":
        assert "Northwind Health has asked Acme Recovery to collect the unpaid balance" in agency
        assert "We, Fairview Bank, are writing to you about the unpaid balance" in bank
        assert "which we are collecting ourselves" in bank
    else:
        assert "Northwind Health ha encargado a Acme Recovery el cobro del saldo" in agency
        assert "Le escribimos desde Fairview Bank sobre el saldo pendiente" in bank
        assert "cuyo cobro gestionamos directamente" in bank


def test_the_portfolio_rows_creditor_wins_over_the_tenants(renderer: TemplateRenderer) -> None:
    for tenant in (AGENCY, CREDITOR):
        text = rendered_for(
            renderer, tenant, "first_notice", Channel.EMAIL, "en", account_creditor="Kestrel Power"
        )[1]
        assert f"Kestrel Power has asked {tenant.name} to collect" in text
    # A row naming the tenant itself is first-party, whatever the spelling.
    text = rendered_for(
        renderer, CREDITOR, "first_notice", Channel.EMAIL, "en", account_creditor="FAIRVIEW  bank"
    )[1]
    assert "has asked" not in text and "which we are collecting ourselves" in text


def test_the_tenant_names_who_is_owed() -> None:
    assert AGENCY.creditor_for(None) == "Northwind Health" and not AGENCY.first_party
    assert CREDITOR.creditor_for("Kestrel Power") == "Kestrel Power"
    assert Tenant(tenant_id="t", name="Fairview Bank", creditor="fairview bank").first_party
    with pytest.raises(ValidationError):
        Tenant(tenant_id="t", name="Acme Recovery", creditor="   ")
    # The context of an older payload (no first_party) still loads, and decides it anew.
    old = context(creditor="Fairview Bank", collector="Fairview Bank").model_dump()
    del old["first_party"]
    assert MessageContext.model_validate(old).first_party
