"""One way to list any kind of record: a filter expression, a sort order, and pages cut by keyset.

A filter is a small subset of Google's AIP-160 filter syntax: comparisons joined by AND,

    state = "SUCCEEDED" AND created_at >= "2026-11-01T00:00:00Z" AND pipeline_name != 'train'

each `FIELD OP VALUE` with OP one of = != < <= > >= and VALUE a quoted string, a number, true,
false or null. The text is parsed here into SQLAlchemy expressions over the fields a listing
allows; values become bound parameters. Nothing of the text ever reaches SQL as SQL, so a
filter cannot inject anything: what does not parse, or names a field not allowed, is refused.

An order is `FIELD` or `FIELD asc|desc` over the listing's sortable fields; the record's id
breaks ties. Pages are cut by keyset on (FIELD, id), never by OFFSET: a page costs the same
however deep it is, and records created meanwhile neither repeat nor go missing. A page token
names the order it was made for, so it cannot be misread under another.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from ...core.errors import SluicewayError

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
MAX_FILTER_TERMS = 20
"""More comparisons than anyone writes by hand: a bound on what one request can make the database do."""


class BadListRequest(SluicewayError):
    """A filter, order or page token that cannot be used; `parameter` names which of the three."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.reason = message


@dataclass(frozen=True)
class Field:
    """A field a listing may filter on (and sort by, if `sortable`): its column and the Python type of its values."""

    column: InstrumentedAttribute[Any]
    kind: type
    sortable: bool = False


@dataclass(frozen=True)
class Listing:
    """What may be listed of one kind of record: its fields by name, its id column, its default order."""

    fields: dict[str, Field]
    id_column: InstrumentedAttribute[Any]
    default_order: str = "created_at desc"
    implied: dict[str, Any] = field(default_factory=dict)
    """`FIELD = VALUE` comparisons a filter is taken to have unless it names FIELD itself: how a listing hides records
    (archived runs) that a client still reaches by asking for them (`archived = true`, or `archived != null` for all)."""

    def sortable(self) -> list[str]:
        return [name for name, spec in self.fields.items() if spec.sortable]


@dataclass(frozen=True)
class ListRequest:
    """A listing's parameters, as a client gives them."""

    filter: str = ""
    order_by: str = ""
    page_size: int = DEFAULT_PAGE_SIZE
    page_token: str | None = None


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_page_token: str | None
    """Pass it back, with the same order, to get the next page; None on the last page."""


def fetch(session: Session, query: Select[Any], listing: Listing, request: ListRequest) -> Page:
    """One page of `query`'s rows (of the listing's model), filtered, sorted and cut as `request` says."""
    if not 1 <= request.page_size <= MAX_PAGE_SIZE:
        raise BadListRequest("page_size", f"must be between 1 and {MAX_PAGE_SIZE}, got {request.page_size}")
    name, descending = parse_order(listing, request.order_by or listing.default_order)
    sort = listing.fields[name]
    query = query.where(*_with_implied(listing, _parse_filter(listing, request.filter)))
    if request.page_token:
        value, last_id = _decode_token(request.page_token, _order_text(name, descending), sort.kind)
        dialect = session.get_bind().dialect.name
        query = query.where(keyset_after((sort.column, listing.id_column), (value, last_id), descending=descending, dialect=dialect))
    columns = (sort.column, listing.id_column)
    order = [column.desc() for column in columns] if descending else list(columns)
    rows = list(session.scalars(query.order_by(*order).limit(request.page_size + 1)))
    more = len(rows) > request.page_size
    rows = rows[: request.page_size]
    token = None
    if more:
        last = rows[-1]
        token = _encode_token(_order_text(name, descending), getattr(last, sort.column.key), getattr(last, listing.id_column.key))
    return Page(rows, token)


def keyset_after(
    columns: Sequence[InstrumentedAttribute[Any]], last: Sequence[Any], *, descending: bool, dialect: str
) -> ColumnElement[bool]:
    """Rows past `last` (the values of `columns` on the previous page's last row) in the listing's order, written the
    way each database turns into an index range."""
    first, tie = columns
    first_value, tie_value = last
    if dialect != "mysql":  # PostgreSQL and SQLite range over a row comparison directly
        key, bound = tuple_(first, tie), tuple_(first_value, tie_value)
        return key < bound if descending else key > bound
    # MySQL does not use the index for a row comparison; written out, it does.
    if descending:
        return or_(first < first_value, and_(first == first_value, tie < tie_value))
    return or_(first > first_value, and_(first == first_value, tie > tie_value))


def parse_order(listing: Listing, text: str) -> tuple[str, bool]:
    """`FIELD [asc|desc]` as (field, descending)."""
    words = text.split()
    allowed = ", ".join(listing.sortable())
    if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
        raise BadListRequest("order_by", f"expected 'FIELD' or 'FIELD asc|desc' with FIELD one of {allowed}, got {text!r}")
    name = words[0]
    spec = listing.fields.get(name)
    if spec is None or not spec.sortable:
        raise BadListRequest("order_by", f"cannot sort by {name!r}; sortable fields: {allowed}")
    return name, len(words) == 2 and words[1].lower() == "desc"


def _order_text(name: str, descending: bool) -> str:
    return f"{name} {'desc' if descending else 'asc'}"


# --- filters -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_OPERATORS = {
    "=": lambda c, v: c == v if v is not None else c.is_(None),
    "!=": lambda c, v: c != v if v is not None else c.is_not(None),
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}


def parse_filter(listing: Listing, text: str) -> list[ColumnElement[bool]]:
    """The comparisons of a filter expression, to be ANDed; [] for an empty filter."""
    return [term for _, term in _parse_filter(listing, text)]


def _with_implied(listing: Listing, terms: list[tuple[str, ColumnElement[bool]]]) -> list[ColumnElement[bool]]:
    """The filter's comparisons, and the listing's implied ones for the fields it does not name."""
    named = {name for name, _ in terms}
    implied = [listing.fields[name].column == value for name, value in listing.implied.items() if name not in named]
    return [term for _, term in terms] + implied


def _parse_filter(listing: Listing, text: str) -> list[tuple[str, ColumnElement[bool]]]:
    """(field, comparison) of each term of a filter expression."""
    tokens = _tokens(text)
    if not tokens:
        return []
    terms: list[tuple[str, ColumnElement[bool]]] = []
    position = 0
    while True:
        if len(terms) == MAX_FILTER_TERMS:
            raise BadListRequest("filter", f"at most {MAX_FILTER_TERMS} comparisons")
        if position + 3 > len(tokens):
            raise BadListRequest("filter", f"expected FIELD OP VALUE at the end of {text!r}")
        (name_kind, name, at), (op_kind, op, op_at), (value_kind, raw, value_at) = tokens[position : position + 3]
        if name_kind != "word":
            raise BadListRequest("filter", f"expected a field name at position {at}, got {name!r}")
        spec = listing.fields.get(name)
        if spec is None:
            raise BadListRequest("filter", f"cannot filter on {name!r}; fields: {', '.join(listing.fields)}")
        if op_kind != "op":
            raise BadListRequest("filter", f"expected one of {' '.join(_OPERATORS)} after {name!r} at position {op_at}, got {op!r}")
        value = _value(name, spec, value_kind, raw, value_at)
        if value is None and op not in ("=", "!="):
            raise BadListRequest("filter", f"{name} {op} null: null can only be compared with = or !=")
        terms.append((name, _OPERATORS[op](spec.column, value)))
        position += 3
        if position == len(tokens):
            return terms
        kind, word, word_at = tokens[position]
        if kind != "word" or word.upper() != "AND":
            raise BadListRequest("filter", f"expected AND at position {word_at}, got {word!r} (comparisons are joined by AND)")
        position += 1


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) of each token; anything that is not a token is refused, with where it is."""
    found: list[tuple[str, str, int]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.lastgroup is None:
            start = len(stripped) - len(stripped[position:].lstrip())
            raise BadListRequest("filter", f"unexpected {stripped[start : start + 10]!r} at position {start}")
        found.append((match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
        position = match.end()
    return found


def _value(name: str, spec: Field, kind: str, raw: str, at: int) -> Any:
    """A filter's value as the field's type: strings quoted, times as ISO 8601 strings, numbers and booleans bare."""
    if kind == "word" and raw in ("null", "NULL"):
        return None
    if spec.kind is bool:
        if kind == "word" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise BadListRequest("filter", f"{name} is true or false, got {raw!r} at position {at}")
    if spec.kind is int:
        if kind == "number" and "." not in raw:
            return int(raw)
        raise BadListRequest("filter", f"{name} is an integer, got {raw!r} at position {at}")
    if kind != "string":
        raise BadListRequest("filter", f"{name} takes a quoted string, got {raw!r} at position {at}")
    text = re.sub(r"\\(.)", r"\1", raw[1:-1])  # a backslash takes the next character as it is (a quote, a backslash)
    if spec.kind is datetime:
        return _utc(name, text)
    return text


def _utc(name: str, text: str) -> datetime:
    """An ISO 8601 time (or date) as UTC; a time without a zone is taken as UTC, as every stored time is."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BadListRequest("filter", f"{name} takes an ISO 8601 time such as 2026-11-01T09:30:00Z, got {text!r}") from None
        moment = datetime(day.year, day.month, day.day)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# --- page tokens -------------------------------------------------------------------------------


def _encode_token(order: str, value: Any, last_id: Any) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    payload = json.dumps({"order": order, "after": [value, last_id]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_token(token: str, order: str, kind: type) -> tuple[Any, Any]:
    """The (sort value, id) a page ended at, as the database gave them."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        made_for, (value, last_id) = payload["order"], payload["after"]
    except (ValueError, TypeError, KeyError) as error:
        raise BadListRequest("page_token", f"{token!r} is not a page token from this listing") from error
    if made_for != order:
        raise BadListRequest("page_token", f"this token continues a listing ordered by '{made_for}', not '{order}'")
    try:
        return (datetime.fromisoformat(value) if kind is datetime else value), last_id
    except (ValueError, TypeError) as error:
        raise BadListRequest("page_token", f"{token!r} is not a page token from this listing") from error
