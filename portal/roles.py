"""The roles of the portal: who may do what.

A role is a Django group; its permissions are declared here, in one place, and applied by
``sync_roles`` (run by the migrations, so a fresh database has every role). A permission is
written ``app_label.codename``; ``app_label.view_*`` means every view permission of that app
and ``*.view_*`` every view permission there is. Later features add their permissions here
and a migration that calls ``sync_roles`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


@dataclass(frozen=True)
class Role:
    slug: str
    group_name: str
    label: Promise
    description: Promise
    permissions: tuple[str, ...]
    home_department: str | None = None


# Everyone who works in the portal may see who is in which team, the job queues and the
# loan accounts with their history.
_COMMON = (
    "portal.view_department",
    "portal.view_staffprofile",
    "portal.view_jobs",
    "accounts.view_*",
    "casework.view_case",
    "casework.view_caseevent",
    "casework.view_checklistitem",
    "casework.view_incident",
    "casework.view_playbook",
    "casework.view_playbookstep",
    "casework.view_playbookversion",
    "casework.view_playbookrevision",
    "casework.view_drill",
    "casework.view_casestudy",
    "casework.view_reactivationbatch",
    "casework.view_reactivationitem",
    "casework.view_customerfeedback",
    "casework.work_case",
)
# Customer service takes the customers' complaints (leads too; admins have every permission).
_SERVICE = ("accounts.verify_loanaccount", "portal.reveal_personal_data", "casework.add_customerfeedback")
_TECH = ("accounts.activate_loanaccount", "accounts.fail_loanaccount")
_CREDIT = (
    "accounts.issue_loanaccount",
    "accounts.hold_loanaccount",
    "accounts.release_loanaccount",
    "accounts.close_loanaccount",
    "accounts.approve_release",
    "accounts.review_credit",
    "accounts.import_accounts",
    "portal.reveal_any_personal_data",
)

SERVICE_AGENT = Role(
    slug="service_agent",
    group_name="Service agent",
    label=_("Service agent"),
    description=_("Works customer-service cases: customers who did not finish their verification steps."),
    permissions=_COMMON + _SERVICE,
    home_department="service",
)
TECH_ENGINEER = Role(
    slug="tech_engineer",
    group_name="Tech engineer",
    label=_("Tech engineer"),
    description=_("Works tech cases and incidents: activations that failed in a system, and their re-drive."),
    permissions=(*_COMMON, *_TECH, "casework.add_incident"),
    home_department="tech",
)
CREDIT_OFFICER = Role(
    slug="credit_officer",
    group_name="Credit officer",
    label=_("Credit officer"),
    description=_("Holds and releases credit lines, reviews high-risk activations, approves tranches."),
    permissions=_COMMON + _CREDIT,
    home_department="credit",
)
TEAM_LEAD = Role(
    slug="team_lead",
    group_name="Team lead",
    label=_("Team lead"),
    description=_("Leads one or more departments: assigns cases on the board, runs drills, reads the reports."),
    permissions=(
        *_COMMON,
        *_SERVICE,
        *_TECH,
        *_CREDIT,
        "casework.assign_case",
        "casework.add_incident",
        "casework.run_drill",
        "casework.add_casestudy",
        "casework.change_casestudy",
        # Playbooks learn from case studies: one lead proposes new steps, another accepts them.
        "casework.add_playbookrevision",
        "casework.accept_playbookrevision",
    ),
)
AUDITOR = Role(
    slug="auditor",
    group_name="Auditor",
    label=_("Auditor"),
    description=_("Reads everything, changes nothing."),
    permissions=("*.view_*", "portal.view_jobs", "casework.view_all_cases"),
)
ADMIN = Role(
    slug="admin",
    group_name="Admin",
    label=_("Admin"),
    description=_("Manages staff, roles and reference data in the admin site."),
    permissions=("*.*",),
)

ROLES: tuple[Role, ...] = (SERVICE_AGENT, TECH_ENGINEER, CREDIT_OFFICER, TEAM_LEAD, AUDITOR, ADMIN)
ROLES_BY_SLUG = {role.slug: role for role in ROLES}
ROLES_BY_GROUP = {role.group_name: role for role in ROLES}

# Stored in English as reference data; shown in each reader's language (``Department.__str__``).
DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("credit", gettext_noop("Credit"), gettext_noop("Risk holds, credit reviews, staged release of the line.")),
    ("tech", gettext_noop("Tech"), gettext_noop("Activations that failed in a system; incidents and re-drives.")),
    (
        "service",
        gettext_noop("Customer service"),
        gettext_noop("Customers who have not finished their verification steps."),
    ),
)


def _matching_permissions(permission_model: Any, spec: str) -> Any:
    app_label, codename = spec.split(".", 1)
    found = permission_model.objects.all()
    if app_label != "*":
        found = found.filter(content_type__app_label=app_label)
    if codename.endswith("*"):
        found = found.filter(codename__startswith=codename[:-1])
    else:
        found = found.filter(codename=codename)
    return found


def sync_roles(apps: Any = None, schema_editor: Any = None) -> None:
    """Create the departments and role groups and give each group exactly its permissions.

    Safe to run any number of times. Works with the live app registry and with the
    historical one a migration passes in.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    apps = apps or global_apps
    # Permissions are normally created after the whole migrate run; create them now so
    # that groups can reference models created earlier in the same run.
    for app_config in apps.get_app_configs():
        created_models_module = getattr(app_config, "models_module", None) is None
        if created_models_module:
            app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        if created_models_module:
            app_config.models_module = None

    department_model = apps.get_model("portal", "Department")
    for code, name, description in DEPARTMENTS:
        department_model.objects.update_or_create(code=code, defaults={"name": name, "description": description})

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role in ROLES:
        group, _created = group_model.objects.get_or_create(name=role.group_name)
        permission_ids: set[int] = set()
        for spec in role.permissions:
            permission_ids.update(_matching_permissions(permission_model, spec).values_list("pk", flat=True))
        group.permissions.set(permission_ids)
