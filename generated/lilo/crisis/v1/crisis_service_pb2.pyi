import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from lilo.safety.v1 import safety_service_pb2 as _safety_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATE_UNSPECIFIED: _ClassVar[AlertState]
    ALERT_STATE_OPEN: _ClassVar[AlertState]
    ALERT_STATE_ACKNOWLEDGED: _ClassVar[AlertState]
    ALERT_STATE_ESCALATED: _ClassVar[AlertState]
    ALERT_STATE_RESOLVED: _ClassVar[AlertState]

class AlertEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_EVENT_TYPE_UNSPECIFIED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_CREATED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_ACKNOWLEDGED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_ESCALATED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_RESOLVED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_NOTIFIED: _ClassVar[AlertEventType]

class EscalationTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESCALATION_TIER_UNSPECIFIED: _ClassVar[EscalationTier]
    ESCALATION_TIER_CARE_STAFF: _ClassVar[EscalationTier]
    ESCALATION_TIER_HEALTH_PROVIDER: _ClassVar[EscalationTier]
    ESCALATION_TIER_EMERGENCY_CONTACT: _ClassVar[EscalationTier]
    ESCALATION_TIER_EMERGENCY_SERVICES: _ClassVar[EscalationTier]
ALERT_STATE_UNSPECIFIED: AlertState
ALERT_STATE_OPEN: AlertState
ALERT_STATE_ACKNOWLEDGED: AlertState
ALERT_STATE_ESCALATED: AlertState
ALERT_STATE_RESOLVED: AlertState
ALERT_EVENT_TYPE_UNSPECIFIED: AlertEventType
ALERT_EVENT_TYPE_CREATED: AlertEventType
ALERT_EVENT_TYPE_ACKNOWLEDGED: AlertEventType
ALERT_EVENT_TYPE_ESCALATED: AlertEventType
ALERT_EVENT_TYPE_RESOLVED: AlertEventType
ALERT_EVENT_TYPE_NOTIFIED: AlertEventType
ESCALATION_TIER_UNSPECIFIED: EscalationTier
ESCALATION_TIER_CARE_STAFF: EscalationTier
ESCALATION_TIER_HEALTH_PROVIDER: EscalationTier
ESCALATION_TIER_EMERGENCY_CONTACT: EscalationTier
ESCALATION_TIER_EMERGENCY_SERVICES: EscalationTier

class Alert(_message.Message):
    __slots__ = ("alert_id", "resident_id", "source", "level", "categories", "excerpt", "trace_id", "state", "tier", "created_at", "updated_at", "acknowledged_by", "next_escalation_at")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    NEXT_ESCALATION_AT_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    resident_id: str
    source: str
    level: _safety_service_pb2.CrisisLevel
    categories: _containers.RepeatedScalarFieldContainer[_safety_service_pb2.CrisisCategory]
    excerpt: str
    trace_id: str
    state: AlertState
    tier: EscalationTier
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    acknowledged_by: str
    next_escalation_at: _timestamp_pb2.Timestamp
    def __init__(self, alert_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., source: _Optional[str] = ..., level: _Optional[_Union[_safety_service_pb2.CrisisLevel, str]] = ..., categories: _Optional[_Iterable[_Union[_safety_service_pb2.CrisisCategory, str]]] = ..., excerpt: _Optional[str] = ..., trace_id: _Optional[str] = ..., state: _Optional[_Union[AlertState, str]] = ..., tier: _Optional[_Union[EscalationTier, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_by: _Optional[str] = ..., next_escalation_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AlertEvent(_message.Message):
    __slots__ = ("cursor", "type", "alert", "actor", "reason", "occurred_at")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    type: AlertEventType
    alert: Alert
    actor: str
    reason: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[str] = ..., type: _Optional[_Union[AlertEventType, str]] = ..., alert: _Optional[_Union[Alert, _Mapping]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ScreenContentRequest(_message.Message):
    __slots__ = ("resident_id", "content", "source")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    content: str
    source: str
    def __init__(self, resident_id: _Optional[str] = ..., content: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ScreenContentResponse(_message.Message):
    __slots__ = ("analysis", "alert")
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    analysis: _safety_service_pb2.AnalyzeContentResponse
    alert: Alert
    def __init__(self, analysis: _Optional[_Union[_safety_service_pb2.AnalyzeContentResponse, _Mapping]] = ..., alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class CreateAlertRequest(_message.Message):
    __slots__ = ("resident_id", "source", "level", "categories", "excerpt", "idempotency_key")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    source: str
    level: _safety_service_pb2.CrisisLevel
    categories: _containers.RepeatedScalarFieldContainer[_safety_service_pb2.CrisisCategory]
    excerpt: str
    idempotency_key: str
    def __init__(self, resident_id: _Optional[str] = ..., source: _Optional[str] = ..., level: _Optional[_Union[_safety_service_pb2.CrisisLevel, str]] = ..., categories: _Optional[_Iterable[_Union[_safety_service_pb2.CrisisCategory, str]]] = ..., excerpt: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class GetAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class GetAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("resident_id", "states", "min_level", "page_size", "page_token")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    states: _containers.RepeatedScalarFieldContainer[AlertState]
    min_level: _safety_service_pb2.CrisisLevel
    page_size: int
    page_token: str
    def __init__(self, resident_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[AlertState, str]]] = ..., min_level: _Optional[_Union[_safety_service_pb2.CrisisLevel, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id", "note")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    note: str
    def __init__(self, alert_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class EscalateAlertRequest(_message.Message):
    __slots__ = ("alert_id", "reason")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    reason: str
    def __init__(self, alert_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EscalateAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class ResolveAlertRequest(_message.Message):
    __slots__ = ("alert_id", "resolution")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    resolution: str
    def __init__(self, alert_id: _Optional[str] = ..., resolution: _Optional[str] = ...) -> None: ...

class ResolveAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("resume_cursor", "resident_ids", "min_level", "replay_all")
    RESUME_CURSOR_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REPLAY_ALL_FIELD_NUMBER: _ClassVar[int]
    resume_cursor: str
    resident_ids: _containers.RepeatedScalarFieldContainer[str]
    min_level: _safety_service_pb2.CrisisLevel
    replay_all: bool
    def __init__(self, resume_cursor: _Optional[str] = ..., resident_ids: _Optional[_Iterable[str]] = ..., min_level: _Optional[_Union[_safety_service_pb2.CrisisLevel, str]] = ..., replay_all: _Optional[bool] = ...) -> None: ...

class WatchAlertsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: AlertEvent
    def __init__(self, event: _Optional[_Union[AlertEvent, _Mapping]] = ...) -> None: ...
