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

class RelationshipKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELATIONSHIP_KIND_UNSPECIFIED: _ClassVar[RelationshipKind]
    RELATIONSHIP_KIND_FAMILY: _ClassVar[RelationshipKind]
    RELATIONSHIP_KIND_PROVIDER: _ClassVar[RelationshipKind]
    RELATIONSHIP_KIND_CAREGIVER: _ClassVar[RelationshipKind]

class ConsentLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_LEVEL_UNSPECIFIED: _ClassVar[ConsentLevel]
    CONSENT_LEVEL_FULL: _ClassVar[ConsentLevel]
    CONSENT_LEVEL_LIMITED: _ClassVar[ConsentLevel]
    CONSENT_LEVEL_EMERGENCY_ONLY: _ClassVar[ConsentLevel]
RELATIONSHIP_KIND_UNSPECIFIED: RelationshipKind
RELATIONSHIP_KIND_FAMILY: RelationshipKind
RELATIONSHIP_KIND_PROVIDER: RelationshipKind
RELATIONSHIP_KIND_CAREGIVER: RelationshipKind
CONSENT_LEVEL_UNSPECIFIED: ConsentLevel
CONSENT_LEVEL_FULL: ConsentLevel
CONSENT_LEVEL_LIMITED: ConsentLevel
CONSENT_LEVEL_EMERGENCY_ONLY: ConsentLevel

class Relationship(_message.Message):
    __slots__ = ("relationship_id", "resident_id", "related_user_id", "kind", "consent_level", "created_by", "created_at", "updated_at", "deleted_at")
    RELATIONSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RELATED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONSENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    relationship_id: str
    resident_id: str
    related_user_id: str
    kind: RelationshipKind
    consent_level: ConsentLevel
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    deleted_at: _timestamp_pb2.Timestamp
    def __init__(self, relationship_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., related_user_id: _Optional[str] = ..., kind: _Optional[_Union[RelationshipKind, str]] = ..., consent_level: _Optional[_Union[ConsentLevel, str]] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateRelationshipRequest(_message.Message):
    __slots__ = ("resident_id", "related_user_id", "kind", "consent_level")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RELATED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONSENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    related_user_id: str
    kind: RelationshipKind
    consent_level: ConsentLevel
    def __init__(self, resident_id: _Optional[str] = ..., related_user_id: _Optional[str] = ..., kind: _Optional[_Union[RelationshipKind, str]] = ..., consent_level: _Optional[_Union[ConsentLevel, str]] = ...) -> None: ...

class CreateRelationshipResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: Relationship
    def __init__(self, relationship: _Optional[_Union[Relationship, _Mapping]] = ...) -> None: ...

class GetRelationshipRequest(_message.Message):
    __slots__ = ("relationship_id",)
    RELATIONSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    relationship_id: str
    def __init__(self, relationship_id: _Optional[str] = ...) -> None: ...

class GetRelationshipResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: Relationship
    def __init__(self, relationship: _Optional[_Union[Relationship, _Mapping]] = ...) -> None: ...

class ListRelationshipsRequest(_message.Message):
    __slots__ = ("resident_id", "related_user_id", "kinds", "include_deleted", "page_size", "page_token")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RELATED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    related_user_id: str
    kinds: _containers.RepeatedScalarFieldContainer[RelationshipKind]
    include_deleted: bool
    page_size: int
    page_token: str
    def __init__(self, resident_id: _Optional[str] = ..., related_user_id: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[RelationshipKind, str]]] = ..., include_deleted: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRelationshipsResponse(_message.Message):
    __slots__ = ("relationships", "next_page_token")
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    next_page_token: str
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateConsentLevelRequest(_message.Message):
    __slots__ = ("relationship_id", "consent_level", "reason")
    RELATIONSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    relationship_id: str
    consent_level: ConsentLevel
    reason: str
    def __init__(self, relationship_id: _Optional[str] = ..., consent_level: _Optional[_Union[ConsentLevel, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateConsentLevelResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: Relationship
    def __init__(self, relationship: _Optional[_Union[Relationship, _Mapping]] = ...) -> None: ...

class DeleteRelationshipRequest(_message.Message):
    __slots__ = ("relationship_id", "reason")
    RELATIONSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    relationship_id: str
    reason: str
    def __init__(self, relationship_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeleteRelationshipResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: Relationship
    def __init__(self, relationship: _Optional[_Union[Relationship, _Mapping]] = ...) -> None: ...

class CheckRelationshipRequest(_message.Message):
    __slots__ = ("user_id", "resident_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    resident_id: str
    def __init__(self, user_id: _Optional[str] = ..., resident_id: _Optional[str] = ...) -> None: ...

class CheckRelationshipResponse(_message.Message):
    __slots__ = ("related", "relationship_id", "kind", "consent_level")
    RELATED_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONSENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    related: bool
    relationship_id: str
    kind: RelationshipKind
    consent_level: ConsentLevel
    def __init__(self, related: _Optional[bool] = ..., relationship_id: _Optional[str] = ..., kind: _Optional[_Union[RelationshipKind, str]] = ..., consent_level: _Optional[_Union[ConsentLevel, str]] = ...) -> None: ...
