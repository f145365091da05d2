"""``python manage.py compile_catalogues``: every ``locale/*/LC_MESSAGES/django.po`` compiled to its ``.mo``.

Django's ``compilemessages`` needs GNU gettext's ``msgfmt`` on the machine; this needs only
polib, so ``make run`` and ``make test`` build the catalogues on a fresh machine. The ``.mo``
files are not committed: built from the ``.po`` whenever it changes, they cannot be stale.
A catalogue with an untranslated entry is compiled all the same (that text shows in English);
``tests/portal/test_translations.py`` is what refuses it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal.catalogues import compile_all


class Command(BaseCommand):
    help = "Compile the portal's translation catalogues (.po → .mo) without GNU gettext."

    def handle(self, *args: Any, **options: Any) -> None:
        for path, percent in compile_all():
            self.stdout.write(f"{path.parent.parent.name}: {percent}% translated, compiled")
