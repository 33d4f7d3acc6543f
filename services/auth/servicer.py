"""AuthService handlers: parse and validate, call logic/store/sessions/keys, build responses.

Sign-in errors never say which part was wrong ("invalid username or password"). A token of
a session that has not proved MFA although the role needs it ("restricted") reaches only
EnrollMfa, ConfirmMfa and Logout here; RBAC keeps it away from every other service.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import asyncpg
import jwt
import redis.asyncio as aioredis
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc import aio
from lilo.auth.v1 import auth_service_pb2 as pb
from lilo.auth.v1 import auth_service_pb2_grpc as pb_grpc

from mesh import context as mesh_context
from mesh.clock import Clock, SystemClock
from mesh.identity import totp
from mesh.identity.errors import (
    AuthenticationError,
    BadCredentials,
    MfaInvalid,
    RefreshTokenReused,
    TokenExpired,
)
from mesh.identity.passwords import Passwords
from mesh.identity.principal import ConsentLevel, PatientRelation, Principal, Relationship, Role
from mesh.identity.rbac import permissions_for, requires_mfa
from mesh.identity.tokens import RefreshTokenFamily, hash_refresh_token
from mesh.status import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.audit.logic import AuditEventData
from services.auth.attempts import LoginLimiter, MemoryFailureStore, RedisFailureStore
from services.auth.keys import KeyManager
from services.auth.logic import (
    AuthConfig,
    InputError,
    LoginOutcome,
    check_password_policy,
    login_outcome,
    normalize_username,
    relation_fits_role,
    validate_email,
    validate_username,
)
from services.auth.ratelimit import Verdict, client_address, retry_message
from services.auth.secretbox import SecretBox
from services.auth.sessions import SessionRecord, SessionStore
from services.auth.store import AuthStore, DuplicateError, PgRefreshTokenStore, UserRow

__all__ = ["AuthServicer", "role_from_pb", "role_to_pb"]

log = logging.getLogger(__name__)

Ctx: TypeAlias = "aio.ServicerContext[Any, Any]"


class AuthEventSink(Protocol):
    """Where refused sign-ins are audited (``services.audit.writer.AuditWriter`` fits)."""

    async def submit(self, event: AuditEventData) -> Any: ...


BAD_LOGIN = "invalid username or password"
BAD_CODE = "invalid MFA code"

_ROLE_TO_PB = {
    Role.SYSTEM: pb.ROLE_SYSTEM,
    Role.ADMIN: pb.ROLE_ADMIN,
    Role.HEALTH_PROVIDER: pb.ROLE_HEALTH_PROVIDER,
    Role.CARE_STAFF: pb.ROLE_CARE_STAFF,
    Role.FAMILY_MEMBER: pb.ROLE_FAMILY_MEMBER,
    Role.RESIDENT: pb.ROLE_RESIDENT,
}
_ROLE_FROM_PB: dict[int, Role] = {int(v): k for k, v in _ROLE_TO_PB.items()}
_REL_TO_PB = {
    Relationship.FAMILY: pb.PATIENT_RELATIONSHIP_FAMILY,
    Relationship.PROVIDER: pb.PATIENT_RELATIONSHIP_PROVIDER,
    Relationship.CAREGIVER: pb.PATIENT_RELATIONSHIP_CAREGIVER,
}
_REL_FROM_PB = {v: k for k, v in _REL_TO_PB.items()}
_CONSENT_TO_PB = {
    ConsentLevel.FULL: pb.CONSENT_LEVEL_FULL,
    ConsentLevel.LIMITED: pb.CONSENT_LEVEL_LIMITED,
    ConsentLevel.EMERGENCY_ONLY: pb.CONSENT_LEVEL_EMERGENCY_ONLY,
}
_CONSENT_FROM_PB = {v: k for k, v in _CONSENT_TO_PB.items()}


def role_to_pb(role: Role) -> int:
    return _ROLE_TO_PB[role]


def role_from_pb(value: int) -> Role | None:
    return _ROLE_FROM_PB.get(value)


def _ts(epoch: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(epoch * 1e9))
    return stamp


def _relations_pb(relations: tuple[PatientRelation, ...]) -> list[pb.PatientRelation]:
    return [
        pb.PatientRelation(
            patient_id=r.patient_id,
            relationship=_REL_TO_PB[r.relationship],
            consent_level=_CONSENT_TO_PB[r.consent_level],
        )
        for r in relations
    ]


def principal_pb(principal: Principal) -> pb.Principal:
    return pb.Principal(
        user_id=principal.subject,
        role=_ROLE_TO_PB[principal.role],
        organization_id=principal.organization_id,
        patient_relations=_relations_pb(principal.relations),
        permissions=[
            pb.Permission(resource=p.resource, action=p.action, scope=p.scope.value)
            for p in sorted(permissions_for(principal.role))
        ],
        session_id=principal.session_id,
        mfa_verified=principal.mfa,
    )


def user_pb(user: UserRow) -> pb.User:
    return pb.User(
        user_id=user.id,
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        role=_ROLE_TO_PB[user.role],
        organization_id=user.organization_id,
        patient_relations=_relations_pb(user.relations),
        mfa_enabled=user.mfa_enrolled,
        created_at=_ts(user.created_at),
    )


def _check_code(code: str) -> str:
    code = code.replace(" ", "")
    if len(code) != totp.DIGITS or not code.isascii() or not code.isdigit():
        raise InvalidArgument(f"code: must be {totp.DIGITS} digits")
    return code


class AuthServicer(pb_grpc.AuthServiceServicer):
    def __init__(
        self,
        *,
        store: AuthStore,
        refresh_store: PgRefreshTokenStore,
        sessions: SessionStore,
        keys: KeyManager,
        box: SecretBox,
        clock: Clock | None = None,
        config: AuthConfig | None = None,
        passwords: Passwords | None = None,
        limiter: LoginLimiter | None = None,
        audit: AuthEventSink | None = None,
    ) -> None:
        self.store = store
        self.limiter = limiter or LoginLimiter(MemoryFailureStore())
        self.audit = audit
        self.refresh_store = refresh_store
        self.sessions = sessions
        self.keys = keys
        self.box = box
        self.clock = clock or SystemClock()
        self.config = config or AuthConfig()
        self.passwords = passwords or Passwords()
        self.families = RefreshTokenFamily(
            refresh_store,
            token_ttl=self.config.refresh_token_ttl,
            family_ttl=self.config.refresh_family_ttl,
        )

    @classmethod
    async def create(
        cls,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        clock: Clock | None = None,
        config: AuthConfig | None = None,
        jwks_path: Path | None = None,
        box: SecretBox | None = None,
        passwords: Passwords | None = None,
        limiter: LoginLimiter | None = None,
        audit: AuthEventSink | None = None,
    ) -> AuthServicer:
        """Wire the adapters, load (or create) the signing keys and publish the JWKS.
        Failed sign-ins are counted in ``redis`` unless another ``limiter`` is given."""
        clock = clock or SystemClock()
        config = config or AuthConfig()
        box = box or SecretBox.from_env()
        store = AuthStore(pool)
        keys = KeyManager(store, box, config, jwks_path=jwks_path)
        await keys.load(clock.wall())
        return cls(
            store=store,
            refresh_store=PgRefreshTokenStore(pool),
            sessions=SessionStore(redis, config),
            keys=keys,
            box=box,
            clock=clock,
            config=config,
            passwords=passwords,
            limiter=limiter or LoginLimiter(RedisFailureStore(redis)),
            audit=audit,
        )

    # --- helpers ---------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.wall()

    def _caller_principal(self, *, full: bool) -> Principal:
        principal = mesh_context.principal()
        if not isinstance(principal, Principal) or principal.is_service:
            raise PermissionDenied("permission denied: a user token is required")
        if full and requires_mfa(principal.role) and not principal.mfa:
            raise PermissionDenied("permission denied: mfa_required")
        return principal

    async def _caller(self, *, full: bool = True) -> tuple[Principal, SessionRecord]:
        """The calling user and their live session. ``full`` refuses restricted sessions."""
        principal = self._caller_principal(full=full)
        session = await self.sessions.alive(principal.session_id, self._now(), touch=True)
        if session is None or session.user_id != principal.subject:
            raise Unauthenticated("session has ended; sign in again")
        return principal, session

    async def _start_session(self, user: UserRow, *, mfa: bool) -> pb.AuthTokens:
        now = self._now()
        session = await self.sessions.create(user.id, mfa=mfa, now=now)
        issued = await self.families.start(user.id, session.session_id, now)
        await self.sessions.set_family(session.session_id, issued.family.family_id)
        return self._tokens(user, session, issued.token, issued.record.expires_at, now)

    def _tokens(
        self, user: UserRow, session: SessionRecord, refresh: str, refresh_exp: float, now: float
    ) -> pb.AuthTokens:
        restricted = requires_mfa(user.role) and not session.mfa
        ttl = self.config.restricted_access_ttl if restricted else self.config.access_ttl
        principal = Principal.user(
            user.id,
            user.role,
            organization_id=user.organization_id,
            relations=user.relations,
            session_id=session.session_id,
            mfa=session.mfa,
        )
        access = self.keys.keyset.issue(principal, now, ttl)
        return pb.AuthTokens(
            access_token=access,
            access_token_expires_at=_ts(now + ttl),
            refresh_token=refresh,
            refresh_token_expires_at=_ts(refresh_exp),
            mfa_enrollment_required=restricted,
        )

    async def _end_session(self, session_id: str, user_id: str, reason: str) -> bool:
        ended = await self.sessions.delete(session_id, user_id)
        await self.refresh_store.revoke_session(session_id, self._now(), reason)
        return ended

    async def _refuse(
        self, context: Ctx, verdict: Verdict, what: str, user_id: str | None, address: str
    ) -> ResourceExhausted:
        """Audit a rate-limited attempt and build the error (with a RetryInfo detail)."""
        message = retry_message(what, verdict)
        if self.audit is not None:
            try:
                await self.audit.submit(
                    _rate_limited_event(what, user_id, address, verdict, self._now())
                )
            except Exception as exc:  # refused either way; the log keeps the trace
                log.error("could not audit a rate-limited %s: %s", what, exc)
        context.set_trailing_metadata(
            (("grpc-status-details-bin", _retry_details(message, verdict)),)
        )
        return ResourceExhausted(message)

    # --- sign-in ---------------------------------------------------------------------

    async def Login(self, request: pb.LoginRequest, context: Ctx) -> pb.LoginResponse:
        login = normalize_username(request.username)
        if not login:
            raise InvalidArgument("username: required")
        if not request.password:
            raise InvalidArgument("password: required")
        user = await self.store.user_by_login(login)
        user_id = user.id if user is not None else None
        address = _caller_address(context)
        now = self._now()
        attempt = await self.limiter.start_login(user_id, login, address, now)
        if not attempt.verdict.allowed:
            # Refused before the password is checked: a locked account teaches nothing.
            raise await self._refuse(context, attempt.verdict, "sign-in", user_id, address)
        usable = user is not None and not user.disabled
        stored = user.password_hash if user is not None and usable else None
        try:
            # argon2 is CPU-bound and releases the GIL: keep the event loop free. An unknown
            # or disabled user costs one dummy verify, so timing does not tell them apart.
            await asyncio.to_thread(self.passwords.check, stored, request.password)
        except BadCredentials:
            # The attempt's failure was counted when it started.
            raise Unauthenticated(BAD_LOGIN) from None
        assert user is not None
        await self.limiter.login_succeeded(attempt, user.id)
        if self.passwords.needs_rehash(user.password_hash):
            new_hash = await asyncio.to_thread(self.passwords.hash, request.password)
            await self.store.set_password_hash(user.id, new_hash)
        outcome = login_outcome(user.role, user.mfa_enrolled)
        if outcome is LoginOutcome.CHALLENGE:
            token, expires_at = await self.sessions.create_challenge(user.id, self._now())
            return pb.LoginResponse(
                mfa_challenge=pb.MfaChallenge(challenge_token=token, expires_at=_ts(expires_at))
            )
        return pb.LoginResponse(tokens=await self._start_session(user, mfa=False))

    async def VerifyMfa(self, request: pb.VerifyMfaRequest, context: Ctx) -> pb.VerifyMfaResponse:
        if not request.challenge_token:
            raise InvalidArgument("challenge_token: required")
        code = _check_code(request.code)
        now = self._now()
        challenge = await self.sessions.get_challenge(request.challenge_token)
        if challenge is None or now >= challenge.expires_at:
            raise Unauthenticated("MFA challenge is unknown or expired; sign in again")
        user = await self.store.user_by_id(challenge.user_id)
        if user is None or user.disabled or not user.mfa_enrolled or user.mfa_secret is None:
            await self.sessions.consume_challenge(request.challenge_token)
            raise Unauthenticated("MFA challenge is unknown or expired; sign in again")
        attempt = await self.limiter.start_mfa(user.id, now)
        if not attempt.verdict.allowed:
            # Per user, across challenges: signing in again does not buy more guesses.
            raise await self._refuse(
                context, attempt.verdict, "MFA", user.id, _caller_address(context)
            )
        secret = self.box.open(user.mfa_secret, f"mfa:{user.id}").decode()
        try:
            step = totp.verify(secret, code, now, user.mfa_last_step)
            # Compare-and-set in the database: of two calls with one code, one wins.
            if not await self.store.use_totp_step(user.id, step):
                raise MfaInvalid("code already used")
        except MfaInvalid:
            attempts = await self.sessions.fail_challenge(request.challenge_token)
            if attempts >= self.config.max_challenge_attempts:
                await self.sessions.consume_challenge(request.challenge_token)
            raise Unauthenticated(BAD_CODE) from None
        if not await self.sessions.consume_challenge(request.challenge_token):
            raise Unauthenticated("MFA challenge is unknown or expired; sign in again")
        await self.limiter.mfa_succeeded(user.id)
        return pb.VerifyMfaResponse(tokens=await self._start_session(user, mfa=True))

    # --- MFA enrolment ---------------------------------------------------------------

    async def _enrolling_user(self, principal: Principal) -> UserRow:
        user = await self.store.user_by_id(principal.subject)
        if user is None or user.disabled:
            raise Unauthenticated("account is not active")
        # Replacing an active second factor needs a session that proved the current one.
        if user.mfa_enrolled and not principal.mfa:
            raise PermissionDenied("permission denied: MFA is enrolled; sign in with it first")
        return user

    async def EnrollMfa(self, request: pb.EnrollMfaRequest, context: Ctx) -> pb.EnrollMfaResponse:
        principal, _ = await self._caller(full=False)
        user = await self._enrolling_user(principal)
        secret = totp.new_secret()
        sealed = self.box.seal(secret.encode(), f"pending-mfa:{user.id}")
        expires_at = await self.sessions.put_pending(user.id, sealed, self._now())
        return pb.EnrollMfaResponse(
            secret=secret,
            provisioning_uri=totp.provisioning_uri(secret, user.username, self.config.totp_issuer),
            expires_at=_ts(expires_at),
        )

    async def ConfirmMfa(
        self, request: pb.ConfirmMfaRequest, context: Ctx
    ) -> pb.ConfirmMfaResponse:
        principal, session = await self._caller(full=False)
        code = _check_code(request.code)
        user = await self._enrolling_user(principal)
        now = self._now()
        sealed = await self.sessions.get_pending(user.id, now)
        if sealed is None:
            raise FailedPrecondition(
                "no pending MFA enrolment (expired or never started): call EnrollMfa"
            )
        secret = self.box.open(sealed, f"pending-mfa:{user.id}").decode()
        try:
            step = totp.verify(secret, code, now)
        except MfaInvalid:
            raise InvalidArgument("code: does not match the pending secret") from None
        await self.store.enable_mfa(user.id, self.box.seal(secret.encode(), f"mfa:{user.id}"), step)
        await self.sessions.delete_pending(user.id)
        # The old (restricted) session ends; its refresh token stops working.
        await self._end_session(session.session_id, user.id, "mfa_confirmed")
        fresh = await self.store.user_by_id(user.id)
        assert fresh is not None
        return pb.ConfirmMfaResponse(tokens=await self._start_session(fresh, mfa=True))

    # --- tokens ----------------------------------------------------------------------

    async def Refresh(self, request: pb.RefreshRequest, context: Ctx) -> pb.RefreshResponse:
        if not request.refresh_token:
            raise InvalidArgument("refresh_token: required")
        now = self._now()
        try:
            issued = await self.families.use(request.refresh_token, now)
        except RefreshTokenReused:
            # The family is already revoked; also end its session so access tokens of the
            # leaked session fail VerifyToken at once.
            record = await self.refresh_store.get_token(hash_refresh_token(request.refresh_token))
            family = await self.refresh_store.get_family(record.family_id) if record else None
            if family is not None:
                await self._end_session(family.session_id, family.subject, "reuse")
            log.warning("refresh token reuse detected; session revoked")
            raise Unauthenticated(
                "refresh token was already used; the session is revoked"
            ) from None
        except AuthenticationError:
            raise Unauthenticated("refresh token is not valid; sign in again") from None
        family = issued.family
        session = await self.sessions.alive(family.session_id, now, touch=True)
        user = await self.store.user_by_id(family.subject)
        if session is None or user is None or user.disabled:
            await self._end_session(family.session_id, family.subject, "session_ended")
            raise Unauthenticated("session has ended; sign in again")
        # Claims are rebuilt from the database: role or relation changes apply at refresh.
        return pb.RefreshResponse(
            tokens=self._tokens(user, session, issued.token, issued.record.expires_at, now)
        )

    async def Logout(self, request: pb.LogoutRequest, context: Ctx) -> pb.LogoutResponse:
        # Restricted sessions may always end themselves, and an ended session is not an
        # error (the rpc is idempotent: it then reports 0 sessions ended).
        principal = self._caller_principal(full=False)
        now = self._now()
        to_end = {principal.session_id}
        if request.refresh_token:
            record = await self.refresh_store.get_token(hash_refresh_token(request.refresh_token))
            family = await self.refresh_store.get_family(record.family_id) if record else None
            # Only the caller's own tokens: someone else's token is ignored, not revoked.
            if family is not None and family.subject == principal.subject:
                await self.refresh_store.revoke_family(family.family_id, now, "logout")
                to_end.add(family.session_id)
        if request.all_sessions:
            to_end.update(await self.sessions.user_session_ids(principal.subject))
            await self.refresh_store.revoke_subject(principal.subject, now, "logout_all")
        ended = 0
        for sid in sorted(to_end):
            if await self._end_session(sid, principal.subject, "logout"):
                ended += 1
        return pb.LogoutResponse(sessions_ended=ended)

    async def VerifyToken(
        self, request: pb.VerifyTokenRequest, context: Ctx
    ) -> pb.VerifyTokenResponse:
        caller = context_principal()
        if caller is None:
            raise Unauthenticated("authentication required")
        if not caller.is_service:
            await self._caller(full=True)
        if not request.access_token:
            raise InvalidArgument("access_token: required")
        now = self._now()
        try:
            principal = self.keys.keyset.verify(request.access_token, now)
        except TokenExpired:
            raise Unauthenticated("access token expired") from None
        except AuthenticationError:
            raise Unauthenticated("access token is not valid") from None
        session = await self.sessions.alive(principal.session_id, now, touch=True)
        if session is None or session.user_id != principal.subject:
            raise Unauthenticated("access token was revoked (session ended)")
        # Signature and time were checked above; this only reads the claims.
        claims = jwt.decode(request.access_token, options={"verify_signature": False})
        return pb.VerifyTokenResponse(
            principal=principal_pb(principal),
            expires_at=_ts(float(claims["exp"])),
            token_id=str(claims["jti"]),
        )

    async def GetJwks(self, request: pb.GetJwksRequest, context: Ctx) -> pb.GetJwksResponse:
        return pb.GetJwksResponse(
            keys=[
                pb.JsonWebKey(
                    kty=k["kty"], kid=k["kid"], use=k["use"], alg=k["alg"], crv=k["crv"], x=k["x"]
                )
                for k in self.keys.keyset.jwks()["keys"]
            ]
        )

    # --- accounts --------------------------------------------------------------------

    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Ctx
    ) -> pb.CreateUserResponse:
        caller, _ = await self._caller(full=True)
        # RBAC already limits this rpc to admin/system; repeat it here (defence in depth).
        if caller.role not in (Role.ADMIN, Role.SYSTEM):
            raise PermissionDenied("permission denied: no_permission")
        role = role_from_pb(request.role)
        if role is None:
            raise InvalidArgument("role: required (one of the ROLE_ values except UNSPECIFIED)")
        if role is Role.SYSTEM and caller.role is not Role.SYSTEM:
            raise PermissionDenied(
                "permission denied: only a system caller may create system users"
            )
        try:
            username = validate_username(request.username)
            email = validate_email(request.email)
            check_password_policy(request.password, username=username, email=email)
        except InputError as exc:
            raise InvalidArgument(str(exc)) from None
        org = request.organization_id or caller.organization_id
        if caller.role is Role.ADMIN and org != caller.organization_id:
            raise PermissionDenied("permission denied: cross_organization")
        if not org or not await self.store.organization_exists(org):
            raise InvalidArgument("organization_id: unknown organization")
        relations: list[PatientRelation] = []
        for i, rel in enumerate(request.patient_relations):
            where = f"patient_relations[{i}]"
            relationship = _REL_FROM_PB.get(rel.relationship)
            consent = _CONSENT_FROM_PB.get(rel.consent_level)
            if not rel.patient_id:
                raise InvalidArgument(f"{where}.patient_id: required")
            if relationship is None:
                raise InvalidArgument(f"{where}.relationship: required")
            if consent is None:
                raise InvalidArgument(f"{where}.consent_level: required")
            if not relation_fits_role(role, relationship):
                raise InvalidArgument(
                    f"{where}.relationship: {relationship.value} does not fit role {role.value}"
                )
            relations.append(PatientRelation(rel.patient_id, relationship, consent))
        password_hash = await asyncio.to_thread(self.passwords.hash, request.password)
        try:
            user = await self.store.create_user(
                user_id=str(uuid.uuid4()),
                organization_id=org,
                username=username,
                email=email,
                display_name=request.display_name.strip(),
                role=role,
                password_hash=password_hash,
                relations=relations,
                created_at=self._now(),
            )
        except DuplicateError as exc:
            raise AlreadyExists(f"{exc.field}: already taken") from None
        log.info("user %s (%s) created by %s", user.id, role.value, caller.subject)
        return pb.CreateUserResponse(user=user_pb(user))

    async def GetCurrentUser(
        self, request: pb.GetCurrentUserRequest, context: Ctx
    ) -> pb.GetCurrentUserResponse:
        principal, _ = await self._caller(full=True)
        user = await self.store.user_by_id(principal.subject)
        if user is None:
            raise NotFound("account not found")
        return pb.GetCurrentUserResponse(user=user_pb(user), principal=principal_pb(principal))


def _caller_address(context: Ctx) -> str:
    """The client's address: the gateway's ``x-forwarded-for`` last hop, else the peer."""
    forwarded = ""
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "x-forwarded-for" and isinstance(value, str):
            forwarded = value
    return client_address(forwarded, context.peer() or "")


def _retry_details(message: str, verdict: Verdict) -> bytes:
    """A serialized ``google.rpc.Status`` carrying ``RetryInfo`` (grpc-status-details-bin)."""
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(max(1, int(verdict.retry_after * 1000)))
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    serialized: bytes = status.SerializeToString()
    return serialized


def _rate_limited_event(
    what: str, user_id: str | None, address: str, verdict: Verdict, now: float
) -> AuditEventData:
    return AuditEventData(
        audit_id=uuid.uuid4().hex,
        actor_user_id=user_id or "anonymous",
        actor_role="ROLE_UNSPECIFIED",
        event_type="auth_rate_limited",
        action="verify_mfa" if what == "MFA" else "login",
        resource="auth",
        outcome="DENIED",
        occurred_at_us=int(now * 1_000_000),
        resource_id=user_id or "",
        additional_context={
            "limit": verdict.scope,
            "client_address": address,
            "retry_after_s": str(max(1, math.ceil(verdict.retry_after))),
        },
    )


def context_principal() -> Principal | None:
    principal = mesh_context.principal()
    return principal if isinstance(principal, Principal) else None
