import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_SYSTEM: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
    ROLE_HEALTH_PROVIDER: _ClassVar[Role]
    ROLE_CARE_STAFF: _ClassVar[Role]
    ROLE_FAMILY_MEMBER: _ClassVar[Role]
    ROLE_RESIDENT: _ClassVar[Role]

class PatientRelationship(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATIENT_RELATIONSHIP_UNSPECIFIED: _ClassVar[PatientRelationship]
    PATIENT_RELATIONSHIP_FAMILY: _ClassVar[PatientRelationship]
    PATIENT_RELATIONSHIP_PROVIDER: _ClassVar[PatientRelationship]
    PATIENT_RELATIONSHIP_CAREGIVER: _ClassVar[PatientRelationship]

class ConsentLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_LEVEL_UNSPECIFIED: _ClassVar[ConsentLevel]
    CONSENT_LEVEL_FULL: _ClassVar[ConsentLevel]
    CONSENT_LEVEL_LIMITED: _ClassVar[ConsentLevel]
    CONSENT_LEVEL_EMERGENCY_ONLY: _ClassVar[ConsentLevel]
ROLE_UNSPECIFIED: Role
ROLE_SYSTEM: Role
ROLE_ADMIN: Role
ROLE_HEALTH_PROVIDER: Role
ROLE_CARE_STAFF: Role
ROLE_FAMILY_MEMBER: Role
ROLE_RESIDENT: Role
PATIENT_RELATIONSHIP_UNSPECIFIED: PatientRelationship
PATIENT_RELATIONSHIP_FAMILY: PatientRelationship
PATIENT_RELATIONSHIP_PROVIDER: PatientRelationship
PATIENT_RELATIONSHIP_CAREGIVER: PatientRelationship
CONSENT_LEVEL_UNSPECIFIED: ConsentLevel
CONSENT_LEVEL_FULL: ConsentLevel
CONSENT_LEVEL_LIMITED: ConsentLevel
CONSENT_LEVEL_EMERGENCY_ONLY: ConsentLevel

class Permission(_message.Message):
    __slots__ = ("resource", "action", "scope")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    resource: str
    action: str
    scope: str
    def __init__(self, resource: _Optional[str] = ..., action: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class PatientRelation(_message.Message):
    __slots__ = ("patient_id", "relationship", "consent_level")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    CONSENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    relationship: PatientRelationship
    consent_level: ConsentLevel
    def __init__(self, patient_id: _Optional[str] = ..., relationship: _Optional[_Union[PatientRelationship, str]] = ..., consent_level: _Optional[_Union[ConsentLevel, str]] = ...) -> None: ...

class Principal(_message.Message):
    __slots__ = ("user_id", "role", "organization_id", "patient_relations", "permissions", "session_id", "mfa_verified")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_RELATIONS_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MFA_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    role: Role
    organization_id: str
    patient_relations: _containers.RepeatedCompositeFieldContainer[PatientRelation]
    permissions: _containers.RepeatedCompositeFieldContainer[Permission]
    session_id: str
    mfa_verified: bool
    def __init__(self, user_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., organization_id: _Optional[str] = ..., patient_relations: _Optional[_Iterable[_Union[PatientRelation, _Mapping]]] = ..., permissions: _Optional[_Iterable[_Union[Permission, _Mapping]]] = ..., session_id: _Optional[str] = ..., mfa_verified: _Optional[bool] = ...) -> None: ...

class AuthTokens(_message.Message):
    __slots__ = ("access_token", "access_token_expires_at", "refresh_token", "refresh_token_expires_at", "mfa_enrollment_required")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    MFA_ENROLLMENT_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    access_token_expires_at: _timestamp_pb2.Timestamp
    refresh_token: str
    refresh_token_expires_at: _timestamp_pb2.Timestamp
    mfa_enrollment_required: bool
    def __init__(self, access_token: _Optional[str] = ..., access_token_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refresh_token: _Optional[str] = ..., refresh_token_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mfa_enrollment_required: _Optional[bool] = ...) -> None: ...

class MfaChallenge(_message.Message):
    __slots__ = ("challenge_token", "expires_at")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, challenge_token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("user_id", "username", "email", "display_name", "role", "organization_id", "patient_relations", "mfa_enabled", "created_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_RELATIONS_FIELD_NUMBER: _ClassVar[int]
    MFA_ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    email: str
    display_name: str
    role: Role
    organization_id: str
    patient_relations: _containers.RepeatedCompositeFieldContainer[PatientRelation]
    mfa_enabled: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., organization_id: _Optional[str] = ..., patient_relations: _Optional[_Iterable[_Union[PatientRelation, _Mapping]]] = ..., mfa_enabled: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class JsonWebKey(_message.Message):
    __slots__ = ("kty", "kid", "use", "alg", "crv", "x", "y", "n", "e")
    KTY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    E_FIELD_NUMBER: _ClassVar[int]
    kty: str
    kid: str
    use: str
    alg: str
    crv: str
    x: str
    y: str
    n: str
    e: str
    def __init__(self, kty: _Optional[str] = ..., kid: _Optional[str] = ..., use: _Optional[str] = ..., alg: _Optional[str] = ..., crv: _Optional[str] = ..., x: _Optional[str] = ..., y: _Optional[str] = ..., n: _Optional[str] = ..., e: _Optional[str] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("username", "password")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("tokens", "mfa_challenge")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MFA_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    tokens: AuthTokens
    mfa_challenge: MfaChallenge
    def __init__(self, tokens: _Optional[_Union[AuthTokens, _Mapping]] = ..., mfa_challenge: _Optional[_Union[MfaChallenge, _Mapping]] = ...) -> None: ...

class VerifyMfaRequest(_message.Message):
    __slots__ = ("challenge_token", "code")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    code: str
    def __init__(self, challenge_token: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class VerifyMfaResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: AuthTokens
    def __init__(self, tokens: _Optional[_Union[AuthTokens, _Mapping]] = ...) -> None: ...

class EnrollMfaRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnrollMfaResponse(_message.Message):
    __slots__ = ("secret", "provisioning_uri", "expires_at")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_URI_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    secret: str
    provisioning_uri: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, secret: _Optional[str] = ..., provisioning_uri: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConfirmMfaRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ConfirmMfaResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: AuthTokens
    def __init__(self, tokens: _Optional[_Union[AuthTokens, _Mapping]] = ...) -> None: ...

class RefreshRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: AuthTokens
    def __init__(self, tokens: _Optional[_Union[AuthTokens, _Mapping]] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("refresh_token", "all_sessions")
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ALL_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    all_sessions: bool
    def __init__(self, refresh_token: _Optional[str] = ..., all_sessions: _Optional[bool] = ...) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ("sessions_ended",)
    SESSIONS_ENDED_FIELD_NUMBER: _ClassVar[int]
    sessions_ended: int
    def __init__(self, sessions_ended: _Optional[int] = ...) -> None: ...

class VerifyTokenRequest(_message.Message):
    __slots__ = ("access_token",)
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    def __init__(self, access_token: _Optional[str] = ...) -> None: ...

class VerifyTokenResponse(_message.Message):
    __slots__ = ("principal", "expires_at", "token_id")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    expires_at: _timestamp_pb2.Timestamp
    token_id: str
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_id: _Optional[str] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJwksResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[JsonWebKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[JsonWebKey, _Mapping]]] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("username", "email", "password", "display_name", "role", "organization_id", "patient_relations")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_RELATIONS_FIELD_NUMBER: _ClassVar[int]
    username: str
    email: str
    password: str
    display_name: str
    role: Role
    organization_id: str
    patient_relations: _containers.RepeatedCompositeFieldContainer[PatientRelation]
    def __init__(self, username: _Optional[str] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., organization_id: _Optional[str] = ..., patient_relations: _Optional[_Iterable[_Union[PatientRelation, _Mapping]]] = ...) -> None: ...

class CreateUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class GetCurrentUserRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCurrentUserResponse(_message.Message):
    __slots__ = ("user", "principal")
    USER_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    user: User
    principal: Principal
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., principal: _Optional[_Union[Principal, _Mapping]] = ...) -> None: ...
