from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import EmptyCause
from casework.drills import MAX_SIZE
from casework.models import Case, CaseStudy, CustomerFeedback, Drill, Resolution, Status, WontFixReason
from portal.models import Department
from portal.text import TextField


class VersionedForm(forms.Form):
    version = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": _("The form was incomplete; reload the page and try again."),
            "invalid": _("The form was incomplete; reload the page and try again."),
        },
    )


def wip_reason_field() -> TextField:
    """A lead's reason to move a case past a board column's WIP limit (asked when it is reached)."""
    return TextField(label=_("Why it should go over the WIP limit"), max_length=500, required=False)


class MoveForm(VersionedForm):
    note = TextField(label=_("Note (optional)"), max_length=2000, required=False)
    wip_reason = wip_reason_field()


class ResolveForm(MoveForm):
    """Resolve: fixed (the default), or won't fix with a reason and a note saying why."""

    resolution = forms.ChoiceField(
        label=_("Outcome"),
        choices=Resolution.choices,
        initial=Resolution.FIXED,
        required=False,
        widget=forms.RadioSelect,
    )
    reason = forms.ChoiceField(
        label=_("Why it won't be fixed"), choices=[("", _("Choose a reason")), *WontFixReason.choices], required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "resolve_%s")  # the hand-off form beside it has its own "note"
        super().__init__(*args, **kwargs)

    @classmethod
    def for_case(cls, case: Case) -> ResolveForm:
        """The case page's form: "won't fix" comes first while fixed would be refused (the account is empty)."""
        resolution = Resolution.WONT_FIX if case.account_still_empty else Resolution.FIXED
        return cls(initial={"version": case.version, "resolution": resolution})

    def clean_resolution(self) -> str:
        return str(self.cleaned_data["resolution"] or Resolution.FIXED)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("resolution") == Resolution.WONT_FIX:
            if not cleaned.get("reason"):
                self.add_error("reason", _("Choose why the case won't be fixed."))
            if not cleaned.get("note"):
                self.add_error("note", _("Say why the case won't be fixed: whoever reads the case later needs it."))
        return cleaned


class CommentForm(forms.Form):
    text = TextField(
        label=_("Comment"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Write something before sending the comment.")},
    )


class HandOffForm(VersionedForm):
    department = forms.ModelChoiceField(
        label=_("To department"), queryset=Department.objects.order_by("code"), empty_label=_("Choose a department")
    )
    note = TextField(
        label=_("Why"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Why it moves: the other team reads this first")}),
        error_messages={"required": _("Say why the case moves: the other team reads it first.")},
    )


class BoardMoveForm(VersionedForm):
    """A card moved on the board: to another column (``to``), or to a person (``assignee``, leads)."""

    to = forms.ChoiceField(choices=Status.choices, required=False)
    assignee = forms.IntegerField(min_value=1, required=False)
    wip_reason = wip_reason_field()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if bool(cleaned.get("to")) == bool(cleaned.get("assignee")):
            raise forms.ValidationError(_("Choose where the case goes: a column, or a person."))
        return cleaned


class BulkAssignForm(forms.Form):
    cases = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), error_messages={"required": _("Select at least one case to assign.")}
    )
    assignee = forms.TypedChoiceField(
        label=_("Assign to"), coerce=int, choices=(), error_messages={"required": _("Choose who gets the cases.")}
    )
    wip_reason = wip_reason_field()

    def __init__(self, *args: object, assignees: list[tuple[int, str]], **kwargs: object) -> None:
        kwargs.setdefault("auto_id", "bulk_%s")  # the board's filter form has its own "assignee"
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["assignee"].choices = [("", _("Choose a person")), *assignees]  # type: ignore[attr-defined]

    def clean_cases(self) -> list[int]:
        return list(self.cleaned_data["cases"])

    def versions(self) -> dict[int, int]:
        """The version of each ticked case as the user saw it (``version_<id>``), where the page sent it."""
        sent = {case_id: self.data.get(f"version_{case_id}", "") for case_id in self.cleaned_data.get("cases", [])}
        return {case_id: int(value) for case_id, value in sent.items() if str(value).isdigit()}

    def full_clean(self) -> None:
        # The case ids come from the board the lead was looking at; the service checks each one.
        if self.is_bound:
            ids = [value for value in self.data.getlist("cases") if str(value).isdigit()]  # type: ignore[attr-defined]
            self.fields["cases"].choices = [(int(value), value) for value in ids]  # type: ignore[attr-defined]
        super().full_clean()


class IncidentForm(forms.Form):
    title = TextField(
        label=_("Title"),
        max_length=200,
        help_text=_("What is broken, e.g. “Activation fails on the mobile app channel”."),
    )
    cause = forms.ChoiceField(label=_("Cause"), choices=EmptyCause.choices, initial=EmptyCause.SYSTEM_CONFIG)
    description = TextField(
        label=_("What is known"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}), required=False
    )


class LinkIncidentForm(forms.Form):
    incident = forms.IntegerField(label=_("Incident"), required=False)


class DrillStartForm(forms.Form):
    scenario = forms.ChoiceField(
        label=_("Scenario"),
        choices=Drill.Scenario.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose what the drill practises.")},
    )
    size = forms.IntegerField(
        label=_("Accounts"),
        min_value=1,
        max_value=MAX_SIZE,
        initial=20,
        help_text=_("How many synthetic stuck accounts the drill creates, 1 to %(max)d.") % {"max": MAX_SIZE},
        error_messages={
            "required": _("Say how many accounts the drill creates."),
            "invalid": _("Give the number of accounts as a whole number, e.g. 20."),
        },
    )
    channel = TextField(
        label=_("Channel / branch"),
        max_length=60,
        required=False,
        initial="手机银行",  # one of the demo channels
        help_text=_("For a configuration fault: the channel whose configuration is broken."),
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if cleaned.get("scenario") == Drill.Scenario.CONFIG_FAULT and not str(cleaned.get("channel") or "").strip():
            self.add_error("channel", _("Name the channel whose configuration is broken, e.g. “Mobile app”."))
        return cleaned


# The longest text of a case study's paragraphs (its title has its column's limit).
STUDY_TEXT_MAX = 10_000


def _study_field(db_field: models.Field, **kwargs: Any) -> forms.Field | None:
    """Text columns as ``TextField``: a limit each, and control characters refused, as in every form."""
    if isinstance(db_field, models.CharField | models.TextField) and not db_field.choices:
        kwargs["max_length"] = db_field.max_length or STUDY_TEXT_MAX
        return db_field.formfield(form_class=TextField, **kwargs)
    return db_field.formfield(**kwargs)


class CaseStudyForm(forms.ModelForm):
    class Meta:
        model = CaseStudy
        formfield_callback = _study_field
        fields = ["title", "outcome", "summary", "root_cause", "what_worked", "what_to_change"]
        widgets = {
            "outcome": forms.RadioSelect,
            "summary": forms.Textarea(attrs={"rows": 3}),
            "root_cause": forms.Textarea(attrs={"rows": 3}),
            "what_worked": forms.Textarea(attrs={"rows": 3}),
            "what_to_change": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "title": _("One line another team would search for, e.g. “Mobile app channel missing after release”."),
            "summary": _("What happened, to how many accounts, for how long."),
            "root_cause": _("Why it happened: the cause behind the cause."),
        }
        error_messages = {
            name: {"required": message}
            for name, message in {
                "title": _("Give the case study a title."),
                "outcome": _("Say whether this was a success to repeat or a problem to fix."),
                "summary": _("Summarise what happened."),
                "root_cause": _("Write the root cause, even if it is a best guess."),
                "what_worked": _("Write what worked, even if little did."),
                "what_to_change": _("Write what to change next time."),
            }.items()
        }


class FeedbackForm(forms.Form):
    """A customer's complaint or feedback, recorded on the account page or the case page."""

    channel = forms.ChoiceField(label=_("How the customer reached us"), choices=CustomerFeedback.Channel.choices)
    category = forms.ChoiceField(label=_("About"), choices=CustomerFeedback.Category.choices)
    severity = forms.ChoiceField(
        label=_("Severity"), choices=CustomerFeedback.Severity.choices, initial=CustomerFeedback.Severity.MEDIUM
    )
    text = TextField(
        label=_("What the customer said"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Write what the customer said: whoever works the case reads it first.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "feedback_%s")  # beside the comment and hand-off forms on the case page
        super().__init__(*args, **kwargs)


class FeedbackListForm(forms.Form):
    """The complaint list's filters: the dashboard's window (days) or the weekly report's week, unanswered only."""

    days = forms.IntegerField(min_value=1, max_value=366, required=False)
    week = forms.RegexField(regex=r"^\d{4}-W\d{2}$", required=False)
    awaiting = forms.BooleanField(label=_("Still waiting for a first response"), required=False)


class PlaybookProposalForm(forms.Form):
    """New steps for a playbook, one per line, and why (``casework.playbooks`` checks the steps)."""

    steps = TextField(
        label=_("Steps"),
        max_length=12_000,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_("One step per line, in the order they are done. Blank lines are left out."),
        error_messages={"required": _("Write at least one step, one per line.")},
    )
    note = TextField(
        label=_("Why"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the case study showed, for the lead who decides."),
        error_messages={"required": _("Say why the playbook should change: the lead who decides reads it.")},
    )


class PlaybookDecisionForm(forms.Form):
    """Accepting (a note is optional) or rejecting (the reason is required) a proposed playbook change."""

    note = TextField(label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, reject: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if reject:
            self.fields["note"].required = True
            self.fields["note"].label = _("Why it is rejected")
            self.fields["note"].error_messages["required"] = _("Say why the proposal is rejected: its author reads it.")
