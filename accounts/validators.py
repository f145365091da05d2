"""Validators for Chinese enterprise identifiers and contact data."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# GB 32100-2015: the unified social credit code uses these 31 characters (no I, O, S, V, Z).
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code, computed from the first 17."""
    total = sum(
        CREDIT_CODE_CHARS.index(char) * weight for char, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> None:
    if len(value) != 18:
        raise ValidationError(
            _("A unified social credit code has 18 characters; this one has %(count)d."),
            code="length",
            params={"count": len(value)},
        )
    bad = sorted({char for char in value if char not in CREDIT_CODE_CHARS})
    if bad:
        raise ValidationError(
            _("A unified social credit code uses digits and capital letters except I, O, S, V and Z; found %(chars)s."),
            code="characters",
            params={"chars": ", ".join(bad)},
        )
    if credit_code_check_char(value[:17]) != value[17]:
        raise ValidationError(
            _("This unified social credit code fails its check digit; check it for a typing error."),
            code="check_digit",
        )


def validate_mobile(value: str) -> None:
    if not MOBILE_PATTERN.match(value):
        raise ValidationError(
            _("Enter a mainland China mobile number: 11 digits starting with 13 to 19, e.g. 13812345678."),
            code="mobile",
        )
