"""CSV imports of customers and accounts (card events from core banking are in ``accounts.events``).

An import checks every row before it writes anything: a file with any bad row imports
nothing and names each bad row with its line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Customer, LoanAccount, Product
from accounts.policy import RiskTier
from accounts.validators import validate_credit_code, validate_mobile
from portal.bulk import bulk_insert, bulk_save_fields
from portal.exports import inert
from portal.masking import mask_code
from portal.text import TextField

COLUMNS = (
    "account_number",
    "credit_code",
    "customer_name",
    "contact_name",
    "contact_mobile",
    "email",
    "risk_tier",
    "credit_score",
    "product",
    "channel",
    "approved_limit",
)
CUSTOMER_FIELDS = ("name", "contact_name", "contact_mobile", "email", "risk_tier", "credit_score")
MAX_FILE_BYTES = 10 * 1024 * 1024
# A cell as long as the file may be: a too-long value is named by its column's limit, not by csv.
csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
LOOKUP_CHUNK = 5000  # keys per query when looking up what exists
PROGRESS_EVERY = 2000  # rows between two progress reports
Progress = Callable[[int], None]


class AccountRowForm(forms.Form):
    """One CSV row: the customer and one of its loan accounts."""

    account_number = forms.RegexField(
        regex=r"^[A-Z]{2}\d{6,16}$",
        max_length=20,
        error_messages={"invalid": gettext_lazy("account_number must be two capital letters and 6 to 16 digits")},
    )
    credit_code = TextField(max_length=18, validators=[validate_credit_code])
    customer_name = TextField(max_length=200)
    contact_name = TextField(max_length=100)
    contact_mobile = TextField(max_length=11, validators=[validate_mobile])
    email = forms.EmailField(required=False)
    risk_tier = forms.ChoiceField(choices=RiskTier.choices)
    credit_score = forms.IntegerField(min_value=300, max_value=900)
    product = forms.ChoiceField(choices=Product.choices)
    channel = TextField(max_length=60)
    approved_limit = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))

    def clean_credit_code(self) -> str:
        return str(self.cleaned_data["credit_code"]).upper()


ROW_FIELDS = AccountRowForm.base_fields


@dataclass(frozen=True)
class RowError:
    line: int | None  # None: the file itself (its encoding, say), not one of its lines
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    accounts_created: int = 0
    accounts_updated: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors and not self.rows:  # the file itself could not be read
            return _("Nothing was imported: %(problem)s") % {"problem": self.errors[0].message}
        if self.errors:
            return _("%(count)d of %(rows)d rows have errors; nothing was imported.") % {
                "count": len({error.line for error in self.errors}),
                "rows": self.rows,
            }
        text = _(
            "%(rows)d rows: %(cc)d customers created, %(cu)d updated; %(ac)d accounts created, %(au)d updated."
        ) % {
            "rows": self.rows,
            "cc": self.customers_created,
            "cu": self.customers_updated,
            "ac": self.accounts_created,
            "au": self.accounts_updated,
        }
        if self.dry_run:
            text += " " + _("This was a dry run: nothing was saved.")
        return text


def _decode(raw: bytes | str) -> str | RowError:
    """UTF-8 (with or without a byte-order mark), else GB18030: what Excel on Chinese Windows saves."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return RowError(
            None,
            _(
                "The file is neither UTF-8 nor GB18030 text (byte %(position)s is 0x%(byte)02x). "
                "Save it as “CSV UTF-8” and upload it again."
            )
            % {"position": f"{first_bad + 1:,}", "byte": raw[first_bad]},
        )


def _missing_columns(header: list[str]) -> RowError | None:
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        return RowError(1, _("The header row lacks the column(s) %(columns)s.") % {"columns": ", ".join(missing)})
    return None


def file_problem(raw: bytes) -> str | None:
    """What makes the file unreadable as a whole (its encoding, its header), said at upload; None if nothing.

    The rows themselves are checked by the import's job; this reads the header line only.
    """
    text = _decode(raw)
    if isinstance(text, RowError):
        return text.message
    first_line, _newline, rest = text.partition("\n")
    header = [name.strip() for name in next(csv.reader([first_line]), [])]
    problem = _missing_columns(header)
    if problem is not None:
        return problem.message
    if not rest.strip():
        return _("The file has a header row but no data rows.")
    return None


def read_rows(stream: IO[bytes] | IO[str]) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    """(line number, row) pairs from a CSV with a header (UTF-8 or GB18030), or errors about the file itself."""
    raw = _decode(stream.read())
    if isinstance(raw, RowError):
        return [], [raw]
    reader = csv.DictReader(io.StringIO(raw))
    header = [name.strip() for name in reader.fieldnames or []]
    problem = _missing_columns(header)
    if problem is not None:
        return [], [problem]
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            rows.append((reader.line_num, {key: (value or "").strip() for key, value in row.items() if key}))
    except csv.Error as exc:
        return [], [RowError(reader.line_num, _("The file is not valid CSV here: %(error)s") % {"error": exc})]
    if not rows:
        return [], [RowError(1, _("The file has a header row but no data rows."))]
    return rows, []


def _clean_row(row: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """One row through the fields of ``AccountRowForm`` (no form per row: 50,000 rows are a file)."""
    data: dict[str, Any] = {}
    errors: list[str] = []
    for name, row_field in ROW_FIELDS.items():
        try:
            data[name] = row_field.clean(row.get(name, ""))
        except ValidationError as exc:
            errors.extend(f"{name}: {message}" for message in exc.messages)
    if not errors:
        data["credit_code"] = str(data["credit_code"]).upper()
    return data, errors


def _validate(
    rows: list[tuple[int, dict[str, str]]], progress: Progress | None = None
) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """Each row on its own, then the rows against each other (an account twice, a customer told two ways)."""
    valid: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    seen_numbers: dict[str, int] = {}
    customers_in_file: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, (line, row) in enumerate(rows, start=1):
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(index)
        data, problems = _clean_row(row)
        if problems:
            errors.extend(RowError(line, message) for message in problems)
            continue
        number = data["account_number"]
        if number in seen_numbers:
            errors.append(
                RowError(
                    line,
                    _("account %(number)s is also on line %(other)d")
                    % {"number": number, "other": seen_numbers[number]},
                )
            )
            continue
        seen_numbers[number] = line
        customer = _customer_values(data)
        earlier = customers_in_file.get(data["credit_code"])
        if earlier and earlier[1] != customer:
            errors.append(
                RowError(
                    line,
                    _("customer %(code)s has different details on line %(other)d")
                    % {"code": mask_code(data["credit_code"]), "other": earlier[0]},
                )
            )
            continue
        customers_in_file.setdefault(data["credit_code"], (line, customer))
        valid.append((line, data))
    return valid, errors


def _customer_values(data: dict[str, Any]) -> dict[str, Any]:
    return {"name": data["customer_name"], **{key: data[key] for key in CUSTOMER_FIELDS if key != "name"}}


def _in_chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _existing(
    valid: list[tuple[int, dict[str, Any]]], *, lock: bool
) -> tuple[dict[str, Customer], dict[str, LoanAccount]]:
    """The customers and accounts of the file that exist already, a few thousand keys per query."""
    codes = sorted({data["credit_code"] for _line, data in valid})
    numbers = sorted({data["account_number"] for _line, data in valid})
    customers: dict[str, Customer] = {}
    accounts: dict[str, LoanAccount] = {}
    for chunk in _in_chunks(codes):
        found = Customer.objects.filter(credit_code__in=chunk).order_by("pk")
        customers.update((c.credit_code, c) for c in (found.select_for_update() if lock else found))
    for chunk in _in_chunks(numbers):
        found_accounts = LoanAccount.objects.filter(number__in=chunk).select_related("customer").order_by("pk")
        if lock:
            found_accounts = found_accounts.select_for_update(of=("self",))
        accounts.update((a.number, a) for a in found_accounts)
    return customers, accounts


def _plan(valid: list[tuple[int, dict[str, Any]]], report: ImportReport, *, lock: bool) -> _Plan:
    """What the file changes, row by row against what exists; refusals go into ``report.errors``."""
    customers, accounts = _existing(valid, lock=lock)
    plan = _Plan()
    planned: dict[str, Customer] = {}
    for line, data in valid:
        code = data["credit_code"]
        values = _customer_values(data)
        customer = planned.get(code) or customers.get(code)
        if customer is None:
            customer = Customer(credit_code=code, **values)
            plan.new_customers.append(customer)
        elif code not in planned and any(getattr(customer, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(customer, key, value)
            plan.changed_customers.append(customer)
        planned[code] = customer
        account = accounts.get(data["account_number"])
        if account is None:
            plan.new_accounts.append(
                LoanAccount(
                    number=data["account_number"],
                    customer=customer,
                    product=data["product"],
                    channel=data["channel"],
                    approved_limit=data["approved_limit"],
                )
            )
            continue
        if account.customer.credit_code != code:
            report.errors.append(
                RowError(
                    line,
                    _("account %(number)s belongs to customer %(code)s, not to %(other)s")
                    % {
                        "number": account.number,
                        "code": mask_code(account.customer.credit_code),
                        "other": mask_code(code),
                    },
                )
            )
            continue
        if data["approved_limit"] < account.released_limit:
            report.errors.append(
                RowError(
                    line,
                    _("approved_limit %(limit)s is below the %(released)s already released on %(number)s")
                    % {"limit": data["approved_limit"], "released": account.released_limit, "number": account.number},
                )
            )
            continue
        new = (data["product"], data["channel"], data["approved_limit"])
        if (account.product, account.channel, account.approved_limit) != new:
            account.product, account.channel, account.approved_limit = new
            account.version += 1
            plan.changed_accounts.append(account)
    return plan


@dataclass
class _Plan:
    new_customers: list[Customer] = field(default_factory=list)
    changed_customers: list[Customer] = field(default_factory=list)
    new_accounts: list[LoanAccount] = field(default_factory=list)
    changed_accounts: list[LoanAccount] = field(default_factory=list)

    def count(self, report: ImportReport) -> None:
        report.customers_created, report.customers_updated = len(self.new_customers), len(self.changed_customers)
        report.accounts_created, report.accounts_updated = len(self.new_accounts), len(self.changed_accounts)

    def write(self) -> None:
        """In bulk: ``COPY`` for the new rows on PostgreSQL, one ``UPDATE`` per batch of changed ones."""
        bulk_insert(Customer, self.new_customers, with_ids=True)
        for account in self.new_accounts:
            account.customer_id = account.customer.pk
        bulk_save_fields(self.changed_customers, list(CUSTOMER_FIELDS))
        bulk_insert(LoanAccount, self.new_accounts)
        bulk_save_fields(self.changed_accounts, ["product", "channel", "approved_limit", "version"])


def accounts_import(
    stream: IO[bytes] | IO[str], *, dry_run: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Create or update the customers and accounts of a CSV file, all or nothing.

    New accounts start ``approved``. An existing account keeps its state; its product,
    channel and approved limit are updated (the limit never below what is already released).
    Each row is checked on its own first, with nothing locked (``progress`` is told how many
    rows have been checked, every ``PROGRESS_EVERY`` rows); then, in one transaction, what
    exists is read (under lock, unless a dry run), checked against the rows, and everything is
    written in bulk. A dry run stops before writing.
    """
    rows, errors = read_rows(stream)
    report = ImportReport(rows=len(rows), errors=errors, dry_run=dry_run)
    if errors:
        return report
    valid, report.errors = _validate(rows, progress)
    if report.errors:
        return report
    with transaction.atomic():
        plan = _plan(valid, report, lock=not dry_run)
        if not report.errors:
            plan.count(report)
            if not dry_run:
                plan.write()
    return report


def errors_csv(errors: list[RowError]) -> str:
    """The error report: one CSV line per problem, with the file's line number and the reason."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "problem"])
    writer.writerows([error.line if error.line is not None else "", inert(error.message)] for error in errors)
    return out.getvalue()
