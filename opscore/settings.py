"""opscore settings, read from the environment so one codebase runs embedded and in production.

Embedded default: a SQLite file in WAL mode and the django-q2 ORM broker, so a fresh clone
runs with Python alone. Production: set DATABASE_URL to PostgreSQL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from opscore.audit_key_settings import DEVELOPMENT_KEY_ID, development_key, load_audit_keys
from opscore.logging_config import configure_structlog, logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OPSCORE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Off unless asked for: a production host that forgets a variable must not show tracebacks.
DEBUG = env_bool("OPSCORE_DEBUG", False)
# Public, in the repository: good for a laptop with OPSCORE_DEBUG=1, refused anywhere else.
DEVELOPMENT_SECRET_KEY = "opscore-insecure-development-key-change-me"  # noqa: S105
SECRET_KEY = os.environ.get("OPSCORE_SECRET_KEY", "").strip() or DEVELOPMENT_SECRET_KEY
if not DEBUG and (
    SECRET_KEY == DEVELOPMENT_SECRET_KEY
    or SECRET_KEY.startswith("django-insecure-")
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
):
    # Sessions, password resets and signed values are forgeable with a known key.
    raise ImproperlyConfigured(
        "OPSCORE_SECRET_KEY is missing, the public development key, or weak (it needs 50+ "
        "characters, 5+ distinct). Set it to a long random value, e.g. the output of "
        "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`, or set "
        "OPSCORE_DEBUG=1 on a development machine."
    )
# The audit chain's HMAC keys live outside the database (see audit/keys.py): the first signs,
# the others verify what they signed. Read here so a host without one never starts.
OPSCORE_AUDIT_KEYS = load_audit_keys(
    keys_env=os.environ.get("OPSCORE_AUDIT_KEYS", ""),
    key_file=os.environ.get("OPSCORE_AUDIT_KEY_FILE", ""),
)
if not OPSCORE_AUDIT_KEYS:
    if not DEBUG:
        # A development key derived from SECRET_KEY sits next to the data it would protect.
        raise ImproperlyConfigured(
            "OPSCORE_AUDIT_KEYS (or OPSCORE_AUDIT_KEY_FILE) is missing: the audit log is signed "
            "with a key held outside the database. Set it to id:base64secret, e.g. the output "
            "of `python3 -c 'import base64, secrets; "
            'print("a1:" + base64.b64encode(secrets.token_bytes(32)).decode())\'`, '
            "or set OPSCORE_DEBUG=1 on a development machine."
        )
    OPSCORE_AUDIT_KEYS = {DEVELOPMENT_KEY_ID: development_key(SECRET_KEY)}
# Signed checkpoints of the chain (audit/anchors.py); outside the database owner's reach in
# production for them to count.
OPSCORE_AUDIT_ANCHOR_DIR = Path(os.environ.get("OPSCORE_AUDIT_ANCHOR_DIR") or VAR_DIR / "anchors")
# Optionally, each checkpoint is also POSTed to an endpoint of another party, signed the
# Standard Webhooks way with OPSCORE_AUDIT_ANCHOR_SECRET (audit/anchor_delivery.py).
OPSCORE_AUDIT_ANCHOR_URL = os.environ.get("OPSCORE_AUDIT_ANCHOR_URL", "").strip()
OPSCORE_AUDIT_ANCHOR_SECRET = os.environ.get("OPSCORE_AUDIT_ANCHOR_SECRET", "").strip()
if OPSCORE_AUDIT_ANCHOR_URL and not OPSCORE_AUDIT_ANCHOR_SECRET.startswith("whsec_"):
    raise ImproperlyConfigured(
        "OPSCORE_AUDIT_ANCHOR_URL is set: OPSCORE_AUDIT_ANCHOR_SECRET must be the endpoint's "
        "signing secret, whsec_ followed by base64 (24+ random bytes)"
    )
OPSCORE_AUDIT_ANCHOR_ATTEMPTS = max(env_int("OPSCORE_AUDIT_ANCHOR_ATTEMPTS", 3), 1)
OPSCORE_AUDIT_ANCHOR_BACKOFF_SECONDS = float(
    os.environ.get("OPSCORE_AUDIT_ANCHOR_BACKOFF_SECONDS", "") or 2
)
OPSCORE_AUDIT_ANCHOR_TIMEOUT_SECONDS = float(
    os.environ.get("OPSCORE_AUDIT_ANCHOR_TIMEOUT_SECONDS", "") or 10
)
ALLOWED_HOSTS = os.environ.get("OPSCORE_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [
    origin for origin in os.environ.get("OPSCORE_CSRF_TRUSTED_ORIGINS", "").split(",") if origin
]
# The public address used in links inside emails and notifications.
OPSCORE_BASE_URL = os.environ.get("OPSCORE_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    # Before django_q: its `qcluster` command wraps django-q2's (worker connections).
    "opscore.apps.OpscoreConfig",
    "django_q",
    "axes",
    "audit",
    "workflows",
    "approvals",
    "decisions",
    "integrations",
    "observability",
    "privacy",
    "processes",
    # The top layer: demo users and data, and the local mail sink (nothing imports it).
    "demo",
]

MIDDLEWARE = [
    # First of all: every answer, the probes' included, carries X-Request-ID, and every log
    # line of the request the id (opscore/request_context.py).
    "opscore.request_context.RequestContextMiddleware",
    # Before everything: probes answer whatever the Host header says (opscore/probes.py).
    "opscore.probes.ProbeMiddleware",
    # First: it answers a wrong Host or an oversize body under /api/ before anything else
    # calls request.get_host() or reads the body and turns them into Django's HTML 400.
    "opscore.middleware.ApiEdgeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Admin and Swagger UI assets from STATIC_ROOT, in any process that serves the app.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Pages link only to what their viewer may open (opscore/admin_links.py).
    "opscore.admin_links.ViewerMiddleware",
    # Times in the viewer's zone, as their browser names it (opscore/viewer_timezone.py).
    "opscore.viewer_timezone.ViewerTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opscore.urls"
WSGI_APPLICATION = "opscore.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

SQLITE_PATH = VAR_DIR / "opscore.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{SQLITE_PATH}",
        # Seconds a web process keeps its database connection; 0 opens one per request.
        conn_max_age=int(os.environ.get("OPSCORE_DB_CONN_MAX_AGE", "0")),
        # A kept connection is checked before its first use in each request or task, so one
        # the server dropped (a restart, a failover) is replaced instead of failing the work.
        conn_health_checks=True,
    )
}
# Seconds a `qcluster` process (workers, pusher, monitor) keeps its connection: a task is
# milliseconds of work, and reconnecting for each one cost more than the step itself.
# Django's connection hygiene runs before and after every task (opscore/apps.py).
OPSCORE_WORKER_DB_CONN_MAX_AGE = env_int("OPSCORE_WORKER_DB_CONN_MAX_AGE", 300)
# Django's engines plus the audit chain written at commit (audit/chaining.py).
_OPSCORE_ENGINES = {
    "django.db.backends.postgresql": "audit.db.postgresql",
    "django.db.backends.sqlite3": "audit.db.sqlite3",
}
if DATABASES["default"]["ENGINE"] not in _OPSCORE_ENGINES:
    raise ImproperlyConfigured(
        f"DATABASE_URL names {DATABASES['default']['ENGINE']}; opscore runs on PostgreSQL "
        "(postgres://…) or SQLite (sqlite:///…)"
    )
DATABASES["default"]["ENGINE"] = _OPSCORE_ENGINES[DATABASES["default"]["ENGINE"]]
if DATABASES["default"]["ENGINE"] == "audit.db.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on busy_timeout
    # instead of failing with "database is locked" halfway through a transition.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Worker tests share the test database with a qcluster subprocess, so it lives in a file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-opscore.sqlite3")}

# Least privilege on PostgreSQL (opscore/db/roles.py): DATABASE_URL is the application's
# runtime role, which cannot alter, disable or drop what it uses; `migrate` and
# `createcachetable` connect as the owner role of OPSCORE_MIGRATION_DATABASE_URL instead.
# Unset: one role does both, as on SQLite.
OPSCORE_MIGRATION_DATABASE = None
if os.environ.get("OPSCORE_MIGRATION_DATABASE_URL", "").strip():
    OPSCORE_MIGRATION_DATABASE = dj_database_url.parse(
        os.environ["OPSCORE_MIGRATION_DATABASE_URL"].strip()
    )
    if OPSCORE_MIGRATION_DATABASE["ENGINE"] != "django.db.backends.postgresql" or any(
        str(OPSCORE_MIGRATION_DATABASE.get(k) or "") != str(DATABASES["default"].get(k) or "")
        for k in ("NAME", "HOST", "PORT")
    ):
        raise ImproperlyConfigured(
            "OPSCORE_MIGRATION_DATABASE_URL must be a postgres:// URL naming the same database, "
            "host and port as DATABASE_URL, with the owner role's credentials"
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: a locked-out username is refused before its password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Brute force on the admin login: after 5 wrong passwords in a row for one username, or from
# one client address across usernames (password spraying), the next attempt is refused,
# whatever the password, until the cool-off has passed (`manage.py axes_reset_username NAME`
# or `axes_reset_ip ADDRESS` lifts it early).
AXES_FAILURE_LIMIT = env_int("OPSCORE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("OPSCORE_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("OPSCORE_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` fills it; WhiteNoise serves it, compressed, under gunicorn.
STATIC_ROOT = Path(os.environ.get("OPSCORE_STATIC_ROOT") or VAR_DIR / "static")
if "OPSCORE_STATIC_ROOT" not in os.environ:
    # Present even before the first collectstatic, so WhiteNoise has no missing directory to
    # warn about in a process that serves no static file (tests, a worker).
    STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies without a manifest: a process that renders {% static %} before any
    # collectstatic (tests, a fresh checkout) still works.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# One cache for every process: each django-q2 cluster saves its heartbeat (Stat) to the cache,
# and /readyz in a web process reads it there (opscore/health.py). The database is the one
# service opscore already has; the table is made by `manage.py createcachetable` (and by Django
# when it creates a test database). The API's rate limits do not use it (opscore/throttling.py).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "opscore_cache",
    }
}

# Messages live in the session (server side): a key or secret shown once must not travel in
# a signed, readable cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# HTTPS. Each one is off unless set, because TLS usually ends at a proxy in front of gunicorn
# and only the operator knows; README "Production" lists the values that pass
# `check --deploy`.
SECURE_SSL_REDIRECT = env_bool("OPSCORE_SECURE_SSL_REDIRECT", False)
SECURE_SSL_HOST = os.environ.get("OPSCORE_SECURE_SSL_HOST") or None
SECURE_REDIRECT_EXEMPT = env_list("OPSCORE_SECURE_REDIRECT_EXEMPT")
SECURE_HSTS_SECONDS = env_int("OPSCORE_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("OPSCORE_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("OPSCORE_SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("OPSCORE_SECURE_CONTENT_TYPE_NOSNIFF", True)
SECURE_REFERRER_POLICY = os.environ.get("OPSCORE_SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = os.environ.get(
    "OPSCORE_SECURE_CROSS_ORIGIN_OPENER_POLICY", "same-origin"
)
SESSION_COOKIE_SECURE = env_bool("OPSCORE_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("OPSCORE_CSRF_COOKIE_SECURE", False)
# Opt-in: trusting X-Forwarded-Proto from a client that reaches gunicorn directly would let it
# claim HTTPS. Set to "HTTP_X_FORWARDED_PROTO,https" only behind a proxy that overwrites it.
_proxy_ssl_header = env_list("OPSCORE_SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "OPSCORE_SECURE_PROXY_SSL_HEADER is HEADER,VALUE, e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
X_FRAME_OPTIONS = "DENY"

EMAIL_HOST = os.environ.get("OPSCORE_EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("OPSCORE_EMAIL_PORT", "1025"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("OPSCORE_FROM_EMAIL", "opscore@localhost")
# How long the link in an information request lets the requester answer.
OPSCORE_INFORMATION_LINK_DAYS = env_int("OPSCORE_INFORMATION_LINK_DAYS", 7)

REST_FRAMEWORK = {
    # Api-Key first: its WWW-Authenticate makes an unauthenticated call a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # An API key reaches only views that name a scope it holds; staff sessions are unaffected.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "integrations.authentication.ApiKeyScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "opscore.renderers.ProblemJSONRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "opscore.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "opscore.api_errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per API key (integrations/throttling.py), and per client address for callers without a
    # key (opscore/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "integrations.throttling.ApiKeyThrottle",
        "opscore.throttling.AnonymousThrottle",
    ],
    # Proxies in front of gunicorn that append to X-Forwarded-For. 0 (direct) uses the socket
    # address: a client could otherwise dodge its limit by sending its own X-Forwarded-For.
    "NUM_PROXIES": env_int("OPSCORE_NUM_PROXIES", 0),
}
if REST_FRAMEWORK["NUM_PROXIES"]:
    # The login lockout finds the client address the same way as the API throttles.
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = REST_FRAMEWORK["NUM_PROXIES"]
# Requests per second, minute, hour or day ("600/min"); read on each request (throttling.py).
OPSCORE_THROTTLE_RATES = {
    "api_key": os.environ.get("OPSCORE_THROTTLE_KEY", "600/min"),
    "anonymous": os.environ.get("OPSCORE_THROTTLE_ANON", "60/min"),
    "webhook": os.environ.get("OPSCORE_THROTTLE_WEBHOOK", "600/min"),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "opscore API",
    "DESCRIPTION": (
        "Event ingestion, signed webhooks and read access to workflow instances. "
        "Errors are RFC 9457 problem details (application/problem+json)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets are served from the sidecar package: no CDN, no internet needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every <slug:…> in a URL names a row whose slug field holds at most 100 characters.
    "PATH_CONVERTER_OVERRIDES": {
        "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 100},
    },
    # A request line over gunicorn's 4094 bytes gets gunicorn's own HTML 414, on any path.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "opscore.api_errors.document_request_line_limit",
        "opscore.throttling.document_throttling",
    ],
}


# django-q2 with the ORM broker: a task enqueued inside a transaction is a row in that same
# transaction, so nothing runs unless the transition that enqueued it committed (the outbox).
Q_CLUSTER = {
    "name": "opscore",
    "orm": "default",
    # django-q2's ORM broker, oldest rows first and one statement a poll (see the module).
    "broker_class": "opscore.queue_broker.OldestFirstORM",
    "workers": int(os.environ.get("OPSCORE_Q_WORKERS", "2")),
    "timeout": int(os.environ.get("OPSCORE_Q_TIMEOUT", "60")),
    # A task taken by a worker that died becomes visible again after `retry` seconds.
    "retry": int(os.environ.get("OPSCORE_Q_RETRY", "90")),
    "max_attempts": 0,
    # Seconds an idle pusher sleeps after an empty poll: a step enqueued meanwhile waits up to
    # that long. 0.05 s instead of django-q2's 0.2 costs an idle cluster about 2 % of a core
    # more (20 empty polls a second; measured in bench/README.md).
    "poll": float(os.environ.get("OPSCORE_Q_POLL", "0.05")),
    # Queue rows a poll takes at once. Each is still locked on its own (one UPDATE), so
    # several clusters never take the same row; untaken ones stay for the others.
    "bulk": env_int("OPSCORE_Q_BULK", 4),
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task queue",
}

# Readiness (/readyz, opscore/health.py): each check by name, in the order they run.
OPSCORE_READINESS_CHECKS = {
    "database": "opscore.health.check_database",
    "migrations": "opscore.health.check_migrations",
    "chain_head": "audit.health.check_chain_head",
    "cluster": "opscore.health.check_cluster",
    "sweeper": "opscore.health.check_sweeper",
}
# /metrics answers only a scraper presenting this bearer token; unset, the endpoint is a 404.
OPSCORE_METRICS_TOKEN = os.environ.get("OPSCORE_METRICS_TOKEN", "")
OPSCORE_READY_CLUSTER_MAX_AGE_SECONDS = env_int("OPSCORE_READY_CLUSTER_MAX_AGE_SECONDS", 120)
OPSCORE_READY_SWEEPER_MAX_AGE_SECONDS = env_int("OPSCORE_READY_SWEEPER_MAX_AGE_SECONDS", 300)
OPSCORE_READY_CHAIN_LOCK_TIMEOUT_MS = env_int("OPSCORE_READY_CHAIN_LOCK_TIMEOUT_MS", 500)
# The django-q2 schedules (created by migrations) whose last successful run /readyz checks:
# the engine's timers, retries and lease recovery, and the review deadlines.
OPSCORE_READY_SWEEPER_SCHEDULES = ("opscore.sweeper", "opscore.review_deadlines")

# Execution layer defaults; a workflow step may override attempts.
OPSCORE_EXECUTION = {
    "LEASE_SECONDS": int(os.environ.get("OPSCORE_LEASE_SECONDS", "60")),
    "BACKOFF_BASE_SECONDS": float(os.environ.get("OPSCORE_BACKOFF_BASE_SECONDS", "10")),
    "BACKOFF_MAX_SECONDS": float(os.environ.get("OPSCORE_BACKOFF_MAX_SECONDS", "900")),
}
OPSCORE_CARRIER_URL = os.environ.get("OPSCORE_CARRIER_URL", "http://127.0.0.1:8025/shipments")
OPSCORE_PAYMENTS_URL = os.environ.get("OPSCORE_PAYMENTS_URL", "http://127.0.0.1:8026/payments")
OPSCORE_HTTP_TIMEOUT_SECONDS = float(os.environ.get("OPSCORE_HTTP_TIMEOUT_SECONDS", "10"))

# Alerts: where the signed alert webhook goes (unset: email only), its Standard Webhooks
# secret (whsec_...), and how many times a notice is tried before it is given up.
OPSCORE_ALERT_WEBHOOK_URL = os.environ.get("OPSCORE_ALERT_WEBHOOK_URL", "")
OPSCORE_ALERT_WEBHOOK_SECRET = os.environ.get("OPSCORE_ALERT_WEBHOOK_SECRET", "")
OPSCORE_ALERT_DELIVERY_MAX_ATTEMPTS = env_int("OPSCORE_ALERT_DELIVERY_MAX_ATTEMPTS", 8)
if OPSCORE_ALERT_WEBHOOK_URL and not OPSCORE_ALERT_WEBHOOK_SECRET.startswith("whsec_"):
    raise ImproperlyConfigured(
        "OPSCORE_ALERT_WEBHOOK_URL is set: OPSCORE_ALERT_WEBHOOK_SECRET must be a Standard "
        "Webhooks secret (whsec_<base64>) so receivers can verify the alerts"
    )


# Structured logs (opscore/logging_config.py): JSON lines unless asked for the console format,
# which development (OPSCORE_DEBUG) gets by default.
OPSCORE_LOG_FORMAT = os.environ.get("OPSCORE_LOG_FORMAT", "").strip().lower() or (
    "console" if DEBUG else "json"
)
LOGGING = logging_settings(
    log_format=OPSCORE_LOG_FORMAT,
    level=os.environ.get("OPSCORE_LOG_LEVEL", "INFO"),
    levels={
        # One line per enqueued task drowns everything else out.
        "django-q": os.environ.get("OPSCORE_Q_LOG_LEVEL", "WARNING"),
        # django-axes says INFO on every start and every failed login; failures and lockouts
        # themselves are WARNING.
        "axes": os.environ.get("OPSCORE_AXES_LOG_LEVEL", "WARNING"),
    },
)
configure_structlog()
OPSCORE_POD_TIMEOUT_HOURS = float(os.environ.get("OPSCORE_POD_TIMEOUT_HOURS", "72"))
# Refused requests are kept this long, then purged daily: anyone can send junk to the API,
# and the rejections table must not grow without bound.
OPSCORE_REJECTION_RETENTION_DAYS = int(os.environ.get("OPSCORE_REJECTION_RETENTION_DAYS", "30"))

# Bodies over this are refused before they are read: 413 problem details under /api/.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("OPSCORE_MAX_REQUEST_BYTES", str(2_621_440)))
# One event (API body or webhook body) at most this many bytes: 413 `event_too_large`.
OPSCORE_MAX_EVENT_BYTES = int(os.environ.get("OPSCORE_MAX_EVENT_BYTES", str(256 * 1024)))
# Events in one POST /api/v1/events:batch at most (413 `batch_too_large`); the whole body is
# still bounded by OPSCORE_MAX_REQUEST_BYTES and each event by OPSCORE_MAX_EVENT_BYTES.
OPSCORE_MAX_BATCH_EVENTS = int(os.environ.get("OPSCORE_MAX_BATCH_EVENTS", "500"))
# Unauthenticated refusals: at most BURST rows per (channel, client IP, problem) in WINDOW;
# past that the newest row's `count` grows instead.
OPSCORE_REJECTION_BURST = int(os.environ.get("OPSCORE_REJECTION_BURST", "10"))
OPSCORE_REJECTION_WINDOW_SECONDS = int(os.environ.get("OPSCORE_REJECTION_WINDOW_SECONDS", "600"))

# Recurring patterns (observability/patterns.py): a rule row is "eaten by its exceptions" when
# people override more than RATE of its decisions, over at least MIN_DECISIONS decisions.
OPSCORE_RULE_EATEN_OVERRIDE_RATE = float(os.environ.get("OPSCORE_RULE_EATEN_OVERRIDE_RATE", "0.3"))
OPSCORE_RULE_EATEN_MIN_DECISIONS = env_int("OPSCORE_RULE_EATEN_MIN_DECISIONS", 20)
