from google.api import annotations_pb2 as _annotations_pb2
from lilo.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CrisisLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CRISIS_LEVEL_UNSPECIFIED: _ClassVar[CrisisLevel]
    CRISIS_LEVEL_NONE: _ClassVar[CrisisLevel]
    CRISIS_LEVEL_LOW: _ClassVar[CrisisLevel]
    CRISIS_LEVEL_MEDIUM: _ClassVar[CrisisLevel]
    CRISIS_LEVEL_HIGH: _ClassVar[CrisisLevel]
    CRISIS_LEVEL_CRITICAL: _ClassVar[CrisisLevel]

class CrisisCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CRISIS_CATEGORY_UNSPECIFIED: _ClassVar[CrisisCategory]
    CRISIS_CATEGORY_SUICIDAL_IDEATION: _ClassVar[CrisisCategory]
    CRISIS_CATEGORY_SELF_HARM: _ClassVar[CrisisCategory]
    CRISIS_CATEGORY_HARM_TO_OTHERS: _ClassVar[CrisisCategory]
    CRISIS_CATEGORY_ABUSE_NEGLECT: _ClassVar[CrisisCategory]
    CRISIS_CATEGORY_MEDICAL_EMERGENCY: _ClassVar[CrisisCategory]
    CRISIS_CATEGORY_SEVERE_DISTRESS: _ClassVar[CrisisCategory]
    CRISIS_CATEGORY_SUBSTANCE_MISUSE: _ClassVar[CrisisCategory]

class PhiCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PHI_CATEGORY_UNSPECIFIED: _ClassVar[PhiCategory]
    PHI_CATEGORY_NAME: _ClassVar[PhiCategory]
    PHI_CATEGORY_DATE_OF_BIRTH: _ClassVar[PhiCategory]
    PHI_CATEGORY_PHONE: _ClassVar[PhiCategory]
    PHI_CATEGORY_EMAIL: _ClassVar[PhiCategory]
    PHI_CATEGORY_ADDRESS: _ClassVar[PhiCategory]
    PHI_CATEGORY_SSN: _ClassVar[PhiCategory]
    PHI_CATEGORY_MEDICAL_RECORD_NUMBER: _ClassVar[PhiCategory]
    PHI_CATEGORY_INSURANCE_ID: _ClassVar[PhiCategory]

class RecommendedAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECOMMENDED_ACTION_UNSPECIFIED: _ClassVar[RecommendedAction]
    RECOMMENDED_ACTION_CONTINUE: _ClassVar[RecommendedAction]
    RECOMMENDED_ACTION_MONITOR: _ClassVar[RecommendedAction]
    RECOMMENDED_ACTION_NOTIFY_CARE_TEAM: _ClassVar[RecommendedAction]
    RECOMMENDED_ACTION_IMMEDIATE_INTERVENTION: _ClassVar[RecommendedAction]
    RECOMMENDED_ACTION_EMERGENCY_SERVICES: _ClassVar[RecommendedAction]
CRISIS_LEVEL_UNSPECIFIED: CrisisLevel
CRISIS_LEVEL_NONE: CrisisLevel
CRISIS_LEVEL_LOW: CrisisLevel
CRISIS_LEVEL_MEDIUM: CrisisLevel
CRISIS_LEVEL_HIGH: CrisisLevel
CRISIS_LEVEL_CRITICAL: CrisisLevel
CRISIS_CATEGORY_UNSPECIFIED: CrisisCategory
CRISIS_CATEGORY_SUICIDAL_IDEATION: CrisisCategory
CRISIS_CATEGORY_SELF_HARM: CrisisCategory
CRISIS_CATEGORY_HARM_TO_OTHERS: CrisisCategory
CRISIS_CATEGORY_ABUSE_NEGLECT: CrisisCategory
CRISIS_CATEGORY_MEDICAL_EMERGENCY: CrisisCategory
CRISIS_CATEGORY_SEVERE_DISTRESS: CrisisCategory
CRISIS_CATEGORY_SUBSTANCE_MISUSE: CrisisCategory
PHI_CATEGORY_UNSPECIFIED: PhiCategory
PHI_CATEGORY_NAME: PhiCategory
PHI_CATEGORY_DATE_OF_BIRTH: PhiCategory
PHI_CATEGORY_PHONE: PhiCategory
PHI_CATEGORY_EMAIL: PhiCategory
PHI_CATEGORY_ADDRESS: PhiCategory
PHI_CATEGORY_SSN: PhiCategory
PHI_CATEGORY_MEDICAL_RECORD_NUMBER: PhiCategory
PHI_CATEGORY_INSURANCE_ID: PhiCategory
RECOMMENDED_ACTION_UNSPECIFIED: RecommendedAction
RECOMMENDED_ACTION_CONTINUE: RecommendedAction
RECOMMENDED_ACTION_MONITOR: RecommendedAction
RECOMMENDED_ACTION_NOTIFY_CARE_TEAM: RecommendedAction
RECOMMENDED_ACTION_IMMEDIATE_INTERVENTION: RecommendedAction
RECOMMENDED_ACTION_EMERGENCY_SERVICES: RecommendedAction

class PhiSpan(_message.Message):
    __slots__ = ("category", "start", "end")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    category: PhiCategory
    start: int
    end: int
    def __init__(self, category: _Optional[_Union[PhiCategory, str]] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class AnalyzeContentRequest(_message.Message):
    __slots__ = ("content", "resident_id", "source")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    content: str
    resident_id: str
    source: str
    def __init__(self, content: _Optional[str] = ..., resident_id: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class AnalyzeContentResponse(_message.Message):
    __slots__ = ("crisis_detected", "crisis_level", "crisis_categories", "phi_detected", "phi_categories", "phi_spans", "recommended_action", "escalation_required", "safety_score", "masked_content", "reasons")
    CRISIS_DETECTED_FIELD_NUMBER: _ClassVar[int]
    CRISIS_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CRISIS_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PHI_DETECTED_FIELD_NUMBER: _ClassVar[int]
    PHI_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PHI_SPANS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_ACTION_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    SAFETY_SCORE_FIELD_NUMBER: _ClassVar[int]
    MASKED_CONTENT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    crisis_detected: bool
    crisis_level: CrisisLevel
    crisis_categories: _containers.RepeatedScalarFieldContainer[CrisisCategory]
    phi_detected: bool
    phi_categories: _containers.RepeatedScalarFieldContainer[PhiCategory]
    phi_spans: _containers.RepeatedCompositeFieldContainer[PhiSpan]
    recommended_action: RecommendedAction
    escalation_required: bool
    safety_score: float
    masked_content: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, crisis_detected: _Optional[bool] = ..., crisis_level: _Optional[_Union[CrisisLevel, str]] = ..., crisis_categories: _Optional[_Iterable[_Union[CrisisCategory, str]]] = ..., phi_detected: _Optional[bool] = ..., phi_categories: _Optional[_Iterable[_Union[PhiCategory, str]]] = ..., phi_spans: _Optional[_Iterable[_Union[PhiSpan, _Mapping]]] = ..., recommended_action: _Optional[_Union[RecommendedAction, str]] = ..., escalation_required: _Optional[bool] = ..., safety_score: _Optional[float] = ..., masked_content: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...
