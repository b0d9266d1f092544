"""Webhook destinations and payloads, and sending one payload with bounded retries.

A destination is a URL; ``slack:URL`` (or any ``hooks.slack.com`` URL) gets the
Slack-compatible payload (``{"text", "blocks"}``), ``json:URL`` or any other URL the generic
JSON payload. Connection failures, timeouts, 429 and 5xx answers are retried with
exponential backoff (0.5 s, 1 s, ...) up to the configured number of attempts; other 4xx
answers are not retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shipyard.errors import InvalidArgument

KINDS = ("json", "slack")
BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Destination:
    url: str
    kind: str  # json | slack

    def __str__(self) -> str:
        return self.url if self.kind == "json" else f"{self.kind}:{self.url}"


def parse_destination(text: str) -> Destination:
    """``URL``, ``json:URL`` or ``slack:URL``."""
    text = str(text).strip()
    kind, _, rest = text.partition(":")
    if kind in KINDS and rest.startswith(("http://", "https://")):
        url = rest
    else:
        url, kind = text, ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(
            f"webhook {text!r} must be an http(s) URL, optionally prefixed by json: or slack:"
        )
    if not kind:
        kind = "slack" if parts.hostname.endswith("hooks.slack.com") else "json"
    return Destination(url, kind)


def slack_payload(text: str, fields: dict[str, str]) -> dict[str, Any]:
    """A Slack incoming-webhook message: the text, then the fields as one section."""
    lines = "\n".join(f"*{k}:* {v}" for k, v in fields.items())
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
        ],
    }


@dataclass(frozen=True)
class Attempt:
    number: int
    ok: bool
    error: str | None  # None when delivered
    final: bool  # no attempt follows


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def send(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int,
    timeout: float,
    on_attempt: Callable[[Attempt], None],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST ``payload`` as JSON until it is accepted (2xx) or ``attempts`` are used;
    ``on_attempt`` hears of every attempt (to record it) before any retry waits."""
    import httpx

    with httpx.Client(timeout=timeout, follow_redirects=False) as http:
        for number in range(1, attempts + 1):
            retry = True
            try:
                answer = http.post(url, json=payload)
                if answer.is_success:
                    on_attempt(Attempt(number, True, None, True))
                    return True
                error = f"HTTP {answer.status_code}: {answer.text[:200].strip()}".rstrip(": ")
                retry = _retryable(answer.status_code)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            final = not retry or number == attempts
            on_attempt(Attempt(number, False, error, final))
            if final:
                return False
            sleep(BACKOFF_SECONDS * 2 ** (number - 1))
    return False
