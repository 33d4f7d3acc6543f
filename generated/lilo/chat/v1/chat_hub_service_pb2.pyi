import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PresenceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRESENCE_STATE_UNSPECIFIED: _ClassVar[PresenceState]
    PRESENCE_STATE_ONLINE: _ClassVar[PresenceState]
    PRESENCE_STATE_AWAY: _ClassVar[PresenceState]
    PRESENCE_STATE_TYPING: _ClassVar[PresenceState]
    PRESENCE_STATE_OFFLINE: _ClassVar[PresenceState]
PRESENCE_STATE_UNSPECIFIED: PresenceState
PRESENCE_STATE_ONLINE: PresenceState
PRESENCE_STATE_AWAY: PresenceState
PRESENCE_STATE_TYPING: PresenceState
PRESENCE_STATE_OFFLINE: PresenceState

class ChatJoin(_message.Message):
    __slots__ = ("conversation_id", "last_acked_sequence")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ACKED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    last_acked_sequence: int
    def __init__(self, conversation_id: _Optional[str] = ..., last_acked_sequence: _Optional[int] = ...) -> None: ...

class ChatSend(_message.Message):
    __slots__ = ("client_message_id", "text")
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    client_message_id: str
    text: str
    def __init__(self, client_message_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ChatAck(_message.Message):
    __slots__ = ("sequence",)
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    def __init__(self, sequence: _Optional[int] = ...) -> None: ...

class ChatPresenceUpdate(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: PresenceState
    def __init__(self, state: _Optional[_Union[PresenceState, str]] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("join", "send", "ack", "presence")
    JOIN_FIELD_NUMBER: _ClassVar[int]
    SEND_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    join: ChatJoin
    send: ChatSend
    ack: ChatAck
    presence: ChatPresenceUpdate
    def __init__(self, join: _Optional[_Union[ChatJoin, _Mapping]] = ..., send: _Optional[_Union[ChatSend, _Mapping]] = ..., ack: _Optional[_Union[ChatAck, _Mapping]] = ..., presence: _Optional[_Union[ChatPresenceUpdate, _Mapping]] = ...) -> None: ...

class ChatJoined(_message.Message):
    __slots__ = ("conversation_id", "last_sequence", "present")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    last_sequence: int
    present: _containers.RepeatedCompositeFieldContainer[ChatPresenceChanged]
    def __init__(self, conversation_id: _Optional[str] = ..., last_sequence: _Optional[int] = ..., present: _Optional[_Iterable[_Union[ChatPresenceChanged, _Mapping]]] = ...) -> None: ...

class ChatDelivered(_message.Message):
    __slots__ = ("conversation_id", "sequence", "message_id", "sender_id", "text", "sent_at", "client_message_id")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    sequence: int
    message_id: str
    sender_id: str
    text: str
    sent_at: _timestamp_pb2.Timestamp
    client_message_id: str
    def __init__(self, conversation_id: _Optional[str] = ..., sequence: _Optional[int] = ..., message_id: _Optional[str] = ..., sender_id: _Optional[str] = ..., text: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., client_message_id: _Optional[str] = ...) -> None: ...

class ChatPresenceChanged(_message.Message):
    __slots__ = ("user_id", "state", "expires_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    state: PresenceState
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., state: _Optional[_Union[PresenceState, str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChatSendAccepted(_message.Message):
    __slots__ = ("client_message_id", "sequence")
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    client_message_id: str
    sequence: int
    def __init__(self, client_message_id: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class ChatSendRejected(_message.Message):
    __slots__ = ("client_message_id", "status")
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    client_message_id: str
    status: _status_pb2.Status
    def __init__(self, client_message_id: _Optional[str] = ..., status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ChatResponse(_message.Message):
    __slots__ = ("joined", "delivered", "presence_changed", "send_accepted", "send_rejected")
    JOINED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SEND_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    SEND_REJECTED_FIELD_NUMBER: _ClassVar[int]
    joined: ChatJoined
    delivered: ChatDelivered
    presence_changed: ChatPresenceChanged
    send_accepted: ChatSendAccepted
    send_rejected: ChatSendRejected
    def __init__(self, joined: _Optional[_Union[ChatJoined, _Mapping]] = ..., delivered: _Optional[_Union[ChatDelivered, _Mapping]] = ..., presence_changed: _Optional[_Union[ChatPresenceChanged, _Mapping]] = ..., send_accepted: _Optional[_Union[ChatSendAccepted, _Mapping]] = ..., send_rejected: _Optional[_Union[ChatSendRejected, _Mapping]] = ...) -> None: ...
