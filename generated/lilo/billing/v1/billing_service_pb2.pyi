import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServiceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVICE_TYPE_UNSPECIFIED: _ClassVar[ServiceType]
    SERVICE_TYPE_EMBEDDING: _ClassVar[ServiceType]
    SERVICE_TYPE_GENERATION: _ClassVar[ServiceType]
    SERVICE_TYPE_SEARCH: _ClassVar[ServiceType]
SERVICE_TYPE_UNSPECIFIED: ServiceType
SERVICE_TYPE_EMBEDDING: ServiceType
SERVICE_TYPE_GENERATION: ServiceType
SERVICE_TYPE_SEARCH: ServiceType

class UsageEvent(_message.Message):
    __slots__ = ("event_id", "user_id", "service_type", "quantity", "unit_cost_micros", "cost_micros", "currency_code", "billing_period", "occurred_at", "recorded_at", "idempotency_key")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    BILLING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    user_id: str
    service_type: ServiceType
    quantity: int
    unit_cost_micros: int
    cost_micros: int
    currency_code: str
    billing_period: str
    occurred_at: _timestamp_pb2.Timestamp
    recorded_at: _timestamp_pb2.Timestamp
    idempotency_key: str
    def __init__(self, event_id: _Optional[str] = ..., user_id: _Optional[str] = ..., service_type: _Optional[_Union[ServiceType, str]] = ..., quantity: _Optional[int] = ..., unit_cost_micros: _Optional[int] = ..., cost_micros: _Optional[int] = ..., currency_code: _Optional[str] = ..., billing_period: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ServiceTypeTotal(_message.Message):
    __slots__ = ("service_type", "event_count", "quantity", "cost_micros")
    SERVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    service_type: ServiceType
    event_count: int
    quantity: int
    cost_micros: int
    def __init__(self, service_type: _Optional[_Union[ServiceType, str]] = ..., event_count: _Optional[int] = ..., quantity: _Optional[int] = ..., cost_micros: _Optional[int] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("user_id", "service_type", "quantity", "idempotency_key", "occurred_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    service_type: ServiceType
    quantity: int
    idempotency_key: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., service_type: _Optional[_Union[ServiceType, str]] = ..., quantity: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("event", "deduplicated")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    event: UsageEvent
    deduplicated: bool
    def __init__(self, event: _Optional[_Union[UsageEvent, _Mapping]] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class ListUsageEventsRequest(_message.Message):
    __slots__ = ("user_id", "billing_period", "service_types", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BILLING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TYPES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    billing_period: str
    service_types: _containers.RepeatedScalarFieldContainer[ServiceType]
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[str] = ..., billing_period: _Optional[str] = ..., service_types: _Optional[_Iterable[_Union[ServiceType, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUsageEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPeriodTotalsRequest(_message.Message):
    __slots__ = ("user_id", "billing_period")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BILLING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    billing_period: str
    def __init__(self, user_id: _Optional[str] = ..., billing_period: _Optional[str] = ...) -> None: ...

class GetPeriodTotalsResponse(_message.Message):
    __slots__ = ("billing_period", "totals", "total_cost_micros", "currency_code")
    BILLING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    billing_period: str
    totals: _containers.RepeatedCompositeFieldContainer[ServiceTypeTotal]
    total_cost_micros: int
    currency_code: str
    def __init__(self, billing_period: _Optional[str] = ..., totals: _Optional[_Iterable[_Union[ServiceTypeTotal, _Mapping]]] = ..., total_cost_micros: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...
