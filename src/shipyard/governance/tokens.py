"""API token secrets: random, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "shy_"


def new_secret() -> str:
    """32 random bytes, URL-safe, with a prefix that secret scanners can recognise."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """sha256 is enough: the secret has 256 bits of entropy, nothing to brute-force."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def shown_prefix(secret: str) -> str:
    """What listings show of a token: enough to tell tokens apart, useless to an attacker."""
    return secret[: len(PREFIX) + 6]
