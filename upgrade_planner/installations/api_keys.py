"""Octopus API keys at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    configured = settings.API_KEY_ENCRYPTION_KEY
    if configured:
        return Fernet(configured)
    # Without a dedicated key, derive one from SECRET_KEY so a first run needs no setup.
    digest = hashlib.sha256(f"octopus-api-keys:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(api_key: str) -> str:
    return _fernet().encrypt(api_key.encode()).decode() if api_key else ""


def decrypt(stored: str) -> str:
    """The API key, or "" when nothing is stored or the encryption key has changed since."""
    if not stored:
        return ""
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken:
        return ""


def masked(stored: str) -> str:
    """What the page shows about a stored key: that there is one, never any of it."""
    return "stored (hidden)" if stored else "not given"
