"""Promised dates and amounts in a debtor's reply, English and Spanish: the second edition.

Pure and deterministic (stdlib and :mod:`domain.replies.text` only): it may run in workflows.
:mod:`domain.replies.dates` is the first edition and stays as it was, for replay; this module
follows the conventions of the labelled sets (``replies-dev.jsonl``, ``replies-train.jsonl``,
``replies-fresh.jsonl`` and the people's set, whose README spells them out).

``text`` is the reply's own words (callers strip quoted threads with
:func:`domain.replies.text.main_text`); accents, case and typographic quotes do not matter.
``today`` is the sender's local date at ``received_at``. Every date resolves against it:

- ``today``, ``tonight``/``tonite``/``2nite``, ``this evening``, ``eod``, ``hoy``,
  ``esta noche``: today. ``tomorrow`` (and its spellings), ``mañana``: +1; ``the day after
  tomorrow``, ``pasado mañana``: +2. ``por/en/de la mañana`` and ``esta mañana`` are mornings.
- A weekday alone or with ``this``/``on``/``by``/``coming``/``el``/``este``: the first such day
  strictly after ``today`` (never ``today`` itself). ``next <weekday>``, ``el próximo
  viernes``, ``el viernes que viene``/``próximo``, ``el siguiente viernes``: that weekday in the
  following Monday-to-Sunday week (7 to 13 days after this week's Monday), except that after
  the same plain weekday in the reply it is the week after that one (``half friday, half
  next friday`` said on a weekend); ``the friday after``: a week after ``friday``.
  ``last friday``, ``el viernes pasado``, ``every (other) friday``, ``cada viernes``, ``de lunes
  a viernes``, ``mon-fri``: no date (past, a schedule, working days).
- ``next week``, ``la semana que viene``, ``la próxima``/``otra semana``: the following Monday.
  ``this weekend``: the Saturday on or after ``today`` (``today`` on a Sunday); ``next
  weekend``: the Saturday of the following week; ``end of the week``: the Friday on or after.
- ``in N days`` and its kin (``within``, ``give me``, ``dame``, ``en``, ``dentro de``,
  ``N days from now/today``, ``de hoy``): +N, with N in digits or words (en and es, one to
  ninety-nine), ``a couple (of)``/``un par de`` = 2. ``a few``/``unos días``: no date.
  Weeks are 7 days (``in two weeks``, ``2 wks from today``, ``a fortnight`` = 14); Spanish
  ``en ocho días`` and ``de hoy en ocho`` are a week (+7), ``en quince días`` and ``de hoy en
  quince`` two (+14). Months: the same day N months on, clamped to the month's end.
  ``N business days``/``días hábiles``: N weekdays on.
- ``end of the month``, ``eom``, ``(a) fin de mes``, ``finales de mes``, ``antes de que se
  acabe el mes``: this month's last day (``today`` when it is the last day);
  ``end of next month``: next month's. ``next month``, ``el mes que viene``: the 1st of next
  month. ``mid-month``, ``mediados de mes``: the next 15th.
- A day of the month (``the 15th``, ``on the 1st``, ``the first``, ``the fifteenth``, ``15th``,
  ``el 15``, ``el día 20``, ``el 1ro``, ``el primero``): the next such day strictly after
  ``today``, in the first month that has it; but on the month's last day, the day that is
  today (``the 31st`` on May 31) is today, as ``end of the month`` is. ``the 20th of this
  month`` / ``of next month`` fix the month.
- A calendar date: month names en/es with a day (``March 3rd``, ``3 de marzo``, ``marzo 3``,
  ``the 1st of March``, ``primero de marzo``), numeric US month/day with ``/``, ``-`` or ``.``
  (``3/15``, ``3-15``, ``03/15/2027``, ``3.15.27``), ISO ``2027-03-15``: the year given, else
  this year, rolled to next year when already past (``today`` is not past); Feb 29 without a
  year is the next Feb 29. A first number above 12 reads day/month (``15/3``). A bare
  ``3.15`` is a date only after ``on``/``by``/``el``/``due``...: elsewhere it is money.
  ``$3.15``, ``3.15 dollars``, ``3:15``, phone and reference numbers are never dates.
- ``payday``, ``when I get paid``, ``cuando cobre``, ``quincena``: no date (the day is unknown).
- ``now``/``ahora`` is no date (a payment now is not a promise).

Which dates count: overlapping phrases resolve to the longest (``two weeks from today`` is
not ``today``; ``el 3 de marzo`` is not ``el 3``); a weekday beside a calendar date names the
same day (``Tuesday, June 8``) and gives way to it; a date that does not exist
(``30 de febrero``, ``2/30``) is none, and hides the day in it (not ``el 30``); a date in a
clause that refuses it (``can't pay today``, ``not friday``, ``hoy no puedo``) or puts it in
the past (``I paid $40 on the 2nd``, ``died on 2/3``,
``letter dated 2/11``) is dropped, but ``not until friday`` keeps it.
:func:`find_dates` lists what is left in reading order, without repeats;
:func:`find_date` is the first of them.

Amounts: ``$120``, ``$ 1,200.50``, ``USD 120``, ``120 dollars``/``bucks``/``dlls``/``dólares``/
``usd``/``pesos``, the unambiguous Spanish style ``1.200,50``; a bare figure after a payment
verb (``pay 65``, ``do the full 340``, ``le mando los 120``), after ``son``/``that's``/
``total``/``los``, before ``total``, or right before when it is paid (``100 el 5``,
``20 now and 20 next friday``); a figure with cents (``90.50``); number words before
a currency word or after a payment verb (``fifty dollars``, ``do the hundred``, ``cien
dólares``, ``two hundred fifty bucks``). Never a date, a time, a percentage, a count of days,
a phone, account or reference number. :func:`find_amounts` lists every amount in reading
order (repeats kept: ``$50 now and $50 friday`` is two payments); :func:`find_amount` is the
first.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from domain.replies.calendar_days import add_months, last_day, next_month_first, next_weekday
from domain.replies.text import normalize

# --- vocabulary -----------------------------------------------------------------------------

_WEEKDAYS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "monday mon mond monady mondy lunes lun",
        "tuesday tue tues tu tuseday tuesay teusday tuesdy martes mar",
        "wednesday wed weds wednes wensday wendsday wednsday wedensday wenesday wednesay "
        "miercoles mier mie",
        "thursday thu thur thurs thrus thrusday thursay thurday thursdy jueves jue",
        "friday fri frid firday fryday friady fridy viernes vie biernes",
        "saturday sat satuday saterday satruday sabado sab",
        "sunday sun sundy domingo dom",
    ]
):
    for _n in _names.split():
        _WEEKDAYS[_n] = _i

# Abbreviations that are also common words ("sat down", "mar" = sea/March, "sun", "dom") only
# count with a qualifier ("next mar", "el sab").
_AMBIGUOUS_WEEKDAYS = {"mar", "mie", "jue", "vie", "sab", "dom", "lun", "sun", "sat", "tu", "mon"}

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "january jan enero ene",
        "february feb febrero febuary feburary",
        "march mar marzo",
        "april apr abril abr",
        "may mayo",
        "june jun junio",
        "july jul julio",
        "august aug agosto ago",
        "september sep sept septiembre setiembre septmber",
        "october oct octubre",
        "november nov noviembre",
        "december dec diciembre dic",
    ],
    start=1,
):
    for _n in _names.split():
        _MONTHS[_n] = _i


def _split(words: str) -> list[str]:
    return words.split()


# Number words, en and es, as parts that add up ("twenty one", "treinta y cinco",
# "two hundred fifty", "doscientos cincuenta").
_UNITS: dict[str, int] = {}
for _i, _w in enumerate(
    _split(
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen"
    ),
    start=1,
):
    _UNITS[_w] = _i
for _i, _w in enumerate(_split("twenty thirty forty fifty sixty seventy eighty ninety"), 2):
    _UNITS[_w] = 10 * _i
for _i, _w in enumerate(
    _split(
        "uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
        "dieciseis diecisiete dieciocho diecinueve veinte veintiuno veintidos veintitres "
        "veinticuatro veinticinco veintiseis veintisiete veintiocho veintinueve"
    ),
    start=1,
):
    _UNITS[_w] = _i
for _i, _w in enumerate(_split("treinta cuarenta cincuenta sesenta setenta ochenta noventa"), 3):
    _UNITS[_w] = 10 * _i
_UNITS.update({"un": 1, "una": 1, "veintiun": 21, "veintiuna": 21, "cien": 100, "ciento": 100})
for _i, _w in enumerate(
    _split(
        "doscientos trescientos cuatrocientos quinientos seiscientos setecientos ochocientos "
        "novecientos"
    ),
    start=2,
):
    _UNITS[_w] = 100 * _i
    _UNITS[_w[:-2] + "as"] = 100 * _i  # doscientas
_SCALES = {"hundred": 100, "thousand": 1000, "mil": 1000, "grand": 1000}

_WORD = "|".join(sorted([*_UNITS, *_SCALES], key=len, reverse=True))
# One or more number words, joined by spaces, hyphens, "and" or "y".
# At most eight words ("two hundred and fifty five"): a bound keeps a long run of words cheap.
_WORDS = rf"(?:{_WORD})(?:(?:[\s-]+(?:and\s+|y\s+)?)(?:{_WORD})){{0,7}}"

_ORDINAL_WORDS: dict[str, int] = {}
for _i, _w in enumerate(
    _split(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
        "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth "
        "twentieth"
    ),
    start=1,
):
    _ORDINAL_WORDS[_w] = _i
for _i, _w in enumerate(_split("first second third fourth fifth sixth seventh eighth ninth"), 1):
    _ORDINAL_WORDS[f"twenty {_w}"] = 20 + _i
    _ORDINAL_WORDS[f"twenty-{_w}"] = 20 + _i
_ORDINAL_WORDS.update({"thirtieth": 30, "thirty first": 31, "thirty-first": 31, "primero": 1})
_ORDW = "|".join(sorted(map(re.escape, _ORDINAL_WORDS), key=len, reverse=True))


def words_value(words: str) -> int | None:
    """``"two hundred fifty"`` → 250, ``"treinta y cinco"`` → 35; None when not a number."""
    total = current = 0
    seen = False
    for token in re.split(r"[\s-]+", words):
        if token in ("and", "y"):
            continue
        if token in _UNITS:
            value = _UNITS[token]
            current += value
        elif token in ("hundred",):
            current = (current or 1) * 100
        elif token in _SCALES:
            total += (current or 1) * _SCALES[token]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _count(word: str) -> int | None:
    """A count of days or weeks: digits, number words, ``a``/``an``, ``a couple (of)``."""
    word = re.sub(r"\s+", " ", word.strip())
    if word.isdigit():
        return int(word)
    if word in ("a", "an", "one"):
        return 1
    if re.fullmatch(r"(?:a )?couple(?: of)?|un par de|par de", word):
        return 2
    return words_value(word)


# --- patterns -------------------------------------------------------------------------------

_WD = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_MO = "|".join(sorted(_MONTHS, key=len, reverse=True))
# Ordinal endings en/es: 1st 2nd 3rd 4th, 1ro 1ero 2do 3ro 4to 7mo 1o, 1º (folds to o), 1°.
_ORD = r"(?:st|nd|rd|th|ro|ero|do|to|vo|mo|no|o|°)?"
_YEAR = r"(?:,?\s+(?:de\s+|del\s+|of\s+)?(?P<year>\d{4}|'\d{2}))?"
_DAYNUM = rf"(?P<day>\d{{1,2}}){_ORD}|(?P<dayw>{_ORDW})"

# Kinds of hit. The kind decides nothing about order (reading order does); it says which
# hits a weekday beside them may be absorbed by, and which may be negated.
_CAL, _DOM, _REL, _WDAY, _TODAY = "calendar", "day-of-month", "relative", "weekday", "today"
# A phrase that looks like a date and names none ("30 de febrero", "de lunes a viernes"): it
# still claims its words, so that no shorter phrase inside it ("el 30", "lunes") is read.
_VOID = "void"

_P_MONTH_DAY = re.compile(
    rf"\b(?:(?:el\s+)?(?:proximo|next)\s+)?(?P<mon>{_MO})\.?\s+(?:the\s+)?(?:{_DAYNUM})\b{_YEAR}"
)
_P_DAY_MONTH = re.compile(
    rf"\b(?:(?:el\s+)?(?:proximo|dia)\s+)?(?:the\s+|el\s+)?(?:{_DAYNUM})\s+"
    rf"(?:of\s+|de\s+)?(?P<mon>{_MO})\b{_YEAR}"
)
# Numeric dates. Not after a digit, "$", a letter or "#" (amounts, "INV-3668", "pr-55812"),
# not before another digit or separator (phone numbers, longer figures), a time or a unit.
_NOT_AFTER = r"(?<![\w$#/.,:-])"
_NOT_BEFORE = (
    r"(?![\d/.,:-]?\d|\s*(?:%|am\b|pm\b|hrs?\b|dollars?|bucks|usd|dlls?|dls|dolares|pesos|"
    r"days?|dias|weeks?|wks?|semanas|months?|meses|years?|a\s+(?:week|month|mes|semana)|"
    r"per\b|each\b|every\b|cada\b|al\s+mes|a\s+la\s+semana|payments?|pagos?|abonos?))"
)
_P_SLASH = re.compile(
    rf"{_NOT_AFTER}(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}})(?:/(?P<y>\d{{4}}|\d{{2}}))?{_NOT_BEFORE}"
)
_P_DASH_DOT = re.compile(
    rf"{_NOT_AFTER}(?P<m>\d{{1,2}})(?P<sep>[-.])(?P<d>\d{{1,2}})"
    rf"(?:(?P=sep)(?P<y>\d{{4}}|\d{{2}}))?{_NOT_BEFORE}"
)
_P_ISO = re.compile(rf"{_NOT_AFTER}(?P<y>20\d\d)-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}){_NOT_BEFORE}")
# A bare "3.15" is a price as often as a date: a date only right after one of these.
_DATE_CUE = re.compile(
    r"\b(?:on|by|until|til|till|before|due|el|para\s+el|hasta\s+el|antes\s+del?|for)\s+$"
)
# Fractions ("1/2 now", "1/3 of it") are shares of the balance, not January 2nd.
_FRACTIONS = {(1, 2), (1, 3), (1, 4), (2, 3), (3, 4)}
_SHARE_AFTER = re.compile(
    r"\s+(?:of|now|ahora|del?|and|y|today|hoy|upfront|up\s+front|down|this|el\s+resto|"
    r"the\s+rest)\b"
)

# What may follow "the first", "the second"...: the words that make them days, not ranks
# ("the first payment", "the second half").
_AFTER_ORDINAL_WORD = (
    r"(?=\s*(?:$|[.,;:!?)\n]|of\s+(?:the\s+|this\s+|next\s+)?month|(?:de|del)\s+(?:este\s+|"
    r"proximo\s+)?mes|when|cuando|so|and|y|i\b|i'?ll|ill|we\b|then|because|cuz|once|if|for\s+sure|"
    r"promise|at\b|after|le\b|les\b|te\b|sin\b|pago|pagare|deposito|mando|les?\s+pago|"
    r"you\b|u\b|is\b|it\b|that|ok|okay|[$\d]))"
)
# "the 4th text today", "my 2nd payment": ranks of things, not days.
_RANKED = (
    r"payments?|installments?|instalments?|time|half|one|check|attempt|try|text|txt|message|"
    r"msg|call|email|e-?mail|letter|notice|reminder|person|floor|grade|week|month|year|day|"
    r"avenue|ave|street|birthday|anniversary|of\s+(?:all|them|us|those|these)"
)
_THIS_MONTH = r"(?:\s+(?:of\s+(?:this|the)\s+month|de\s+este\s+mes|del\s+mes))"
_NEXT_MONTH = (
    r"(?:\s+(?:of\s+next\s+month|del\s+(?:proximo|siguiente)\s+mes|"
    r"del\s+mes\s+que\s+(?:viene|entra)))"
)
_P_DOM = re.compile(
    r"(?:\b(?:(?:on|by|until|til|till|before|after)\s+)?(?:the\s+)?(?P<day>\d{1,2})"
    r"(?:st|nd|rd|th)\b(?!\s+(?:" + _RANKED + r"))"
    r"|\bthe\s+(?P<day2>\d{1,2})\b(?!\s*(?:[.,/:-]?\d|%|dollars?|bucks|days?|weeks?|months?|"
    r"payments?|of\s+(?:them|us|you|those)))"
    r"|\bthe\s+(?P<dayw>" + _ORDW + r")\b" + _AFTER_ORDINAL_WORD + "|"
    r"\bel\s+(?:dia\s+)?(?P<day3>\d{1,2})(?:ro|ero|o|°)?\b(?!\s*(?:[.,/:-]?\d|%|dolares|dlls?|"
    r"dls|pesos|dias|semanas|meses|por\s+ciento|de\s+(?:cada|todos)))"
    r"|\bel\s+(?:dia\s+)?(?P<dayw2>primero)\b" + _AFTER_ORDINAL_WORD + "|"
    r"\b(?:dia|day)\s+(?P<day4>\d{1,2})\b(?!\s*(?:[.,/-]\d|%|of\s+(?:the|my|our)))"
    r")(?P<which>" + _NEXT_MONTH + "|" + _THIS_MONTH + ")?"
)
_P_TODAY = re.compile(
    r"\b(?:today|2day|tonight|tonite|2nite|2night|this\s+(?:evening|afternoon)|later\s+today|"
    r"(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?day|eod|hoy|esta\s+(?:noche|tarde)|"
    r"en\s+la\s+noche\s+de\s+hoy)\b"
)
_P_TOMORROW = re.compile(
    r"\b(?:(?P<after>the\s+day\s+after\s+|pasado\s+)?(?:tomorrow|tomorow|tommorow|tommorrow|"
    r"tomorro|tomoro|tmrw|tmrrw|tmrow|tmr|tmw|tmro|2morrow|2moro|2mrw|2mro|manana))\b"
)
_QUAL_PRE = r"(?:this|on|by|until|til|till|before|el|este|para\s+el|hasta\s+el|antes\s+del)"
_QUAL_MOD = (
    r"(?:(?P<coming>(?:this\s+)?coming)|(?P<next>next|nxt|proximo|siguiente|el\s+proximo|"
    r"el\s+siguiente)|(?P<last>last|past|el\s+pasado|pasado)|"
    r"(?P<every>every(?:\s+other)?|each|cada|todos\s+los|los))"
)
_P_WEEKDAY = re.compile(
    rf"\b(?P<qual>(?:{_QUAL_PRE}\s+)?{_QUAL_MOD}\s+|{_QUAL_PRE}\s+)?"
    rf"(?P<wd>{_WD})\b\.?"
    rf"(?P<after>\s+(?:que\s+viene|proximo|siguiente|pasado|after\s+next|after(?!\s+\w)))?"
)
# Working days, opening hours: "de lunes a viernes", "mon-fri", "from monday to thursday".
_P_WEEKDAY_RANGE = re.compile(
    rf"\b(?:(?:de|from)\s+)?(?:{_WD})\s*(?:-|\ba\b|\bto\b|\bthru\b|\bthrough\b)\s*"
    rf"(?:{_WD})\b"
)
_P_NEXT_WEEK = re.compile(
    r"\b(?:(?:early\s+)?(?:next|nxt)\s+(?:week|wk)|(?:la\s+)?(?:proxima|otra|siguiente)\s+semana|"
    r"(?:la\s+)?semana\s+(?:que\s+viene|proxima|entrante))\b"
)
_P_WEEKEND = re.compile(
    r"\b(?P<next>next\s+weekend|el\s+(?:otro|proximo)\s+fin\s+de\s+semana)|"
    r"\b(?:this\s+weekend|the\s+weekend|over\s+the\s+weekend|(?:este|el)\s+fin\s+de\s+semana)\b"
)
_P_END_WEEK = re.compile(
    r"\b(?:(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?week|fin(?:ales)?\s+de\s+(?:esta\s+)?semana)\b"
)
_UNIT = (
    r"(?P<unit>(?:business|working)\s+days?|dias?\s+habiles|days?|dys|dias?|weeks?|wks?|"
    r"semanas?|months?|mos|mths?|meses|mes)"
)
_N = rf"(?P<n>\d{{1,3}}|a\s+couple(?:\s+of)?|couple(?:\s+of)?|un\s+par\s+de|{_WORDS}|an?)"
_FROM_NOW = r"(?P<from>\s+(?:from\s+(?:now|today|tday)|de\s+hoy|a\s+partir\s+de\s+hoy|desde\s+hoy))"
_P_IN = re.compile(
    r"\b(?:in|within|en|dentro\s+de|give\s+me|gimme|dame|deme|denme|"
    r"after|despues\s+de|wait|esperen(?:me)?|espereme)\s+"
    r"(?:(?:about|like|around|roughly|maybe|just|another|other|otros?|otras?|unos|unas|como|"
    rf"aproximadamente|the\s+next)\s+)?{_N}\s*{_UNIT}\b{_FROM_NOW}?"
)
# "2 wks from today": the count with no "in" before it needs "from now/today" after it.
_P_FROM_NOW = re.compile(rf"\b{_N}\s*{_UNIT}\b{_FROM_NOW}")
_P_FORTNIGHT = re.compile(r"\b(?:in\s+)?(?:a|one)\s+fortnight\b|\bfortnight\s+from\s+(?:now|today)")
# Spanish counts a week as eight days and two as fifteen, counting today.
_P_ES_WEEKS = re.compile(
    r"\b(?:(?:en|dentro\s+de)\s+(?P<n>ocho|quince)\s+dias|(?:de\s+)?hoy\s+en\s+(?P<n2>ocho|quince)"
    r"(?:\s+dias)?)\b"
)
_P_WEEK_FROM_DAY = re.compile(rf"\b(?:a|one)\s+week\s+from\s+(?:this\s+|next\s+)?(?P<wd>{_WD})\b")
_P_EOM = re.compile(
    r"\b(?:(?:the\s+|by\s+the\s+|by\s+)?end\s+of\s+(?P<next>next\s+)?(?:the\s+|this\s+)?month|"
    r"eom|(?:a\s+|para\s+)?fin(?:es|ales)?\s+de(?:l)?\s+(?P<next2>proximo\s+|este\s+)?mes"
    r"(?P<next3>\s+que\s+viene)?|month[\s-]end|last\s+day\s+of\s+(?:the\s+|this\s+)?month|"
    r"(?:el\s+)?ultimo\s+(?:dia\s+)?del\s+mes|before\s+the\s+month\s+(?:is\s+(?:out|over)|ends)|"
    r"antes\s+de\s+que\s+(?:se\s+)?(?:acabe|termine)\s+el\s+mes)\b"
)
_P_NEXT_MONTH = re.compile(
    r"\b(?:(?:early\s+)?next\s+month|(?:el\s+)?(?:proximo|siguiente)\s+mes|"
    r"(?:el\s+)?mes\s+que\s+viene|(?:the\s+)?(?:beginning|start|first)\s+of\s+(?:next|the)\s+month|"
    r"principios\s+de(?:l)?\s+(?:proximo\s+)?mes)\b"
)
_P_MID_MONTH = re.compile(
    r"\b(?:mid[\s-]?month|middle\s+of\s+(?:the\s+)?month|mediados\s+de(?:l)?\s+mes)\b"
)

# A date refused in its own clause: "can't pay today", "no puedo el viernes".
_NEGATION = re.compile(
    r"\b(?:can'?t|cannot|can\s+not|won'?t|unable|not\s+able|couldn'?t|don'?t\s+have|"
    r"do\s+not\s+have|not|no\s+(?:puedo|podre|podemos|voy\s+a\s+poder|alcanzo|me\s+alcanza|"
    r"tengo|va\s+a\s+ser))\b"
)
# ... unless the clause says when it becomes possible: "not until friday", "no hasta el 15".
_RELEASE = re.compile(
    r"\b(?:until|till|til|before|after|hasta|antes|despues|sino|but|pero|instead|mejor|only|"
    r"solo|nomas|problem|worries|worry|doubt|fail|falta|later|earlier)\b"
)
_NEGATED_AFTER = re.compile(
    r"\s*(?:no(?=\s*(?:[,.!]|$))|no\s+(?:puedo|podre|podemos|voy|alcanzo|me\s+alcanza|tengo|joven|"
    r"senor|senora|senorita|mijo|mija|amigo|amiga|compa)|is\s+not|isn'?t|"
    r"won'?t\s+work|doesn'?t\s+work|no\s+(?:va|se\s+puede)|not\s+possible)\b"
)
_CLAUSE_END = re.compile(r"[.!?;\n,]|\b(?:but|pero|so|then|asi\s+que|entonces)\b")
# A date the reply puts in the past: "paid on the 3rd", "your letter dated 2/11".
# Only verbs that cannot be future: "will be paid on the 15th" and "get paid on the 1st" are.
_PAST_BEFORE = re.compile(
    r"(?:\b(?:i|we|already|ya|lo|la)\s+(?:paid|pague|pagamos|sent|mande)|\bdated|\bfechad[ao]|"
    r"\bsince|\bdesde|\bdied|\bpassed\s+away|\bfallecio|\bmurio|\bcleared|\breturned|\bfiled|"
    r"\bhappened|\bopened|\bbought|\bmoved|\bcharged|\bbilled|\bcobraron)\b[\w\s$.,'()]{0,30}?\s*$"
)


# --- calendar arithmetic --------------------------------------------------------------------


def _add_business_days(d: date, n: int) -> date:
    while n > 0:
        d += timedelta(days=1)
        n -= d.weekday() < 5
    return d


def end_of_month(today: date) -> date:
    """This month's last day (``today`` itself on the last day)."""
    return last_day(today.year, today.month)


def day_of_month(today: date, day: int) -> date | None:
    """``the 15th``: the next such day strictly after ``today``, in the first month that has it.

    On the month's last day, a 29th, 30th or 31st that is today (``the 31st`` on May 31) is
    today: read strictly it would skip a whole month or two (the next month may lack the
    day), and ``end of the month`` said that day is today too. ``the 28th`` on February 28
    is March 28, as the labelled sets have it.
    """
    if not 1 <= day <= 31:
        return None
    if day == today.day and day >= 29 and today == end_of_month(today):
        return today
    first = today.replace(day=1)
    for ahead in range(13):
        month = add_months(first, ahead)
        if day <= calendar.monthrange(month.year, month.month)[1]:
            candidate = month.replace(day=day)
            if candidate > today:
                return candidate
    return None


def _day_in_month(first: date, day: int) -> date | None:
    try:
        return first.replace(day=day)
    except ValueError:
        return None


def month_day(today: date, month: int, day: int, year: int | None = None) -> date | None:
    """A calendar date: the year given, else this year, rolled to next year when past."""
    if year is not None:
        try:
            return date(year + 2000 if year < 100 else year, month, day)
        except ValueError:
            return None
    if month == 2 and day == 29:  # Feb 29 without a year: the next one there is
        for y in range(today.year, today.year + 9):
            if calendar.isleap(y) and date(y, 2, 29) >= today:
                return date(y, 2, 29)
        return None
    try:
        candidate = date(today.year, month, day)
    except ValueError:
        return None
    return candidate if candidate >= today else candidate.replace(year=today.year + 1)


def weekday_next_week(today: date, weekday: int) -> date:
    """``next friday``: that weekday in the following Monday-to-Sunday week."""
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7 + weekday)


def next_monday(today: date) -> date:
    """``next week``: the Monday of the following week."""
    return today + timedelta(days=7 - today.weekday())


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    when: date
    kind: str


def _numeric(today: date, text: str) -> Iterator[_Hit]:
    """Numeric dates: ``3/15``, ``3-15``, ``3.15`` (when cued), with or without a year."""
    for pattern in (_P_SLASH, _P_DASH_DOT, _P_ISO):
        for m in pattern.finditer(text):
            month, day = int(m["m"]), int(m["d"])
            year = int(m["y"]) if m["y"] else None
            cued = bool(_DATE_CUE.search(text, max(0, m.start() - 20), m.start()))
            if pattern is _P_DASH_DOT and m["sep"] == "." and year is None and not cued:
                continue  # "pay 3.15": money, unless "on 3.15"
            if (
                pattern is _P_SLASH
                and year is None
                and (month, day) in _FRACTIONS
                and not cued
                and _SHARE_AFTER.match(text, m.end())
            ):
                continue  # "1/2 now": half of it
            if month > 12 and day <= 12 and pattern is not _P_ISO:
                month, day = day, month  # "15/3": only day/month makes sense
            if not (1 <= month <= 12 and 1 <= day <= 31):
                continue
            when = month_day(today, month, day, year)
            if when is not None:
                yield _Hit(m.start(), m.end(), when, _CAL)


def _hits(text: str, today: date) -> Iterator[_Hit]:
    """Every date phrase in the (normalized) text, overlapping ones included."""
    for pattern in (_P_MONTH_DAY, _P_DAY_MONTH):
        for m in pattern.finditer(text):
            day = int(m["day"]) if m["day"] else _ORDINAL_WORDS[m["dayw"]]
            year = m["year"].lstrip("'") if m["year"] else None
            when = month_day(today, _MONTHS[m["mon"]], day, int(year) if year else None)
            if when is not None:
                yield _Hit(m.start(), m.end(), when, _CAL)
            else:
                yield _Hit(m.start(), m.end(), today, _VOID)
    yield from _numeric(today, text)
    for m in _P_WEEKDAY_RANGE.finditer(text):
        yield _Hit(m.start(), m.end(), today, _VOID)
    for m in _P_DOM.finditer(text):
        digits = m["day"] or m["day2"] or m["day3"] or m["day4"]
        day = int(digits) if digits else _ORDINAL_WORDS[m["dayw"] or m["dayw2"]]
        which = m["which"] or ""
        if any(word in which for word in ("next", "proximo", "siguiente", "viene", "entra")):
            found = _day_in_month(next_month_first(today), day)
        elif which:
            found = _day_in_month(today.replace(day=1), day)
        else:
            found = day_of_month(today, day)
        if found is not None:
            yield _Hit(m.start(), m.end(), found, _DOM)
    for m in _P_TODAY.finditer(text):
        yield _Hit(m.start(), m.end(), today, _TODAY)
    for m in _P_TOMORROW.finditer(text):
        if m[0].endswith("manana") and not m["after"]:
            before = text[: m.start()]
            if re.search(r"\b(?:la|por|de|en|esta|las|temprano)\s+$", before):
                continue  # "por la mañana", "esta mañana": a morning, not tomorrow
        yield _Hit(m.start(), m.end(), today + timedelta(days=2 if m["after"] else 1), _REL)
    for m in _P_WEEKDAY.finditer(text):
        wd, after = m["wd"], (m["after"] or "").strip()
        if m["last"] or m["every"] or after == "pasado":
            continue  # past, or a schedule
        if wd in _AMBIGUOUS_WEEKDAYS and not m["qual"]:
            continue  # "sat", "mar", "sun" alone are words, not days
        if wd in _MONTHS and re.match(r"\.?\s+\d", text[m.end() :]):
            continue  # "mar 3": March 3rd, read as a calendar date
        weekday = _WEEKDAYS[wd]
        if after == "after next":
            when = weekday_next_week(today, weekday) + timedelta(days=7)
        elif after == "after":  # "half this friday, the other half the friday after"
            when = next_weekday(today, weekday) + timedelta(days=7)
        elif (m["next"] or after in ("que viene", "proximo", "siguiente")) and "este" not in (
            m["qual"] or ""
        ):
            when = weekday_next_week(today, weekday)
        else:
            when = next_weekday(today, weekday)
        yield _Hit(m.start(), m.end(), when, _WDAY)
    for m in _P_NEXT_WEEK.finditer(text):
        yield _Hit(m.start(), m.end(), next_monday(today), _REL)
    for m in _P_WEEKEND.finditer(text):
        saturday = today + timedelta(days=(5 - today.weekday()) % 7 if today.weekday() != 6 else 0)
        if m["next"]:
            saturday = weekday_next_week(today, 5)
        yield _Hit(m.start(), m.end(), saturday, _REL)
    for m in _P_END_WEEK.finditer(text):
        yield _Hit(m.start(), m.end(), today + timedelta(days=(4 - today.weekday()) % 7), _REL)
    for pattern in (_P_IN, _P_FROM_NOW):
        for m in pattern.finditer(text):
            n = _count(m["n"])
            if n is None or not 0 < n <= 400:
                continue
            unit = m["unit"]
            if m["n"] in ("ocho", "quince") and unit.startswith("dia"):
                continue  # "en ocho días" is a week: see _P_ES_WEEKS
            if unit.startswith(("business", "working")) or "habiles" in unit:
                found = _add_business_days(today, n)
            elif unit.startswith("d"):
                found = today + timedelta(days=n)
            elif unit.startswith(("w", "s")):
                found = today + timedelta(days=7 * n)
            else:
                found = add_months(today, n)
            yield _Hit(m.start(), m.end(), found, _REL)
    for m in _P_FORTNIGHT.finditer(text):
        yield _Hit(m.start(), m.end(), today + timedelta(days=14), _REL)
    for m in _P_ES_WEEKS.finditer(text):
        days = 7 if (m["n"] or m["n2"]) == "ocho" else 14
        yield _Hit(m.start(), m.end(), today + timedelta(days=days), _REL)
    for m in _P_WEEK_FROM_DAY.finditer(text):
        found = next_weekday(today, _WEEKDAYS[m["wd"]]) + timedelta(days=7)
        yield _Hit(m.start(), m.end(), found, _REL)
    for m in _P_EOM.finditer(text):
        if m["next"] or (m["next2"] or "").startswith("proximo") or m["next3"]:
            yield _Hit(m.start(), m.end(), end_of_month(next_month_first(today)), _REL)
        else:
            yield _Hit(m.start(), m.end(), end_of_month(today), _REL)
    for m in _P_NEXT_MONTH.finditer(text):
        yield _Hit(m.start(), m.end(), next_month_first(today), _REL)
    for m in _P_MID_MONTH.finditer(text):
        found = day_of_month(today, 15)
        if found is not None:
            yield _Hit(m.start(), m.end(), found, _REL)


def _longest(hits: list[_Hit]) -> list[_Hit]:
    """Overlapping phrases resolve to the longest: ``two weeks from today`` is not ``today``."""
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: (-(h.end - h.start), h.start)):
        if all(hit.end <= k.start or hit.start >= k.end for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


def _beside(text: str, left: _Hit, right: _Hit) -> bool:
    """Only a comma, ``the``/``el`` or a bracket between two phrases: ``Tuesday, June 8``."""
    if left.end > right.start:
        return False
    return re.fullmatch(r"[\s,(]*(?:the\s+|el\s+)?", text[left.end : right.start]) is not None


def _refused(text: str, hit: _Hit) -> bool:
    """The date is refused (``can't today``) or past (``paid on the 3rd``) in its clause."""
    before = text[max(0, hit.start - 300) : hit.start]  # a clause is shorter than this
    ends = list(_CLAUSE_END.finditer(before))
    clause = before[ends[-1].end() :] if ends else before
    negations = list(_NEGATION.finditer(clause))
    if negations:
        # The release may open the date phrase itself: "not until friday", "hasta el viernes".
        phrase = clause + text[hit.start : hit.end]
        if not _RELEASE.search(phrase, negations[-1].end()):
            return True
    if _NEGATED_AFTER.match(text, hit.end):
        return True
    return _PAST_BEFORE.search(clause) is not None


def _dated(text: str, today: date) -> list[_Hit]:
    hits = [h for h in _longest(list(_hits(text, today))) if h.kind != _VOID]
    # A weekday beside a calendar date names the same day: the calendar date says which.
    fixed = [h for h in hits if h.kind in (_CAL, _DOM)]
    hits = [
        h
        for h in hits
        if h.kind != _WDAY or not any(_beside(text, h, f) or _beside(text, f, h) for f in fixed)
    ]
    hits = [h for h in hits if not _refused(text, h)]
    # "half on friday, half next friday" said on a weekend: both would be the same friday;
    # a "next" weekday after the same plain weekday means the week after it.
    out: list[_Hit] = []
    for h in hits:
        words = text[h.start : h.end]
        contrasted = re.match(r"(?:el\s+)?(?:next|nxt|proximo|siguiente)\b", words) or re.search(
            r"(?:que\s+viene|proximo|siguiente)$", words
        )
        if (
            h.kind == _WDAY
            and contrasted
            and any(o.kind == _WDAY and o.when == h.when for o in out)
        ):
            h = _Hit(h.start, h.end, h.when + timedelta(days=7), h.kind)
        out.append(h)
    return out


def find_dates(text: str, today: date) -> list[date]:
    """Every promised date the reply names, in reading order, without repeats."""
    return dates_in(normalize(text), today)


def dates_in(norm: str, today: date) -> list[date]:
    """:func:`find_dates` of text already normalized (``domain.replies.text.normalize``)."""
    out: list[date] = []
    for hit in _dated(norm, today):
        if hit.when not in out:
            out.append(hit.when)
    return out


def find_date(text: str, today: date) -> date | None:
    """The promised date: the first of :func:`find_dates`, or None."""
    dates = find_dates(text, today)
    return dates[0] if dates else None


# --- amounts --------------------------------------------------------------------------------

_CURRENCY = r"(?:dollars?|bucks|usd|dls|dlls?|dolares|dolar|pesos|dolares\s+americanos|euros?|eur)"
_FIGURE = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_ES_FIGURE = r"\d{1,3}(?:\.\d{3})+,\d{2}"  # "1.200,50": only Spanish style reads so
# No amount runs into a longer number, a reference ("#7720", "INV-36688") or a time.
_EDGE_BEFORE = r"(?<![\w#/.,:-])"
_EDGE_AFTER = r"(?![\d/:%]|[.,]\d|-\d|\s*%)"
_P_ES_STYLE = re.compile(rf"(?:\$\s?|{_EDGE_BEFORE})(?P<es>{_ES_FIGURE}){_EDGE_AFTER}")
_P_DOLLAR = re.compile(rf"(?:\$|\busd\s?)\s?(?P<v>{_FIGURE}){_EDGE_AFTER}")
_P_CURRENCY = re.compile(rf"{_EDGE_BEFORE}(?P<v>{_FIGURE})\s?{_CURRENCY}\b")
# Counts, times, days of the month, ranks: what a bare figure after a verb must not be.
_NOT_MONEY = (
    r"(?!\s*(?:st|nd|rd|th|ro|o|/|%|:|days?|dias?|weeks?|wks?|semanas?|months?|meses|hours?|"
    r"horas?|hrs?|mins?|minutes?|pm|am|de\s+(?:\w+\s+)?(?:enero|febrero|marzo|abril|mayo|junio|"
    r"julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|cada|mes)|of\s+(?:the|every|"
    r"each)|payments?|pagos|abonos|installments?|times?|veces|people|kids|years?|anos)\b|/|:|%|"
    r"[.,]\d|-\d)"
)
_PAY_VERB = (
    r"(?:pay|paying|send|sending|sent|do|doing|deposit|depositing|give|giving|put\s+down|"
    r"make\s+a\s+payment\s+of|payment\s+of|pagar|pago|pagare|deposito|depositar|deposite|mando|"
    r"mandar|mandare|abono|abonar|doy|dar|transfiero|transferir|envio|enviar|liquido|cubro|"
    r"son|that'?s|its|it'?s|total\s+(?:of|is|:)?|expect|zelle|venmo|cashapp)"
)
_ARTICLE = (
    r"(?:(?:you|u|ya|le|les|te|like|about|around|unos|the\s+(?:full|whole|remaining|last|other)|"
    r"full|all|todo|los|my|another|other|otros|an?\s+extra|extra|only|just|solo|nomas)\s+)*"
)
_ARTICLE_W = rf"(?:{_ARTICLE}(?:the\s+)?)"
_P_AFTER_VERB = re.compile(rf"\b{_PAY_VERB}\s+{_ARTICLE}(?P<v>{_FIGURE})\b{_NOT_MONEY}")
# "los 120" (Spanish: the 120 [dollars]) and "325 total" name an amount without a verb.
_P_LOS = re.compile(rf"\blos\s+(?P<v>\d+(?:\.\d{{1,2}})?)\b{_NOT_MONEY}")
_P_TOTAL = re.compile(
    rf"{_EDGE_BEFORE}(?P<v>\d+(?:\.\d{{1,2}})?)\s+(?:total|en\s+total|in\s+total|flat)\b"
)
# "100 el 5 y 100 el 20", "50 on friday": a figure right before a date is what is paid then.
_P_BEFORE_DATE = re.compile(
    rf"(?<!\bthe\s)(?<!\bel\s)(?<!\bon\s)(?<!\bat\s)(?<!\blas\s)(?<!\bby\s)(?<!\bafter\s)"
    rf"(?<!\bbefore\s){_EDGE_BEFORE}(?P<v>\d+(?:\.\d{{1,2}})?)\s+"
    rf"(?:(?:on|el|by|para\s+el)\s+(?:the\s+)?(?:dia\s+)?\d|(?:on\s+|el\s+)?(?:{_WD})\b|"
    r"(?:tomorrow|tmrw|manana|today|hoy|tonight|now|ahora|ahorita|upfront|up\s+front|down|"
    r"next\s+week|la\s+semana\s+que\s+viene|(?:this|next|el\s+proximo|este)\s+\w+day|"
    r"(?:el\s+)?(?:proximo\s+)?(?:lunes|martes|miercoles|jueves|viernes|sabado|domingo))\b)"
)
# A bare figure too large for a day of the month is money where a day would otherwise be
# read: "the 120", "all 380", "el deposito de 450", or a clause of its own ("Friday. 200.",
# "in 2 weeks, 250"). Years (1900-2100 without a thousands comma) are not.
_BIG = 31
_P_THE_FIGURE = re.compile(
    r"\b(?:the(?:\s+(?:full|whole|remaining|last|other))?|all(?:\s+the)?|todo\s+el|toda\s+la|"
    r"(?:el\s+)?total\s+de|(?:deposito|transferencia|pago|abono|cantidad(?:\s+pendiente)?|"
    r"payment|amount)\s+(?:de|of)|(?:it'?ll|it\s+will|that'?ll)\s+be)\s+"
    rf"(?P<v>{_FIGURE})\b{_NOT_MONEY}"
)
_P_CLAUSE_FIGURE = re.compile(
    rf"(?:^|[,.;!?]\s*)(?P<v>{_FIGURE})(?=\s*(?:[.!,;]|$)){_NOT_MONEY}", re.MULTILINE
)
# "los 2 mil", "250 mil", "2k", "5 grand": thousands.
_P_THOUSANDS = re.compile(rf"{_EDGE_BEFORE}(?P<v>\d{{1,3}}(?:\.\d)?)\s?(?:mil|k|grand)\b")
# A figure with cents, but not a time ("at 12.30").
_P_CENTS = re.compile(
    rf"(?<!\bat\s)(?<!\blas\s){_EDGE_BEFORE}(?P<v>\d{{1,5}}\.\d{{2}}){_EDGE_AFTER}"
    r"(?!\s*(?:%|am|pm))"
)
_P_WORDS = re.compile(rf"\b(?P<w>(?:an?\s+)?{_WORDS})\s+{_CURRENCY}\b")
_P_VERB_WORDS = re.compile(
    rf"\b{_PAY_VERB}\s+{_ARTICLE_W}(?P<w>(?:an?\s+)?{_WORDS})\b"
    r"(?!\s*(?:days?|dias|weeks?|semanas|months?|meses|of\s|de\s|payments?|pagos|times?|veces|"
    r"hours?|horas|o'?clock|am|pm))"
)


def _amount_hits(text: str, today: date) -> list[tuple[int, int, Decimal]]:
    """Every (start, end, amount), the figures of numeric dates excluded."""
    found: list[tuple[int, int, Decimal]] = []
    # Most replies hold no digit: only amounts in words can be in them.
    figures = any(ch.isdigit() for ch in text)
    date_spans = [(h.start, h.end) for h in _numeric(today, text)] if figures else []

    def add(start: int, end: int, figure: str) -> None:
        if any(s < end and start < e for s, e in date_spans):
            return  # "on 11.3": a date, not $11.30
        try:
            value = Decimal(figure)
        except InvalidOperation:
            return
        if value > 0:
            found.append((start, end, value))

    if figures:
        _figure_hits(text, add)
    for pattern in (_P_WORDS, _P_VERB_WORDS):
        for m in pattern.finditer(text):
            words = re.sub(r"^an?\s+", "", m["w"])
            value = words_value(words)
            if value is not None and (value >= 5 or pattern is _P_WORDS):
                add(m.start("w"), m.end("w"), str(value))
    # One figure read by several patterns is one amount: keep the widest reading of each span.
    kept: list[tuple[int, int, Decimal]] = []
    for hit in sorted(found, key=lambda f: (-(f[1] - f[0]), f[0])):
        if all(hit[1] <= k[0] or hit[0] >= k[1] for k in kept):
            kept.append(hit)
    return sorted(kept)


def _figure_hits(text: str, add: Callable[[int, int, str], None]) -> None:
    """The amounts written in digits, each handed to ``add`` (start, end, figure)."""
    for m in _P_ES_STYLE.finditer(text):
        add(m.start(), m.end(), m["es"].replace(".", "").replace(",", "."))
    for pattern in (
        _P_DOLLAR,
        _P_CURRENCY,
        _P_AFTER_VERB,
        _P_LOS,
        _P_TOTAL,
        _P_BEFORE_DATE,
        _P_CENTS,
    ):
        for m in pattern.finditer(text):
            add(m.start("v"), m.end("v"), m["v"].replace(",", ""))
    for pattern in (_P_THE_FIGURE, _P_CLAUSE_FIGURE):
        for m in pattern.finditer(text):
            figure = m["v"].replace(",", "")
            bare = Decimal(figure)
            year = "," not in m["v"] and "." not in m["v"] and 1900 <= bare <= 2100
            if bare > _BIG and not year:
                add(m.start("v"), m.end("v"), figure)
    for m in _P_THOUSANDS.finditer(text):
        add(m.start("v"), m.end(), str(Decimal(m["v"]) * 1000))


# Amounts do not depend on the day, but which figures are dates does only through their
# shape, so any fixed day serves to find those.
_ANY_DAY = date(2000, 1, 3)


def find_amounts(text: str) -> list[Decimal]:
    """Every amount the reply names, in reading order (repeats kept), to the cent."""
    return amounts_in(normalize(text))


def amounts_in(norm: str) -> list[Decimal]:
    """:func:`find_amounts` of text already normalized (``domain.replies.text.normalize``)."""
    quantum = Decimal("0.01")
    return [v.quantize(quantum) for _s, _e, v in _amount_hits(norm, _ANY_DAY)]


def find_amount(text: str) -> Decimal | None:
    """The first amount the reply names, or None."""
    amounts = find_amounts(text)
    return amounts[0] if amounts else None
