"""The second factor: an authenticator app (TOTP) and ten one-time backup codes (django-otp).

A staff member's authenticator is a ``TOTPDevice``, unconfirmed until they type its first
code (enrolment), and their backup codes are one ``StaticDevice`` whose tokens are kept as
keyed hashes, never as the codes themselves (each code works once and is deleted).

After the password, a session owes the second step when ``OTP_REQUIRED`` is on, or when the
person has set up a second factor anyway (``PENDING_KEY``). It has passed it when it holds the
id of the device that accepted the code (django-otp's ``DEVICE_ID_SESSION_KEY``): both are read
from the session, so no page spends a query on them (``portal.middleware.SecondFactorMiddleware``).

Wrong codes are counted on the authenticator's throttling fields (django-otp's): after
``OTP_FAILURE_LIMIT`` in a row the second step is locked for ``OTP_LOCKOUT_MINUTES``, whatever
code is typed, and the person is told until when. A right code, or a right backup code, ends
the run.
"""

from __future__ import annotations

import math
import secrets
from base64 import b32encode
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.audit import record
from portal.models import SecurityEvent
from portal.sessions import sessions_end

PENDING_KEY = "second_factor_pending"
BACKUP_CODES = 10
# Backup codes: 10 characters from 31 that cannot be mistaken for one another (about 50 bits).
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_CODE_LENGTH = 10
_DIGEST_SALT = "portal.second_factor.backup_code"
AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_CODES_NAME = "Backup codes"


class CodeRefused(Exception):
    """The code is not right; ``locked_until`` when that wrong code locked the second step."""

    def __init__(self, locked_until: datetime | None = None) -> None:
        super().__init__("code refused")
        self.locked_until = locked_until


class SecondStepLocked(Exception):
    """Too many wrong codes in a row: no code is checked until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


@dataclass(frozen=True)
class SecondFactorStatus:
    """What the profile page says about a person's second factor."""

    enrolled: bool
    enrolled_at: datetime | None
    backup_codes_left: int


def locked_message(until: datetime) -> str:
    """“Too many wrong codes …”, saying until when (local time) and what else to do."""
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    return ngettext(
        "Too many wrong codes in a row. Try again at %(time)s (in %(minutes)d minute), "
        "or ask an admin to reset your second factor.",
        "Too many wrong codes in a row. Try again at %(time)s (in %(minutes)d minutes), "
        "or ask an admin to reset your second factor.",
        minutes,
    ) % {"time": timezone.localtime(until).strftime("%H:%M"), "minutes": minutes}


def second_factor_exempt[V: Callable[..., Any]](view: V) -> V:
    """Mark a view that a signed-in session reaches before its second step (the step itself, sign-out)."""
    view.second_factor_exempt = True  # type: ignore[attr-defined]
    return view


# --- the session ---------------------------------------------------------------------------------


def second_step_due(session: SessionBase) -> bool:
    """True while a signed-in session still owes the code (read from the session alone)."""
    if session.get(DEVICE_ID_SESSION_KEY):
        return False
    return bool(settings.OTP_REQUIRED or session.get(PENDING_KEY))


def second_step_forget(session: SessionBase) -> None:
    """A new sign-in: whatever second step an earlier one passed no longer counts."""
    session.pop(DEVICE_ID_SESSION_KEY, None)
    session.pop(PENDING_KEY, None)


def second_step_passed(request: HttpRequest, device: Device) -> None:
    """The session has passed the second step with ``device``: a new session key for it."""
    request.session.cycle_key()
    otp_login(request, device)
    request.session.pop(PENDING_KEY, None)


# --- reads ---------------------------------------------------------------------------------------


def authenticator(user: User | Any, *, confirmed: bool = True) -> TOTPDevice | None:
    """The person's authenticator app (the confirmed one, or the one being set up)."""
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("-pk").first()


def has_second_factor(user: User | Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_status(user: User) -> SecondFactorStatus:
    device = authenticator(user)
    left = StaticToken.objects.filter(device__user=user, device__confirmed=True).count() if device else 0
    return SecondFactorStatus(
        enrolled=device is not None, enrolled_at=device.created_at if device else None, backup_codes_left=left
    )


def qr_svg(device: TOTPDevice) -> SafeString:
    """The device's ``otpauth://`` address as an inline SVG QR code, drawn here (no outside service)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage, border=2)
    svg = image.to_string(encoding="unicode")
    label = escape(_("QR code to scan with your authenticator app"))
    # Our own drawing of our own data: no script, no style attribute (the CSP forbids inline styles).
    return mark_safe(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" class="qr-code" ', 1))  # noqa: S308


def secret_text(device: TOTPDevice) -> str:
    """The secret as an authenticator app asks for it when typed by hand: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- codes ---------------------------------------------------------------------------------------


def _normalised(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def backup_code_digest(code: str) -> str:
    """What is stored of a backup code: a keyed hash (16 hex characters fit django-otp's column)."""
    return salted_hmac(_DIGEST_SALT, _normalised(code), algorithm="sha256").hexdigest()[:16]


def _new_backup_code() -> str:
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    return f"{code[:5]}-{code[5:]}"


def _locked_until(device: TOTPDevice) -> datetime | None:
    failed_at = device.throttling_failure_timestamp
    if device.throttling_failure_count < settings.OTP_FAILURE_LIMIT or failed_at is None:
        return None
    until: datetime = failed_at + timedelta(minutes=settings.OTP_LOCKOUT_MINUTES)
    return until if until > timezone.now() else None


def _check(user: User, code: str, *, confirmed: bool) -> tuple[Device | None, datetime | None]:
    """(the device that accepted ``code`` or None, the time the second step is locked until or None)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=confirmed).order_by("-pk").first()
        if device is None:
            return None, None
        locked = _locked_until(device)
        if locked is not None:
            raise SecondStepLocked(locked)
        if device.verify_token(_normalised(code)):  # counts a failure itself, resets the count on success
            return device, None
        if confirmed:
            backup = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
            if backup is not None and backup.verify_token(backup_code_digest(code)):  # deletes the code
                device.throttle_reset()
                return backup, None
    return None, _locked_until(device)


def code_check(*, user: User, code: str, request: HttpRequest | None, confirmed: bool = True) -> Device:
    """The device that accepts ``code``: the authenticator's current code, or an unused backup code.

    Raises ``SecondStepLocked`` while locked (nothing is checked then), ``CodeRefused`` for a
    wrong code (recorded in the access log; with ``locked_until`` if it was the last one allowed).
    """
    device, locked_until = _check(user, code, confirmed=confirmed)
    if device is None:
        record(
            SecurityEvent.Kind.SECOND_FACTOR_FAILED,
            actor=user,
            request=request,
            target_user=user,
            details={"locked_until": locked_until.isoformat()} if locked_until else {},
        )
        raise CodeRefused(locked_until)
    return device


# --- enrolment, backup codes, reset ---------------------------------------------------------------


def enrolment_device(user: User) -> TOTPDevice:
    """The authenticator being set up: the same one on every visit until it is confirmed."""
    device = authenticator(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def _backup_codes_make(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_CODES_NAME, confirmed=True)
    codes = [_new_backup_code() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=backup_code_digest(code)) for code in codes)
    return codes


def enrolment_confirm(*, user: User, code: str, request: HttpRequest) -> tuple[TOTPDevice, list[str]]:
    """The first code from the new authenticator: it becomes the person's, with ten new backup codes.

    Returns the device and the backup codes, to be shown once and never again. Raises like
    ``code_check``.
    """
    device = code_check(user=user, code=code, request=request, confirmed=False)
    assert isinstance(device, TOTPDevice)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _backup_codes_make(user)
        record(SecurityEvent.Kind.DEVICE_ENROLLED, actor=user, request=request, target_user=user)
    return device, codes


def backup_codes_replace(*, user: User, request: HttpRequest) -> list[str]:
    """Ten new backup codes for a person with an authenticator; the old ones stop working."""
    if not has_second_factor(user):
        raise CodeRefused()
    with transaction.atomic():
        codes = _backup_codes_make(user)
        record(
            SecurityEvent.Kind.DEVICE_ENROLLED,
            actor=user,
            request=request,
            target_user=user,
            details={"backup_codes": "replaced"},
        )
    return codes


def devices_reset(*, user: User, by: User, request: HttpRequest | None = None) -> int:
    """An admin removes a person's authenticator and backup codes (a lost phone) and ends their sessions.

    They set up a new authenticator at their next sign-in. Recorded in the access log, with the
    admin as actor and the person as target. Returns how many devices were removed.
    """
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        removed += StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
        keep = request.session.session_key if request is not None and by.pk == user.pk else None
        ended = sessions_end(user_id=user.pk, keep=keep)
        record(
            SecurityEvent.Kind.DEVICES_RESET,
            actor=by,
            request=request,
            target_user=user,
            details={"devices": removed, "sessions_ended": ended},
        )
    return removed
