from django.contrib import admin
from django.urls import include, path

from accounts.views import core_events
from portal import health, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.jobs, name="jobs"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("api/core/events", core_events, name="core_events"),
    path("cases/", include("casework.urls")),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
]
