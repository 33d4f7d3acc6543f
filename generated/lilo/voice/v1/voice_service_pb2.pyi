import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from lilo.safety.v1 import safety_service_pb2 as _safety_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_ENCODING_UNSPECIFIED: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_PCM16: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_MULAW: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_ALAW: _ClassVar[AudioEncoding]

class SpeechEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEECH_EVENT_TYPE_UNSPECIFIED: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_START: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_END: _ClassVar[SpeechEventType]
AUDIO_ENCODING_UNSPECIFIED: AudioEncoding
AUDIO_ENCODING_PCM16: AudioEncoding
AUDIO_ENCODING_MULAW: AudioEncoding
AUDIO_ENCODING_ALAW: AudioEncoding
SPEECH_EVENT_TYPE_UNSPECIFIED: SpeechEventType
SPEECH_EVENT_TYPE_START: SpeechEventType
SPEECH_EVENT_TYPE_END: SpeechEventType

class AudioConfig(_message.Message):
    __slots__ = ("encoding", "sample_rate_hertz", "channels", "language_code", "resident_id", "conversation_id", "keyphrases")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    KEYPHRASES_FIELD_NUMBER: _ClassVar[int]
    encoding: AudioEncoding
    sample_rate_hertz: int
    channels: int
    language_code: str
    resident_id: str
    conversation_id: str
    keyphrases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hertz: _Optional[int] = ..., channels: _Optional[int] = ..., language_code: _Optional[str] = ..., resident_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., keyphrases: _Optional[_Iterable[str]] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("sequence", "pcm")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PCM_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    pcm: bytes
    def __init__(self, sequence: _Optional[int] = ..., pcm: _Optional[bytes] = ...) -> None: ...

class EndOfStream(_message.Message):
    __slots__ = ("last_sequence",)
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    last_sequence: int
    def __init__(self, last_sequence: _Optional[int] = ...) -> None: ...

class StreamVoiceRequest(_message.Message):
    __slots__ = ("config", "chunk", "end_of_stream")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    END_OF_STREAM_FIELD_NUMBER: _ClassVar[int]
    config: AudioConfig
    chunk: AudioChunk
    end_of_stream: EndOfStream
    def __init__(self, config: _Optional[_Union[AudioConfig, _Mapping]] = ..., chunk: _Optional[_Union[AudioChunk, _Mapping]] = ..., end_of_stream: _Optional[_Union[EndOfStream, _Mapping]] = ...) -> None: ...

class SpeechEvent(_message.Message):
    __slots__ = ("type", "audio_offset")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_OFFSET_FIELD_NUMBER: _ClassVar[int]
    type: SpeechEventType
    audio_offset: _duration_pb2.Duration
    def __init__(self, type: _Optional[_Union[SpeechEventType, str]] = ..., audio_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Transcript(_message.Message):
    __slots__ = ("text", "is_final", "confidence", "keyphrases", "utterance_id", "audio_start_offset", "audio_end_offset")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    KEYPHRASES_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIO_START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    AUDIO_END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    text: str
    is_final: bool
    confidence: float
    keyphrases: _containers.RepeatedScalarFieldContainer[str]
    utterance_id: str
    audio_start_offset: _duration_pb2.Duration
    audio_end_offset: _duration_pb2.Duration
    def __init__(self, text: _Optional[str] = ..., is_final: _Optional[bool] = ..., confidence: _Optional[float] = ..., keyphrases: _Optional[_Iterable[str]] = ..., utterance_id: _Optional[str] = ..., audio_start_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., audio_end_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SafetyFlag(_message.Message):
    __slots__ = ("level", "categories", "recommended_action", "alert_id", "utterance_id", "transcript")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_ACTION_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    level: _safety_service_pb2.CrisisLevel
    categories: _containers.RepeatedScalarFieldContainer[_safety_service_pb2.CrisisCategory]
    recommended_action: _safety_service_pb2.RecommendedAction
    alert_id: str
    utterance_id: str
    transcript: str
    def __init__(self, level: _Optional[_Union[_safety_service_pb2.CrisisLevel, str]] = ..., categories: _Optional[_Iterable[_Union[_safety_service_pb2.CrisisCategory, str]]] = ..., recommended_action: _Optional[_Union[_safety_service_pb2.RecommendedAction, str]] = ..., alert_id: _Optional[str] = ..., utterance_id: _Optional[str] = ..., transcript: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("last_processed_sequence", "window_chunks", "suggested_chunk_duration", "final")
    LAST_PROCESSED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_CHUNK_DURATION_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    last_processed_sequence: int
    window_chunks: int
    suggested_chunk_duration: _duration_pb2.Duration
    final: bool
    def __init__(self, last_processed_sequence: _Optional[int] = ..., window_chunks: _Optional[int] = ..., suggested_chunk_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., final: _Optional[bool] = ...) -> None: ...

class StreamVoiceResponse(_message.Message):
    __slots__ = ("trace_id", "speech_event", "transcript", "safety_flag", "ack")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    SAFETY_FLAG_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    speech_event: SpeechEvent
    transcript: Transcript
    safety_flag: SafetyFlag
    ack: Ack
    def __init__(self, trace_id: _Optional[str] = ..., speech_event: _Optional[_Union[SpeechEvent, _Mapping]] = ..., transcript: _Optional[_Union[Transcript, _Mapping]] = ..., safety_flag: _Optional[_Union[SafetyFlag, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ...) -> None: ...
