"""Personal data as pages show it by default: enough to recognise, not enough to use."""

from __future__ import annotations


def mask_mobile(value: str) -> str:
    """138****5678: enough to recognise a number on the phone, not enough to dial it."""
    if len(value) < 7:
        return "*" * len(value)
    return f"{value[:3]}****{value[-4:]}"


def mask_email(value: str) -> str:
    """z***@example.com"""
    local, _at, domain = value.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_code(value: str) -> str:
    """9111**********123X: a unified social credit code recognisable by its ends only."""
    if len(value) < 10:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"
