"""Portfolio files: good rows come back, every bad value is reported where it is."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.errors import AdapterError
from adapters.portfolio_file import (
    ACCEPTED_COLUMNS,
    COLUMNS,
    PortfolioFile,
    PortfolioFileError,
    parse_portfolio,
    read_portfolio,
)

AS_OF = date(2024, 3, 1)
HEADER = ",".join(COLUMNS)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def parse_csv(tmp_path: Path, *rows: str, header: str = HEADER) -> PortfolioFile:
    return parse_portfolio(write(tmp_path, "p.csv", "\n".join([header, *rows]) + "\n"), as_of=AS_OF)


def messages(result: PortfolioFile) -> list[str]:
    return [str(p) for p in result.problems]


GOOD = (
    "A1,Ann Lee,ann@example.com,(415) 555-0100,120.50,USD,2024-01-31,"
    "America/Los_Angeles,ca,en,yes,no"
)


def test_good_file(tmp_path: Path) -> None:
    result = parse_csv(
        tmp_path,
        GOOD,
        "B-2,Bob Stone,,+1 212 555 0199,75,,2024-02-20,,,,,",
        "c3,Cat,cat@example.org,,0.99,eur,2024-04-01,America/New_York|Europe/Paris,NY,ES,,",
    )
    assert result.problems == []
    assert result.rows == 3
    ann, bob, cat = result.accounts

    assert ann.account_id == "A1"
    assert ann.debtor_name == "Ann Lee"
    assert [e.address for e in ann.emails] == ["ann@example.com"]
    assert len(ann.phones) == 1
    assert ann.phones[0].number == "+14155550100"
    assert ann.phones[0].sms_consent is True
    assert ann.phones[0].voice_consent is False
    assert ann.amount_due == Decimal("120.50")
    assert ann.due_date == date(2024, 1, 31)
    assert ann.days_past_due == 30
    assert ann.timezones == ["America/Los_Angeles"]
    assert ann.state == "CA"
    assert ann.country == "US"

    assert bob.emails == []
    assert bob.phones[0].number == "+12125550199"
    assert bob.phones[0].sms_consent is False  # empty means no consent
    assert bob.currency == "USD"
    assert bob.state is None
    assert bob.language == "en"
    assert bob.amount_due == Decimal("75.00")

    assert cat.currency == "EUR"
    assert cat.language == "es"
    assert cat.days_past_due == 0  # not yet due
    assert cat.timezones == ["America/New_York", "Europe/Paris"]


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(415) 555-0100", "+14155550100"),
        ("415-555-0100", "+14155550100"),
        ("415.555.0100", "+14155550100"),
        ("1 415 555 0100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+44 20 7183 8750", "+442071838750"),
    ],
)
def test_phone_formats_normalise_to_e164(tmp_path: Path, raw: str, e164: str) -> None:
    result = parse_csv(tmp_path, f'A1,Ann,,"{raw}",10,,2024-01-01,,,,y,y')
    assert result.problems == []
    assert result.accounts[0].phones[0].number == e164


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    result = parse_csv(
        tmp_path,
        "A1,Ann,ann@example.com,5,2024-02-01",
        header="account_id,name,email,amount_due,due_date",
    )
    assert result.problems == []
    account = result.accounts[0]
    assert account.phones == []
    assert (account.currency, account.language, account.timezones) == ("USD", "en", [])


def test_a_row_may_name_its_own_creditor(tmp_path: Path) -> None:
    result = parse_csv(
        tmp_path,
        'A1,Ann,ann@example.com,5,2024-02-01,"  Northwind   Health "',
        "A2,Bo,bo@example.com,5,2024-02-01,",
        f"A3,Cy,cy@example.com,5,2024-02-01,{'N' * 201}",
        header="account_id,name,email,amount_due,due_date,creditor",
    )
    # Blank: the tenant's creditor (or the tenant itself) is whom it is owed to.
    assert [(a.account_id, a.creditor) for a in result.accounts] == [
        ("A1", "Northwind Health"),
        ("A2", None),
    ]
    assert messages(result) == [f"line 4: creditor: at most 200 characters (got '{'N' * 56}...)"]


# One bad value per case: (column, cell value, expected words in the message).
BAD_VALUES = [
    ("account_id", "", "required"),
    ("account_id", "has space", "letters, digits"),
    ("name", "", "required"),
    ("email", "ann@@example.com", "not a valid email address"),
    ("email", "ann@example", "not a valid email address"),
    ("phone", "555-01", "not a valid phone number"),
    ("phone", "call me", "not a valid phone number"),
    ("amount_due", "", "required"),
    ("amount_due", "-5.00", "greater than zero"),
    ("amount_due", "0", "greater than zero"),
    ("amount_due", "0.00", "greater than zero"),
    ("amount_due", "12.345", "at most 2 decimal places"),
    ("amount_due", "$1,200", "plain decimal number"),
    ("amount_due", "abc", "plain decimal number"),
    ("amount_due", "NaN", "plain decimal number"),
    ("amount_due", "1e3", "plain decimal number"),
    ("amount_due", "-+5", "plain decimal number"),
    ("amount_due", "١٢٣", "plain decimal number"),  # non-ASCII digits
    ("amount_due", "99999999999999999", "at most 999999999999.99"),
    ("amount_due", "1000000000000.00", "at most 999999999999.99"),
    ("currency", "US", "3-letter currency code"),
    ("currency", "dollars", "3-letter currency code"),
    ("due_date", "", "required"),
    ("due_date", "03/01/2024", "YYYY-MM-DD"),
    ("due_date", "2024-02-30", "not a real date"),
    ("due_date", "0001-01-01", "must be 1900-01-01 or later"),
    ("due_date", "1899-12-31", "must be 1900-01-01 or later"),
    ("due_date", "2999-01-01", "or earlier: a debt that is not due yet"),
    ("timezone", "Mars/Olympus", "unknown IANA time zone"),
    ("timezone", "America/New_York|EST5EDT|Nowhere/City", "'Nowhere/City'"),
    ("state", "California", "2-letter state code"),
    ("language", "english", "2-letter language code"),
    ("sms_consent", "maybe", "expected true/false"),
    ("voice_consent", "2", "expected true/false"),
]


@pytest.mark.parametrize(("column", "value", "words"), BAD_VALUES)
def test_each_bad_value_is_reported_with_line_and_column(
    tmp_path: Path, column: str, value: str, words: str
) -> None:
    cells = dict(zip(COLUMNS, GOOD.split(","), strict=True))
    cells[column] = value
    bad_row = ",".join(f'"{cells[c]}"' for c in COLUMNS)
    result = parse_csv(tmp_path, GOOD.replace("A1", "A0"), bad_row, GOOD.replace("A1", "A2"))

    assert [p.field for p in result.problems] == [column], messages(result)
    problem = result.problems[0]
    assert problem.location == "line 3"
    assert words in problem.message
    assert str(problem).startswith(f"line 3: {column}: ")
    # The good rows around it still come back.
    assert [a.account_id for a in result.accounts] == ["A0", "A2"]
    assert result.rows == 3


def test_odd_values_never_crash_the_parser(tmp_path: Path) -> None:
    odd = ["-", "+", ".", "-.", "1.", "\u2028", "0x10", "1_000", "١٢٣", "Infinity", "-0", "é@é.é"]
    rows = []
    for n, value in enumerate(odd):
        cells = dict(zip(COLUMNS, GOOD.split(","), strict=True))
        for column in COLUMNS:
            row = {**cells, "account_id": f"X{n}-{column}", column: value}
            rows.append(",".join(f'"{row[c]}"' for c in COLUMNS))
    result = parse_csv(tmp_path, *rows)
    assert result.rows == len(rows)
    assert len(result.accounts) + len({p.location for p in result.problems}) == len(rows)


def test_row_needs_email_or_phone(tmp_path: Path) -> None:
    result = parse_csv(tmp_path, "A1,Ann,,,10,,2024-01-01,,,,,")
    assert messages(result) == ["line 2: email: needs an email, a phone or a mailing address"]


def test_row_with_several_problems_reports_all(tmp_path: Path) -> None:
    result = parse_csv(tmp_path, GOOD, "A2,Bob,bob@,123,-1,,tomorrow,,Texas,,perhaps,")
    assert result.accounts[0].account_id == "A1"
    assert len(result.accounts) == 1
    assert {p.location for p in result.problems} == {"line 3"}
    assert [p.field for p in result.problems] == [
        "email",
        "phone",
        "sms_consent",
        "amount_due",
        "due_date",
        "state",
    ]


def test_duplicate_account_id_names_the_first_line(tmp_path: Path) -> None:
    result = parse_csv(tmp_path, GOOD, GOOD.replace("A1", "B1"), GOOD)
    assert [a.account_id for a in result.accounts] == ["A1", "B1"]
    assert messages(result) == ["line 4: account_id: duplicate account_id 'A1', first on line 2"]


def test_line_numbers_are_physical_lines(tmp_path: Path) -> None:
    # A quoted newline and blank lines: the bad row is on line 6 of the file.
    result = parse_csv(
        tmp_path,
        'A1,"Ann\nLee",ann@example.com,,10,,2024-01-01,,,,,',
        "",
        "A2,Bob,bob@example.com,,10,,2024-01-01,,,,,",
        "A3,Cy,cy@example.com,,oops,,2024-01-01,,,,,",
    )
    assert result.accounts[0].debtor_name == "Ann\nLee"
    assert messages(result) == [
        "line 6: amount_due: must be a plain decimal number such as 1234.50 (got 'oops')"
    ]
    assert result.rows == 3


def test_row_with_too_many_values(tmp_path: Path) -> None:
    result = parse_csv(tmp_path, GOOD + ",extra")
    assert messages(result) == ["line 2: (row): 13 values but the header has 12 columns"]


def test_byte_order_mark_and_header_case_are_accepted(tmp_path: Path) -> None:
    text = (
        "\ufeffAccount_ID, Name ,Email,Amount_Due,Due_Date\r\nA1,Ann,a@example.com,1,2024-01-01\r\n"
    )
    result = parse_portfolio(write(tmp_path, "p.csv", text), as_of=AS_OF)
    assert result.problems == []
    assert result.accounts[0].account_id == "A1"


def test_unknown_columns_are_a_file_error_listing_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(PortfolioFileError) as caught:
        parse_csv(tmp_path, header=HEADER + ",balance,notes")
    message = str(caught.value)
    assert "unknown column(s) 'balance', 'notes'" in message
    assert "allowed columns: account_id, name, email, phone" in message
    assert isinstance(caught.value, AdapterError)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("", "empty file"),
        ("\n\n", "empty file"),
        ("account_id,name,email,due_date\n", "missing required column(s) 'amount_due'"),
        ("account_id,name,amount_due,due_date\n", "needs an 'email', a 'phone' or the address_"),
        ("account_id,name,email,email,amount_due,due_date\n", "repeated column(s) 'email'"),
        ("account_id;name;email;amount_due;due_date\n", "separated by commas"),
        (b"account_id,name,email,amount_due,due_date\nA1,Jos\xe9,,1,2024-01-01\n", "not UTF-8"),
    ],
)
def test_file_level_errors(tmp_path: Path, content: str | bytes, words: str) -> None:
    with pytest.raises(PortfolioFileError) as caught:
        parse_portfolio(write(tmp_path, "p.csv", content), as_of=AS_OF)
    assert words in str(caught.value)


def test_unreadable_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(PortfolioFileError, match="cannot read"):
        parse_portfolio(tmp_path / "missing.csv", as_of=AS_OF)
    with pytest.raises(PortfolioFileError, match="unsupported file type"):
        parse_portfolio(write(tmp_path, "p.xlsx", "x"), as_of=AS_OF)


def test_json_variant(tmp_path: Path) -> None:
    records = [
        {
            "account_id": "J1",
            "name": "Jay",
            "phone": "(415) 555-0100",
            "amount_due": 10.1,
            "due_date": "2024-02-01",
            "sms_consent": True,
            "timezone": ["America/Chicago"],
        },
        {"account_id": "J2", "name": "Kay", "email": "k@example.com", "amount_due": "0"},
        {
            "account_id": "J3",
            "name": "Lee",
            "email": "l@example.com",
            "amount_due": 5,
            "due_date": "2024-02-01",
            "colour": "red",
        },
        ["not", "an", "object"],
        {
            "account_id": "J5",
            "name": "Max",
            "email": "m@example.com",
            "amount_due": "7.25",
            "due_date": "2024-02-29",
            "voice_consent": "n",
            "state": "tx",
        },
    ]
    for document in (records, {"accounts": records}):
        path = write(tmp_path, "p.json", json.dumps(document))
        result = parse_portfolio(path, as_of=AS_OF)
        assert result.rows == 5
        assert [a.account_id for a in result.accounts] == ["J1", "J5"]
        jay, max_ = result.accounts
        assert jay.amount_due == Decimal("10.10")
        assert jay.phones[0].number == "+14155550100"
        assert jay.phones[0].sms_consent is True
        assert jay.timezones == ["America/Chicago"]
        assert max_.state == "TX"
        assert max_.days_past_due == 1
        assert messages(result) == [
            "record 2: amount_due: must be greater than zero (got '0')",
            "record 2: due_date: required",
            "record 3: colour: unknown field; allowed fields: " + ", ".join(ACCEPTED_COLUMNS),
            "record 4: (row): expected an object with the account's fields, got a list",
        ]


def test_json_values_of_the_wrong_type(tmp_path: Path) -> None:
    record = {
        "account_id": "J1",
        "name": True,
        "email": ["a@example.com"],
        "amount_due": 1,
        "due_date": "2024-01-01",
        "sms_consent": 2,
    }
    result = parse_portfolio(write(tmp_path, "p.json", json.dumps([record])), as_of=AS_OF)
    assert result.accounts == []
    assert messages(result) == [
        "record 1: name: expected text, got a boolean",
        "record 1: email: expected text, got a list",
        "record 1: sms_consent: expected true/false, yes/no, y/n or 1/0 (got 2)",
    ]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[{", "not valid JSON: line 1 column 3"),
        ('{"rows": []}', 'expected a list of accounts or an object {"accounts": [...]}'),
        ('"text"', "expected a list of accounts"),
    ],
)
def test_json_file_errors(tmp_path: Path, content: str, words: str) -> None:
    with pytest.raises(PortfolioFileError) as caught:
        parse_portfolio(write(tmp_path, "p.json", content), as_of=AS_OF)
    assert words in str(caught.value)


def test_json_lines(tmp_path: Path) -> None:
    good = {
        "account_id": "L1",
        "name": "Lou",
        "email": "lou@example.com",
        "amount_due": "3",
        "due_date": "2024-01-01",
    }
    text = json.dumps(good) + "\n\n{broken\n" + json.dumps({**good, "account_id": "L2"}) + "\n"
    result = parse_portfolio(write(tmp_path, "p.jsonl", text), as_of=AS_OF)
    assert [a.account_id for a in result.accounts] == ["L1", "L2"]
    assert [(p.location, p.field) for p in result.problems] == [("line 3", "(row)")]
    assert result.rows == 3


def test_default_region_reads_national_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.csv",
        "account_id,name,phone,amount_due,due_date\nG1,Gus,020 7183 8750,1,2024-01-01\n",
    )
    result = parse_portfolio(path, as_of=AS_OF, default_region="GB")
    assert result.problems == []
    assert result.accounts[0].phones[0].number == "+442071838750"
    assert result.accounts[0].country == "GB"
    with pytest.raises(ValueError, match="unknown phone region"):
        parse_portfolio(path, as_of=AS_OF, default_region="XX")


def test_due_dates_outside_the_window_are_row_errors_and_good_rows_still_come_back(
    tmp_path: Path,
) -> None:
    # Finding: a due date in 2999 (or year 1) was accepted, and the campaign sent a
    # collection notice at once for a debt not yet due.
    today = datetime.now(UTC).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    cells = dict(zip(COLUMNS, GOOD.split(","), strict=True))

    def row(account_id: str, due: str) -> str:
        return ",".join({**cells, "account_id": account_id, "due_date": due}.values())

    rows = [
        row("D0", "2999-01-01"),
        row("D1", "0001-01-01"),
        row("D2", today.isoformat()),
        row("D3", tomorrow),
        row("D4", "1900-01-01"),
    ]
    path = write(tmp_path, "p.csv", "\n".join([HEADER, *rows]) + "\n")

    # The default: a debt must already be due (today, UTC, at the latest).
    result = parse_portfolio(path, as_of=today)
    assert [a.account_id for a in result.accounts] == ["D2", "D4"]
    assert [(p.location, p.field) for p in result.problems] == [
        ("line 2", "due_date"),
        ("line 3", "due_date"),
        ("line 5", "due_date"),
    ]
    future, ancient, not_yet = result.problems
    assert future.message == (
        f"must be {today.isoformat()} or earlier: a debt that is not due yet gets no "
        "collection notice (got '2999-01-01')"
    )
    assert ancient.message == "must be 1900-01-01 or later (got '0001-01-01')"
    assert tomorrow in not_yet.message

    # A deployment that also reminds before the due date (or loads debts east of UTC)
    # allows some days ahead; 2999 stays refused.
    ahead = parse_portfolio(path, as_of=today, latest_due=today + timedelta(days=7))
    assert [a.account_id for a in ahead.accounts] == ["D2", "D3", "D4"]
    assert [p.location for p in ahead.problems] == ["line 2", "line 3"]

    # JSON files (and API bodies, which share the parser) get the same window.
    records = [
        {
            "account_id": "J0",
            "name": "Jo",
            "email": "jo@example.com",
            "amount_due": "5",
            "due_date": "2999-12-31",
        },
        {
            "account_id": "J1",
            "name": "Jo",
            "email": "jo@example.com",
            "amount_due": "5",
            "due_date": "2024-01-01",
        },
    ]
    as_json = parse_portfolio(write(tmp_path, "p.json", json.dumps(records)), as_of=today)
    assert [a.account_id for a in as_json.accounts] == ["J1"]
    assert [(p.location, p.field) for p in as_json.problems] == [("record 1", "due_date")]


def test_amounts_that_are_json_numbers_are_exact_and_bounded(tmp_path: Path) -> None:
    # An API body's JSON numbers arrive as floats; files read them as Decimal.
    from adapters.portfolio_file import parse_records

    base = {"name": "Jo", "email": "jo@example.com", "due_date": "2024-01-01"}
    amounts: list[object] = [250.35, 7, float("inf"), float("nan"), 1e400, 2**63, -0.0, 0.001]
    result = parse_records(
        [{**base, "account_id": f"N{i}", "amount_due": a} for i, a in enumerate(amounts)],
        as_of=AS_OF,
    )
    assert [(a.account_id, a.amount_due) for a in result.accounts] == [
        ("N0", Decimal("250.35")),
        ("N1", Decimal("7.00")),
    ]
    assert {p.location: p.field for p in result.problems} == {
        f"accounts[{i}]": "amount_due" for i in range(2, len(amounts))
    }


ADDRESS_HEADER = HEADER + ",address_line1,address_line2,address_city,address_state,address_zip"
NO_CONTACT = "{id},Ann Lee,,,120.50,USD,2024-01-31,,,,,"


def test_an_address_is_read_into_the_account(tmp_path: Path) -> None:
    result = parse_csv(
        tmp_path,
        NO_CONTACT.format(id="L1") + ",185 Berry St, Suite 6100 ,San Francisco,ca,94107",
        GOOD + ",,,,,",  # no address: none, and the email and phone as before
        NO_CONTACT.format(id="L3") + ",1 Main St,,Boston,MA,02110-1234",
        header=ADDRESS_HEADER,
    )
    assert result.problems == []
    letter_only, plain, no_line2 = result.accounts
    assert letter_only.address is not None
    assert letter_only.address.one_line() == "185 Berry St, Suite 6100, San Francisco, CA 94107"
    assert letter_only.emails == [] and letter_only.phones == []
    assert letter_only.has_contact_point
    assert plain.address is None
    assert no_line2.address is not None
    assert (no_line2.address.line2, no_line2.address.zip) == (None, "02110-1234")


def test_a_partial_or_bad_address_is_a_row_error_naming_the_field(tmp_path: Path) -> None:
    result = parse_csv(
        tmp_path,
        NO_CONTACT.format(id="L1") + ",185 Berry St,,San Francisco,,94107",
        NO_CONTACT.format(id="L2") + ",,Suite 2,,,",
        NO_CONTACT.format(id="L3") + ",1 Main St,,Boston,Mass.,2110",
        NO_CONTACT.format(id="L4") + "," + "x" * 65 + ",,Boston,MA,02110",
        GOOD + ",1 Main St,,Boston,MA,02110",
        header=ADDRESS_HEADER,
    )
    # The good row still goes through, with its address.
    [good] = result.accounts
    assert good.account_id == "A1" and good.address is not None
    by_line: dict[str, list[tuple[str, str]]] = {}
    for problem in result.problems:
        by_line.setdefault(problem.location, []).append((problem.field, problem.message))
    assert [f for f, _ in by_line["line 2"]] == ["address_state"]
    assert "a letter needs line1, city, state and zip" in by_line["line 2"][0][1]
    assert [f for f, _ in by_line["line 3"]] == [
        "address_line1",
        "address_city",
        "address_state",
        "address_zip",
    ]
    assert "(address_line2)" in by_line["line 3"][0][1]
    assert by_line["line 4"] == [
        ("address_state", "must be a 2-letter state code such as CA (got 'Mass.')"),
        ("address_zip", "must be a ZIP code such as 94107 or 94107-1234 (got '2110')"),
    ]
    assert [f for f, _ in by_line["line 5"]] == ["address_line1"]
    assert "64 characters" in by_line["line 5"][0][1]


def test_a_file_of_addresses_only_is_a_portfolio(tmp_path: Path) -> None:
    header = "account_id,name,amount_due,due_date," + ",".join(
        ["address_line1", "address_city", "address_state", "address_zip"]
    )
    result = parse_csv(tmp_path, "A1,Ann,10,2024-01-01,1 Main St,Boston,MA,02110", header=header)
    assert result.problems == []
    assert result.accounts[0].address is not None


def test_json_addresses(tmp_path: Path) -> None:
    records = [
        {
            "account_id": "A1",
            "name": "Ann",
            "amount_due": "10",
            "due_date": "2024-01-01",
            "address_line1": "1 Main St",
            "address_city": "Boston",
            "address_state": "MA",
            "address_zip": "02110",
        },
        {
            "account_id": "A2",
            "name": "Bob",
            "amount_due": "10",
            "due_date": "2024-01-01",
            "address_line1": "2 Elm St",
            "address_zip": 2110,
        },
    ]
    result = parse_portfolio(write(tmp_path, "p.json", json.dumps(records)), as_of=AS_OF)
    assert [a.account_id for a in result.accounts] == ["A1"]
    assert [(p.location, p.field) for p in result.problems] == [
        ("record 2", "address_city"),
        ("record 2", "address_state"),
    ]


def test_rows_come_out_as_the_file_is_read(tmp_path: Path) -> None:
    # The broken last line is found only once the good rows before it came out.
    lines = [HEADER, *(GOOD.replace("A1", f"A{i}", 1) for i in range(5)), 'X,"Ann"x']
    rows = read_portfolio(write(tmp_path, "p.csv", "\n".join(lines) + "\n"), as_of=AS_OF)
    taken = [next(rows).location for _ in range(5)]
    assert taken == [f"line {n}" for n in range(2, 7)]
    with pytest.raises(PortfolioFileError, match="line 7: not valid CSV"):
        next(rows)


def test_a_json_error_far_into_the_file_names_its_line_and_column(tmp_path: Path) -> None:
    # Beyond the reader's first chunks: the position is the file's, as json.loads says it.
    records = [{"account_id": f"J{i}", "name": "Jo", "email": "j@example.com"} for i in range(3000)]
    text = json.dumps(records, indent=2).replace('"J2999"', '"J2999" "oops"')
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    where = f"line {expected.value.lineno} column {expected.value.colno}"
    with pytest.raises(PortfolioFileError, match=f"not valid JSON: {where}: Expecting ','"):
        parse_portfolio(write(tmp_path, "p.json", text), as_of=AS_OF)
