from django.contrib import admin
from django.urls import include, path

from accounts.activation_views import activate
from accounts.views import batch_cancel_view, batch_detail, core_events
from portal import auth_views, health
from portal.pages import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.jobs, name="jobs"),
    path("reports/weekly/", views.weekly_report_view, name="weekly_report"),
    path("jobs/batches/<int:pk>/", batch_detail, name="batch"),
    path("jobs/batches/<int:pk>/cancel/", batch_cancel_view, name="batch_cancel"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("api/core/events", core_events, name="core_events"),
    path("activate/<str:token>/", activate, name="activate"),
    path("cases/", include("casework.urls")),
    path("casework/studies/", include("casework.study_urls")),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
]
