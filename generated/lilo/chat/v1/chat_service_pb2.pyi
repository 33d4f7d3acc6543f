import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
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

class ConversationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSATION_TYPE_UNSPECIFIED: _ClassVar[ConversationType]
    CONVERSATION_TYPE_THERAPEUTIC: _ClassVar[ConversationType]
    CONVERSATION_TYPE_WELLNESS_CHECK: _ClassVar[ConversationType]
    CONVERSATION_TYPE_CARE_TEAM: _ClassVar[ConversationType]
    CONVERSATION_TYPE_FAMILY: _ClassVar[ConversationType]

class SenderRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENDER_ROLE_UNSPECIFIED: _ClassVar[SenderRole]
    SENDER_ROLE_RESIDENT: _ClassVar[SenderRole]
    SENDER_ROLE_ASSISTANT: _ClassVar[SenderRole]
    SENDER_ROLE_CARE_STAFF: _ClassVar[SenderRole]
    SENDER_ROLE_FAMILY: _ClassVar[SenderRole]
    SENDER_ROLE_SYSTEM: _ClassVar[SenderRole]
CONVERSATION_TYPE_UNSPECIFIED: ConversationType
CONVERSATION_TYPE_THERAPEUTIC: ConversationType
CONVERSATION_TYPE_WELLNESS_CHECK: ConversationType
CONVERSATION_TYPE_CARE_TEAM: ConversationType
CONVERSATION_TYPE_FAMILY: ConversationType
SENDER_ROLE_UNSPECIFIED: SenderRole
SENDER_ROLE_RESIDENT: SenderRole
SENDER_ROLE_ASSISTANT: SenderRole
SENDER_ROLE_CARE_STAFF: SenderRole
SENDER_ROLE_FAMILY: SenderRole
SENDER_ROLE_SYSTEM: SenderRole

class Conversation(_message.Message):
    __slots__ = ("conversation_id", "resident_id", "created_by", "type", "title", "started_at", "last_active_at", "last_sequence")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    resident_id: str
    created_by: str
    type: ConversationType
    title: str
    started_at: _timestamp_pb2.Timestamp
    last_active_at: _timestamp_pb2.Timestamp
    last_sequence: int
    def __init__(self, conversation_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., created_by: _Optional[str] = ..., type: _Optional[_Union[ConversationType, str]] = ..., title: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_active_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_sequence: _Optional[int] = ...) -> None: ...

class SafetySummary(_message.Message):
    __slots__ = ("crisis_detected", "crisis_level", "crisis_categories", "phi_detected", "recommended_action")
    CRISIS_DETECTED_FIELD_NUMBER: _ClassVar[int]
    CRISIS_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CRISIS_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PHI_DETECTED_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_ACTION_FIELD_NUMBER: _ClassVar[int]
    crisis_detected: bool
    crisis_level: _safety_service_pb2.CrisisLevel
    crisis_categories: _containers.RepeatedScalarFieldContainer[_safety_service_pb2.CrisisCategory]
    phi_detected: bool
    recommended_action: _safety_service_pb2.RecommendedAction
    def __init__(self, crisis_detected: _Optional[bool] = ..., crisis_level: _Optional[_Union[_safety_service_pb2.CrisisLevel, str]] = ..., crisis_categories: _Optional[_Iterable[_Union[_safety_service_pb2.CrisisCategory, str]]] = ..., phi_detected: _Optional[bool] = ..., recommended_action: _Optional[_Union[_safety_service_pb2.RecommendedAction, str]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("message_id", "conversation_id", "sequence", "sender_id", "sender_role", "content", "sent_at", "client_message_id", "safety")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SAFETY_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    conversation_id: str
    sequence: int
    sender_id: str
    sender_role: SenderRole
    content: str
    sent_at: _timestamp_pb2.Timestamp
    client_message_id: str
    safety: SafetySummary
    def __init__(self, message_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., sequence: _Optional[int] = ..., sender_id: _Optional[str] = ..., sender_role: _Optional[_Union[SenderRole, str]] = ..., content: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., client_message_id: _Optional[str] = ..., safety: _Optional[_Union[SafetySummary, _Mapping]] = ...) -> None: ...

class DailyConversationAnalytics(_message.Message):
    __slots__ = ("date", "conversation_count", "total_messages", "crisis_incidents")
    DATE_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CRISIS_INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    date: str
    conversation_count: int
    total_messages: int
    crisis_incidents: int
    def __init__(self, date: _Optional[str] = ..., conversation_count: _Optional[int] = ..., total_messages: _Optional[int] = ..., crisis_incidents: _Optional[int] = ...) -> None: ...

class CreateConversationRequest(_message.Message):
    __slots__ = ("resident_id", "type", "title")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    type: ConversationType
    title: str
    def __init__(self, resident_id: _Optional[str] = ..., type: _Optional[_Union[ConversationType, str]] = ..., title: _Optional[str] = ...) -> None: ...

class CreateConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class GetConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ...) -> None: ...

class ListConversationsRequest(_message.Message):
    __slots__ = ("resident_id", "types", "page_size", "page_token")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    types: _containers.RepeatedScalarFieldContainer[ConversationType]
    page_size: int
    page_token: str
    def __init__(self, resident_id: _Optional[str] = ..., types: _Optional[_Iterable[_Union[ConversationType, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversationsResponse(_message.Message):
    __slots__ = ("conversations", "next_page_token")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[Conversation]
    next_page_token: str
    def __init__(self, conversations: _Optional[_Iterable[_Union[Conversation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AppendMessageRequest(_message.Message):
    __slots__ = ("conversation_id", "sender_id", "sender_role", "content", "client_message_id")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    sender_id: str
    sender_role: SenderRole
    content: str
    client_message_id: str
    def __init__(self, conversation_id: _Optional[str] = ..., sender_id: _Optional[str] = ..., sender_role: _Optional[_Union[SenderRole, str]] = ..., content: _Optional[str] = ..., client_message_id: _Optional[str] = ...) -> None: ...

class AppendMessageResponse(_message.Message):
    __slots__ = ("message", "alert_id", "deduplicated")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    message: Message
    alert_id: str
    deduplicated: bool
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ..., alert_id: _Optional[str] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("conversation_id", "page_size", "page_token", "before_sequence")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    BEFORE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    page_size: int
    page_token: str
    before_sequence: int
    def __init__(self, conversation_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., before_sequence: _Optional[int] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    next_page_token: str
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDailyAnalyticsRequest(_message.Message):
    __slots__ = ("resident_id", "start_date", "end_date")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    start_date: str
    end_date: str
    def __init__(self, resident_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class GetDailyAnalyticsResponse(_message.Message):
    __slots__ = ("days",)
    DAYS_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DailyConversationAnalytics]
    def __init__(self, days: _Optional[_Iterable[_Union[DailyConversationAnalytics, _Mapping]]] = ...) -> None: ...

class WatchMessagesRequest(_message.Message):
    __slots__ = ("conversation_id", "resume_after_sequence")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    resume_after_sequence: int
    def __init__(self, conversation_id: _Optional[str] = ..., resume_after_sequence: _Optional[int] = ...) -> None: ...

class WatchMessagesResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: Message
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ...) -> None: ...
