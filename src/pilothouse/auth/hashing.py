"""Salted SHA-256 for machine secrets (API keys, executor tokens).

These secrets are 32 random bytes, so a fast hash is enough: nobody can search a 256-bit space,
and a slow password hash (argon2) would cost milliseconds on every request. The salt keeps
equal secrets from having equal hashes; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_BYTES = 32
SALT_BYTES = 16


def new_secret() -> str:
    """A URL-safe random secret of ``SECRET_BYTES`` bytes (43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def hash_secret(secret: str, salt: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def secret_matches(secret: str, salt: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, salt), expected_hash)
