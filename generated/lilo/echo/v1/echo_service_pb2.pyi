from google.api import annotations_pb2 as _annotations_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EchoRequest(_message.Message):
    __slots__ = ("payload", "delay_ms", "fail_code")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    FAIL_CODE_FIELD_NUMBER: _ClassVar[int]
    payload: str
    delay_ms: int
    fail_code: int
    def __init__(self, payload: _Optional[str] = ..., delay_ms: _Optional[int] = ..., fail_code: _Optional[int] = ...) -> None: ...

class EchoResponse(_message.Message):
    __slots__ = ("payload", "instance_id")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    payload: str
    instance_id: str
    def __init__(self, payload: _Optional[str] = ..., instance_id: _Optional[str] = ...) -> None: ...

class EchoStreamRequest(_message.Message):
    __slots__ = ("payload", "count", "resume_after", "interval_ms")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    payload: str
    count: int
    resume_after: int
    interval_ms: int
    def __init__(self, payload: _Optional[str] = ..., count: _Optional[int] = ..., resume_after: _Optional[int] = ..., interval_ms: _Optional[int] = ...) -> None: ...

class EchoStreamResponse(_message.Message):
    __slots__ = ("index", "payload", "instance_id")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    index: int
    payload: str
    instance_id: str
    def __init__(self, index: _Optional[int] = ..., payload: _Optional[str] = ..., instance_id: _Optional[str] = ...) -> None: ...

class EchoBidiRequest(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: str
    def __init__(self, payload: _Optional[str] = ...) -> None: ...

class EchoBidiResponse(_message.Message):
    __slots__ = ("payload", "instance_id")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    payload: str
    instance_id: str
    def __init__(self, payload: _Optional[str] = ..., instance_id: _Optional[str] = ...) -> None: ...
