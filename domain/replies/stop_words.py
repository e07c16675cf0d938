"""Requests to stop contact, in the spellings people really use: where the rules keep the last word.

The FCC lets a consumer revoke consent "by any reasonable means", and a written refusal or
request to cease under the FDCPA (15 U.S.C. 1692c(c)) ends contact too. A reply read as
anything else would be a message sent after consent was withdrawn, so the combined reader
(``domain.replies.combined``) never lets its model lower what this module finds; the model
may still raise a reply to ``stop``.

Found here:

- a short reply that is a STOP-family word however written: ``S T O P``, ``s.t.o.p``,
  ``STOPPP!!!``, ``sotp``, ``stp``, ``Baja``, ``alto``, ``paren``; or only stop-sign emoji;
- a STOP-family keyword standing on its own anywhere, as people shout it: ``STOP``,
  ``S T O P``, ``BAJA``, ``UNSUBSCRIBE``, ``sotp``, a stop sign (``not mine STOP``);
- a request to stop messages or calls, in English or Spanish ("stop texting me", "do not
  text or call me again", "opt me out", "I revoke any consent", "dejen de mandarme
  mensajes", "ya no me manden", "no quiero recibir más", "baja por favor");
- a written request to cease communication ("cease all communication", "cesen toda
  comunicación", "1692c(c)").

Not a stop: asking to be reached another way ("stop calling my work, call my cell after 6"):
that is a callback, by the labelled sets' convention.

Pure: text in, a yes or no out. Changing it changes readings, and so is a reader change,
never a workflow change: the reader runs in an activity (``activities.replies``).
"""

from __future__ import annotations

import re

from domain.replies.cue_index import could_match, literal_needs
from domain.replies.text import normalize

# The STOP family (CTIA's keywords, their Spanish counterparts) and the misspellings seen
# when someone types it in anger on a phone.
_STOP_WORDS = frozenset(
    {
        "stop",
        "stahp",
        "stp",
        "sotp",
        "stpo",
        "sop",
        "stopall",
        "stopit",
        "quit",
        "end",
        "cancel",
        "unsubscribe",
        "unsub",
        "optout",
        "revoke",
        "baja",
        "bajas",
        "alto",
        "parar",
        "paren",
        "basta",
        "cancelar",
        "estop",  # STOP as Spanish speakers spell it
        "parenle",
        "remove",
        "removeme",
    }
)
# "por favor" and "please" ride along a one-word request without changing it.
_COURTESY = re.compile(
    r"\b(?:por\s*favor|porfa(?:vor)?|porfis|x\s*fa|xfa|plz|pls|please|ya|now|ahora)\b"
)
_REPEATS = re.compile(r"(.)\1{2,}")
_STOP_EMOJI = frozenset("\U0001f6d1\U0001f6ab\u270b\u26d4")
_ME = r"(?:me|us|her|him|them|my phone|this (?:number|#|phone|email))"
_MEDIUM = (
    r"(?:text(?:ing|s)?|txt(?:ing)?|call(?:ing|s)?|email(?:ing|s)?|e-?mail(?:ing|s)?|"
    r"messag(?:e|es|ing)|msg(?:s|ing)?|contact(?:ing)?|writ(?:e|ing)|letters?|sms|"
    r"reminders?|sending)"
)
# Asking that all communication cease: a stop request on any channel, and a cease letter.
_CEASING = [
    r"\bcease\b.{0,40}\bcommunicat",
    r"\bcommunicat\w*\b.{0,30}\bcease\b",
    r"\bcease and desist\b",
    r"\bces(?:en|ar)\b.{0,30}\bcomunicaci",
]
_REQUESTS = re.compile(
    "|".join(
        [
            *_CEASING,
            rf"\b(?:stop|quit|cease|stp|sotp)\s+(?:all\s+)?{_MEDIUM}",
            rf"\b(?:stop|quit)\s+(?:blow(?:ing|in'?)? up|bother(?:ing|in'?)?|harass(?:ing|in'?)?)"
            rf"\s+{_ME}",
            rf"\b(?:do not|don'?t|dont|never)\s+(?:ever\s+)?(?:{_MEDIUM}|send)"
            rf"(?:\s+(?:or|and|,)\s+{_MEDIUM})*\s+(?:{_ME}|any|again|anymore|further)",
            r"\b(?:do not|don'?t|dont)\s+send\s+(?:any\s+)?(?:more|further)\b",
            rf"\b(?:cancel|no more)\s+(?:these\s+|the\s+|your\s+)?{_MEDIUM}",
            r"\b(?:i|we) asked you to stop\b",
            r"\basked (?:that )?(?:we|us|you) (?:to )?not (?:call|text|email|contact)",
            r"\bleave me alone\b",
            r"\b(?:take|remove) (?:me|my (?:number|email)|this (?:number|email(?: address)?))"
            r"\b.{0,30}\b(?:list|texts?|calls?|contact)",
            r"^(?:take|remove) (?:me|my (?:number|email)|this (?:number|email))\b",
            r"\b(?:take|remove) (?:me|my (?:number|email)|this (?:number|email(?: address)?))\b"
            r".{0,30}\b(?:system|records|database)",
            r"^stop\b[.!]",
            r"\bstop\s*(?:x\s*fa|xfa|pls|plz|please|por\s*favor|porfa|porfis)\b",
            r"\b(?:please|pls|plz|por\s*favor|porfa)\s+stop\b(?!\s+\w+ing\s+(?:my|me\s+at))"
            # ...not "please stop the late fees", "please stop reporting this": not contact.
            r"(?!\s+(?:the\s+|these\s+|all\s+(?:the\s+)?)?(?:late\s+)?(?:fees?|interest|charg\w*|"
            r"report\w*|garnish\w*|penalt\w*|collection\s+fees?)\b)",
            r"\bopt\s*-?\s*(?:me\s+)?out\b",
            r"\bunsubscribe\b",
            r"\brevok\w*\b.{0,30}\bconsent",
            r"\bwithdraw\w*\b.{0,30}\bconsent",
            r"\bno longer (?:consent|authori[sz]e|wish to (?:be contacted|receive))",
            r"\b(?:stop\W+){2,}",
            r"1692\s*c\s*\(\s*c\s*\)",
            # Spanish
            r"\bdej(?:a|ad|e|en) de?\s+(?:mandar|enviar|escribir|llamar|molestar|textear|contactar|"
            r"comunicar|"
            r"marcar)",
            r"\bno\s+(?:contactarme|llamarme|escribirme|molestarme|mandarme|enviarme)\b",
            # "dejen de joder con los mensajes", "ya parenle": slang for "stop it", about contact.
            r"\bdej(?:a|ad|e|en) de\s+(?:joder|fregar|chingar)\b",
            r"\bparenle\b.{0,40}\b(?:mensajes|msjs|llamadas|correos)|"
            r"\b(?:mensajes|msjs|llamadas|correos)\b.{0,60}\bparenle\b",
            r"\bcancel(?:ar|en)?\s+(?:los\s+|las\s+)?(?:mensajes|msjs|correos|llamadas)",
            r"\bbaj(?:ame|enme)\b",
            r"\brevoc\w*\b.{0,40}\b(?:consentimiento|autorizacion)",
            r"\bya no (?:me\s+)?(?:esten\s+|sigan\s+)?(?:manden|mande|envien|escriban|llamen|"
            r"mandando|enviando|escribiendo|llamando)",
            r"\bno (?:me|nos|la|lo)\s+(?:vuelvan a\s+)?(?:manden|envien|escriban|llamen|"
            r"contacten|escribir|llamar|contactar|mandar|enviar)\b",
            r"\bno (?:mas|quiero mas) (?:mensajes|sms|correos|llamadas)\b",
            r"\bpare de (?:enviar|mandar|escribir|llamar)",
            r"\b(?:quitenme|sacenme|borren(?:me)?)\b.{0,20}\b(?:lista|numero|correo)",
            r"\bdejenme en paz\b",
            r"\bno quiero (?:recibir|que me)\b.{0,40}\b(?:mensajes|sms|correos|llamadas|nada|"
            r"manden|escriban|llamen|contacten)",
            r"\bparen\b.{0,20}\b(?:mensajes|llamadas|correos)",
            r"\bno quiero (?:mas )?(?:mensajes|msjs|sms|correos|llamadas)\b",
            r"\b(?:dar(?:me)?|den(?:me)?) de baja\b",
            r"\bbaja\b.{0,20}\b(?:por favor|porfavor|de (?:la|su) lista|del sistema|ya no)",
            r"\brevoco\b.{0,40}\bconsentimiento\b",
        ]
    )
)
# A STOP-family keyword standing as a word of its own anywhere in the reply, written the way
# people shout it: in capitals (``STOP``, ``STOPPP``, ``S T O P``, ``BAJA``), spelt out with
# dots or spaces, a typo no other word has (``sotp``), or a stop sign. Matched on the text as
# written: a lowercase "stop" inside a sentence ("can't stop worrying") is not a keyword.
_KEYWORD_ANYWHERE = re.compile(
    r"(?<![A-Za-z])(?:S[\s.]*T[\s.]*O[\s.]*P+|STOPALL|UNSUBSCRIBE|OPT[\s-]?OUT|BAJA)(?![A-Za-z])"
    r"|(?i:(?<![a-z])s[ .]t[ .]o[ .]p(?![a-z])|\b(?:sotp|stpo|stahp)\b)"
    r"|[\U0001f6d1\u26d4]"
)
# Asking to be reached another way: a callback (or a change of number), not an opt-out.
_ELSEWHERE = [
    re.compile(p)
    for p in (
        r"\b(?:call|text|email|llam[ae]n?|marquen|escrib[ae]n?)\s+(?:me\s+)?(?:on|at|to|al|a)?\s*"
        r"(?:my|mi)\s+(?:cell|mobile|home|work|other|celular|casa|trabajo|otro)\b",
        r"\b(?:call|text|email|write|phone)\b[^.\n]{0,40}\binstead\b",
        r"\bjust\s+call\s+me\b",
        r"\bmejor\s+(?:llam|marq|habl)\w*",
        r"\ben (?:su|mi) lugar\b",
    )
]


# "Do not call my cell" is no other way to reach them.
_NEGATED_BEFORE = re.compile(r"\b(?:not|don'?t|dont|never|no)\s+$")


# A written request to cease all communication (or a refusal to pay) under 15 U.S.C.
# 1692c(c): contact ends on every channel, as a cease does, not only on the one it came by.
_CEASE = re.compile(
    "|".join(
        [
            *_CEASING,
            r"1692\s*c\s*\(\s*c\s*\)|\b805\s*\(\s*c\s*\)",
            r"\brefuse\s+to\s+pay\b",
            r"\b(?:all|any)\s+(?:further\s+)?(?:communications?|contact)\b.{0,30}\b(?:stop|cease|end)",
            r"\btoda\s+comunicacion\b",
            r"\bpor\s+ningun\s+medio\b",
            r"\bme\s+(?:niego|rehuso)\s+a\s+pagar\b",
        ]
    )
)


# Strings one of which each pattern's every match holds: most replies hold none of them,
# and are then not scanned (``domain.replies.cue_index``).
_CEASE_NEEDS = literal_needs(_CEASE)
_REQUESTS_NEEDS = literal_needs(_REQUESTS)


def is_cease_request(text: str, norm: str | None = None) -> bool:
    """Is the reply a written request to cease all communication (``_CEASE``)? ``norm``:
    ``normalize(text)`` when the caller has it already."""
    norm = normalize(text) if norm is None else norm
    return could_match(_CEASE_NEEDS, norm) and _CEASE.search(norm) is not None


def _compact(norm: str) -> str:
    """A short reply as one word: courtesy dropped, letters only, runs of a letter made one."""
    bare = _COURTESY.sub(" ", norm)
    letters = re.sub(r"[^a-z]", "", bare)
    return _REPEATS.sub(r"\1", letters)


def is_stop_request(text: str, norm: str | None = None) -> bool:
    """Does the reply ask to stop contact (see the module's list)? ``text``: the sender's own
    words (``domain.replies.text.main_text``); ``norm``: ``normalize(text)`` when the caller
    has it already."""
    norm = normalize(text) if norm is None else norm
    stripped = "".join(text.split())
    if stripped and all(ch in _STOP_EMOJI or ch in "!.\ufe0f" for ch in stripped):
        return True
    if len(norm) <= 30:
        word = _compact(norm)
        for stop_word in ("stop", "baja", "quit"):  # "STOP STOP STOP"
            if word and word == stop_word * (len(word) // len(stop_word)):
                return True
        if word in _STOP_WORDS or _REPEATS.sub(r"\1", word.replace("pp", "p")) in _STOP_WORDS:
            return True
    requested = could_match(_REQUESTS_NEEDS, norm) and _REQUESTS.search(norm)
    if not (requested or _KEYWORD_ANYWHERE.search(text)):
        return False
    return not any(
        not _NEGATED_BEFORE.search(norm[max(0, m.start() - 12) : m.start()])
        for pattern in _ELSEWHERE
        for m in pattern.finditer(norm)
    )
