"""Failed sign-in limits, as pure decisions (no I/O; ``now`` is passed in, epoch seconds).

A *limit* allows ``max_failures`` failed attempts per sliding ``window`` seconds for one
key (an account, a client address, an MFA user). Once the limit is reached, attempts are
refused *without being counted* until the oldest counted failure leaves the window, so a
lockout always ends at most ``window`` seconds after the failure that caused it: an
attacker cannot extend it by hammering, only start a new one with fresh failures, and a
successful sign-in clears the account's failures.

Keys (``account_key``, ``address_key``, ``mfa_key``) are what the stores
(``services.auth.attempts``) keep failures under.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_LIMITS",
    "Limit",
    "LoginLimits",
    "Verdict",
    "account_key",
    "address_key",
    "client_address",
    "mfa_key",
    "most_restrictive",
    "retry_message",
    "verdict",
]


@dataclass(frozen=True, slots=True)
class Limit:
    """``max_failures`` failures per sliding ``window`` seconds."""

    max_failures: int
    window: float

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= 0:
            raise ValueError("a limit needs max_failures >= 1 and window > 0")


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The production defaults: an account (or an unknown login name) gets 5 failures per
    15 minutes, a client address 20 (it may be a shared NAT), a second factor 5."""

    account: Limit = Limit(5, 15 * 60.0)
    address: Limit = Limit(20, 15 * 60.0)
    mfa: Limit = Limit(5, 15 * 60.0)


DEFAULT_LIMITS = LoginLimits()


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed``, or refused until ``retry_after`` seconds from now (> 0)."""

    allowed: bool
    retry_after: float = 0.0
    scope: str = ""
    """Which limit refused: ``account``, ``address`` or ``mfa``."""


ALLOWED = Verdict(True)


def verdict(failures: Iterable[float], limit: Limit, now: float, scope: str = "") -> Verdict:
    """Decide from the times of earlier failures (any order; old ones are ignored)."""
    recent = sorted(t for t in failures if t > now - limit.window)
    if len(recent) < limit.max_failures:
        return ALLOWED
    # Allowed again once all but max_failures - 1 of the recent failures have aged out.
    release = recent[len(recent) - limit.max_failures] + limit.window
    return Verdict(False, max(release - now, 0.001), scope)


def most_restrictive(*verdicts: Verdict) -> Verdict:
    """The refusal that lasts longest, or allowed when none refuses."""
    refused = [v for v in verdicts if not v.allowed]
    return max(refused, key=lambda v: v.retry_after) if refused else ALLOWED


def retry_message(what: str, v: Verdict) -> str:
    """What the caller is told: why, and when to try again (whole seconds, rounded up)."""
    seconds = max(1, math.ceil(v.retry_after))
    return f"too many failed {what} attempts; retry in {seconds} s"


def account_key(user_id: str | None, login: str) -> str:
    """Failures count against the account whichever name (username or email) was used;
    names that match no account are limited too, by the name itself."""
    return f"account:{user_id}" if user_id else f"login:{login}"


def address_key(address: str) -> str:
    return f"address:{address}"


def mfa_key(user_id: str) -> str:
    return f"mfa:{user_id}"


def client_address(forwarded_for: str, peer: str) -> str:
    """The address a sign-in came from.

    Behind the REST gateway, ``x-forwarded-for`` ends with the address the gateway saw
    connecting (earlier entries are whatever the client claimed, so they are ignored).
    Without it, the gRPC peer (``ipv4:1.2.3.4:5678``, ``ipv6:[::1]:5678``) minus its port.
    """
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if hops:
        return _normal(hops[-1])
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return _normal(rest.rsplit(":", 1)[0])
    if kind == "ipv6":
        return _normal(rest.rsplit(":", 1)[0].strip("[]"))
    return peer or "unknown"


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address[:100]
