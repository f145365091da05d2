from django.urls import path, register_converter

from accounts import views


class AccountNumberConverter:
    regex = "[A-Z]{2}[0-9]{6,16}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AccountNumberConverter, "account_number")

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("approvals/", views.approval_list, name="approvals"),
    path("approvals/<int:pk>/<str:decision>/", views.approval_decide, name="approval_decide"),
    path("import/", views.account_import, name="import"),
    path("redrive/", views.redrive_filtered, name="redrive"),
    path("reviews/", views.review_list, name="reviews"),
    path("reviews/<int:pk>/<str:decision>/", views.review_decide, name="review_decide"),
    path("<account_number:number>/", views.account_detail, name="detail"),
    path("<account_number:number>/actions/<str:action>/", views.account_action, name="action"),
]
