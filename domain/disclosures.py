"""Texts the law requires in collection messages, and a check that they are present.

Regulation F §1006.18(e) requires every communication to disclose that it comes
from a debt collector; §1006.6(e) requires electronic messages (email, SMS) to
say how to opt out. Templates cannot forget them: the renderer appends them, and
``missing_disclosures`` verifies every rendered message before it is sent.
"""

from __future__ import annotations

from domain.channels import Channel

DEBT_COLLECTOR = {
    "en": (
        "This is a communication from a debt collector. This is an attempt to collect a "
        "debt and any information obtained will be used for that purpose."
    ),
    "es": (
        "Esta es una comunicación de un cobrador de deudas. Esto es un intento de cobrar "
        "una deuda y cualquier información obtenida se utilizará para ese propósito."
    ),
}

# Short form for SMS, where every character costs a segment.
DEBT_COLLECTOR_SHORT = {
    "en": "This is a debt collector.",
    "es": "Este es un cobrador de deudas.",
}

OPT_OUT = {
    Channel.SMS: {"en": "Reply STOP to opt out.", "es": "Responda STOP para darse de baja."},
    Channel.EMAIL: {
        "en": "To stop receiving emails from us, reply with the word STOP.",
        "es": "Para dejar de recibir correos, responda con la palabra STOP.",
    },
}

SUPPORTED_LANGUAGES = frozenset(DEBT_COLLECTOR)


def language_or_default(language: str) -> str:
    return language if language in SUPPORTED_LANGUAGES else "en"


def required_texts(channel: Channel, language: str) -> list[str]:
    """The exact sentences a message on ``channel`` must contain."""
    lang = language_or_default(language)
    texts = [DEBT_COLLECTOR_SHORT[lang] if channel is Channel.SMS else DEBT_COLLECTOR[lang]]
    if channel in OPT_OUT:
        texts.append(OPT_OUT[channel][lang])
    return texts


def missing_disclosures(channel: Channel, language: str, text: str) -> list[str]:
    """Required sentences absent from ``text`` (whitespace-insensitive); empty when compliant."""
    flat = " ".join(text.split())
    return [t for t in required_texts(channel, language) if t not in flat]
