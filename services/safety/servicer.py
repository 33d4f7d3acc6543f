"""gRPC adapter: ``SafetyServicer`` serves ``lilo.safety.v1.SafetyService`` on grpc.aio.

The servicer validates the request, hands the text to a ``Detector`` and maps the
``Analysis`` onto ``AnalyzeContentResponse``. It holds no state besides the detector, so
one instance can serve any number of concurrent calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from lilo.safety.v1 import safety_service_pb2 as pb
from lilo.safety.v1 import safety_service_pb2_grpc as pb_grpc

from services.safety import ModelLoadError
from services.safety.classifier import default_detector
from services.safety.detector import Detector
from services.safety.model import Analysis

__all__ = ["MAX_CONTENT_BYTES", "SafetyServicer", "to_response", "validate_content"]

# The proto caps content at 16 KiB; we count UTF-8 bytes, as the wire does.
MAX_CONTENT_BYTES = 16 * 1024


def validate_content(content: str, max_bytes: int = MAX_CONTENT_BYTES) -> str | None:
    """Return a client-facing error message, or None when ``content`` is acceptable."""
    if not content.strip():
        return "content is empty: send the text to screen in the 'content' field"
    size = len(content.encode("utf-8"))
    if size > max_bytes:
        return (
            f"content is {size} bytes of UTF-8, over the limit of {max_bytes} bytes "
            f"({max_bytes // 1024} KiB): split the text and screen each part"
        )
    return None


def to_response(analysis: Analysis) -> pb.AnalyzeContentResponse:
    """Map an ``Analysis`` to the proto.

    Enum values are shared number for number; the proto constructor is given the enum
    *name* for the number (``Name``), which fails loudly if the numbers ever drift.
    """
    return pb.AnalyzeContentResponse(
        crisis_detected=analysis.crisis_detected,
        crisis_level=pb.CrisisLevel.Name(analysis.level),
        crisis_categories=[pb.CrisisCategory.Name(c) for c in analysis.categories],
        phi_detected=bool(analysis.phi_spans),
        phi_categories=[pb.PhiCategory.Name(c) for c in analysis.phi_categories],
        phi_spans=[
            pb.PhiSpan(
                category=pb.PhiCategory.Name(span.category),
                start=span.start,
                end=span.end,
            )
            for span in analysis.phi_spans
        ],
        recommended_action=pb.RecommendedAction.Name(analysis.recommended_action),
        escalation_required=analysis.escalation_required,
        safety_score=analysis.safety_score,
        masked_content=analysis.masked_text,
        reasons=list(analysis.reasons),
    )


class SafetyServicer(pb_grpc.SafetyServiceServicer):
    """Screens content with ``detector`` (default: rules plus model, ``default_detector``).

    Invalid requests are aborted with INVALID_ARGUMENT and a message naming the problem.
    If the model's files cannot be loaded the call fails with UNAVAILABLE rather than
    quietly falling back to the rules, whose recall on unseen phrasings is far lower.
    The detector runs in a worker thread: a chat message takes well under a millisecond,
    but a full 16 KiB document takes a few hundred milliseconds of regex work, which must
    not stall the event loop. Detectors are pure, so sharing one across threads is safe.
    """

    def __init__(
        self, detector: Detector | None = None, max_content_bytes: int = MAX_CONTENT_BYTES
    ) -> None:
        self._detector = detector if detector is not None else default_detector()
        self._max_content_bytes = max_content_bytes

    async def AnalyzeContent(
        self, request: pb.AnalyzeContentRequest, context: Any
    ) -> pb.AnalyzeContentResponse:
        problem = validate_content(request.content, self._max_content_bytes)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            analysis = await asyncio.to_thread(self._detector.analyze, request.content)
        except ModelLoadError as error:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"the crisis model is not available: {error}"
            )
        return to_response(analysis)
