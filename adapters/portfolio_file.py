"""Read a portfolio file (CSV, JSON or JSON Lines) into validated accounts.

Validation is per row: a bad row becomes problems naming its line (or record)
and input column, and every other row still comes back, so the caller decides
whether a partly bad file is acceptable (``--strict``). Only problems that make
the whole file unusable (unreadable, not UTF-8, not JSON, bad header) raise
``PortfolioFileError``.

Due dates must fall in a window: not before 1900 (a typo, or a spreadsheet's zero
date) and not after ``latest_due`` (the caller's setting; by default today, UTC):
a campaign's first message is a collection notice, sent at once, and a debt that is
not due yet must not get one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TextIO, TypeVar
from zoneinfo import available_timezones

import phonenumbers
from pydantic import BaseModel, TypeAdapter, ValidationError

from adapters.errors import AdapterError
from domain.account import MAX_AMOUNT, Account, Identifier, PostalAddress
from domain.errors import FieldProblem, problems
from domain.portfolio import ADDRESS_COLUMNS, PORTFOLIO_COLUMNS

COLUMNS = PORTFOLIO_COLUMNS
# Accepted beyond the documented portfolio columns (compliance facts, call order, and
# whom the account's debt is owed to when not the tenant's creditor).
OPTIONAL_COLUMNS = ("time_barred", "priority", "creditor", *ADDRESS_COLUMNS)
ACCEPTED_COLUMNS = COLUMNS + OPTIONAL_COLUMNS
REQUIRED_COLUMNS = ("account_id", "name", "amount_due", "due_date")

# Account fields → the input column a problem with them should name.
_INPUT_NAME = {
    "debtor_name": "name",
    "emails": "email",
    "phones": "phone",
    "timezones": "timezone",
    "days_past_due": "due_date",
}
# A problem that is about the row as a whole rather than one column.
_ROW = "(row)"

_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})
_AMOUNT = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$", re.ASCII)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_TWO_LETTERS = re.compile(r"^[A-Za-z]{2}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
# Stricter than the domain's pattern (which only guards the shape): rejects the
# typical spreadsheet mistakes — two addresses in one cell, trailing dots, commas.
_EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[\w.!#$%&'*+/=?^`{|}~-]+(?<!\.)"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})$"
)
_CENT = Decimal("0.01")
# The earliest due date accepted: older ones are typos or a spreadsheet's day zero.
EARLIEST_DUE_DATE = date(1900, 1, 1)
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)

T = TypeVar("T")


class PortfolioFile(BaseModel):
    """What a portfolio file held: the valid accounts and the problems of the others."""

    accounts: list[Account]
    problems: list[FieldProblem]
    rows: int


class ParsedRow(NamedTuple):
    """One row of a portfolio file: where it is, its account when valid, its problems."""

    location: str
    account: Account | None
    problems: list[FieldProblem]


class PortfolioFileError(AdapterError):
    """The file as a whole cannot be read as a portfolio."""


class _Invalid(Exception):
    """One value failed to parse; the message is shown to the user as is."""


def read_portfolio(
    path: Path, *, as_of: date, default_region: str = "US", latest_due: date | None = None
) -> Iterator[ParsedRow]:
    """The rows of ``path`` (by extension: ``.csv``, ``.json`` or ``.jsonl``), one at a time.

    The file is read as the rows are taken, so memory does not grow with its size
    (beyond the account ids seen, which duplicates are found by). ``as_of``,
    ``default_region`` and ``latest_due`` as for ``parse_portfolio``.

    An unsupported or unreadable file and a bad region raise at once. What makes the
    whole file unusable but shows only further on (a CSV quoting error or a JSON syntax
    error on line 80,000, a byte that is not UTF-8) raises ``PortfolioFileError`` while
    iterating, after earlier rows came out: whoever stored those undoes it
    (``PortfolioStore.save`` stores a portfolio in one transaction).
    """
    region = _region(default_region)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".json", ".jsonl"}:
        raise PortfolioFileError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; use .csv, .json or .jsonl"
        )
    _open(path).close()  # "cannot read" now, not on the first row
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix == ".json":
        records = _json_records(path)
    else:
        records = _jsonl_records(path)
    return _parse_rows(records, as_of=as_of, region=region, latest_due=latest_due)


def parse_portfolio(
    path: Path, *, as_of: date, default_region: str = "US", latest_due: date | None = None
) -> PortfolioFile:
    """Parse ``path`` (by extension: ``.csv``, ``.json`` or ``.jsonl``) all at once.

    ``as_of`` is the day ``days_past_due`` is counted to; ``default_region`` (ISO
    3166 alpha-2) is used for phone numbers written without a country code and is
    the accounts' country. ``latest_due`` is the latest due date accepted (default:
    today, UTC; ``Settings.latest_due_date`` applies the deployment's setting).

    Holds every account in memory: for small files (the demo, tests). A launch reads
    its file with ``read_portfolio``, a row at a time.
    """
    return _collect(
        read_portfolio(path, as_of=as_of, default_region=default_region, latest_due=latest_due)
    )


def parse_records(
    records: Iterable[Mapping[str, object]],
    *,
    as_of: date,
    default_region: str = "US",
    location: str = "accounts",
    latest_due: date | None = None,
) -> PortfolioFile:
    """Parse account records given as JSON objects (the API's body), like a JSON file.

    A problem's location is ``{location}[i]``, counting from 0 as JSON does.
    ``latest_due`` as for ``parse_portfolio``.
    """
    region = _region(default_region)
    numbered: Iterator[_Record] = (
        (f"{location}[{i}]", _json_object(r)) for i, r in enumerate(records)
    )
    return _collect(_parse_rows(numbered, as_of=as_of, region=region, latest_due=latest_due))


def _region(default_region: str) -> str:
    region = default_region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {default_region!r}")
    return region


def _parse_rows(
    records: Iterable[_Record], *, as_of: date, region: str, latest_due: date | None
) -> Iterator[ParsedRow]:
    parser = _RowParser(
        as_of=as_of, region=region, latest_due=latest_due or datetime.now(UTC).date()
    )
    for where, record in records:
        if isinstance(record, _Invalid):
            yield ParsedRow(
                where, None, [FieldProblem(location=where, field=_ROW, message=str(record))]
            )
            continue
        account, row_problems = parser.parse(where, record)
        yield ParsedRow(where, account, row_problems)


def _collect(rows: Iterable[ParsedRow]) -> PortfolioFile:
    accounts: list[Account] = []
    found: list[FieldProblem] = []
    count = 0
    for row in rows:
        count += 1
        found.extend(row.problems)
        if row.account is not None:
            accounts.append(row.account)
    return PortfolioFile(accounts=accounts, problems=found, rows=count)


# --- reading the file --------------------------------------------------------

# A record is its location ("line 3", "record 2") and either its values or the
# reason it could not be read at all (a JSON Lines line that is not JSON, ...).
_Record = tuple[str, Mapping[str, object] | _Invalid]

# Characters read at a time; the most a JSON record may take (an account is a few
# hundred bytes: anything near this is a broken file, not a record).
_CHUNK = 64 * 1024
_MAX_RECORD = 1024 * 1024


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise PortfolioFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc


@contextmanager
def _decoded(path: Path, newline: str) -> Iterator[TextIO]:
    """``path`` decoded as it is read; a byte that is not UTF-8 names its line."""
    # utf-8-sig: spreadsheets often save UTF-8 with a byte-order mark.
    with io.TextIOWrapper(_open(path), encoding="utf-8-sig", newline=newline) as text:
        try:
            yield text
        except UnicodeDecodeError as exc:
            raise PortfolioFileError(
                f"{path}: not UTF-8 text (first bad byte on line {_first_bad_line(path)}); "
                "save the file as UTF-8 and try again"
            ) from exc


def _first_bad_line(path: Path) -> int:
    # Line by line is exact: no byte of a multi-byte UTF-8 sequence is b"\n".
    with _open(path) as binary:
        for number, line in enumerate(binary, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _csv_records(path: Path) -> Iterator[_Record]:
    with _decoded(path, newline="") as text:
        reader = csv.reader(text, strict=True)
        header: list[str] | None = None
        end_of_previous = 0  # reader.line_num counts physical lines, quoted newlines too
        try:
            for cells in reader:
                line = end_of_previous + 1
                end_of_previous = reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue  # blank lines and spreadsheet rows of bare commas
                if header is None:
                    header = _check_header(path, line, cells)
                    continue
                if len(cells) > len(header):
                    yield (
                        f"line {line}",
                        _Invalid(f"{len(cells)} values but the header has {len(header)} columns"),
                    )
                    continue
                # Short rows are read leniently: missing trailing cells are empty.
                yield f"line {line}", dict(zip(header, cells, strict=False))
        except csv.Error as exc:
            raise PortfolioFileError(
                f"{path}: line {reader.line_num}: not valid CSV: {exc}"
            ) from exc
    if header is None:
        raise PortfolioFileError(f"{path}: empty file, expected a header row: {_allowed()}")


def _check_header(path: Path, line: int, cells: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    where = f"{path}: line {line} (header)"
    if "" in names:
        raise PortfolioFileError(f"{where}: column {names.index('') + 1} has no name")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise PortfolioFileError(f"{where}: repeated column(s) {_quoted(repeated)}")
    unknown = [n for n in names if n not in ACCEPTED_COLUMNS]
    if unknown:
        hint = ""
        if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            hint = " (columns must be separated by commas)"
        raise PortfolioFileError(
            f"{where}: unknown column(s) {_quoted(unknown)}{hint}; {_allowed()}"
        )
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing:
        raise PortfolioFileError(f"{where}: missing required column(s) {_quoted(missing)}")
    if "email" not in names and "phone" not in names and "address_line1" not in names:
        raise PortfolioFileError(
            f"{where}: needs an 'email', a 'phone' or the address_* columns (any of them)"
        )
    return names


def _json_records(path: Path) -> Iterator[_Record]:
    # newline="": positions are those of the file, so errors name its lines and columns.
    with _decoded(path, newline="") as text:
        for number, item in enumerate(_json_accounts(_JsonText(path, text)), start=1):
            yield f"record {number}", _json_object(item)


def _json_accounts(doc: _JsonText) -> Iterator[object]:
    """The items of a JSON list, or of the list in an object ``{"accounts": [...]}``.

    Checked in the order ``json.loads`` reads, so a broken document gets the error it
    would give; one that is valid JSON of another shape says what is expected.
    """
    shape = PortfolioFileError(
        f'{doc.path}: expected a list of accounts or an object {{"accounts": [...]}}'
    )
    wrapped = doc.peek() == "{"
    if wrapped:
        doc.take()
        if doc.peek() == "}":
            doc.take()
            doc.end()
            raise shape
        if doc.peek() != '"':
            raise doc.error("Expecting property name enclosed in double quotes")
        key = doc.value()
        doc.expect(":", "Expecting ':' delimiter")
        if key != "accounts":
            doc.value()
            doc.rest_of_object()
            raise shape
    if doc.peek() != "[":
        doc.value()
        if wrapped:
            doc.rest_of_object()
        doc.end()
        raise shape
    doc.take()
    if doc.peek() == "]":
        doc.take()
    else:
        while True:
            yield doc.value()
            if doc.peek() == "]":
                doc.take()
                break
            doc.expect(",", "Expecting ',' delimiter")
    if wrapped and doc.rest_of_object():
        raise shape  # keys beside "accounts"
    doc.end()


class _JsonText:
    """A JSON document read a chunk at a time, values decoded one by one.

    Only what is not yet decoded is kept: a list of 100,000 accounts never sits in
    memory whole. Errors name the line and column as ``json.loads`` would.
    """

    def __init__(self, path: Path, text: TextIO) -> None:
        self.path = path
        self._file = text
        # Decimal keeps amounts exact: 0.1 + 0.2 must stay 0.30, not 0.30000000000000004.
        self._decoder = json.JSONDecoder(parse_float=Decimal)
        self._buffer = ""
        self._pos = 0  # next character to decode, in _buffer
        self._dropped = 0  # characters before _buffer
        self._lines = 0  # newlines among them
        self._line_start = 0  # where the line holding _buffer[0] starts, in the file
        self._eof = False

    def peek(self) -> str:
        """The next character that is not whitespace; "" at the end of the file."""
        while True:
            found = _NOT_WHITESPACE.search(self._buffer, self._pos)
            if found is not None:
                self._pos = found.start()
                return self._buffer[self._pos]
            self._pos = len(self._buffer)
            if not self._more():
                return ""

    def take(self) -> None:
        """Step over the character ``peek`` returned."""
        self._pos += 1

    def expect(self, char: str, message: str) -> None:
        if self.peek() != char:
            raise self.error(message)
        self.take()

    def rest_of_object(self) -> bool:
        """Read up to the end of the object whose first value was read (and the end of
        the document), a value at a time; whether it had more keys."""
        more = False
        while self.peek() == ",":
            self.take()
            more = True
            if self.peek() != '"':
                raise self.error("Expecting property name enclosed in double quotes")
            self.value()
            self.expect(":", "Expecting ':' delimiter")
            self.value()
        self.expect("}", "Expecting ',' delimiter")
        self.end()
        return more

    def end(self) -> None:
        """Nothing but whitespace may follow the document."""
        if self.peek():
            raise self.error("Extra data")

    def value(self) -> object:
        """The next JSON value."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                # Most often the value goes on in the next chunk: read on and try again.
                if len(self._buffer) - self._pos < _MAX_RECORD:
                    if self._more():
                        continue
                    raise self.error(exc.msg, exc.pos) from exc
                # Not read to its end: a syntax error, or a value far too long to be one.
                raise self.error(
                    f"{exc.msg} (or a value longer than {_MAX_RECORD // 2**20} MiB, "
                    "which no account record is)",
                    exc.pos,
                ) from exc
            # A number at the end of the buffer may go on in the next chunk ("12" "34",
            # "1." "5", "1e" "3"): the decoder took what was there, or a part of it.
            if _NUMBER_TAIL.fullmatch(self._buffer, end) and self._more():
                continue
            self._pos = end
            return value

    def error(self, message: str, pos: int | None = None) -> PortfolioFileError:
        at = self._pos if pos is None else pos
        line = self._lines + self._buffer.count("\n", 0, at) + 1
        newline = self._buffer.rfind("\n", 0, at)
        start = self._dropped + newline + 1 if newline >= 0 else self._line_start
        column = self._dropped + at - start + 1
        return PortfolioFileError(
            f"{self.path}: not valid JSON: line {line} column {column}: {message}"
        )

    def _more(self) -> bool:
        """Read the next chunk, dropping what is decoded; False at the end of the file."""
        if self._eof:
            return False
        chunk = self._file.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        done = self._buffer[: self._pos]
        self._lines += done.count("\n")
        newline = done.rfind("\n")
        if newline >= 0:
            self._line_start = self._dropped + newline + 1
        self._dropped += self._pos
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0
        return True


# JSON's whitespace is these four characters only.
_NOT_WHITESPACE = re.compile(r"[^ \t\n\r]")
# What may follow a number's first characters within the number.
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


def _jsonl_records(path: Path) -> Iterator[_Record]:
    # newline="\n": lines end at "\n" only, as JSON strings may hold U+2028 and friends raw.
    with _decoded(path, newline="\n") as text:
        for number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                yield f"line {number}", _Invalid(f"not valid JSON: column {exc.colno}: {exc.msg}")
                continue
            yield f"line {number}", _json_object(item)


def _json_object(item: object) -> Mapping[str, object] | _Invalid:
    if not isinstance(item, dict):
        return _Invalid(f"expected an object with the account's fields, got {_kind(item)}")
    return item


# --- one row -------------------------------------------------------------------


class _RowParser:
    """Turns one row into an Account, or into every problem the row has."""

    def __init__(self, *, as_of: date, region: str, latest_due: date) -> None:
        self._as_of = as_of
        self._region = region
        self._latest_due = latest_due
        self._first_seen: dict[str, str] = {}

    def parse(
        self, where: str, raw: Mapping[str, object]
    ) -> tuple[Account | None, list[FieldProblem]]:
        found: list[FieldProblem] = []

        def value(column: str, parse: Callable[[object], T]) -> T | None:
            try:
                return parse(raw.get(column))
            except _Invalid as exc:
                found.append(FieldProblem(location=where, field=column, message=str(exc)))
                return None

        for key in raw:
            if key not in ACCEPTED_COLUMNS:  # only JSON gets here: CSV headers were checked
                found.append(
                    FieldProblem(
                        location=where,
                        field=str(key),
                        message=f"unknown field; {_allowed('fields')}",
                    )
                )

        account_id = value("account_id", _account_id)
        if account_id is not None:
            first = self._first_seen.setdefault(account_id, where)
            if first != where:
                found.append(
                    FieldProblem(
                        location=where,
                        field="account_id",
                        message=f"duplicate account_id {account_id!r}, first on {first}",
                    )
                )
        name = value("name", _required_text)
        email = value("email", _email)
        number = value("phone", lambda v: _phone(v, self._region))
        sms_consent = value("sms_consent", _flag)
        voice_consent = value("voice_consent", _flag)
        address = _address(raw, where, found)
        no_address = all(_blank(raw.get(c)) for c in ADDRESS_COLUMNS)
        if _blank(raw.get("email")) and _blank(raw.get("phone")) and no_address:
            found.append(
                FieldProblem(
                    location=where,
                    field="email",
                    message="needs an email, a phone or a mailing address",
                )
            )
        amount_due = value("amount_due", _amount)
        due_date = value("due_date", lambda v: _due_date(v, self._latest_due))

        fields: dict[str, Any] = {
            "account_id": account_id,
            "debtor_name": name,
            "emails": [{"address": email}] if email else [],
            "phones": [
                {
                    "number": number,
                    "sms_consent": bool(sms_consent),
                    "voice_consent": bool(voice_consent),
                }
            ]
            if number
            else [],
            "amount_due": amount_due,
            "currency": value("currency", _currency),
            "due_date": due_date,
            "days_past_due": max(0, (self._as_of - due_date).days) if due_date else 0,
            "timezones": value("timezone", _timezones),
            "country": self._region,
            "state": value("state", _state),
            "language": value("language", _language),
            "time_barred": bool(value("time_barred", _flag)),
            "priority": value("priority", _priority),
            "creditor": value("creditor", _creditor),
            "address": address,
        }
        try:
            # Failed values are left out: their problem is already recorded.
            account = Account.model_validate({k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            reported = {p.field for p in found}
            for problem in problems(exc, where, rename=_INPUT_NAME):
                # "email[0].address" → "email": name the column, as every other problem does.
                column = problem.field.split(".")[0].split("[")[0]
                if column not in reported:  # else it is only "Field required" noise
                    found.append(problem.model_copy(update={"field": column}))
            return None, found
        return (None, found) if found else (account, found)


# The address columns and the PostalAddress fields they fill.
_ADDRESS_FIELDS = {
    "address_line1": "line1",
    "address_line2": "line2",
    "address_city": "city",
    "address_state": "state",
    "address_zip": "zip",
}
_ADDRESS_REQUIRED = ("address_line1", "address_city", "address_state", "address_zip")


def _address(
    raw: Mapping[str, object], where: str, found: list[FieldProblem]
) -> PostalAddress | None:
    """The row's mailing address: all of line1, city, state and zip, or none at all.

    A partial address is a problem naming each column it lacks (a letter cannot be
    mailed to half an address); a row without any address columns has none.
    """
    texts: dict[str, str | None] = {}
    bad = False
    for column in ADDRESS_COLUMNS:
        try:
            texts[column] = _text(raw.get(column))
        except _Invalid as exc:
            found.append(FieldProblem(location=where, field=column, message=str(exc)))
            bad = True
    if not bad and all(t is None for t in texts.values()):
        return None
    given = [c for c in ADDRESS_COLUMNS if texts.get(c) is not None]
    for column in _ADDRESS_REQUIRED:
        if column not in texts:
            continue  # its problem is recorded already
        if texts[column] is None:
            found.append(
                FieldProblem(
                    location=where,
                    field=column,
                    message=(
                        "required with the other address columns ("
                        + ", ".join(given)
                        + "): a letter needs line1, city, state and zip"
                    ),
                )
            )
            bad = True
    if bad:
        return None
    state = texts["address_state"]
    fields = {
        _ADDRESS_FIELDS[c]: (t.upper() if c == "address_state" and t else t)
        for c, t in texts.items()
        if t is not None
    }
    try:
        return PostalAddress.model_validate(fields)
    except ValidationError as exc:
        by_field = {f: c for c, f in _ADDRESS_FIELDS.items()}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "line1"
            column = by_field.get(field, "address_line1")
            shown = texts.get(column)
            if field == "state":
                message = f"must be a 2-letter state code such as CA{_got(state)}"
            elif field == "zip":
                message = f"must be a ZIP code such as 94107 or 94107-1234{_got(shown)}"
            else:
                message = f"{error['msg'].lower()}{_got(shown)}"
            found.append(FieldProblem(location=where, field=column, message=message))
        return None


# --- values ---------------------------------------------------------------------
# Each takes the raw cell (a string from CSV; any JSON value) and returns the
# parsed value or raises _Invalid with a message naming what was expected.


def _text(value: object) -> str | None:
    """The value as stripped text; None when absent or blank."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _Invalid(f"expected text, got {_kind(value)}")
    text = str(value).strip()
    return text or None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _required_text(value: object) -> str:
    text = _text(value)
    if text is None:
        raise _Invalid("required")
    return text


def _account_id(value: object) -> str:
    text = _required_text(value)
    try:
        return _IDENTIFIER.validate_python(text)
    except ValidationError:
        raise _Invalid(
            f"must be 1-128 letters, digits or . _ : - starting with a letter or digit{_got(text)}"
        ) from None


def _email(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if not _EMAIL.match(text):
        raise _Invalid(f"not a valid email address{_got(text)}")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"  # domains are case-insensitive; local parts are not


def _phone(value: object, region: str) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise _Invalid(f"not a valid phone number for region {region}{_got(text)}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _amount(value: object) -> Decimal:
    if _blank(value):
        raise _Invalid("required")
    if isinstance(value, bool):
        raise _Invalid(f"expected an amount, got {_kind(value)}")
    if isinstance(value, float):
        # A JSON number in an API body (files read fractions as Decimal). repr is the
        # shortest text that reads back as the same float: 250.35 stays 250.35.
        if not math.isfinite(value):
            raise _Invalid(f"must be a finite amount such as 1234.50{_got(value)}")
        amount = Decimal(repr(value))
    elif isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        # Only plain decimals: "1,234.50" could be European "1.234,50" misread,
        # and "1e3" or "NaN" are never what a spreadsheet meant.
        text = value.strip()
        body = text[1:] if text[:1] in {"+", "-"} else text
        if not _AMOUNT.match(body):
            raise _Invalid(f"must be a plain decimal number such as 1234.50{_got(value)}")
        amount = Decimal(text)
    else:
        raise _Invalid(f"expected an amount, got {_kind(value)}")
    if not amount.is_finite():
        raise _Invalid(f"must be a plain decimal number such as 1234.50{_got(value)}")
    if amount <= 0:
        raise _Invalid(f"must be greater than zero{_got(value)}")
    if amount > MAX_AMOUNT:
        raise _Invalid(f"must be at most {MAX_AMOUNT}{_got(value)}")
    try:
        cents = amount.quantize(_CENT)
    except InvalidOperation:
        raise _Invalid(f"too large{_got(value)}") from None
    if cents != amount:
        raise _Invalid(f"at most 2 decimal places{_got(value)}")
    return cents


def _currency(value: object) -> str:
    text = _text(value)
    if text is None:
        return "USD"
    if not _CURRENCY.match(text):
        raise _Invalid(f"must be a 3-letter currency code such as USD{_got(text)}")
    return text.upper()


def _due_date(value: object, latest: date) -> date:
    text = _required_text(value)
    if not _ISO_DATE.match(text):
        raise _Invalid(f"must be a date as YYYY-MM-DD{_got(text)}")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _Invalid(f"not a real date{_got(text)}") from None
    if day < EARLIEST_DUE_DATE:
        raise _Invalid(f"must be {EARLIEST_DUE_DATE.isoformat()} or later{_got(text)}")
    if day > latest:
        raise _Invalid(
            f"must be {latest.isoformat()} or earlier: a debt that is not due yet "
            f"gets no collection notice{_got(text)}"
        )
    return day


def _timezones(value: object) -> list[str]:
    if isinstance(value, list):  # JSON may give a list instead of "A|B"
        zones = [z for z in (_text(item) for item in value) if z]
    else:
        text = _text(value)
        zones = [z.strip() for z in text.split("|") if z.strip()] if text else []
    unknown = [z for z in zones if z not in _iana_zones()]
    if unknown:
        raise _Invalid(
            f"unknown IANA time zone(s) {_quoted(unknown)}; use names like America/New_York"
        )
    return zones


def _state(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if not _TWO_LETTERS.match(text):
        raise _Invalid(f"must be a 2-letter state code such as CA{_got(text)}")
    return text.upper()


def _language(value: object) -> str:
    text = _text(value)
    if text is None:
        return "en"
    if not _TWO_LETTERS.match(text):
        raise _Invalid(f"must be a 2-letter language code such as en{_got(text)}")
    return text.lower()


def _creditor(value: object) -> str | None:
    """The creditor the row's debt is owed to; blank: the tenant's (``Tenant.creditor_for``)."""
    text = _text(value)
    if text is not None and len(text) > _CREDITOR_MAX:
        raise _Invalid(f"at most {_CREDITOR_MAX} characters{_got(text)}")
    return None if text is None else " ".join(text.split())  # one line: it goes in subjects


_CREDITOR_MAX = 200


def _priority(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _Invalid(f"expected a whole number from 1 (called first) to 5{_got(value)}") from None
    if not 1 <= number <= 5:
        raise _Invalid(f"expected a whole number from 1 (called first) to 5{_got(value)}")
    return number


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid(f"expected true/false, yes/no, y/n or 1/0{_got(value)}")


# --- messages --------------------------------------------------------------------


@cache
def _iana_zones() -> frozenset[str]:
    # available_timezones() scans the zone database: done once per process.
    return frozenset(available_timezones())


def _allowed(what: str = "columns") -> str:
    return f"allowed {what}: " + ", ".join(ACCEPTED_COLUMNS)


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _got(value: object) -> str:
    if isinstance(value, str):
        shown = repr(value.strip())
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        shown = str(value)
    else:
        shown = repr(value)
    return f" (got {shown})" if len(shown) <= 60 else f" (got {shown[:57]}...)"


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):  # JSON fractions are read as Decimal
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
