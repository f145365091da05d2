"""The translation catalogues: compiled without GNU gettext, and checked so they cannot drift.

``locale/<language>/LC_MESSAGES/django.po`` is the source; its ``.mo`` is built by
``compile_catalogues`` (``make run``/``make test`` run it) with polib. ``problems`` is what the
test suite and CI refuse: an entry left untranslated or fuzzy, or a translation whose
placeholders are not the original's (a ``%(count)d`` lost in translation is a crash at run time).
"""

from __future__ import annotations

import re
from pathlib import Path

import polib
from django.conf import settings

# %(name)s, %(count)d, %s, %d … and %% (a literal percent sign, which is not a placeholder)
_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")


def catalogues() -> list[Path]:
    return sorted(path for folder in settings.LOCALE_PATHS for path in Path(folder).glob("*/LC_MESSAGES/*.po"))


def placeholders(text: str) -> tuple[set[str], int]:
    """The named placeholders of ``text`` (``%(count)d``), and how many unnamed ones (``%s``) it has."""
    found = [match for match in _PLACEHOLDER.finditer(text) if match.group(0) != "%%"]
    return {match.group(0) for match in found if match.group(1)}, sum(1 for match in found if not match.group(1))


def problems(path: Path) -> list[str]:
    """What is wrong with one catalogue, one line per entry: untranslated, fuzzy, placeholders changed."""
    catalogue = polib.pofile(str(path))
    found = []
    for entry in catalogue:
        if entry.obsolete:
            continue
        where = f"{path.parent.parent.name}: {entry.msgid[:60]!r}"
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        if entry.fuzzy:
            found.append(f"{where} is marked fuzzy")
        elif not all(translations):
            found.append(f"{where} is not translated")
        elif "python-format" in entry.flags:
            # A plural's translations follow its plural form (Chinese has one form for every count).
            expected = placeholders(entry.msgid_plural or entry.msgid)
            for translation in translations:
                if placeholders(translation) != expected:
                    found.append(f"{where}: the translation's placeholders are not the original's")
    return found


def compile_all() -> list[tuple[Path, int]]:
    """Every catalogue compiled to its ``.mo``; (path, percent translated) of each."""
    compiled = []
    for path in catalogues():
        catalogue = polib.pofile(str(path))
        catalogue.save_as_mofile(str(path.with_suffix(".mo")))
        compiled.append((path, catalogue.percent_translated()))
    return compiled
