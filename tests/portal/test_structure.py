"""The codebase's shape, checked: short views, and no writes outside services.

Views, forms, template tags and admin classes read and present; every write (and every change
of a status or state) goes through a service, where it is validated, audited and atomic.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.db.migrations.loader import MigrationLoader
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django_fsm import FSMField

ROOT = Path(__file__).resolve().parents[2]
OURS = ("accounts", "casework", "portal")
VIEW_LINES = 30
# Files that present and must not write: views, forms, template tags, admin classes.
PRESENTERS = ("*/views.py", "*/*_views.py", "*/pages/views.py", "*/forms.py", "*/admin.py", "*/templatetags/*.py")
WRITES = {"save", "delete", "bulk_create", "bulk_update", "get_or_create", "update_or_create", "create"}
LIFECYCLE = {"status", "state"}
# Fields named like a lifecycle that are configuration instead.
NOT_A_LIFECYCLE = {("WipLimit", "status")}  # the board column a WIP limit applies to


def _views(patterns: list[URLResolver | URLPattern]) -> Iterator[Callable[..., Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _views(entry.url_patterns)
        else:
            view = getattr(entry.callback, "view_class", None) or entry.callback
            yield inspect.unwrap(view)


def our_views() -> list[Callable[..., Any]]:
    found = {view for view in _views(get_resolver().url_patterns) if view.__module__.split(".")[0] in OURS}
    return sorted(found, key=lambda view: f"{view.__module__}.{view.__qualname__}")


def test_the_walk_finds_the_views() -> None:
    names = {view.__qualname__ for view in our_views()}
    assert {"account_list", "account_transition_view", "board", "activate", "dashboard"} <= names


@pytest.mark.parametrize("view", our_views(), ids=lambda view: f"{view.__module__}.{view.__qualname__}")
def test_every_view_is_short(view: Callable[..., Any]) -> None:
    lines, _start = inspect.getsourcelines(view)
    body = lines[next(i for i, line in enumerate(lines) if line.lstrip().startswith(("def ", "class "))) :]
    assert len(body) <= VIEW_LINES, f"{view.__qualname__} is {len(body)} lines: move the work into a service"


def _presenters() -> list[Path]:
    return sorted({path for pattern in PRESENTERS for path in ROOT.glob(pattern) if path.parts[-2] != "tests"})


def _writes(path: Path, root: Path = ROOT) -> Iterator[str]:
    """Each write the file makes itself: a model write, a queryset update, a status or state set."""
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.get_source_segment(source, node.func.value) or ""
            queryset = "objects" in receiver or "filter(" in receiver or "exclude(" in receiver
            if node.func.attr in WRITES or (node.func.attr == "update" and queryset):
                yield f"{path.relative_to(root)}:{node.lineno} {receiver}.{node.func.attr}()"
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in LIFECYCLE:
                yield f"{path.relative_to(root)}:{target.lineno} sets .{target.attr}"


def test_views_forms_tags_and_admin_write_nothing_themselves() -> None:
    presenters = _presenters()
    assert ROOT / "accounts" / "views.py" in presenters and ROOT / "casework" / "admin.py" in presenters
    assert [write for path in presenters for write in _writes(path)] == []


def test_the_scan_sees_a_write_in_a_view(tmp_path: Path) -> None:
    sample = tmp_path / "views.py"
    sample.write_text("def view(request, case):\n    case.status = 'done'\n    Case.objects.filter(pk=1).update(x=1)\n")
    assert list(_writes(sample, tmp_path)) == [
        "views.py:2 sets .status",
        "views.py:3 Case.objects.filter(pk=1).update()",
    ]


@pytest.mark.django_db
def test_the_admin_changes_no_status_or_state_by_hand() -> None:
    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    editable = []
    for model, model_admin in admin.site._registry.items():
        for field in model._meta.fields:
            if field.name not in LIFECYCLE or (model.__name__, field.name) in NOT_A_LIFECYCLE:
                continue
            protected = getattr(field, "protected", False)
            read_only = field.name in model_admin.get_readonly_fields(request, None)
            if not (protected or read_only or not model_admin.has_change_permission(request)):
                editable.append(f"{model.__name__}.{field.name}")
    assert editable == []


LIFECYCLES = {
    "accounts.LoanAccount": "state",
    "accounts.ApprovalRequest": "status",
    "accounts.CreditReviewProposal": "status",
    "casework.Case": "status",
    "casework.Incident": "status",
    "casework.Drill": "status",
    "casework.ReactivationBatch": "status",
}


@pytest.mark.parametrize(("label", "name"), sorted(LIFECYCLES.items()))
def test_every_lifecycle_moves_only_through_named_transitions(label: str, name: str) -> None:
    field = apps.get_model(label)._meta.get_field(name)
    assert isinstance(field, FSMField) and field.protected, f"{label}.{name} can be set by hand"
    assert field.get_all_transitions(apps.get_model(label)), f"{label}.{name} has no transitions"


# accounts 0003 created the reactivation batches, which pointed at casework's incidents, before
# batches moved to casework (accounts 0012, casework 0009). Rewriting applied migrations would
# break existing databases, so that one back-edge stays in the history; no new one may be added.
HISTORIC_BACK_EDGES = {("accounts", "0003_simulatorfault_reactivationbatch_activationattempt_and_more", "casework")}


# Each app's migrations may depend on those of the apps below it only.
BELOW = {"portal": set(), "accounts": {"portal"}, "casework": {"portal", "accounts"}}


def test_migrations_follow_the_apps_direction() -> None:
    """portal ← accounts ← casework, as the imports (but the one back-edge in accounts' history)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    back_edges = {
        (app, name, dependency[0])
        for (app, name), migration in loader.disk_migrations.items()
        if app in BELOW
        for dependency in migration.dependencies
        if dependency[0] in BELOW and dependency[0] != app and dependency[0] not in BELOW[app]
    }
    assert back_edges == HISTORIC_BACK_EDGES
