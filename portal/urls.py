from django.contrib import admin
from django.urls import include, path

from accounts import activation_views
from accounts.views import core_events
from casework import batch_views
from portal import auth_views, health, notice_views, profile_views, reauth
from portal.pages import audit, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.jobs, name="jobs"),
    path("audit/", audit.audit_trail, name="audit"),
    path("audit/<slug:trail>/", audit.audit_trail, name="audit"),
    path("reports/weekly/", views.weekly_report_view, name="weekly_report"),
    path("jobs/batches/<int:pk>/", batch_views.batch_detail, name="batch"),
    path("jobs/batches/<int:pk>/cancel/", batch_views.batch_cancel_view, name="batch_cancel"),
    path("jobs/batches/redrive/", batch_views.redrive_filtered, name="redrive"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("login/code/", auth_views.second_factor, name="second_factor"),
    path("login/enrol/", auth_views.second_factor_enrol, name="second_factor_enrol"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("confirm/", reauth.confirm, name="confirm"),
    path("profile/", profile_views.profile, name="profile"),
    path("profile/sign-out-everywhere/", profile_views.sign_out_everywhere, name="sign_out_everywhere"),
    path("profile/backup-codes/", profile_views.backup_codes_new, name="backup_codes"),
    path("profile/notifications/", notice_views.preferences, name="notice_preferences"),
    path("notifications/", notice_views.inbox, name="notices"),
    path("notifications/bell/", notice_views.bell, name="notice_bell"),
    path("notifications/read/", notice_views.read_all, name="notices_read_all"),
    path("notifications/<int:pk>/read/", notice_views.read, name="notice_read"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("language/", auth_views.language_set, name="language"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("api/core/events", core_events, name="core_events"),
    path("activate/<str:token>/", activation_views.activate, name="activate"),
    path("activate/<str:token>/code/", activation_views.activate_send_code, name="activate_send_code"),
    path("activate/<str:token>/verify/", activation_views.activate_verify_code, name="activate_verify_code"),
    path("activate/<str:token>/password/", activation_views.activate_set_password, name="activate_set_password"),
    path("cases/", include("casework.urls")),
    path("casework/studies/", include("casework.study_urls")),
    path("admin/", admin.site.urls),
    # The periodic jobs run on RQ's own cron, not on rq-scheduler, whose page would fail here.
    path("django-rq/schedulers/<int:scheduler_index>/", views.rq_scheduler_absent, name="rq_scheduler_absent"),
    path("django-rq/", include("django_rq.urls")),
]
