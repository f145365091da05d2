from django.urls import path, register_converter

from accounts import reveal_views, views


class AccountNumberConverter:
    regex = "[A-Z]{2}[0-9]{6,16}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class ApprovalRequestConverter:
    """The actions that ask a second credit officer (four-eyes) rather than decide."""

    regex = "|".join(views.REQUEST_KINDS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AccountNumberConverter, "account_number")
register_converter(ApprovalRequestConverter, "approval_request")

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("approvals/", views.approval_list, name="approvals"),
    path("approvals/<int:pk>/<str:decision>/", views.approval_decide, name="approval_decide"),
    path("import/", views.account_import, name="import"),
    path("import/<int:pk>/", views.import_run_detail, name="import_run"),
    path("import/<int:pk>/errors.csv", views.import_errors_csv, name="import_errors"),
    path("reviews/", views.review_list, name="reviews"),
    path("reviews/<int:pk>/<str:decision>/", views.review_decide, name="review_decide"),
    path("<account_number:number>/", views.account_detail, name="detail"),
    path("<account_number:number>/reveal/", reveal_views.reveal, name="reveal"),
    # One view per kind of action; the last pattern names them all (``accounts:action``) for reverse().
    path("<account_number:number>/actions/credit_review/", views.credit_review_view, name="credit_review"),
    path("<account_number:number>/actions/resend_activation/", views.activation_resend_view, name="resend_activation"),
    path(
        "<account_number:number>/actions/<approval_request:action>/",
        views.approval_request_view,
        name="request_approval",
    ),
    path("<account_number:number>/actions/<str:action>/", views.account_transition_view, name="action"),
]
