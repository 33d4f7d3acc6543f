import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lilo.auth.v1 import auth_service_pb2 as _auth_service_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_OUTCOME_UNSPECIFIED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_ALLOWED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_DENIED: _ClassVar[AuditOutcome]

class ChainViolationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHAIN_VIOLATION_KIND_UNSPECIFIED: _ClassVar[ChainViolationKind]
    CHAIN_VIOLATION_KIND_EDITED: _ClassVar[ChainViolationKind]
    CHAIN_VIOLATION_KIND_DELETED: _ClassVar[ChainViolationKind]
    CHAIN_VIOLATION_KIND_REORDERED: _ClassVar[ChainViolationKind]
    CHAIN_VIOLATION_KIND_INSERTED: _ClassVar[ChainViolationKind]
AUDIT_OUTCOME_UNSPECIFIED: AuditOutcome
AUDIT_OUTCOME_ALLOWED: AuditOutcome
AUDIT_OUTCOME_DENIED: AuditOutcome
CHAIN_VIOLATION_KIND_UNSPECIFIED: ChainViolationKind
CHAIN_VIOLATION_KIND_EDITED: ChainViolationKind
CHAIN_VIOLATION_KIND_DELETED: ChainViolationKind
CHAIN_VIOLATION_KIND_REORDERED: ChainViolationKind
CHAIN_VIOLATION_KIND_INSERTED: ChainViolationKind

class AuditEvent(_message.Message):
    __slots__ = ("audit_id", "actor_user_id", "actor_role", "event_type", "action", "resource", "resource_id", "resident_id", "phi_accessed", "compliance_context", "break_glass", "outcome", "trace_id", "additional_context", "occurred_at", "recorded_at", "partition", "sequence", "prev_hash", "integrity_hash")
    class AdditionalContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PHI_ACCESSED_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    BREAK_GLASS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    INTEGRITY_HASH_FIELD_NUMBER: _ClassVar[int]
    audit_id: str
    actor_user_id: str
    actor_role: _auth_service_pb2.Role
    event_type: str
    action: str
    resource: str
    resource_id: str
    resident_id: str
    phi_accessed: bool
    compliance_context: str
    break_glass: bool
    outcome: AuditOutcome
    trace_id: str
    additional_context: _containers.ScalarMap[str, str]
    occurred_at: _timestamp_pb2.Timestamp
    recorded_at: _timestamp_pb2.Timestamp
    partition: str
    sequence: int
    prev_hash: str
    integrity_hash: str
    def __init__(self, audit_id: _Optional[str] = ..., actor_user_id: _Optional[str] = ..., actor_role: _Optional[_Union[_auth_service_pb2.Role, str]] = ..., event_type: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., resource_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., phi_accessed: _Optional[bool] = ..., compliance_context: _Optional[str] = ..., break_glass: _Optional[bool] = ..., outcome: _Optional[_Union[AuditOutcome, str]] = ..., trace_id: _Optional[str] = ..., additional_context: _Optional[_Mapping[str, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., partition: _Optional[str] = ..., sequence: _Optional[int] = ..., prev_hash: _Optional[str] = ..., integrity_hash: _Optional[str] = ...) -> None: ...

class ChainViolation(_message.Message):
    __slots__ = ("sequence", "audit_id", "kind", "detail")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    audit_id: str
    kind: ChainViolationKind
    detail: str
    def __init__(self, sequence: _Optional[int] = ..., audit_id: _Optional[str] = ..., kind: _Optional[_Union[ChainViolationKind, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class AppendEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...

class AppendEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...

class QueryEventsRequest(_message.Message):
    __slots__ = ("actor_user_id", "resource", "resource_id", "resident_id", "phi_only", "start_time", "end_time", "page_size", "page_token")
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PHI_ONLY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    actor_user_id: str
    resource: str
    resource_id: str
    resident_id: str
    phi_only: bool
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, actor_user_id: _Optional[str] = ..., resource: _Optional[str] = ..., resource_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., phi_only: _Optional[bool] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class QueryEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyChainRequest(_message.Message):
    __slots__ = ("partition",)
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    partition: str
    def __init__(self, partition: _Optional[str] = ...) -> None: ...

class VerifyChainResponse(_message.Message):
    __slots__ = ("ok", "checked_events", "head_sequence", "head_hash", "violations")
    OK_FIELD_NUMBER: _ClassVar[int]
    CHECKED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    checked_events: int
    head_sequence: int
    head_hash: str
    violations: _containers.RepeatedCompositeFieldContainer[ChainViolation]
    def __init__(self, ok: _Optional[bool] = ..., checked_events: _Optional[int] = ..., head_sequence: _Optional[int] = ..., head_hash: _Optional[str] = ..., violations: _Optional[_Iterable[_Union[ChainViolation, _Mapping]]] = ...) -> None: ...
