from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor
STREAM_FIELD_NUMBER: _ClassVar[int]
stream: _descriptor.FieldDescriptor
SERVICE_FIELD_NUMBER: _ClassVar[int]
service: _descriptor.FieldDescriptor

class AccessRule(_message.Message):
    __slots__ = ("resource", "action", "public", "phi", "resident_field")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    PHI_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_FIELD_FIELD_NUMBER: _ClassVar[int]
    resource: str
    action: str
    public: bool
    phi: bool
    resident_field: str
    def __init__(self, resource: _Optional[str] = ..., action: _Optional[str] = ..., public: _Optional[bool] = ..., phi: _Optional[bool] = ..., resident_field: _Optional[str] = ...) -> None: ...

class ServiceInfo(_message.Message):
    __slots__ = ("default_port",)
    DEFAULT_PORT_FIELD_NUMBER: _ClassVar[int]
    default_port: int
    def __init__(self, default_port: _Optional[int] = ...) -> None: ...

class StreamResume(_message.Message):
    __slots__ = ("resume_request_field", "resume_response_field")
    RESUME_REQUEST_FIELD_FIELD_NUMBER: _ClassVar[int]
    RESUME_RESPONSE_FIELD_FIELD_NUMBER: _ClassVar[int]
    resume_request_field: str
    resume_response_field: str
    def __init__(self, resume_request_field: _Optional[str] = ..., resume_response_field: _Optional[str] = ...) -> None: ...
