"""Render message templates and attach the disclosures the law requires.

Templates live in ``{folder}/{language}/{name}.{channel}.…j2``:

* email: ``{name}.email.subject.j2``, ``{name}.email.txt.j2`` and optionally
  ``{name}.email.html.j2``;
* SMS: ``{name}.sms.txt.j2``;
* phone: ``{name}.phone.txt.j2`` (what the call says);
* letter: ``{name}.letter.txt.j2`` and ``{name}.letter.html.j2`` (what is printed and
  mailed; the top of its first page stays blank for the address window).

They see the fields of :class:`domain.contact.MessageContext` and two filters:
``{{ balance|money(currency) }}`` and ``{{ due_date|long_date("es") }}``. They never
contain the debt-collector disclosure or the opt-out sentence: the renderer adds them
and then checks the result with :func:`domain.disclosures.missing_disclosures`, so no
template (nor a later edit of one) can send a message without them.
"""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import jinja2
from markupsafe import escape
from pydantic import BaseModel, ConfigDict

from adapters.errors import TemplateError, unknown_name
from domain.channels import Channel
from domain.compliance.content import content_problems
from domain.contact import MessageContext, format_amount
from domain.disclosures import language_or_default, required_texts
from domain.sms import sms_segments as sms_segments  # re-exported: counted in domain

# Same rule as ``domain.playbook.TemplateName``; checked again here because a
# template name becomes part of a file path.
_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_DEFAULT_LANGUAGE = "en"

# fmt: off
_MONTHS = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ),
}
# fmt: on

# Channels whose message may (email) or should (letter) come as HTML.
_HTML_CHANNELS = frozenset({Channel.EMAIL, Channel.LETTER})
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class RenderedMessage(BaseModel):
    """A message ready to send; ``subject`` is set for email only, ``html`` for email and
    letters."""

    model_config = ConfigDict(frozen=True)

    subject: str | None = None
    text: str
    html: str | None = None


class TemplateRenderer:
    """Renders ``templates/{lang}/…`` files; compiled templates are cached by Jinja."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            undefined=jinja2.StrictUndefined,
            # Only HTML needs escaping; escaping plain text would show "&amp;" to debtors.
            autoescape=lambda name: name is not None and name.endswith(".html.j2"),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["money"] = _money
        self._env.filters["long_date"] = _long_date

    def render(
        self, template: str, channel: Channel, language: str, message: MessageContext
    ) -> RenderedMessage:
        """Render ``template`` for ``channel``; raise ``TemplateError`` when it cannot.

        The language falls back to English when ``language`` has no such template,
        and the disclosures follow the language the body was written in.
        """
        where = f"template {template!r} on {channel.value} in {language!r}"
        if not _TEMPLATE_NAME.match(template):
            raise TemplateError(f"{where}: invalid template name")
        lang = self._language_for(template, channel, language)
        if lang is None:
            known = self._names(channel)
            place = str(self._folder / _DEFAULT_LANGUAGE)
            raise TemplateError(
                f"{where}: {unknown_name('template', template, known, place=place)}"
            )
        stem = f"{lang}/{template}.{channel.value}"
        context = message.model_dump()
        try:
            body = self._render_file(f"{stem}.txt.j2", context)
            subject = html_body = None
            if channel is Channel.EMAIL:
                # A header must be one line: a newline in a debtor's name must not be
                # able to add headers to the email.
                subject = " ".join(self._render_file(f"{stem}.subject.j2", context).split())
            if channel in _HTML_CHANNELS and self._exists(f"{stem}.html.j2"):
                html_body = self._render_file(f"{stem}.html.j2", context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{where}: missing file {exc.name}") from exc
        except Exception as exc:
            # A template is code written outside this module: whatever it raises
            # (undefined variable, syntax error, a filter given a wrong type) is a
            # template failure, never a crash of the activity that sends the message.
            raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from exc

        disclosure_lang = language_or_default(lang)
        rendered = with_disclosures(channel, disclosure_lang, body, subject, html_body)
        # The guard every message passes before it can be sent (domain.compliance.content).
        found = content_problems(
            channel,
            disclosure_lang,
            f"{subject or ''}\n{rendered.text}",
            time_barred=message.time_barred,
        )
        if rendered.html is not None:
            found += content_problems(
                channel,
                disclosure_lang,
                html.unescape(rendered.html),
                time_barred=message.time_barred,
            )
        if found:
            raise TemplateError(f"{where}: {'; '.join(found)}")
        return rendered

    def _language_for(self, template: str, channel: Channel, language: str) -> str | None:
        candidates = [language] if _LANGUAGE.match(language) else []
        candidates.append(_DEFAULT_LANGUAGE)
        for lang in dict.fromkeys(candidates):
            if self._exists(f"{lang}/{template}.{channel.value}.txt.j2"):
                return lang
        return None

    def _names(self, channel: Channel) -> list[str]:
        """The templates written for ``channel`` in the default language (every language
        falls back to it)."""
        suffix = f".{channel.value}.txt.j2"
        folder = self._folder / _DEFAULT_LANGUAGE
        return [p.name.removesuffix(suffix) for p in folder.glob(f"*{suffix}")]

    def _exists(self, name: str) -> bool:
        return (self._folder / name).is_file()

    def _render_file(self, name: str, context: dict[str, object]) -> str:
        return self._env.get_template(name).render(context)


def with_disclosures(
    channel: Channel,
    language: str,
    body: str,
    subject: str | None = None,
    html_body: str | None = None,
) -> RenderedMessage:
    """``body`` (and ``html_body``) with the disclosures ``channel`` requires in ``language``.

    The one place messages get them: templates here, and composed messages
    (``activities.composer``), which are checked afterwards like templates are.
    """
    texts = required_texts(channel, language_or_default(language))
    return RenderedMessage(
        subject=subject,
        text=_with_disclosures(channel, body, texts),
        html=None if html_body is None else _with_html_footer(html_body, texts),
    )


def _with_disclosures(channel: Channel, body: str, texts: list[str]) -> str:
    if channel is Channel.SMS:
        # Every character costs: fold the template's line breaks into spaces.
        return f"{' '.join(body.split())}\n{' '.join(texts)}"
    if channel is Channel.PHONE:
        # A call must open with the disclosure, so it is spoken before the script.
        return "\n\n".join([*texts, body.strip()]) + "\n"
    return f"{body.strip()}\n\n" + "\n".join(texts) + "\n"


def _with_html_footer(body: str, texts: list[str]) -> str:
    footer = (
        '<p style="font-size: 12px; color: #555555;">'
        + "<br>\n".join(str(escape(text)) for text in texts)
        + "</p>\n"
    )
    ends = list(_BODY_END.finditer(body))
    if not ends:
        return f"{body.rstrip()}\n{footer}"
    at = ends[-1].start()
    return f"{body[:at]}{footer}{body[at:]}"


def _money(amount: Decimal, currency: str) -> str:
    return format_amount(amount, currency)


def _long_date(day: date, language: str) -> str:
    """``date(2024, 3, 1)`` → ``March 1, 2024`` (en), ``1 de marzo de 2024`` (es), else ISO."""
    months = _MONTHS.get(language)
    if months is None:
        return day.isoformat()
    month = months[day.month - 1]
    if language == "es":
        return f"{day.day} de {month} de {day.year}"
    return f"{month} {day.day}, {day.year}"
