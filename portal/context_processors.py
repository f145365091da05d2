from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from portal.selectors import staff_summary


def staff(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's roles and departments for the header, read only if a template asks."""
    return {"staff": SimpleLazyObject(lambda: staff_summary(request.user))}
