from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.ingest import MAX_FILE_BYTES, file_problem
from portal.text import TextField


class AccountActionForm(forms.Form):
    """Every action on an account carries a reason and the version the user was looking at."""

    reason = TextField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("Give a reason: it goes into the account's audit trail.")},
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class DecisionForm(forms.Form):
    note = TextField(label=_("Note"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "CSV with a header row (UTF-8, or GB18030 as Excel saves it); see the columns below. At most 10 MB."
        ),
    )
    dry_run = forms.BooleanField(
        label=_("Check only (dry run): report what would change, change nothing"), required=False, initial=True
    )

    MAX_BYTES = MAX_FILE_BYTES

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError(_("This file is larger than 10 MB; split it into smaller files."))
        problem = file_problem(upload.read())
        upload.seek(0)
        if problem:
            raise forms.ValidationError(problem)
        return upload
