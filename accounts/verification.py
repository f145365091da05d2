"""The customer's side of activation: the personal link, the SMS code, the password.

The link carries a secret signed with a timestamp (tampering and expiry are caught before the
database is asked). The secret is derived from a random nonce with the secret key (HMAC), so that
neither it nor the token is ever stored: the link keeps the nonce and a SHA-256 of the secret, and
messages keep ``[link]`` where the token goes, made again when they are sent. SMS codes are 6
digits, sent at once and stored only as a keyed hash (HMAC with the secret key), valid 10 minutes,
compared in constant time; 5 wrong codes lock the link for 30 minutes; a new code at most once a
minute and 5 times a day.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts.models import ActivationLink, Channel, LoanAccount, State
from accounts.policy import TIERS, Step
from accounts.services import AccountActionError, account_step_record, account_transition
from portal.actors import Actor

SALT = "accounts.activation-link"
# Where a stored message has the link's token (the address still shows the customer which page).
LINK_MARK = "[link]"
CODE_VALID = timedelta(minutes=10)
MAX_WRONG_CODES = 5
LOCKOUT = timedelta(minutes=30)
RESEND_AFTER = timedelta(minutes=1)
CODES_PER_DAY = 5
LINK_GRACE = timedelta(days=7)
CUSTOMER = Actor.system("customer (activation page)", Channel.WEB)


class LinkInvalid(Exception):
    """Expired, tampered, unknown or used: the page says so and reveals nothing else."""


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _secret(nonce: str, key: str | bytes) -> str:
    """A link's secret, from its nonce and a secret key: 24 bytes of HMAC-SHA256, URL-safe."""
    return base64.urlsafe_b64encode(salted_hmac(SALT, nonce, secret=key, algorithm="sha256").digest()[:24]).decode()


def code_hash(link_id: int, code: str) -> str:
    """Keyed hash of a code for one link: useless without the server's secret key."""
    key = hashlib.sha256((settings.SECRET_KEY + SALT).encode()).digest()
    return hmac.new(key, f"{link_id}:{code}".encode(), hashlib.sha256).hexdigest()


def link_create(account: LoanAccount) -> tuple[ActivationLink, str]:
    """A new personal link for the account; returns it with its URL (for the customer, never stored)."""
    nonce = secrets.token_urlsafe(24)
    expires = timezone.now() + TIERS[account.tier].activation_window + LINK_GRACE
    link = ActivationLink.objects.create(
        account=account, nonce=nonce, secret_hash=_secret_hash(_secret(nonce, settings.SECRET_KEY)), expires_at=expires
    )
    return link, link_url(link_token(link))


def link_token(link: ActivationLink) -> str:
    """The link's token, made again from its nonce: for the message being sent now, never stored.

    A previous secret key (``SECRET_KEY_FALLBACKS``) still makes the links made under it. A link
    made before secrets were derived has no nonce, and its token cannot be made: ``LinkInvalid``.
    """
    for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        secret = _secret(link.nonce, key)
        if link.nonce and hmac.compare_digest(_secret_hash(secret), link.secret_hash):
            return signing.TimestampSigner(salt=SALT).sign(secret)
    raise LinkInvalid


def link_url(token: str) -> str:
    """The address of the activation page for a token, or for ``LINK_MARK`` as stored messages show it."""
    return settings.PORTAL_BASE_URL + unquote(reverse("activate", kwargs={"token": token}))


def link_from_token(token: str) -> ActivationLink:
    """The link behind a token. A used link still shows where the activation stands (nothing more)."""
    try:
        secret = signing.TimestampSigner(salt=SALT).unsign(token, max_age=timedelta(days=60))
    except signing.BadSignature:
        raise LinkInvalid from None
    link = ActivationLink.objects.select_related("account__customer").filter(secret_hash=_secret_hash(secret)).first()
    if link is None or link.expires_at < timezone.now():
        raise LinkInvalid
    if link.account.state == State.CLOSED or link.account.on_hold:
        raise LinkInvalid
    if link.used_at is None and link.account.state == State.ACTIVE:
        raise LinkInvalid
    return link


def link_usable(link: ActivationLink) -> None:
    """Steps are taken only on an unused link of an account still waiting for them."""
    if link.used_at or link.account.state == State.ACTIVE:
        raise AccountActionError(_("Your part is done; there is nothing more to enter here."))


@dataclass(frozen=True)
class CodeSent:
    code: str
    to: str


@transaction.atomic
def code_issue(*, link_id: int) -> CodeSent:
    """Make a new 6-digit code for the link (rate-limited); ``accounts.notify.code_send`` sends it."""
    link = ActivationLink.objects.select_for_update().select_related("account__customer").get(pk=link_id)
    link_usable(link)
    now = timezone.now()
    if link.locked_until and link.locked_until > now:
        raise AccountActionError(
            _("Too many wrong codes. Try again after %(time)s.") % {"time": _hhmm(link.locked_until)}
        )
    if link.last_code_sent_at and now - link.last_code_sent_at < RESEND_AFTER:
        raise AccountActionError(_("A code was sent less than a minute ago. Wait a moment, then ask again."))
    sent_today = link.codes_sent_today if link.last_code_sent_at and link.last_code_sent_at.date() == now.date() else 0
    if sent_today >= CODES_PER_DAY:
        raise AccountActionError(
            _("You have asked for %(n)d codes today. Try again tomorrow, or call us.") % {"n": CODES_PER_DAY}
        )
    code = f"{secrets.randbelow(10**6):06d}"
    link.code_hash = code_hash(link.pk, code)
    link.code_expires_at = now + CODE_VALID
    link.codes_sent_today = sent_today + 1
    link.last_code_sent_at = now
    link.save()
    return CodeSent(code=code, to=link.account.customer.contact_mobile)


def _hhmm(moment: object) -> str:
    return timezone.localtime(moment).strftime("%H:%M")  # type: ignore[arg-type]


def code_verify(*, link_id: int, code: str) -> LoanAccount:
    """Check a code; the SMS step is recorded and the account moves on. Wrong codes count,
    and the count is saved even though the caller gets an error."""
    with transaction.atomic():
        link = ActivationLink.objects.select_for_update().select_related("account__customer").get(pk=link_id)
        link_usable(link)
        problem = _check_code(link, code)
        if problem is None:
            link.code_hash = ""
            link.wrong_codes = 0
        link.save()
        if problem is None:
            _start_verification(link.account)
            account = account_step_record(account_id=link.account_id, step=Step.SMS_CODE, actor=CUSTOMER)
            return _finish_if_done(link, account)
    raise AccountActionError(problem)


def _check_code(link: ActivationLink, code: str) -> str | None:
    """None when the code is right; else what to tell the customer (and the counters move)."""
    now = timezone.now()
    if link.locked_until and link.locked_until > now:
        return _("Too many wrong codes. Try again after %(time)s.") % {"time": _hhmm(link.locked_until)}
    if not link.code_hash or not link.code_expires_at or link.code_expires_at < now:
        return _("This code has expired. Ask for a new one.")
    if hmac.compare_digest(link.code_hash, code_hash(link.pk, code.strip())):
        return None
    link.wrong_codes += 1
    if link.wrong_codes >= MAX_WRONG_CODES:
        link.locked_until = now + LOCKOUT
        link.wrong_codes = 0
        link.code_hash = ""
        return _("Too many wrong codes. Try again after %(time)s.") % {"time": _hhmm(link.locked_until)}
    left = MAX_WRONG_CODES - link.wrong_codes
    return _("That code is not right. You have %(n)d more tries.") % {"n": left}


@transaction.atomic
def password_set(*, link_id: int, password: str, password2: str) -> LoanAccount:
    link = ActivationLink.objects.select_for_update().select_related("account__customer").get(pk=link_id)
    link_usable(link)
    if password != password2:
        raise ValidationError(_("The two passwords differ. Type the same password twice."))
    validate_password(password)
    link.password_hash = make_password(password)
    link.save()
    _start_verification(link.account)
    account = account_step_record(account_id=link.account_id, step=Step.PASSWORD, actor=CUSTOMER)
    return _finish_if_done(link, account)


def _start_verification(account: LoanAccount) -> None:
    if account.state == State.ISSUED or (account.state == State.EMPTY and account.empty_cause == "customer_incomplete"):
        account_transition(
            account_id=account.pk,
            transition_name="begin_verification",
            actor=CUSTOMER,
            reason=_("The customer opened the activation page."),
        )


def _finish_if_done(link: ActivationLink, account: LoanAccount) -> LoanAccount:
    """All the customer's steps done: the link has served. Recording the last step asked core
    banking to activate the card (or the line waits for the credit review on high risk)."""
    if any(step != Step.CREDIT_REVIEW for step in account.steps_missing()):
        return account
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    return account


@dataclass(frozen=True)
class Progress:
    """Where the customer's activation stands, for their page."""

    needs_code: bool
    needs_password: bool
    waiting_for_credit: bool
    activating: bool
    failed: bool
    active: bool


def activation_progress(account: LoanAccount) -> Progress:
    missing = account.steps_missing()
    customer_done = not any(step != Step.CREDIT_REVIEW for step in missing)
    return Progress(
        needs_code=Step.SMS_CODE in missing,
        needs_password=Step.PASSWORD in missing and Step.SMS_CODE not in missing,
        waiting_for_credit=missing == [Step.CREDIT_REVIEW],
        activating=customer_done and not missing and account.state in (State.ISSUED, State.VERIFYING),
        failed=customer_done and account.state == State.EMPTY,
        active=account.state == State.ACTIVE,
    )
