"""The second edition of the promised-date and amount reader (``domain.replies.promised``).

Hand-written sentences, one group per convention of its module docstring, English and
Spanish, with the edges: month and year rollover, leap years, the weekday named being today,
the Sunday/Monday week boundary, amounts that look like dates and dates that look like
amounts. Days of reference (2026): Wed 3/4, Sat 3/7, Sun 3/8, Mon 3/9.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.replies.promised import find_amount, find_amounts, find_date, find_dates

WED = date(2026, 3, 4)
SAT = date(2026, 3, 7)
SUN = date(2026, 3, 8)
MON = date(2026, 3, 9)


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        # A weekday alone or with "this"/"este": the first such day after today, never today.
        ("I can settle up friday", WED, d(3, 6)),
        ("this friday works for me", WED, d(3, 6)),
        ("te deposito este viernes", WED, d(3, 6)),
        ("el viernes le pago", WED, d(3, 6)),
        ("paying wednesday", WED, d(3, 11)),  # the weekday named is today
        ("el miercoles sin falta", WED, d(3, 11)),
        ("el miércoles sin falta", WED, d(3, 11)),
        ("this coming monday", WED, d(3, 9)),
        ("thrusday for sure", WED, d(3, 5)),  # typo
        ("on sunday", SAT, d(3, 8)),
        ("monday", SUN, d(3, 9)),  # Sunday to Monday: the next day
        ("sunday", SUN, d(3, 15)),
        ("saturday", d(12, 28), d(1, 2, 2027)),  # year rollover
        # "next <weekday>": that day in the following Monday-to-Sunday week.
        ("next friday", WED, d(3, 13)),
        ("next wednesday", WED, d(3, 11)),
        ("next thursday", WED, d(3, 12)),
        ("next friday", SAT, d(3, 13)),
        ("next monday", SUN, d(3, 9)),  # Sunday: the following week starts tomorrow
        ("next sunday", SUN, d(3, 15)),
        ("next monday", MON, d(3, 16)),
        ("next fri", d(12, 30), d(1, 8, 2027)),
        ("el próximo jueves", WED, d(3, 12)),
        ("el proximo jueves", WED, d(3, 12)),
        ("el jueves que viene", WED, d(3, 12)),
        ("el viernes próximo", WED, d(3, 13)),
        ("el próximo lunes", SUN, d(3, 9)),
        # Weekdays that are not promises.
        ("last friday i lost my job, can pay monday", WED, d(3, 9)),
        ("el viernes pasado no pude, el lunes sí", WED, d(3, 9)),
        ("i sat down with my wife, we can do tuesday", WED, d(3, 10)),
        ("every friday until it's paid", WED, None),
        ("every other friday", WED, None),
        ("de lunes a viernes trabajo, el sábado pago", WED, d(3, 7)),
        ("monday to friday i work, saturday i pay", WED, d(3, 7)),
        # Day of the month: the next such day strictly after today.
        ("on the 15th", WED, d(3, 15)),
        ("the 4th", WED, d(4, 4)),  # today is the 4th: next month's
        ("the first", WED, d(4, 1)),
        ("payday is the 1st so i'll pay then", d(12, 20), d(1, 1, 2027)),
        ("el 1ro", WED, d(4, 1)),
        ("el 1ro.", d(12, 2), d(1, 1, 2027)),
        ("el primero le pago", WED, d(4, 1)),
        ("el día primero", WED, d(4, 1)),
        ("el 15 sin falta", d(3, 20), d(4, 15)),
        ("el dia 20", WED, d(3, 20)),
        ("the fifteenth", WED, d(3, 15)),
        ("the 31st", d(4, 5), d(5, 31)),  # April has no 31st
        ("the 30th", d(1, 31), d(3, 30)),  # nor February a 30th
        ("the 29th", d(2, 10, 2028), d(2, 29, 2028)),  # leap year
        ("the 29th", d(2, 10, 2027), d(3, 29, 2027)),
        ("paying on the 31st", d(5, 31, 2027), d(5, 31, 2027)),  # the month's last day
        ("the 20th of next month", WED, d(4, 20)),
        ("on the 20th of this month", WED, d(3, 20)),
        ("the first payment will go out friday", WED, d(3, 6)),  # a rank, not a day
        ("your 3rd text this week! i'll pay friday", WED, d(3, 6)),
        # Next week: the following Monday.
        ("next week", WED, d(3, 9)),
        ("next week", SUN, d(3, 9)),
        ("next week", MON, d(3, 16)),
        ("la semana que viene", WED, d(3, 9)),
        ("la próxima semana", WED, d(3, 9)),
        ("la otra semana les pago", WED, d(3, 9)),
        # In N days / weeks.
        ("in 5 days", WED, d(3, 9)),
        ("give me ten days", WED, d(3, 14)),
        ("3 days from now", WED, d(3, 7)),
        ("in twenty-one days", WED, d(3, 25)),
        ("in a couple of days", WED, d(3, 6)),
        ("a couple days from now", WED, d(3, 6)),
        ("en 4 días", WED, d(3, 8)),
        ("en cuatro dias", WED, d(3, 8)),
        ("dentro de veinte días", WED, d(3, 24)),
        ("en un par de días", WED, d(3, 6)),
        ("in a few days", WED, None),
        ("en unos días", WED, None),
        ("in 30 days", d(12, 15), d(1, 14, 2027)),
        ("in 5 business days", WED, d(3, 11)),
        ("in two weeks", WED, d(3, 18)),
        ("2 wks from today", WED, d(3, 18)),
        ("two weeks from today", WED, d(3, 18)),  # not today
        ("in a fortnight", WED, d(3, 18)),
        ("en dos semanas", WED, d(3, 18)),
        ("en quince días", WED, d(3, 18)),
        ("de hoy en quince", WED, d(3, 18)),
        ("in a week", WED, d(3, 11)),
        ("en una semana", WED, d(3, 11)),
        ("en ocho días", WED, d(3, 11)),
        ("de hoy en ocho", WED, d(3, 11)),
        ("in a month", d(1, 31), d(2, 28)),
        # End of the month: its last day.
        ("end of the month", WED, d(3, 31)),
        ("a fin de mes", WED, d(3, 31)),
        ("a finales de mes", d(4, 5), d(4, 30)),
        ("fin de mes", d(2, 10, 2028), d(2, 29, 2028)),  # leap year
        ("by the end of the month", d(2, 10, 2027), d(2, 28, 2027)),
        ("end of the month", d(3, 31), d(3, 31)),  # today is the last day
        ("antes de que se acabe el mes", WED, d(3, 31)),
        ("end of next month", d(12, 5), d(1, 31, 2027)),
        ("next month", d(12, 5), d(1, 1, 2027)),
        # Today, tonight, tomorrow.
        ("tomorrow", WED, d(3, 5)),
        ("tmrw", d(12, 31), d(1, 1, 2027)),  # year rollover
        ("mañana", d(2, 28, 2028), d(2, 29, 2028)),  # leap year
        ("manana sin falta", WED, d(3, 5)),
        ("mañana por la mañana", WED, d(3, 5)),
        ("pasado mañana", WED, d(3, 6)),
        ("the day after tomorrow", WED, d(3, 6)),
        ("tonight", WED, WED),
        ("will pay 2nite", WED, WED),
        ("today", WED, WED),
        ("hoy en la noche", WED, WED),
        ("can't pay today, tomorrow for sure", WED, d(3, 5)),
        ("hoy no puedo, mañana sí", WED, d(3, 5)),
        ("not until friday", WED, d(3, 6)),
        ("no puedo hasta el viernes", WED, d(3, 6)),
        # An unknown day is no date.
        ("when I get paid", WED, None),
        ("payday", WED, None),
        ("next payday", WED, None),
        ("cuando cobre", WED, None),
        ("en la quincena", WED, None),
        ("asap", WED, None),
        # Numeric dates, US month/day; a past month/day rolls to next year.
        ("3/15", WED, d(3, 15)),
        ("on 3-15", WED, d(3, 15)),
        ("on 3.15", WED, d(3, 15)),
        ("03/15/2027", WED, d(3, 15, 2027)),
        ("3/15/27", WED, d(3, 15, 2027)),
        ("3.15.27", WED, d(3, 15, 2027)),
        ("03-15-2027", WED, d(3, 15, 2027)),
        ("2027-03-15", WED, d(3, 15, 2027)),
        ("3/4", WED, d(3, 4)),  # today is not past
        ("3/3", WED, d(3, 3, 2027)),  # yesterday is
        ("1/3", d(12, 21), d(1, 3, 2027)),
        ("2/29", WED, d(2, 29, 2028)),  # the next Feb 29
        ("15/3", WED, d(3, 15)),  # only day/month makes sense
        ("pay 1/2 now", WED, None),  # half, not January 2nd
        ("se lo pago el 30 de febrero", WED, None),  # no such day, and not "el 30"
        ("pay on 2/30", WED, None),
        ("i paid $40 on the 2nd, the rest friday", WED, d(3, 6)),  # the 2nd is past
        # Month names with a day, en/es, with and without a year.
        ("March 10", WED, d(3, 10)),
        ("March 3rd", WED, d(3, 3, 2027)),
        ("marzo 10", WED, d(3, 10)),
        ("10 de marzo", WED, d(3, 10)),
        ("10 de marzo de 2027", WED, d(3, 10, 2027)),
        ("April 2nd, 2027", WED, d(4, 2, 2027)),
        ("the 1st of April", WED, d(4, 1)),
        ("primero de abril", WED, d(4, 1)),
        ("el próximo 20 de mayo", WED, d(5, 20)),
        ("Jan 4th", d(12, 29), d(1, 4, 2027)),
        ("Feb 29", d(3, 1, 2027), d(2, 29, 2028)),
        ("Tuesday, March 10", WED, d(3, 10)),
        ("friday march 20th", WED, d(3, 20)),  # the calendar date says which day
        # Amounts, phones and times are not dates.
        ("$3.15", WED, None),
        ("3.15 dollars", WED, None),
        ("pay 3.15", WED, None),
        ("at 3:15", WED, None),
        ("call 555-0148", WED, None),
        ("ref 27-004418", WED, None),
        ("INV-3668", WED, None),
        ("I can do $45", WED, None),
        ("in 2-3 weeks", WED, None),
        # The 28th on February 28 is a month on; the 31st on May 31 is today.
        ("I can pay $45 on the 28th", date(2027, 2, 28), date(2027, 3, 28)),
        ("paying on the 31st", date(2027, 5, 31), date(2027, 5, 31)),
        ("el 1ro del mes que entra pago todo", date(2026, 7, 5), date(2026, 8, 1)),
        ("hoy no joven, el lunes que viene le pago", date(2026, 7, 9), date(2026, 7, 13)),
        ("hoy no, el viernes", date(2026, 7, 9), date(2026, 7, 10)),
        ("realizare el pago el dia 10/16", date(2026, 10, 2), date(2026, 10, 16)),
    ],
)
def test_find_date(text: str, today: date, expected: date | None) -> None:
    assert find_date(text, today) == expected


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("$200 on 4/1 and $200 on 5/1", WED, [d(4, 1), d(5, 1)]),
        ("puedo 100 el 5 y 100 el 20", WED, [d(3, 5), d(3, 20)]),
        ("half this friday, other half the friday after", WED, [d(3, 6), d(3, 13)]),
        ("la mitad el viernes y la otra el siguiente viernes", SUN, [d(3, 13), d(3, 20)]),
        ("tmrw i get paid so tmrw you get paid", WED, [d(3, 5)]),  # no repeats
        ("Tuesday, March 10", WED, [d(3, 10)]),
        ("$60 tonight and the rest next week", WED, [WED, d(3, 9)]),
        ("$50 today and $50 on the 15th", WED, [WED, d(3, 15)]),
        ("no dates here", WED, []),
    ],
)
def test_find_dates(text: str, today: date, expected: list[date]) -> None:
    assert find_dates(text, today) == expected


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("$120 friday", "120"),
        ("$ 45", "45"),
        ("120 dollars", "120"),
        ("120 dólares el lunes", "120"),
        ("120 dlls", "120"),
        ("$1,200.50 on 11/20", "1200.50"),
        ("120 bucks", "120"),
        ("1.200,50 el viernes", "1200.50"),
        ("USD 75", "75"),
        ("will send 90.50", "90.50"),
        ("i can pay 65 on the 22nd", "65"),
        ("el 15 le mando los 120", "120"),
        ("i can do the full 340 next week", "340"),
        ("end of the month, 325 total", "325"),
        ("Le pago el día 20, son 85", "85"),
        ("fifty dollars", "50"),
        ("cien dólares", "100"),
        ("two hundred fifty bucks", "250"),
        ("I'll do the hundred saturday", "100"),
        ("3.15 dollars", "3.15"),
        ("pay 3.15", "3.15"),
        # Bare figures too large for a day of the month, where a day could stand.
        ("Will pay this thursday. 175", "175"),
        ("will pay in 2 weeks, 250", "250"),
        ("ill pay the 15th, 250", "250"),
        ("next week I'll pay the 120", "120"),
        ("i'll have it two weeks from today, all 380", "380"),
        ("el miercoles le hago el deposito de 450", "450"),
        ("Les pago a fin de mes el total de 3,100.", "3100"),
        ("el próximo lunes 31 les deposito 2,500", "2500"),
        ("it'll be 200. been a crazy month", "200"),
        ("el 5 de junio le pago los 2 mil", "2000"),
        ("le consigno los 250 mil", "250000"),
        ("can do 2k friday", "2000"),
        ("abonaré la cantidad pendiente de 340 euros", "340"),
        # Not amounts: dates, times, phones, accounts, counts.
        ("I'll pay the 20", None),  # small enough to be a day: left alone
        ("paying friday, 15.", None),
        ("see you in 2027.", None),
        ("the 1900 block of Main St", None),
        ("paying on the 15th", None),
        ("el 15 le pago", None),
        ("on 3/15", None),
        ("I will pay on 11.3", None),
        ("paying 04.30.2027", None),
        ("call me at 555-0123", None),
        ("account ending 4471", None),
        ("ref #77204", None),
        ("pay in 10 days", None),
        ("i'll pay at 3:15", None),
        ("paying at 12.30 tomorrow", None),  # a time
        ("call me at 4 tomorrow", None),
        ("pay in 2 weeks", None),
    ],
)
def test_find_amount(text: str, amount: str | None) -> None:
    assert find_amount(text) == (Decimal(amount) if amount else None)


def test_find_amounts_in_order_with_repeats() -> None:
    assert find_amounts("$200 on 4/1 and $200 on 5/1") == [Decimal("200.00")] * 2
    assert find_amounts("puedo 100 el 5 y 100 el 20") == [Decimal("100.00")] * 2
    assert find_amounts("$300 on June 10 and the remaining $275.40 on July 10") == [
        Decimal("300.00"),
        Decimal("275.40"),
    ]
    assert find_amounts("$50 now and $50 friday") == [Decimal("50.00")] * 2
    assert find_amounts("i'll send 20 now and 20 next friday") == [Decimal("20.00")] * 2
    assert find_amounts("nothing to pay") == []


DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@given(today=DAYS, n=st.integers(min_value=1, max_value=60))
def test_in_n_days_is_n_days_on(today: date, n: int) -> None:
    assert find_date(f"in {n} days", today) == today + timedelta(days=n)
    assert find_date(f"en {n} días", today) == today + timedelta(days=n)


@given(today=DAYS, weekday=st.integers(min_value=0, max_value=6))
def test_next_weekday_is_that_day_of_the_following_week(today: date, weekday: int) -> None:
    # "next <weekday>" is that weekday in the Monday-to-Sunday week after today's: exactly
    # 7 + weekday days (so 7 to 13) after the Monday of today's week, always after today.
    monday = today - timedelta(days=today.weekday())
    found = find_date(f"next {WEEKDAY_NAMES[weekday]}", today)
    assert found is not None
    assert found.weekday() == weekday
    assert (found - monday).days == 7 + weekday
    assert 1 <= (found - today).days <= 13


@given(today=DAYS, weekday=st.integers(min_value=0, max_value=6))
def test_a_weekday_alone_is_within_the_next_seven_days(today: date, weekday: int) -> None:
    found = find_date(WEEKDAY_NAMES[weekday], today)
    assert found is not None
    assert found.weekday() == weekday
    assert 1 <= (found - today).days <= 7


@given(today=DAYS, day=st.integers(min_value=1, max_value=31))
def test_the_nth_is_the_next_such_day(today: date, day: int) -> None:
    found = find_date(f"on the {day}th" if day > 3 else f"on the {day}", today)
    assert found is not None and found.day == day
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if today == month_end and day == today.day and day >= 29:
        assert found == today  # said on the month's last day, naming it
    else:
        assert today < found <= today + timedelta(days=62)
        # No earlier such day in between.
        assert all((today + timedelta(days=k)).day != day for k in range(1, (found - today).days))
