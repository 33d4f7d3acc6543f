"""Access tokens (Ed25519 JWT on a rotating key set) and refresh-token families.

Access tokens
    Signed with EdDSA (Ed25519) only; the verifier pins the algorithm, so ``alg: none`` and
    the HS256-with-the-public-key confusion are rejected before any key is used. Every token
    has a ``kid`` header naming the signing key. Time is injected: pyjwt's own clock checks
    are switched off and ``exp``/``nbf``/``iat`` are checked against the ``now`` the caller
    passes, so a test clock (or a replayed log) decides expiry, not the machine clock.
    The signature is checked before expiry, so a forged expired token is ``TokenInvalid``.

Verified-token cache
    A ``TokenVerifier`` remembers tokens whose signature and claims it has checked (keyed
    by the whole token, so any changed byte is a miss) until they expire. A hit skips the
    Ed25519 check and claim parsing only: key retirement, ``nbf``/``iat`` and ``exp`` are
    checked again against the ``now`` of every call. A new key set (JWKS reload) is a new
    verifier with an empty cache, so a removed key stops verifying at once.

Key rotation
    ``KeySet.rotate(now)`` makes a new signing key; the previous key stays in the set for
    verification until ``now + max_ttl`` (no token it signed can outlive that, because
    ``issue`` refuses a ttl above ``max_ttl``) and is then pruned. ``jwks()`` publishes the
    public halves for the services that only verify (``TokenVerifier.from_jwks``).

Refresh tokens
    Opaque random strings; only their SHA-256 hex digest is stored. Each login starts a
    family; every use rotates the token (old one marked rotated, new one issued). If a
    rotated token is presented again the token leaked, so the whole family is revoked and
    ``RefreshTokenReused`` is raised. The storage is a Protocol (PostgreSQL in the auth
    service, ``InMemoryRefreshTokenStore`` here); its ``rotate`` must be an atomic
    compare-and-set so two concurrent uses of one token cannot both succeed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mesh.identity.errors import (
    RefreshTokenExpired,
    RefreshTokenReused,
    RefreshTokenRevoked,
    TokenExpired,
    TokenInvalid,
)
from mesh.identity.principal import (
    BreakGlassGrant,
    PatientRelation,
    Principal,
    PrincipalKind,
    Role,
)

__all__ = [
    "ACCESS_TOKEN_TTL",
    "ALGORITHM",
    "CLOCK_SKEW",
    "MAX_ACCESS_TOKEN_TTL",
    "REFRESH_FAMILY_TTL",
    "REFRESH_TOKEN_TTL",
    "InMemoryRefreshTokenStore",
    "IssuedRefreshToken",
    "KeySet",
    "RefreshFamilyRecord",
    "RefreshStatus",
    "RefreshTokenFamily",
    "RefreshTokenRecord",
    "RefreshTokenStore",
    "SigningKey",
    "TokenVerifier",
    "hash_refresh_token",
    "principal_from_claims",
    "principal_to_claims",
]

ALGORITHM = "EdDSA"
#: Default access-token lifetime: short, because access tokens cannot be revoked.
ACCESS_TOKEN_TTL = 15 * 60.0
#: Hard ceiling for access tokens; also how long a retired key keeps verifying.
MAX_ACCESS_TOKEN_TTL = 60 * 60.0
#: Lifetime of one refresh token (it is rotated on every use).
REFRESH_TOKEN_TTL = 14 * 24 * 3600.0
#: Absolute lifetime of a refresh family (one login); re-authenticate after it.
REFRESH_FAMILY_TTL = 30 * 24 * 3600.0
#: Tolerated clock difference between issuer and verifier for ``iat``/``nbf`` only.
CLOCK_SKEW = 30.0
#: Verified tokens a verifier remembers (a few hundred bytes each); oldest go first.
VERIFIED_CACHE_SIZE = 4096


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _thumbprint_kid(key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key, so no randomness is needed."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


# --- claims <-> principal -------------------------------------------------------------


def principal_to_claims(principal: Principal) -> dict[str, Any]:
    """The non-registered claims carrying a user principal (names are short on purpose)."""
    return {
        "sub": principal.subject,
        "role": principal.role.value,
        "org": principal.organization_id,
        "sid": principal.session_id,
        "mfa": principal.mfa,
        "rel": [
            {
                "patient_id": r.patient_id,
                "relationship": r.relationship.value,
                "consent_level": r.consent_level.value,
            }
            for r in principal.relations
        ],
        "bg": [
            {"patient_id": g.patient_id, "exp": g.expires_at, "id": g.grant_id}
            for g in principal.break_glass
        ],
    }


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Rebuild a user principal; any shape error is ``TokenInvalid``."""
    try:
        relations = tuple(
            PatientRelation(
                patient_id=_str(r["patient_id"]),
                relationship=r["relationship"],
                consent_level=r["consent_level"],
            )
            for r in _list(claims.get("rel", []))
        )
        grants = tuple(
            BreakGlassGrant(
                patient_id=_str(g["patient_id"]),
                expires_at=_num(g["exp"]),
                grant_id=_str(g.get("id", "")),
            )
            for g in _list(claims.get("bg", []))
        )
        mfa = claims.get("mfa", False)
        if not isinstance(mfa, bool):
            raise TypeError("mfa must be a boolean")
        return Principal(
            subject=_str(claims["sub"]),
            kind=PrincipalKind.USER,
            role=Role(claims["role"]),
            organization_id=_str(claims.get("org", "")),
            relations=relations,
            session_id=_str(claims.get("sid", "")),
            break_glass=grants,
            mfa=mfa,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenInvalid(f"malformed claims: {exc}") from exc


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _list(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise TypeError("expected a list of objects")
    return value


# --- verification ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Verified:
    """What a checked token proved; time claims are re-checked on every use."""

    principal: Principal
    kid: str
    valid_from: float
    """max(iat, nbf): the token is refused while ``valid_from > now + skew``."""
    expires_at: float


class TokenVerifier:
    """Verifies access tokens against public keys only (what every mesh service holds).

    ``keys`` maps kid -> (public key, verify_until); ``verify_until`` is ``None`` for keys
    without a known retirement (the current key, or keys loaded from a JWKS document).
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        keys: Mapping[str, tuple[Ed25519PublicKey, float | None]],
        *,
        clock_skew: float = CLOCK_SKEW,
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keys = dict(keys)
        self._skew = clock_skew
        self._cache_size = cache_size
        # Insertion-ordered: the first key is the oldest entry, evicted when full.
        self._verified: dict[str, _Verified] = {}

    @classmethod
    def from_jwks(cls, issuer: str, audience: str, jwks: Mapping[str, Any]) -> TokenVerifier:
        """Build from a JWKS document (:meth:`KeySet.jwks`); non-Ed25519 keys are skipped."""
        keys: dict[str, tuple[Ed25519PublicKey, float | None]] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "kid" not in jwk:
                continue
            keys[str(jwk["kid"])] = (
                Ed25519PublicKey.from_public_bytes(_b64url_decode(str(jwk["x"]))),
                None,
            )
        return cls(issuer, audience, keys)

    def verify(self, token: str, now: float) -> Principal:
        """Return the principal in ``token`` or raise ``TokenInvalid`` / ``TokenExpired``."""
        hit = self._verified.get(token)
        if hit is not None:
            return self._still_valid(token, hit, now)
        verified = self._verify_fully(token, now)
        if self._cache_size > 0:
            if len(self._verified) >= self._cache_size:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = verified
        return verified.principal

    def _still_valid(self, token: str, hit: _Verified, now: float) -> Principal:
        """The checks of ``_verify_fully`` that depend on ``now``, in the same order."""
        verify_until = self._keys[hit.kid][1]
        if verify_until is not None and now >= verify_until:
            raise TokenInvalid("signing key retired")
        if hit.valid_from > now + self._skew:
            raise TokenInvalid("token not valid yet")
        if now >= hit.expires_at:
            # Expired for good (time only moves forward in production): forget it.
            self._verified.pop(token, None)
            raise TokenExpired(f"token expired at {hit.expires_at}")
        return hit.principal

    def _verify_fully(self, token: str, now: float) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"malformed token: {exc}") from exc
        # Pin the algorithm before touching keys: this is what defeats alg=none and
        # HS256-signed-with-our-public-key confusion.
        if header.get("alg") != ALGORITHM:
            raise TokenInvalid(f"algorithm {header.get('alg')!r} not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise TokenInvalid("unknown key id")
        public_key, verify_until = self._keys[kid]
        if verify_until is not None and now >= verify_until:
            raise TokenInvalid("signing key retired")
        try:
            claims = jwt.decode(
                token,
                key=public_key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                # Time claims are checked below against the injected now, not the OS clock.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": True,
                    "verify_iss": True,
                    "require": ["exp", "iat", "iss", "aud", "sub", "jti"],
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"{type(exc).__name__}: {exc}") from exc
        if claims.get("typ") != "access":
            raise TokenInvalid("not an access token")
        try:
            exp = _num(claims["exp"])
            iat = _num(claims["iat"])
            nbf = _num(claims.get("nbf", iat))
        except TypeError as exc:
            raise TokenInvalid(f"malformed time claim: {exc}") from exc
        if iat > now + self._skew or nbf > now + self._skew:
            raise TokenInvalid("token not valid yet")
        # No leeway on exp: a verifier whose clock is behind must not extend lifetimes.
        if now >= exp:
            raise TokenExpired(f"token expired at {exp}")
        return _Verified(principal_from_claims(claims), kid, max(iat, nbf), exp)


# --- signing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of the set. ``verify_until`` is None while the key is current."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: float
    verify_until: float | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


class KeySet:
    """The auth service's signing keys: one current key plus retired keys still verifying.

    Not thread-safe; the auth service owns one instance per process and persists keys
    itself (private keys never leave it; ``jwks()`` is what others get).
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        now: float,
        *,
        max_ttl: float = MAX_ACCESS_TOKEN_TTL,
        default_ttl: float = ACCESS_TOKEN_TTL,
        key_factory: Callable[[], Ed25519PrivateKey] = Ed25519PrivateKey.generate,
        jti_factory: Callable[[], str] = lambda: secrets.token_urlsafe(16),
    ) -> None:
        if not 0 < default_ttl <= max_ttl:
            raise ValueError("need 0 < default_ttl <= max_ttl")
        self.issuer = issuer
        self.audience = audience
        self.max_ttl = max_ttl
        self.default_ttl = default_ttl
        self._key_factory = key_factory
        self._jti_factory = jti_factory
        self._keys: list[SigningKey] = []
        self._add_key(now)

    def _add_key(self, now: float) -> SigningKey:
        private = self._key_factory()
        key = SigningKey(
            kid=_thumbprint_kid(private.public_key()), private_key=private, created_at=now
        )
        self._keys.append(key)
        return key

    @property
    def current(self) -> SigningKey:
        return self._keys[-1]

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return tuple(self._keys)

    def rotate(self, now: float) -> SigningKey:
        """Start signing with a new key; the old one verifies until ``now + max_ttl``."""
        self._keys[-1] = replace(self._keys[-1], verify_until=now + self.max_ttl)
        new = self._add_key(now)
        self.prune(now)
        return new

    def prune(self, now: float) -> None:
        """Drop retired keys whose tokens have all expired (never the current key)."""
        self._keys = [k for k in self._keys if k.verify_until is None or now < k.verify_until]

    def jwks(self) -> dict[str, Any]:
        """Public JWKS document (RFC 7517/8037) of every key still verifying."""
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64url(_raw_public(k.public_key)),
                    "kid": k.kid,
                    "use": "sig",
                    "alg": ALGORITHM,
                }
                for k in self._keys
            ]
        }

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            self.issuer,
            self.audience,
            {k.kid: (k.public_key, k.verify_until) for k in self._keys},
        )

    def issue(self, principal: Principal, now: float, ttl: float | None = None) -> str:
        """Sign an access token for a *user* principal (services authenticate by mTLS)."""
        if principal.is_service:
            raise ValueError("service principals authenticate with mTLS, not access tokens")
        ttl = self.default_ttl if ttl is None else ttl
        if not 0 < ttl <= self.max_ttl:
            raise ValueError(f"ttl must be in (0, {self.max_ttl}]")
        claims = principal_to_claims(principal)
        claims.update(
            {
                "iss": self.issuer,
                "aud": self.audience,
                "iat": int(now),
                "nbf": int(now),
                # Float exp keeps sub-second ttls honest in tests; JWT allows NumericDate fractions.
                "exp": now + ttl,
                "jti": self._jti_factory(),
                "typ": "access",
            }
        )
        key = self.current
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str, now: float) -> Principal:
        return self.verifier().verify(token, now)

    @classmethod
    def restore(
        cls,
        issuer: str,
        audience: str,
        keys: Sequence[SigningKey],
        *,
        max_ttl: float = MAX_ACCESS_TOKEN_TTL,
        default_ttl: float = ACCESS_TOKEN_TTL,
        key_factory: Callable[[], Ed25519PrivateKey] = Ed25519PrivateKey.generate,
        jti_factory: Callable[[], str] = lambda: secrets.token_urlsafe(16),
    ) -> KeySet:
        """A key set from persisted keys, oldest first; the last one must be current
        (``verify_until`` None) and signs. Used by the auth service after a restart."""
        if not keys or keys[-1].verify_until is not None:
            raise ValueError("restore needs the current key (verify_until None) last")
        if any(k.verify_until is None for k in keys[:-1]):
            raise ValueError("only the last key may be current")
        current = keys[-1]
        restored = cls(
            issuer,
            audience,
            current.created_at,
            max_ttl=max_ttl,
            default_ttl=default_ttl,
            key_factory=lambda: current.private_key,
            jti_factory=jti_factory,
        )
        restored._key_factory = key_factory
        restored._keys = list(keys)
        return restored


# --- refresh tokens ------------------------------------------------------------------


def hash_refresh_token(token: str) -> str:
    """SHA-256 hex digest: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RefreshStatus(StrEnum):
    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class RefreshFamilyRecord:
    """One login's chain of refresh tokens."""

    family_id: str
    subject: str
    session_id: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    revoke_reason: str = ""


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    token_hash: str
    family_id: str
    issued_at: float
    expires_at: float
    status: RefreshStatus = RefreshStatus.ACTIVE
    replaced_by: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    """A new refresh token: ``token`` goes to the client once and is never stored."""

    token: str
    record: RefreshTokenRecord
    family: RefreshFamilyRecord


class RefreshTokenStore(Protocol):
    """Persistence for refresh families; implemented in PostgreSQL by the auth service."""

    async def create_family(
        self, family: RefreshFamilyRecord, first: RefreshTokenRecord
    ) -> None: ...

    async def get_token(self, token_hash: str) -> RefreshTokenRecord | None: ...

    async def get_family(self, family_id: str) -> RefreshFamilyRecord | None: ...

    async def rotate(self, old_hash: str, new: RefreshTokenRecord, now: float) -> bool:
        """Atomically: if ``old_hash`` is ACTIVE, mark it ROTATED (replaced_by=new) and insert
        ``new``; return True. Otherwise change nothing and return False (lost a race)."""
        ...

    async def revoke_family(self, family_id: str, now: float, reason: str) -> None:
        """Mark the family revoked (idempotent; the first reason wins)."""
        ...


class InMemoryRefreshTokenStore:
    """Dict-backed store for tests; atomic because it never awaits inside an operation."""

    def __init__(self) -> None:
        self.families: dict[str, RefreshFamilyRecord] = {}
        self.tokens: dict[str, RefreshTokenRecord] = {}

    async def create_family(self, family: RefreshFamilyRecord, first: RefreshTokenRecord) -> None:
        if family.family_id in self.families or first.token_hash in self.tokens:
            raise ValueError("duplicate family or token")
        self.families[family.family_id] = family
        self.tokens[first.token_hash] = first

    async def get_token(self, token_hash: str) -> RefreshTokenRecord | None:
        return self.tokens.get(token_hash)

    async def get_family(self, family_id: str) -> RefreshFamilyRecord | None:
        return self.families.get(family_id)

    async def rotate(self, old_hash: str, new: RefreshTokenRecord, now: float) -> bool:
        old = self.tokens.get(old_hash)
        if old is None or old.status is not RefreshStatus.ACTIVE or new.token_hash in self.tokens:
            return False
        self.tokens[old_hash] = replace(
            old, status=RefreshStatus.ROTATED, replaced_by=new.token_hash
        )
        self.tokens[new.token_hash] = new
        return True

    async def revoke_family(self, family_id: str, now: float, reason: str) -> None:
        family = self.families.get(family_id)
        if family is not None and family.revoked_at is None:
            self.families[family_id] = replace(family, revoked_at=now, revoke_reason=reason)


class RefreshTokenFamily:
    """Refresh-token rotation with reuse detection over a :class:`RefreshTokenStore`."""

    def __init__(
        self,
        store: RefreshTokenStore,
        *,
        token_ttl: float = REFRESH_TOKEN_TTL,
        family_ttl: float = REFRESH_FAMILY_TTL,
        token_factory: Callable[[], str] = lambda: secrets.token_urlsafe(32),
        family_id_factory: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        if not 0 < token_ttl <= family_ttl:
            raise ValueError("need 0 < token_ttl <= family_ttl")
        self._store = store
        self._token_ttl = token_ttl
        self._family_ttl = family_ttl
        self._new_token = token_factory
        self._new_family_id = family_id_factory

    def _record(self, family: RefreshFamilyRecord, now: float) -> tuple[str, RefreshTokenRecord]:
        token = self._new_token()
        record = RefreshTokenRecord(
            token_hash=hash_refresh_token(token),
            family_id=family.family_id,
            issued_at=now,
            # A token never outlives its family.
            expires_at=min(now + self._token_ttl, family.expires_at),
        )
        return token, record

    async def start(self, subject: str, session_id: str, now: float) -> IssuedRefreshToken:
        """Begin a family at login and return its first token."""
        family = RefreshFamilyRecord(
            family_id=self._new_family_id(),
            subject=subject,
            session_id=session_id,
            created_at=now,
            expires_at=now + self._family_ttl,
        )
        token, record = self._record(family, now)
        await self._store.create_family(family, record)
        return IssuedRefreshToken(token, record, family)

    async def use(self, token: str, now: float) -> IssuedRefreshToken:
        """Exchange ``token`` for its successor.

        Raises ``TokenInvalid`` (unknown token), ``RefreshTokenRevoked``,
        ``RefreshTokenReused`` (family revoked first) or ``RefreshTokenExpired``.
        """
        record = await self._store.get_token(hash_refresh_token(token))
        if record is None:
            raise TokenInvalid("unknown refresh token")
        family = await self._store.get_family(record.family_id)
        if family is None:
            raise TokenInvalid("refresh token without family")
        if family.revoked_at is not None:
            raise RefreshTokenRevoked(f"family revoked: {family.revoke_reason}")
        if record.status is RefreshStatus.ROTATED:
            await self._store.revoke_family(family.family_id, now, "reuse")
            raise RefreshTokenReused("refresh token was already used; session revoked")
        if record.status is RefreshStatus.REVOKED:
            raise RefreshTokenRevoked("refresh token revoked")
        if now >= record.expires_at or now >= family.expires_at:
            raise RefreshTokenExpired("refresh token expired")
        new_token, new_record = self._record(family, now)
        if not await self._store.rotate(record.token_hash, new_record, now):
            # Someone used this token between our read and our write: same as reuse.
            await self._store.revoke_family(family.family_id, now, "reuse")
            raise RefreshTokenReused("refresh token used concurrently; session revoked")
        return IssuedRefreshToken(new_token, new_record, family)

    async def revoke(self, token: str, now: float, reason: str = "logout") -> None:
        """Revoke the family ``token`` belongs to (logout). Unknown tokens are ignored."""
        record = await self._store.get_token(hash_refresh_token(token))
        if record is not None:
            await self._store.revoke_family(record.family_id, now, reason)
