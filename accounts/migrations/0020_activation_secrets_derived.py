"""Activation secrets are derived, never kept: links get a nonce, messages point at their link, and
the messages already written lose their token (their text shows ``[link]`` where it was).

A message not sent yet gets a new link (with a nonce, so its delivery job can make its token), as
the old link's secret is known only from the token being removed; a link already sent keeps
working. The derivation is copied here from ``accounts.verification`` as it is today.
"""

import base64
import hashlib
import re
import secrets

from django.core import signing
from django.db import migrations, models
from django.db.models import Q
from django.utils.crypto import salted_hmac

SALT = "accounts.activation-link"
LINK_MARK = "[link]"
TOKEN = re.compile(r"/activate/([^/\s\"']+)/")
UNSENT = ("queued", "sending")


def _secret(nonce):
    return base64.urlsafe_b64encode(salted_hmac(SALT, nonce, algorithm="sha256").digest()[:24]).decode()


def _secret_hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def _link_of(ActivationLink, token):
    try:
        secret = signing.TimestampSigner(salt=SALT).unsign(token)
    except signing.BadSignature:
        return None
    return ActivationLink.objects.filter(secret_hash=_secret_hash(secret)).first()


def _new_link(ActivationLink, old):
    nonce = secrets.token_urlsafe(24)
    return ActivationLink.objects.create(
        account_id=old.account_id, nonce=nonce, secret_hash=_secret_hash(_secret(nonce)), expires_at=old.expires_at
    )


def redact_messages(apps, schema_editor):
    ActivationLink = apps.get_model("accounts", "ActivationLink")
    Notification = apps.get_model("accounts", "Notification")
    new_links = {}  # an old link's id → the new link of its messages not sent yet
    with_links = Notification.objects.filter(
        Q(body__contains="/activate/") | Q(template__in=("activation", "reminder"))
    )
    ids = list(with_links.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), 1000):  # in chunks, not a cursor over the rows being changed
        for message in Notification.objects.filter(pk__in=ids[start : start + 1000]):
            _redact(ActivationLink, message, new_links)


def _redact(ActivationLink, message, new_links):
    """The message without its token; not sent yet, it gets a new link whose token can be made."""
    params = {name: str(value) for name, value in message.params.items()}
    tokens = {token for text in (message.body, *params.values()) for token in TOKEN.findall(text)} - {LINK_MARK}
    if not tokens:
        return
    links = [link for link in (_link_of(ActivationLink, token) for token in tokens) if link]
    for token in tokens:
        message.body = message.body.replace(f"/{token}/", f"/{LINK_MARK}/")
        params = {name: value.replace(f"/{token}/", f"/{LINK_MARK}/") for name, value in params.items()}
    message.params = params
    message.link = links[0] if links else None
    if message.status in UNSENT and message.link is None:
        message.status = "failed"
        message.error = "LinkInvalid: the link cannot be made again; send the activation message again"
    elif message.status in UNSENT:
        if message.link.pk not in new_links:
            new_links[message.link.pk] = _new_link(ActivationLink, message.link)
        message.link = new_links[message.link.pk]
    message.save(update_fields=["body", "params", "link", "status", "error"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0019_import_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="activationlink",
            name="nonce",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="notification",
            name="link",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="notifications",
                to="accounts.activationlink",
            ),
        ),
        migrations.RunPython(redact_messages, migrations.RunPython.noop, elidable=True),
    ]
