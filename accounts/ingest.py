"""CSV imports of customers and accounts (card events from core banking are in ``accounts.events``).

An import checks every row before it writes anything: a file with any bad row imports
nothing and names each bad row with its line number.
"""

from __future__ import annotations

import csv
import io
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


class AccountRowForm(forms.Form):
    """One CSV row: the customer and one of its loan accounts."""

    account_number = forms.RegexField(
        regex=r"^[A-Z]{2}\d{6,16}$",
        max_length=20,
        error_messages={"invalid": gettext_lazy("account_number must be two capital letters and 6 to 16 digits")},
    )
    credit_code = forms.CharField(max_length=18, validators=[validate_credit_code])
    customer_name = forms.CharField(max_length=200)
    contact_name = forms.CharField(max_length=100)
    contact_mobile = forms.CharField(max_length=11, validators=[validate_mobile])
    email = forms.EmailField(required=False)
    risk_tier = forms.ChoiceField(choices=RiskTier.choices)
    credit_score = forms.IntegerField(min_value=300, max_value=900)
    product = forms.ChoiceField(choices=Product.choices)
    channel = forms.CharField(max_length=60)
    approved_limit = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))

    def clean_credit_code(self) -> str:
        return str(self.cleaned_data["credit_code"]).upper()


@dataclass(frozen=True)
class RowError:
    line: int
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


def _form_errors(form: forms.Form) -> list[str]:
    return [f"{name}: {message}" for name, messages in form.errors.items() for message in messages]


def read_rows(stream: IO[bytes] | IO[str]) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    """(line number, row) pairs from a UTF-8 CSV with a header, or errors about the file itself."""
    raw = stream.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return [], [RowError(0, _("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."))]
    reader = csv.DictReader(io.StringIO(raw))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        return [], [RowError(1, _("The header row lacks the column(s) %(columns)s.") % {"columns": ", ".join(missing)})]
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


def _validate(rows: list[tuple[int, dict[str, str]]]) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    valid: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    seen_numbers: dict[str, int] = {}
    customers_in_file: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, row in rows:
        form = AccountRowForm(row)
        if not form.is_valid():
            errors.extend(RowError(line, message) for message in _form_errors(form))
            continue
        data = form.cleaned_data
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
        customer = {
            "name": data["customer_name"],
            **{key: data[key] for key in CUSTOMER_FIELDS if key != "name"},
        }
        earlier = customers_in_file.get(data["credit_code"])
        if earlier and earlier[1] != customer:
            errors.append(
                RowError(
                    line,
                    _("customer %(code)s has different details on line %(other)d")
                    % {"code": data["credit_code"], "other": earlier[0]},
                )
            )
            continue
        customers_in_file.setdefault(data["credit_code"], (line, customer))
        valid.append((line, data))
    return valid, errors


@transaction.atomic
def accounts_import(stream: IO[bytes] | IO[str], *, dry_run: bool = False) -> ImportReport:
    """Create or update the customers and accounts of a CSV file, all or nothing.

    New accounts start ``approved``. An existing account keeps its state; its product,
    channel and approved limit are updated (the limit never below what is already released).
    """
    rows, errors = read_rows(stream)
    report = ImportReport(rows=len(rows), dry_run=dry_run, errors=errors)
    if errors:
        return report
    valid, report.errors = _validate(rows)
    if report.errors:
        return report

    codes = {data["credit_code"] for _line, data in valid}
    numbers = {data["account_number"] for _line, data in valid}
    customers = {c.credit_code: c for c in Customer.objects.select_for_update().filter(credit_code__in=codes)}
    accounts = {
        a.number: a
        for a in LoanAccount.objects.select_for_update().select_related("customer").filter(number__in=numbers)
    }

    touched: set[str] = set()
    for line, data in valid:
        code = data["credit_code"]
        values = {"name": data["customer_name"], **{key: data[key] for key in CUSTOMER_FIELDS if key != "name"}}
        customer = customers.get(code)
        if customer is None:
            customer = Customer(credit_code=code, **values)
            customers[code] = customer
            report.customers_created += 1
            touched.add(code)
        elif code not in touched:
            if any(getattr(customer, key) != value for key, value in values.items()):
                report.customers_updated += 1
            for key, value in values.items():
                setattr(customer, key, value)
            touched.add(code)
        try:
            customer.full_clean()
        except ValidationError as exc:
            report.errors.extend(RowError(line, message) for message in exc.messages)
            continue
        customer.save()

        account = accounts.get(data["account_number"])
        if account is None:
            account = LoanAccount(
                number=data["account_number"],
                customer=customer,
                product=data["product"],
                channel=data["channel"],
                approved_limit=data["approved_limit"],
            )
            report.accounts_created += 1
        else:
            if account.customer.credit_code != code:
                report.errors.append(
                    RowError(
                        line,
                        _("account %(number)s belongs to customer %(code)s, not to %(other)s")
                        % {"number": account.number, "code": account.customer.credit_code, "other": code},
                    )
                )
                continue
            if data["approved_limit"] < account.released_limit:
                report.errors.append(
                    RowError(
                        line,
                        _("approved_limit %(limit)s is below the %(released)s already released on %(number)s")
                        % {
                            "limit": data["approved_limit"],
                            "released": account.released_limit,
                            "number": account.number,
                        },
                    )
                )
                continue
            changed = (account.product, account.channel, account.approved_limit) != (
                data["product"],
                data["channel"],
                data["approved_limit"],
            )
            account.product, account.channel, account.approved_limit = (
                data["product"],
                data["channel"],
                data["approved_limit"],
            )
            report.accounts_updated += int(changed)
        account.save()

    if report.errors or dry_run:
        transaction.set_rollback(True)
        if report.errors:
            report.customers_created = report.customers_updated = 0
            report.accounts_created = report.accounts_updated = 0
    return report
