import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmergencyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMERGENCY_TYPE_UNSPECIFIED: _ClassVar[EmergencyType]
    EMERGENCY_TYPE_MEDICAL: _ClassVar[EmergencyType]
    EMERGENCY_TYPE_MENTAL_HEALTH_CRISIS: _ClassVar[EmergencyType]
    EMERGENCY_TYPE_SAFETY_THREAT: _ClassVar[EmergencyType]
    EMERGENCY_TYPE_MISSING_PERSON: _ClassVar[EmergencyType]

class ReviewStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATUS_UNSPECIFIED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_PENDING: _ClassVar[ReviewStatus]
    REVIEW_STATUS_APPROVED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_REJECTED: _ClassVar[ReviewStatus]
EMERGENCY_TYPE_UNSPECIFIED: EmergencyType
EMERGENCY_TYPE_MEDICAL: EmergencyType
EMERGENCY_TYPE_MENTAL_HEALTH_CRISIS: EmergencyType
EMERGENCY_TYPE_SAFETY_THREAT: EmergencyType
EMERGENCY_TYPE_MISSING_PERSON: EmergencyType
REVIEW_STATUS_UNSPECIFIED: ReviewStatus
REVIEW_STATUS_PENDING: ReviewStatus
REVIEW_STATUS_APPROVED: ReviewStatus
REVIEW_STATUS_REJECTED: ReviewStatus

class EmergencyAccess(_message.Message):
    __slots__ = ("access_id", "user_id", "patient_id", "emergency_type", "justification", "granted_at", "expires_at", "review_status", "reviewed_by", "review_note", "reviewed_at", "revoked_at", "revoked_by", "revoke_reason", "trace_id")
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_TYPE_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_STATUS_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_BY_FIELD_NUMBER: _ClassVar[int]
    REVIEW_NOTE_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    user_id: str
    patient_id: str
    emergency_type: EmergencyType
    justification: str
    granted_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    review_status: ReviewStatus
    reviewed_by: str
    review_note: str
    reviewed_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    revoked_by: str
    revoke_reason: str
    trace_id: str
    def __init__(self, access_id: _Optional[str] = ..., user_id: _Optional[str] = ..., patient_id: _Optional[str] = ..., emergency_type: _Optional[_Union[EmergencyType, str]] = ..., justification: _Optional[str] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review_status: _Optional[_Union[ReviewStatus, str]] = ..., reviewed_by: _Optional[str] = ..., review_note: _Optional[str] = ..., reviewed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_by: _Optional[str] = ..., revoke_reason: _Optional[str] = ..., trace_id: _Optional[str] = ...) -> None: ...

class RequestEmergencyAccessRequest(_message.Message):
    __slots__ = ("patient_id", "justification", "emergency_type", "requested_duration")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_DURATION_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    justification: str
    emergency_type: EmergencyType
    requested_duration: _duration_pb2.Duration
    def __init__(self, patient_id: _Optional[str] = ..., justification: _Optional[str] = ..., emergency_type: _Optional[_Union[EmergencyType, str]] = ..., requested_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RequestEmergencyAccessResponse(_message.Message):
    __slots__ = ("access",)
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    access: EmergencyAccess
    def __init__(self, access: _Optional[_Union[EmergencyAccess, _Mapping]] = ...) -> None: ...

class GetEmergencyAccessRequest(_message.Message):
    __slots__ = ("access_id",)
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    def __init__(self, access_id: _Optional[str] = ...) -> None: ...

class GetEmergencyAccessResponse(_message.Message):
    __slots__ = ("access",)
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    access: EmergencyAccess
    def __init__(self, access: _Optional[_Union[EmergencyAccess, _Mapping]] = ...) -> None: ...

class ListEmergencyAccessRequest(_message.Message):
    __slots__ = ("pending_review_only", "active_only", "user_id", "patient_id", "page_size", "page_token")
    PENDING_REVIEW_ONLY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pending_review_only: bool
    active_only: bool
    user_id: str
    patient_id: str
    page_size: int
    page_token: str
    def __init__(self, pending_review_only: _Optional[bool] = ..., active_only: _Optional[bool] = ..., user_id: _Optional[str] = ..., patient_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEmergencyAccessResponse(_message.Message):
    __slots__ = ("accesses", "next_page_token")
    ACCESSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    accesses: _containers.RepeatedCompositeFieldContainer[EmergencyAccess]
    next_page_token: str
    def __init__(self, accesses: _Optional[_Iterable[_Union[EmergencyAccess, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReviewEmergencyAccessRequest(_message.Message):
    __slots__ = ("access_id", "decision", "note")
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    decision: ReviewStatus
    note: str
    def __init__(self, access_id: _Optional[str] = ..., decision: _Optional[_Union[ReviewStatus, str]] = ..., note: _Optional[str] = ...) -> None: ...

class ReviewEmergencyAccessResponse(_message.Message):
    __slots__ = ("access",)
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    access: EmergencyAccess
    def __init__(self, access: _Optional[_Union[EmergencyAccess, _Mapping]] = ...) -> None: ...

class RevokeEmergencyAccessRequest(_message.Message):
    __slots__ = ("access_id", "reason")
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    reason: str
    def __init__(self, access_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeEmergencyAccessResponse(_message.Message):
    __slots__ = ("access",)
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    access: EmergencyAccess
    def __init__(self, access: _Optional[_Union[EmergencyAccess, _Mapping]] = ...) -> None: ...
