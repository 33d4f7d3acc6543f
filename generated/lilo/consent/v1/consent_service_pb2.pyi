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

class DataCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_CATEGORY_UNSPECIFIED: _ClassVar[DataCategory]
    DATA_CATEGORY_PHI: _ClassVar[DataCategory]
    DATA_CATEGORY_CONVERSATIONS: _ClassVar[DataCategory]
    DATA_CATEGORY_WELLNESS: _ClassVar[DataCategory]
    DATA_CATEGORY_LOCATION: _ClassVar[DataCategory]
    DATA_CATEGORY_BILLING: _ClassVar[DataCategory]

class GrantorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANTOR_KIND_UNSPECIFIED: _ClassVar[GrantorKind]
    GRANTOR_KIND_RESIDENT: _ClassVar[GrantorKind]
    GRANTOR_KIND_GUARDIAN: _ClassVar[GrantorKind]

class ConsentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATUS_UNSPECIFIED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_ACTIVE: _ClassVar[ConsentStatus]
    CONSENT_STATUS_REVOKED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_EXPIRED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_SUPERSEDED: _ClassVar[ConsentStatus]

class ConsentChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_CHANGE_UNSPECIFIED: _ClassVar[ConsentChange]
    CONSENT_CHANGE_GRANTED: _ClassVar[ConsentChange]
    CONSENT_CHANGE_REVOKED: _ClassVar[ConsentChange]
    CONSENT_CHANGE_EXPIRED: _ClassVar[ConsentChange]
    CONSENT_CHANGE_SUPERSEDED: _ClassVar[ConsentChange]
DATA_CATEGORY_UNSPECIFIED: DataCategory
DATA_CATEGORY_PHI: DataCategory
DATA_CATEGORY_CONVERSATIONS: DataCategory
DATA_CATEGORY_WELLNESS: DataCategory
DATA_CATEGORY_LOCATION: DataCategory
DATA_CATEGORY_BILLING: DataCategory
GRANTOR_KIND_UNSPECIFIED: GrantorKind
GRANTOR_KIND_RESIDENT: GrantorKind
GRANTOR_KIND_GUARDIAN: GrantorKind
CONSENT_STATUS_UNSPECIFIED: ConsentStatus
CONSENT_STATUS_ACTIVE: ConsentStatus
CONSENT_STATUS_REVOKED: ConsentStatus
CONSENT_STATUS_EXPIRED: ConsentStatus
CONSENT_STATUS_SUPERSEDED: ConsentStatus
CONSENT_CHANGE_UNSPECIFIED: ConsentChange
CONSENT_CHANGE_GRANTED: ConsentChange
CONSENT_CHANGE_REVOKED: ConsentChange
CONSENT_CHANGE_EXPIRED: ConsentChange
CONSENT_CHANGE_SUPERSEDED: ConsentChange

class ConsentGrant(_message.Message):
    __slots__ = ("consent_id", "resident_id", "grantee_id", "data_category", "granted_by", "grantor_kind", "purpose", "status", "granted_at", "expires_at", "revoked_at", "revoked_by")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    GRANTOR_KIND_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    resident_id: str
    grantee_id: str
    data_category: DataCategory
    granted_by: str
    grantor_kind: GrantorKind
    purpose: str
    status: ConsentStatus
    granted_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    revoked_by: str
    def __init__(self, consent_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., grantee_id: _Optional[str] = ..., data_category: _Optional[_Union[DataCategory, str]] = ..., granted_by: _Optional[str] = ..., grantor_kind: _Optional[_Union[GrantorKind, str]] = ..., purpose: _Optional[str] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_by: _Optional[str] = ...) -> None: ...

class ConsentHistoryEntry(_message.Message):
    __slots__ = ("entry_id", "change", "grant", "actor_id", "reason", "occurred_at")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    change: ConsentChange
    grant: ConsentGrant
    actor_id: str
    reason: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, entry_id: _Optional[str] = ..., change: _Optional[_Union[ConsentChange, str]] = ..., grant: _Optional[_Union[ConsentGrant, _Mapping]] = ..., actor_id: _Optional[str] = ..., reason: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantConsentRequest(_message.Message):
    __slots__ = ("resident_id", "grantee_id", "data_category", "purpose", "expires_at")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    grantee_id: str
    data_category: DataCategory
    purpose: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, resident_id: _Optional[str] = ..., grantee_id: _Optional[str] = ..., data_category: _Optional[_Union[DataCategory, str]] = ..., purpose: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantConsentResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: ConsentGrant
    def __init__(self, grant: _Optional[_Union[ConsentGrant, _Mapping]] = ...) -> None: ...

class RevokeConsentRequest(_message.Message):
    __slots__ = ("resident_id", "consent_id", "reason")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    consent_id: str
    reason: str
    def __init__(self, resident_id: _Optional[str] = ..., consent_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeConsentResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: ConsentGrant
    def __init__(self, grant: _Optional[_Union[ConsentGrant, _Mapping]] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("resident_id", "grantee_id", "data_categories", "include_inactive", "page_size", "page_token")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    grantee_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[DataCategory]
    include_inactive: bool
    page_size: int
    page_token: str
    def __init__(self, resident_id: _Optional[str] = ..., grantee_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[_Union[DataCategory, str]]] = ..., include_inactive: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[ConsentGrant]
    next_page_token: str
    def __init__(self, grants: _Optional[_Iterable[_Union[ConsentGrant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetConsentHistoryRequest(_message.Message):
    __slots__ = ("resident_id", "consent_id", "page_size", "page_token")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    consent_id: str
    page_size: int
    page_token: str
    def __init__(self, resident_id: _Optional[str] = ..., consent_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetConsentHistoryResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ConsentHistoryEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[ConsentHistoryEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CheckConsentRequest(_message.Message):
    __slots__ = ("resident_id", "grantee_id", "data_category")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    grantee_id: str
    data_category: DataCategory
    def __init__(self, resident_id: _Optional[str] = ..., grantee_id: _Optional[str] = ..., data_category: _Optional[_Union[DataCategory, str]] = ...) -> None: ...

class CheckConsentResponse(_message.Message):
    __slots__ = ("allowed", "grant")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    grant: ConsentGrant
    def __init__(self, allowed: _Optional[bool] = ..., grant: _Optional[_Union[ConsentGrant, _Mapping]] = ...) -> None: ...
