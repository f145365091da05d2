"""A staff member's authenticator in tests: set one up, read its code as the phone would, pass the step."""

from __future__ import annotations

import time
from base64 import b32decode

from django.contrib.auth.models import AbstractUser
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def authenticator_for(user: AbstractUser) -> TOTPDevice:
    """A confirmed authenticator app, as after the enrolment."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def _code(key: bytes, at: float | None, digits: int = 6) -> str:
    generator = TOTP(key, digits=digits)
    generator.time = time.time() if at is None else at  # time.time(): time-machine's clock in tests
    return f"{generator.token():0{digits}d}"


def code_for(device: TOTPDevice, *, at: float | None = None) -> str:
    """The code the phone shows now (or at the Unix time ``at``)."""
    return _code(device.bin_key, at, device.digits)


def code_from_secret(secret: str, *, at: float | None = None) -> str:
    """The code an authenticator app computes from the secret as the enrolment page prints it."""
    compact = secret.replace(" ", "").upper()
    return _code(b32decode(compact + "=" * (-len(compact) % 8)), at)


def pass_second_step(client: Client, device: TOTPDevice) -> None:
    """Mark the client's session as having passed the second step with ``device`` (as the code page does)."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
