"""The hostile-input table (``tests/hostile_input.toml``) and the checks both of its readers run.

The test suite posts through Django's test client, ``make reliability`` over HTTP to gunicorn;
each gives the checks a way to post (``Poster``) and gets back the list of what went wrong (an
empty list when every answer was right). The objects the rows name (``{case.pk}``) are made
fresh for each check, so one row's accepted value cannot change what the next row meets.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse

TABLE: dict[str, Any] = tomllib.loads((Path(__file__).with_name("hostile_input.toml")).read_text(encoding="utf-8"))
VALUES: dict[str, dict[str, Any]] = TABLE["values"]
FORMS: dict[str, dict[str, Any]] = {row["name"]: row for row in TABLE["forms"]}
WEBHOOK: dict[str, dict[str, Any]] = {row["name"]: row for row in TABLE["webhook"]}
IMPORTS: dict[str, dict[str, Any]] = {row["name"]: row for row in TABLE["imports"]}
_serial = itertools.count(1)


@dataclass
class Answer:
    status: int
    text: str = ""
    location: str = ""
    data: dict[str, Any] = field(default_factory=dict)


# (username, path, form fields, files as {field: (name, bytes)}) -> the answer, redirects not followed
Poster = Callable[[str, str, dict[str, Any], dict[str, tuple[str, bytes]]], Answer]
# (path) -> the page's text, as the importing user sees it
Getter = Callable[[str], str]


def value(name: str) -> str:
    spec = VALUES[name]
    return str(spec["text"]) * int(spec.get("repeat", 1))


def raw_bytes(escaped: str) -> bytes:
    """Bytes written in the table with Python escapes (``\\xff``)."""
    decoded: bytes = codecs.escape_decode(escaped.encode("latin-1"))[0]
    return decoded


def fill(template: Any, objects: dict[str, Any]) -> Any:
    """``{case.pk}`` and the like, filled in from ``objects``, through dicts and lists."""
    if isinstance(template, str):
        return template.format(**objects)
    if isinstance(template, dict):
        return {key: fill(item, objects) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, objects) for item in template]
    return template


def make_objects() -> dict[str, Any]:
    """What the rows act on, fresh: accounts, a case with its agent, a four-eyes request, a case study."""
    from accounts.models import ApprovalRequest, EmptyCause, State
    from accounts.services import approval_request_create
    from casework.models import CaseStudy
    from casework.services import case_open_for_account, cases_assign
    from portal.actors import Actor
    from tests.factories import make_account

    users = {user.username: user for user in User.objects.filter(username__in=["service", "credit", "lead"])}
    case = case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
        cause=EmptyCause.CUSTOMER_INCOMPLETE,
        actor=Actor.system("test", "job"),
    )
    # Each row makes its own case: past the column's WIP limit after a few dozen, so the lead assigns it.
    cases_assign(
        case_ids=[case.pk], assignee=users["service"], by=users["lead"], wip_override="one case per hostile row"
    )
    case.refresh_from_db()
    held = make_account(
        State.EMPTY, EmptyCause.RISK_HOLD, tier="high", steps=["sms_code", "password", "credit_review"], activated=True
    )
    approval = approval_request_create(
        account_id=held.pk, kind=ApprovalRequest.Kind.RELEASE_HOLD, requested_by=users["credit"], reason="cleared"
    )
    study = CaseStudy.objects.create(
        title="Mobile app channel missing", cause=EmptyCause.SYSTEM_CONFIG, outcome=CaseStudy.Outcome.PROBLEM,
        source_label="Incident", summary="s", root_cause="first guess", what_worked="w", what_to_change="c",
        author=users["lead"], author_name="Lead",
    )  # fmt: skip
    return {
        "active": make_account(State.ACTIVE),
        "verifying": make_account(State.VERIFYING, steps=["sms_code"]),
        "case": case,
        "approval": approval,
        "study": study,
    }


def _rows(spec: dict[str, Any], objects: dict[str, Any]) -> Any:
    model = apps.get_model(spec["written"])
    return model._default_manager.filter(**fill(spec.get("written_filter", {}), objects))


def check_form(post: Poster, form_name: str, value_name: str) -> list[str]:
    """Post the value into the form's field: refused (400, the message, nothing written) or kept as typed."""
    spec, hostile = FORMS[form_name], VALUES[value_name]
    objects = make_objects()
    url = reverse(spec["url"][0], args=fill(spec["url"][1:], objects))
    typed = value(value_name)
    before = _rows(spec, objects).count()
    answer = post(spec["user"], url, {**fill(spec["data"], objects), spec["field"]: typed}, {})
    where = f"{form_name} / {value_name}"
    if hostile.get("kept"):
        stored = _rows(spec, objects).model._default_manager.filter(**{f"{spec['stored']}__contains": typed}).exists()
        problems = [] if answer.status < 400 else [f"{where}: answered {answer.status}, expected it kept"]
        return problems + ([] if stored else [f"{where}: not stored as typed"])
    problems = []
    if answer.status != 400:
        problems.append(f"{where}: answered {answer.status}, expected 400")
    if hostile["message"] not in answer.text:
        problems.append(f"{where}: the page does not say “{hostile['message']}”")
    if _rows(spec, objects).count() != before:
        problems.append(f"{where}: something was written")
    return problems


# (raw body) -> the answer, its JSON in ``data``
BodyPoster = Callable[[bytes, dict[str, str]], Answer]


def webhook_body(row: dict[str, Any], objects: dict[str, Any]) -> bytes:
    body = raw_bytes(row["raw"]) if "raw" in row else json.dumps(fill(row["body"], objects)).encode()
    if "pad" in row:
        body = body[:-1] + b', "padding": "' + b"x" * int(row["pad"]) + b'"}'
    return body


def check_webhook(post: BodyPoster, name: str) -> list[str]:
    """A signed hostile body: the status and error code in the table, its message, and no event stored."""
    from accounts.models import CoreEvent, LoanAccount
    from accounts.signatures import HEADER, sign

    row = WEBHOOK[name]
    objects = make_objects()
    body = webhook_body(row, objects)
    before = CoreEvent.objects.count()
    state = LoanAccount.objects.get(pk=objects["verifying"].pk).state
    answer = post(body, {HEADER: sign(body, settings.CORE_WEBHOOK_SECRETS[0]), "Content-Type": "application/json"})
    problems = []
    if (answer.status, answer.data.get("error_code")) != (row["status"], row["code"]):
        problems.append(f"webhook / {name}: answered {answer.status} {answer.data}, expected {row['status']}")
    if row["message"] not in str(answer.data.get("error_message", "")):
        problems.append(f"webhook / {name}: the answer does not say “{row['message']}”")
    if CoreEvent.objects.count() != before or LoanAccount.objects.get(pk=objects["verifying"].pk).state != state:
        problems.append(f"webhook / {name}: something was written")
    return problems


def import_row(n: int) -> dict[str, str]:
    from tests.factories import credit_code

    return {
        "account_number": f"HX{8_000_000_000 + n}",
        "credit_code": credit_code(700_000_000 + n),
        "customer_name": f"成都锦江进出口贸易有限公司{n}",
        "contact_name": "李伟",
        "contact_mobile": f"137{n:08d}",
        "email": f"cfo{n}@import.example",
        "risk_tier": "medium",
        "credit_score": "705",
        "product": "working_capital",
        "channel": "成都锦江支行",
        "approved_limit": "1500000.00",
    }


def import_file(row: dict[str, Any]) -> tuple[bytes, str]:
    """The CSV the table's row describes, and the customer name of its hostile row."""
    from accounts.ingest import COLUMNS

    if "raw" in row:
        return raw_bytes(row["raw"]), ""
    lines = [import_row(next(_serial)) for _line in range(3)]
    if "column" in row:
        lines[1][row["column"]] = value(row["value"])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(lines)
    text = out.getvalue()
    if "pad" in row:  # the first row again and again, to ``pad`` bytes
        line = ",".join(lines[0].values()) + "\r\n"
        text += line * (int(row["pad"]) // len(line.encode()) + 1)
    return text.encode(row.get("encoding", "utf-8")), lines[1]["customer_name"]


def check_import(post: Poster, finish: Getter, name: str) -> list[str]:
    """An upload: a file-level problem answered 400 on the upload page; a bad row named by the run, nothing saved."""
    from accounts.models import Customer, LoanAccount

    row = IMPORTS[name]
    content, customer_name = import_file(row)
    before = (Customer.objects.count(), LoanAccount.objects.count())
    answer = post("credit", reverse("accounts:import"), {}, {"file": ("hostile.csv", content)})
    where = f"import / {name}"
    problems = []
    if answer.status != row["status"]:
        problems.append(f"{where}: answered {answer.status}, expected {row['status']}")
    text = answer.text if answer.status != 302 else finish(answer.location)
    if row.get("message") and row["message"] not in text:
        problems.append(f"{where}: the page does not say “{row['message']}”")
    if "message" not in row:  # kept: imported as typed
        if not Customer.objects.filter(name=customer_name).exists():
            problems.append(f"{where}: the customer was not imported as typed")
    elif (Customer.objects.count(), LoanAccount.objects.count()) != before:
        problems.append(f"{where}: something was written")
    return problems
