"""The Simplified Chinese catalogue: complete, consistent with the code, and used.

CI fails on an untranslated or fuzzy entry, a placeholder lost in translation, or a string in
the code that ``make messages`` would add to the catalogue (that test needs GNU gettext's
``xgettext``: without it the test skips saying so, and ``REQUIRE_GETTEXT=1``, set by CI,
makes that a failure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from portal.catalogues import catalogues, problems
from portal.models import StaffProfile
from tests.factories import TEST_PASSWORD

ROOT = Path(django_settings.BASE_DIR)
CHINESE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_there_is_a_simplified_chinese_catalogue_and_every_catalogue_is_complete() -> None:
    assert CHINESE in catalogues()
    assert [problem for catalogue in catalogues() for problem in problems(catalogue)] == []


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ("untranslated", "is not translated"),
        ("fuzzy", "is marked fuzzy"),
        ("placeholder lost", "placeholders are not the original's"),
    ],
)
def test_the_check_catches_one_bad_entry(tmp_path: Path, change: str, found: str) -> None:
    catalogue = polib.pofile(str(CHINESE))
    entry = next(e for e in catalogue if "python-format" in e.flags and "%(count)d" in e.msgid and not e.msgid_plural)
    if change == "untranslated":
        entry.msgstr = ""
    elif change == "fuzzy":
        entry.flags.append("fuzzy")
    else:
        entry.msgstr = entry.msgstr.replace("%(count)d", "")
    copy = tmp_path / "zh_Hans" / "LC_MESSAGES" / "django.po"
    copy.parent.mkdir(parents=True)
    catalogue.save(str(copy))
    assert [line for line in problems(copy) if found in line] != []


def _makemessages_or_skip() -> None:
    if shutil.which("xgettext") is None:
        reason = "GNU gettext's xgettext is not installed: `make messages` and this check need it (apt install gettext)"
        if os.environ.get("REQUIRE_GETTEXT") == "1":
            pytest.fail(f"{reason} (REQUIRE_GETTEXT=1 forbids skipping it)", pytrace=False)
        pytest.skip(reason)


def _entries(path: Path) -> set[tuple[str | None, str]]:
    return {(entry.msgctxt, entry.msgid) for entry in polib.pofile(str(path)) if not entry.obsolete}


def _extract(copy: Path, extra: str = "") -> set[tuple[str | None, str]]:
    """``make messages`` run on a copy of the code (with ``extra`` as one more module): its entries."""
    _makemessages_or_skip()
    for name in ("accounts", "casework", "portal", "templates", "locale", "manage.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy(source, copy / name)
    if extra:
        (copy / "portal" / "extra_strings.py").write_text(extra)
    arguments = (ROOT / "locale" / "makemessages.args").read_text().split()
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", *arguments],
        cwd=copy, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(copy)},
    )  # fmt: skip
    return _entries(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")


def test_make_messages_would_not_change_the_catalogues(tmp_path: Path) -> None:
    extracted = _extract(tmp_path)
    for catalogue in catalogues():  # every language's catalogue has the same entries: the code's strings
        committed = _entries(catalogue)
        assert sorted(extracted - committed) == [], f"{catalogue.parent.parent.name} lacks strings: `make messages`"
        assert sorted(committed - extracted) == [], f"{catalogue.parent.parent.name} has stale entries: `make messages`"


def test_the_drift_check_sees_one_new_string(tmp_path: Path) -> None:
    new = 'from django.utils.translation import gettext as _\n\nNEW = _("A sentence nobody has translated yet.")\n'
    assert _extract(tmp_path, extra=new) - _entries(CHINESE) == {(None, "A sentence nobody has translated yet.")}


@pytest.mark.django_db
def test_a_new_staff_member_reads_chinese_and_can_switch_to_english_and_back(client: Client, settings, service) -> None:
    settings.LANGUAGE_CODE = "zh-hans"  # the portal's own default (the suite's other tests read English)
    client.force_login(service)
    page = client.get(reverse("casework:board")).content.decode()
    assert "工单看板" in page and 'lang="zh-hans"' in page

    response = client.post(reverse("language"), {"language": "en", "next": reverse("casework:board")})
    assert response.status_code == 302 and response["Location"] == reverse("casework:board")
    assert StaffProfile.objects.get(user=service).language == "en"
    assert "Case board" in client.get(reverse("casework:board")).content.decode()

    client.logout()  # the choice is the person's, not the browser's: it comes back at sign-in
    client.cookies.clear()
    client.post(reverse("login"), {"username": "service", "password": TEST_PASSWORD})
    assert "Case board" in client.get(reverse("casework:board")).content.decode()

    client.post(reverse("language"), {"language": "zh-hans", "next": "/"})
    assert "工单看板" in client.get(reverse("casework:board")).content.decode()


@pytest.mark.django_db
def test_the_login_page_follows_the_browser(client: Client, settings) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    assert "Sign in" in client.get(reverse("login"), headers={"Accept-Language": "en-GB,en;q=0.9"}).content.decode()
    assert "登录" in client.get(reverse("login"), headers={"Accept-Language": "zh-CN,zh;q=0.9"}).content.decode()


@pytest.mark.django_db
def test_the_admin_carries_the_portals_name_and_icon_in_chinese(client: Client, settings, admin_user) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(admin_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert "激活工作台管理后台" in page and "img/favicon" in page and 'rel="icon"' in page


@pytest.mark.parametrize(
    ("seconds", "english", "chinese"),
    [
        (30, "0 minutes", "0分钟"),
        (12 * 60, "12 minutes", "12分钟"),
        (3 * 86400 + 4 * 3600 + 59, "3 days, 4 hours", "3天4小时"),
        (86400 + 5 * 60, "1 day", "1天"),  # the next unit down is zero: it stops there, as timesince does
        (400 * 86400, "1 year, 1 month", "1年1个月"),
    ],
)
def test_durations_read_as_each_language_writes_them(seconds: int, english: str, chinese: str) -> None:
    from django.utils import translation

    from portal.durations import duration_words

    with translation.override("en"):
        assert duration_words(seconds) == english.replace(" ", "\xa0").replace(",\xa0", ", ")
    with translation.override("zh-hans"):
        assert duration_words(seconds) == chinese
