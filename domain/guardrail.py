"""The check every composed message passes before it may be sent.

A language model writes fluent text but cannot be trusted with the law; this guard
can. ``message_problems`` lists what is wrong with a finished message (disclosures
already attached); empty means it may be sent. The composer sends the template
instead of a model's text that has any problem, and the templates themselves must
pass it too (``tests/integration/test_composer.py`` renders every shipped one).

Rules, in English and Spanish whatever the message's language (a model may mix them):

- the disclosures and, for a time-barred debt, no legal action
  (:func:`domain.compliance.content.content_problems`);
- every amount of money written is the balance, or, when the message is about an
  arrangement, its total or one of its instalments; at least one of them is stated,
  in the debt's currency (a wrong amount is a false representation, 15 USC 1692e(2));
- the creditor is named (12 CFR 1006.18(b) forbids misrepresenting who is owed);
- no threat: arrest, jail, police, criminal charges, seizing property or wages, ruining
  credit, telling an employer or family (15 USC 1692d, 1692e(4), 1692e(5), 1692c(b));
- no false urgency ("final warning", "last chance", "act now", "today only", …):
  a deadline that does not exist is a false representation (1692e(10)). "Final
  notice"/"aviso final" is not on the list: the campaign's last scheduled message is
  truly its final notice, and the shipped final_notice templates say so;
- an SMS fits ``max_sms_segments`` parts (counted as :func:`domain.sms.sms_segments`).

The checks are deliberately blunt: a false positive costs a template instead of a
model's text, a false negative could cost a violation.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from domain.channels import Channel
from domain.compliance.content import content_problems
from domain.contact import MessageContext
from domain.sms import sms_segments

DEFAULT_MAX_SMS_SEGMENTS = 3


def _number(name: str) -> str:
    """A number with optional thousands groups and decimals, captured as ``name``."""
    grouped = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?"
    plain = r"\d+(?:[.,]\d{1,2})?"
    return rf"(?<![\d.,])(?P<{name}>{grouped}|{plain})(?!\d)"


_CODES = r"USD|EUR|GBP|MXN|CAD|AUD"
_WORDS = r"d[oó]lar(?:es)?|dollars?|euros?|pesos?|pounds?|libras?"


@functools.cache
def _money(currency: str) -> re.Pattern[str]:
    """Amounts of money: "$250", "US$ 250.00", "USD 250", "€250", "250.00 USD",
    "250 dólares", "250 €" (codes: the common ones and the debt's own)."""
    codes = f"{_CODES}|{re.escape(currency)}"
    return re.compile(
        rf"(?P<before>US\$|\$|€|£|\b(?:{codes})\b)\s?{_number('n1')}"
        rf"|{_number('n2')}\s?(?P<after>(?:{codes})\b|€|£|(?:{_WORDS})\b)",
        re.IGNORECASE,
    )


_DOLLAR_CURRENCIES = frozenset({"USD", "CAD", "AUD", "MXN"})
_UNIT_CURRENCIES: dict[str, frozenset[str]] = {
    "$": _DOLLAR_CURRENCIES,
    "us$": frozenset({"USD"}),
    "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}),
    "dollar": _DOLLAR_CURRENCIES - {"MXN"},
    "dollars": _DOLLAR_CURRENCIES - {"MXN"},
    "dolar": _DOLLAR_CURRENCIES - {"MXN"},
    "dólar": _DOLLAR_CURRENCIES - {"MXN"},
    "dolares": _DOLLAR_CURRENCIES - {"MXN"},
    "dólares": _DOLLAR_CURRENCIES - {"MXN"},
    "euro": frozenset({"EUR"}),
    "euros": frozenset({"EUR"}),
    "peso": frozenset({"MXN"}),
    "pesos": frozenset({"MXN"}),
    "pound": frozenset({"GBP"}),
    "pounds": frozenset({"GBP"}),
    "libra": frozenset({"GBP"}),
    "libras": frozenset({"GBP"}),
}

_THREATS = re.compile(
    r"\b("
    # English
    r"arrest\w*|jail\w*|prison|imprison\w*|police|criminal\w*|prosecut\w*|warrant|"
    r"seize\w*|seizure|repossess\w*|garnish\w*|"
    r"(?:ruin|destroy|wreck)\w* your credit|"
    r"(?:tell|contact|call|notify|inform|visit)\w* your "
    r"(?:employer|boss|family|relatives|neighbou?rs|friends|co-?workers)|"
    r"lose your (?:job|home|house|car)|"
    # Spanish
    r"c[aá]rcel|prisi[oó]n|encarcel\w*|polic[ií]a|penal(?:es|mente)?|denuncia\w*|"
    r"embarg\w*|incaut\w*|"
    r"arruin\w* su (?:historial (?:de )?)?cr[eé]dito|"
    r"(?:avis|inform|contact|llam|dec|visit)\w* a su "
    r"(?:empleador|jefe|familia|familiares|vecinos|amigos|compa[nñ]eros)|"
    r"perder[aá]? su (?:trabajo|empleo|casa|vivienda|coche|auto)"
    r")\b",
    re.IGNORECASE,
)

_FALSE_URGENCY = re.compile(
    r"\b("
    # English
    r"final warning|last warning|last chance|final chance|act now|act immediately|"
    r"immediately or|right away or|now or never|today only|only today|expires today|"
    r"within 24 hours|within 48 hours|before it'?s too late|urgent\w*|"
    # Spanish
    r"[uú]ltima advertencia|advertencia final|[uú]ltima oportunidad|oportunidad final|"
    r"act[uú]e (?:ya|ahora|de inmediato)|inmediatamente o|de inmediato o|ahora o nunca|"
    r"s[oó]lo hoy|solamente hoy|vence hoy|en (?:las pr[oó]ximas )?(?:24|48) horas|"
    r"antes de que sea demasiado tarde|urgente\w*"
    r")\b",
    re.IGNORECASE,
)


def message_problems(
    channel: Channel,
    language: str,
    text: str,
    *,
    context: MessageContext,
    time_barred: bool,
    max_sms_segments: int | None = DEFAULT_MAX_SMS_SEGMENTS,
) -> list[str]:
    """What is wrong with ``text`` (subject included, disclosures attached); empty: send it.

    For SMS, ``text`` is exactly what is sent: the length is counted on it, unless
    ``max_sms_segments`` is None (reviewed templates: see ``activities.composer``).
    """
    found = content_problems(channel, language, text, time_barred=time_barred)
    found += amount_problems(text, context)
    flat = " ".join(text.split()).casefold()
    if " ".join(context.creditor.split()).casefold() not in flat:
        found.append(f"does not name the creditor {context.creditor!r}")
    for rule, pattern in (("threatens", _THREATS), ("false urgency", _FALSE_URGENCY)):
        words = _distinct(m.group(0) for m in pattern.finditer(text))
        if words:
            found.append(f"{rule}: mentions {', '.join(repr(w) for w in words)}")
    if channel is Channel.SMS and max_sms_segments is not None:
        segments = sms_segments(text)
        if segments > max_sms_segments:
            found.append(f"too long for SMS: {segments} segments (at most {max_sms_segments})")
    return found


def allowed_amounts(context: MessageContext) -> set[Decimal]:
    """The amounts a message about ``context`` may state."""
    amounts = {context.balance}
    if context.arrangement is not None:
        amounts.add(context.arrangement.total)
        amounts.update(i.amount for i in context.arrangement.instalments)
    return {_cents(a) for a in amounts}


def amount_problems(text: str, context: MessageContext) -> list[str]:
    """Amounts of money in ``text`` that are not the debt's, or no amount at all."""
    allowed = allowed_amounts(context)
    found: list[str] = []
    stated = False
    for match in _money(context.currency.upper()).finditer(text):
        number = match.group("n1") or match.group("n2")
        unit = (match.group("before") or match.group("after") or "").casefold()
        amount = parse_amount(number)
        shown = " ".join(match.group(0).split())
        if amount is None or _cents(amount) not in allowed:
            found.append(f"states an amount that is not the debt's: {shown!r}")
            continue
        currencies = _currencies(unit)
        if context.currency.upper() not in currencies:
            found.append(f"states an amount in another currency than {context.currency}: {shown!r}")
            continue
        stated = True
    if not stated and not found:
        found.append(f"does not state the amount ({_cents(context.balance)} {context.currency})")
    return _distinct(found)


def parse_amount(number: str) -> Decimal | None:
    """``"1,234.50"`` and ``"1.234,50"`` → ``1234.50``; a separator before three final
    digits groups thousands (``"1,234"``/``"1.234"`` → 1234), before one or two it is
    the decimal point."""
    last = max(number.rfind(","), number.rfind("."))
    if last >= 0 and len(number) - last - 1 in (1, 2):
        whole, fraction = number[:last], number[last + 1 :]
    else:
        whole, fraction = number, ""
    digits = re.sub(r"[.,]", "", whole)
    try:
        return Decimal(f"{digits}.{fraction}" if fraction else digits)
    except InvalidOperation:
        return None


def _currencies(unit: str) -> frozenset[str]:
    if unit in _UNIT_CURRENCIES:
        return _UNIT_CURRENCIES[unit]
    return frozenset({unit.upper()})


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"))


def _distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
