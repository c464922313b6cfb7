"""Octopus API keys at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

Several encryption keys may be in use at once, so that they can be rotated: the first of
`API_KEY_ENCRYPTION_KEYS` (else `API_KEY_ENCRYPTION_KEY`) encrypts, and every configured key
decrypts. Keys derived from `SECRET_KEY` and each of `SECRET_KEY_FALLBACKS` decrypt too (and
the one from `SECRET_KEY` encrypts when no key is configured), so that a first run needs no
setup and rotating `SECRET_KEY` the Django way keeps the stored API keys readable.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

UNREADABLE = "stored but unreadable: enter it again"
# An Octopus API key: "API-" and letters and digits (the server makes them upper-case). Checked
# where a key enters, so that nothing else (a space, a line break that would start another
# header) ever reaches a request.
_SHAPE = re.compile(r"API-[A-Za-z0-9]{1,196}")
SHAPE_MESSAGE = (
    "An Octopus API key is API- followed by letters and digits, like API-ABCDEF123…; "
    "copy it again from your Octopus profile."
)


def clean_api_key(text: str) -> str:
    """The key without surrounding spaces ("" when none is given), or ValueError with a
    message that never quotes it."""
    value = text.strip()
    if value and not _SHAPE.fullmatch(value):
        raise ValueError(SHAPE_MESSAGE)
    return value


class UnreadableKey(ValueError):
    """A key is stored but none of the encryption keys this server has can decrypt it."""


def _derived(secret_key: str) -> bytes:
    digest = hashlib.sha256(f"octopus-api-keys:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


def encryption_keys() -> list[bytes]:
    """Every Fernet key, the one that encrypts first, without repeats."""
    configured = [*settings.API_KEY_ENCRYPTION_KEYS, settings.API_KEY_ENCRYPTION_KEY]
    secret_keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    keys = [key.encode() for key in configured if key] + [_derived(key) for key in secret_keys]
    return list(dict.fromkeys(keys))


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in encryption_keys()])


def encrypt(api_key: str) -> str:
    return _fernet().encrypt(api_key.encode()).decode() if api_key else ""


def decrypt(stored: str) -> str:
    """The API key, or "" when none is stored. Raises UnreadableKey when one is stored but no
    encryption key this server has can read it (the keys changed since)."""
    if not stored:
        return ""
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise UnreadableKey(UNREADABLE) from None


def readable(stored: str) -> bool:
    try:
        decrypt(stored)
    except UnreadableKey:
        return False
    return True


def masked(stored: str) -> str:
    """What the page shows about a stored key: whether there is one it can use, never any of
    it."""
    if not stored:
        return "not given"
    return "stored (hidden)" if readable(stored) else UNREADABLE
