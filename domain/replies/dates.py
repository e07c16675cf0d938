"""Promised dates and amounts in a debtor's reply, English and Spanish. Pure and deterministic.

Every date resolves against ``today``: the sender's local date at ``received_at`` (the caller
takes ``received_at.date()`` in the offset it carries). The rules, one per kind of phrase:

- ``today``, ``tonight``, ``this evening``, ``hoy``, ``esta noche``: the same day.
- ``tomorrow`` (``tmrw``, ``tmr``, ``2moro``), ``mañana``: +1 day; ``the day after tomorrow``,
  ``pasado mañana``: +2.
- A weekday name, with or without ``next``/``this``/``el``/``el próximo``/``este``
  (``Friday``, ``next Fri``, ``el viernes``): the first such day strictly after ``today``
  (so ``Friday`` said on a Friday is a week later).
- ``next week``, ``la próxima semana``, ``la semana que viene``: the Monday of next week.
- ``this weekend``, ``el fin de semana``: the Saturday on or after ``today`` (``today`` when it
  is a Sunday). ``end of the week``: the Friday on or after ``today`` (next Friday on a weekend).
- ``in N days/weeks/months`` (digits or words, ``a``/``a couple of``, ``wks``, Spanish
  ``en N días/semanas/meses``, ``dentro de``): +N days, +7N days, or the same day N months on
  (clamped to the month's last day).
- ``end of (the|this) month``, ``eom``, ``fin de mes``, ``a finales de mes``: this month's last
  day; ``end of next month``: next month's. ``next month``, ``el mes que viene``: the 1st of next
  month; ``mid-month``, ``mediados de mes``: the 15th (this month, or next when past).
- A day of the month alone (``the 15th``, ``on the 3rd``, ``31st``, ``el 15``, ``el día 20``):
  this month if that day is ``today`` or later, otherwise the next month that has that day.
- A calendar date: ``Dec 20``, ``December 20th``, ``20 de diciembre``, ``the 1st of March``,
  numeric US month/day ``12/20`` (``12/20/2027`` or ``12/20/27`` take the year given): this
  year, or next year when it is already past (``today`` itself is not past).
- ``payday``, ``when I get paid``, ``cuando cobre``: no date (the day is unknown to us).

When a reply holds several date phrases, the first calendar date (month named or numeric) wins;
failing that, the first day-of-month; failing that, the first of the others in reading order.

Amounts: ``$90``, ``$1,200``, ``90.50``, ``90 dollars``/``bucks``/``dólares``/``dlls``, a bare
number right after a payment verb (``pay 65``, ``send 100``, ``le deposito 100``) or
``son 85``/``that's 85``, and a few number words before a currency word (``fifty dollars``,
``cien dólares``). The first amount in reading order wins.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from domain.replies.calendar_days import add_months, last_day, next_month_first, next_weekday
from domain.replies.text import normalize

_WEEKDAYS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "monday mon mond lunes lun",
        "tuesday tue tues tu martes mar",
        "wednesday wed weds wednes wensday wendsday miercoles mier mie",
        "thursday thu thur thurs thrus jueves jue",
        "friday fri frid viernes vie",
        "saturday sat sabado sab",
        "sunday sun domingo dom",
    ]
):
    for _n in _names.split():
        _WEEKDAYS[_n] = _i

# Abbreviations that are also common words only count with a qualifier (``next mar``...).
_AMBIGUOUS_WEEKDAYS = {"mar", "mie", "jue", "vie", "sab", "dom", "lun", "sun", "sat", "tu", "mon"}

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "january jan enero ene",
        "february feb febrero",
        "march mar marzo",
        "april apr abril abr",
        "may mayo",
        "june jun junio",
        "july jul julio",
        "august aug agosto ago",
        "september sep sept septiembre setiembre",
        "october oct octubre",
        "november nov noviembre",
        "december dec diciembre dic",
    ],
    start=1,
):
    for _n in _names.split():
        _MONTHS[_n] = _i

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "couple": 2, "a couple": 2, "a couple of": 2, "few": 3,
    "a few": 3, "un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "quince": 15, "veinte": 20,
    "treinta": 30, "par": 2, "un par": 2, "un par de": 2,
}  # fmt: skip

_AMOUNT_WORDS = {
    "ten": 10, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "a hundred": 100,
    "one hundred": 100, "two hundred": 200, "diez": 10, "veinte": 20, "treinta": 30,
    "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80,
    "noventa": 90, "cien": 100, "doscientos": 200,
}  # fmt: skip

_WD = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_MO = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUM = r"\d{1,3}|" + "|".join(re.escape(w) for w in sorted(_NUMBER_WORDS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th|ro|do|vo|to|o)?"

# Patterns, each with the kind that decides their rank (see the module docstring).
_CALENDAR, _DAY_OF_MONTH, _RELATIVE = 0, 1, 2

_P_MONTH_DAY = re.compile(
    rf"\b(?P<mon>{_MO})\.?\s+(?P<day>\d{{1,2}}){_ORD}\b(?:,?\s+(?P<year>\d{{4}}))?"
)
_P_DAY_MONTH = re.compile(
    rf"\b(?:the\s+|el\s+)?(?P<day>\d{{1,2}}){_ORD}\s+(?:of\s+|de\s+)?(?P<mon>{_MO})\b"
    rf"(?:,?\s+(?:de\s+|del\s+)?(?P<year>\d{{4}}))?"
)
_P_NUMERIC = re.compile(
    r"(?<![\d/$.,])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\d/%])"
)
_P_DOM = re.compile(
    r"\b(?:(?:the|on|by|until|til|till|before)\s+)?(?:the\s+)?(?P<day>\d{1,2})(?:st|nd|rd|th)\b"
    r"|\b(?:the)\s+(?P<day2>\d{1,2})\b(?!\s*(?:\.|,)?\d|\s*(?:%|dollars|bucks|days|weeks))"
    r"|\bel\s+(?:dia\s+)?(?P<day3>\d{1,2})\b(?!\s*(?:[.,]\d|%|dolares|dlls|dias|semanas))"
    r"|\b(?:dia|day)\s+(?P<day4>\d{1,2})\b(?!\s*(?:[.,]\d|%))"
)
_P_TODAY = re.compile(
    r"\b(?:today|tonight|tonite|this\s+(?:evening|afternoon|morning)|later\s+today|hoy|"
    r"esta\s+(?:noche|tarde)|en\s+la\s+noche\s+de\s+hoy)\b"
)
_P_TOMORROW = re.compile(
    r"\b(?:(?P<after>the\s+day\s+after\s+|pasado\s+)?(?:tomorrow|tomorow|tommorow|tommorrow|"
    r"tmrw|tmrow|tmr|tmw|2morrow|2moro|2mrw|manana))\b"
)
_P_WEEKDAY = re.compile(
    rf"\b(?P<qual>(?:this|next|coming|on|by|el|este|proximo|el\s+proximo|para\s+el|"
    rf"hasta\s+el)\s+)?(?P<wd>{_WD})\b\.?(?:\s+(?:que\s+viene|proximo))?"
)
_P_NEXT_WEEK = re.compile(
    r"\b(?:next\s+(?:week|wk)|(?:la\s+)?(?:proxima|otra)\s+semana|(?:la\s+)?semana\s+que\s+viene)\b"
)
_P_WEEKEND = re.compile(r"\b(?:this\s+weekend|the\s+weekend|(?:este|el)\s+fin\s+de\s+semana)\b")
_P_END_WEEK = re.compile(
    r"\b(?:end\s+of\s+(?:the\s+|this\s+)?week|fin(?:ales)?\s+de\s+(?:esta\s+)?semana)\b"
)
_P_IN = re.compile(
    rf"\b(?:in|within|en|dentro\s+de)\s+(?:(?:about|like|around|unos|unas)\s+)?(?P<n>{_NUM})\s*"
    r"(?P<unit>days?|dias?|weeks?|wks?|semanas?|months?|mos?|meses|mes)\b"
)
_P_FORTNIGHT = re.compile(r"\b(?:in\s+a\s+fortnight|en\s+quince\s+dias)\b")
_P_EOM = re.compile(
    r"\b(?:(?:the\s+)?end\s+of\s+(?P<next>next\s+)?(?:the\s+|this\s+)?month|eom|"
    r"(?:a\s+)?fin(?:es|ales)?\s+de(?:l)?\s+(?P<next2>proximo\s+)?mes(?P<next3>\s+que\s+viene)?|"
    r"month\s+end|last\s+day\s+of\s+(?:the\s+)?month)\b"
)
_P_NEXT_MONTH = re.compile(
    r"\b(?:next\s+month|(?:el\s+)?(?:proximo|siguiente)\s+mes|(?:el\s+)?mes\s+que\s+viene|"
    r"(?:the\s+)?(?:beginning|start|first)\s+of\s+(?:next|the)\s+month|principios\s+de(?:l)?\s+mes)\b"
)
_P_MID_MONTH = re.compile(
    r"\b(?:mid[\s-]?month|middle\s+of\s+(?:the\s+)?month|mediados\s+de(?:l)?\s+mes)\b"
)


def day_of_month(today: date, day: int) -> date | None:
    """``the 15th``: this month when not yet past, else the next month that has the day."""
    if not 1 <= day <= 31:
        return None
    first = today.replace(day=1)
    for ahead in range(13):
        month = add_months(first, ahead)
        if day <= calendar.monthrange(month.year, month.month)[1]:
            candidate = month.replace(day=day)
            if candidate >= today:
                return candidate
    return None


def month_day(today: date, month: int, day: int, year: int | None = None) -> date | None:
    """A calendar date: the year given, else this year, rolled to next year when past."""
    try:
        if year is not None:
            return date(year + 2000 if year < 100 else year, month, day)
        candidate = date(today.year, month, day)
    except ValueError:
        if month == 2 and day == 29 and year is None:  # Feb 29: the next leap year
            for y in range(today.year, today.year + 8):
                if calendar.isleap(y) and date(y, 2, 29) >= today:
                    return date(y, 2, 29)
        return None
    if candidate < today:
        try:
            return candidate.replace(year=today.year + 1)
        except ValueError:
            return None
    return candidate


def _number(word: str) -> int | None:
    word = re.sub(r"\s+", " ", word)
    if word.isdigit():
        return int(word)
    return _NUMBER_WORDS.get(word)


def _found(text: str, today: date) -> list[tuple[int, int, date]]:
    """Every (rank, position, date) the text names."""
    out: list[tuple[int, int, date]] = []

    def add(rank: int, pos: int, found: date | None) -> None:
        if found is not None:
            out.append((rank, pos, found))

    for m in _P_MONTH_DAY.finditer(text):
        year = int(m["year"]) if m["year"] else None
        add(_CALENDAR, m.start(), month_day(today, _MONTHS[m["mon"]], int(m["day"]), year))
    for m in _P_DAY_MONTH.finditer(text):
        year = int(m["year"]) if m["year"] else None
        add(_CALENDAR, m.start(), month_day(today, _MONTHS[m["mon"]], int(m["day"]), year))
    for m in _P_NUMERIC.finditer(text):
        month, day = int(m["m"]), int(m["d"])
        if 1 <= month <= 12 and 1 <= day <= 31:
            add(_CALENDAR, m.start(), month_day(today, month, day, int(m["y"]) if m["y"] else None))
    calendar_spans = [
        (m.start(), m.end())
        for p in (_P_MONTH_DAY, _P_DAY_MONTH, _P_NUMERIC)
        for m in p.finditer(text)
    ]
    for m in _P_DOM.finditer(text):
        if any(s <= m.start() < e or s < m.end() <= e for s, e in calendar_spans):
            continue
        digits = m["day"] or m["day2"] or m["day3"] or m["day4"]
        add(_DAY_OF_MONTH, m.start(), day_of_month(today, int(digits)))
    for m in _P_TODAY.finditer(text):
        add(_RELATIVE, m.start(), today)
    for m in _P_TOMORROW.finditer(text):
        if text[m.start() :].startswith("manana") and re.search(
            r"(?:la|por|de|en)\s+$", text[: m.start()]
        ):
            continue  # "por la mañana": in the morning
        add(_RELATIVE, m.start(), today + timedelta(days=2 if m["after"] else 1))
    for m in _P_WEEKDAY.finditer(text):
        wd = m["wd"]
        if wd in _AMBIGUOUS_WEEKDAYS and not m["qual"]:
            continue  # "sat", "mar", "sun" alone are words, not days
        add(_RELATIVE, m.start(), next_weekday(today, _WEEKDAYS[wd]))
    for m in _P_NEXT_WEEK.finditer(text):
        add(_RELATIVE, m.start(), today + timedelta(days=7 - today.weekday()))
    for m in _P_WEEKEND.finditer(text):
        add(
            _RELATIVE,
            m.start(),
            today + timedelta(days=(5 - today.weekday()) % 7 if today.weekday() != 6 else 0),
        )
    for m in _P_END_WEEK.finditer(text):
        add(_RELATIVE, m.start(), today + timedelta(days=(4 - today.weekday()) % 7))
    for m in _P_IN.finditer(text):
        n = _number(m["n"])
        if n is None or n > 400:
            continue
        unit = m["unit"]
        if unit.startswith(("d",)):
            add(_RELATIVE, m.start(), today + timedelta(days=n))
        elif unit.startswith(("w", "s")):
            add(_RELATIVE, m.start(), today + timedelta(days=7 * n))
        else:
            add(_RELATIVE, m.start(), add_months(today, n))
    for m in _P_FORTNIGHT.finditer(text):
        add(_RELATIVE, m.start(), today + timedelta(days=14 if "fortnight" in m[0] else 15))
    for m in _P_EOM.finditer(text):
        if m["next"] or m["next2"] or m["next3"]:
            nxt = next_month_first(today)
            add(_RELATIVE, m.start(), last_day(nxt.year, nxt.month))
        else:
            add(_RELATIVE, m.start(), last_day(today.year, today.month))
    eom_spans = [(m.start(), m.end()) for m in _P_EOM.finditer(text)]
    for m in _P_NEXT_MONTH.finditer(text):
        if any(s <= m.start() < e for s, e in eom_spans):
            continue
        add(_RELATIVE, m.start(), next_month_first(today))
    for m in _P_MID_MONTH.finditer(text):
        add(_RELATIVE, m.start(), day_of_month(today, 15))
    return out


def find_date(text: str, today: date) -> date | None:
    """The date a reply names (rules in the module docstring), or None."""
    found = _found(normalize(text), today)
    if not found:
        return None
    _rank, _, when = min(found, key=lambda f: (f[0], f[1]))
    return when


_CURRENCY = r"(?:dollars?|bucks|usd|dls|dlls|dolares|dolar|pesos)"
_FIGURE = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_P_DOLLAR = re.compile(rf"\$\s?(?P<v>{_FIGURE})")
_P_CURRENCY = re.compile(rf"(?<![\d/])(?P<v>{_FIGURE})\s?{_CURRENCY}\b")
_P_AFTER_VERB = re.compile(
    r"\b(?:pay|paying|send|sending|do|deposit|give|put\s+down|make\s+a\s+payment\s+of|"
    r"payment\s+of|pagar|pago|pagare|deposito|depositar|mando|mandar|abono|abonar|doy|dar|"
    r"son|that'?s|its|it'?s)\s+(?:you\s+|u\s+|ya\s+|le\s+|les\s+|like\s+|about\s+|"
    r"around\s+|unos\s+)?(?P<v>\d+(?:\.\d{1,2})?)\b"
    r"(?!\s*(?:st|nd|rd|th|/|%|:|days?|dias?|weeks?|wks?|semanas?|months?|meses|hours?|"
    r"horas?|pm|am|de\s+|of\s+|a\s+(?:month|week|mes|semana)|al\s+mes|every|each|cada)\b|/|:|%)"
)
_P_CENTS = re.compile(r"(?<![\d/$.,:])(?P<v>\d{1,5}\.\d{2})\b(?!\s*%)")
_P_WORDS = re.compile(
    r"\b(?P<w>"
    + "|".join(sorted(map(re.escape, _AMOUNT_WORDS), key=len, reverse=True))
    + rf")\s+{_CURRENCY}\b"
)


def find_amount(text: str) -> Decimal | None:
    """The amount a reply names (rules in the module docstring), or None."""
    norm = normalize(text)
    found: list[tuple[int, Decimal]] = []
    for pattern in (_P_DOLLAR, _P_CURRENCY, _P_AFTER_VERB, _P_CENTS):
        for m in pattern.finditer(norm):
            try:
                value = Decimal(m["v"].replace(",", ""))
            except InvalidOperation:
                continue
            if value > 0:
                found.append((m.start(), value))
    for m in _P_WORDS.finditer(norm):
        found.append((m.start(), Decimal(_AMOUNT_WORDS[m["w"]])))
    if not found:
        return None
    return min(found, key=lambda f: f[0])[1].quantize(Decimal("0.01"))
