"""The shipped templates, rendered for real, and the renderer's guarantees."""

from __future__ import annotations

import itertools
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.errors import TemplateError
from adapters.templates import TemplateRenderer, sms_segments
from domain.channels import Channel
from domain.contact import MessageContext
from domain.disclosures import DEBT_COLLECTOR, OPT_OUT, missing_disclosures

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NAMES = ("first_notice", "reminder", "call_script", "final_notice")
LANGUAGES = ("en", "es")


def context(**changes: object) -> MessageContext:
    base = MessageContext(
        debtor_name="Maria Garcia",
        account_id="ACC-000123",
        creditor="Acme Health",
        collector="Recoup Collections",
        balance=Decimal("1234.50"),
        currency="USD",
        due_date=date(2024, 3, 1),
        days_past_due=120,
    )
    return base.model_copy(update=changes)


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


@pytest.mark.parametrize(
    ("name", "channel", "language"), list(itertools.product(NAMES, Channel, LANGUAGES))
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
    else:
        assert message.subject is None and message.html is None
    if channel is Channel.PHONE:
        assert message.text.startswith(DEBT_COLLECTOR[language])


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
