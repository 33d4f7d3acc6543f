"""SafetyServicer on a real grpc.aio server bound to 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from lilo.safety.v1 import safety_service_pb2 as pb
from lilo.safety.v1 import safety_service_pb2_grpc as pb_grpc

from services.safety.classifier import ModelDetector, default_detector
from services.safety.model import CrisisCategory, CrisisLevel, RecommendedAction
from services.safety.phi import PhiCategory
from services.safety.servicer import MAX_CONTENT_BYTES, SafetyServicer


@asynccontextmanager
async def serving(servicer: SafetyServicer) -> AsyncIterator[pb_grpc.SafetyServiceStub]:
    server = grpc.aio.server()
    pb_grpc.add_SafetyServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.SafetyServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(grace=None)


@pytest.fixture
async def stub() -> AsyncIterator[pb_grpc.SafetyServiceStub]:
    async with serving(SafetyServicer()) as client:  # the default: rules plus model
        yield client


async def analyze(stub: pb_grpc.SafetyServiceStub, content: str) -> pb.AnalyzeContentResponse:
    request = pb.AnalyzeContentRequest(content=content, source="chat")
    response: pb.AnalyzeContentResponse = await stub.AnalyzeContent(request)
    return response


async def test_crisis_message(stub: pb_grpc.SafetyServiceStub) -> None:
    response = await analyze(stub, "I took all my pills an hour ago")
    assert response.crisis_detected
    assert response.crisis_level == pb.CRISIS_LEVEL_CRITICAL
    assert pb.CRISIS_CATEGORY_SUBSTANCE_MISUSE in response.crisis_categories
    assert response.recommended_action == pb.RECOMMENDED_ACTION_EMERGENCY_SERVICES
    assert response.escalation_required
    assert response.safety_score < 0.1
    assert response.reasons


async def test_default_servicer_uses_the_model(stub: pb_grpc.SafetyServiceStub) -> None:
    # No rule knows this phrasing; only the model can raise it.
    response = await analyze(stub, "my carer keeps smacking the back of my head when I'm slow")
    assert response.crisis_level in (pb.CRISIS_LEVEL_HIGH, pb.CRISIS_LEVEL_CRITICAL)
    assert response.escalation_required
    assert any(reason.startswith(("HIGH: model", "CRITICAL: model")) for reason in response.reasons)


async def test_unloadable_model_gives_unavailable(tmp_path: Path) -> None:
    broken = default_detector(ModelDetector(weights=tmp_path / "absent.json"))
    async with serving(SafetyServicer(broken)) as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await analyze(client, "hello")
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    details = caught.value.details() or ""
    assert details.startswith("the crisis model is not available: cannot read classifier")
    assert "Traceback" not in details


async def test_calm_message(stub: pb_grpc.SafetyServiceStub) -> None:
    response = await analyze(stub, "The bingo was great fun this afternoon")
    assert not response.crisis_detected
    assert response.crisis_level == pb.CRISIS_LEVEL_NONE
    assert list(response.crisis_categories) == []
    assert response.recommended_action == pb.RECOMMENDED_ACTION_CONTINUE
    assert not response.escalation_required
    assert response.safety_score == 1.0
    assert not response.phi_detected


async def test_phi_spans_and_masking(stub: pb_grpc.SafetyServiceStub) -> None:
    text = "👵 My name is Edith, ring 07700 900123 or 07700 900456"
    response = await analyze(stub, text)
    assert response.phi_detected
    assert list(response.phi_categories) == [pb.PHI_CATEGORY_NAME, pb.PHI_CATEGORY_PHONE]
    spans = [(s.category, text[s.start : s.end]) for s in response.phi_spans]
    assert spans == [
        (pb.PHI_CATEGORY_NAME, "Edith"),
        (pb.PHI_CATEGORY_PHONE, "07700 900123"),
        (pb.PHI_CATEGORY_PHONE, "07700 900456"),
    ]
    assert response.masked_content == "👵 My name is [NAME], ring [PHONE] or [PHONE]"


@pytest.mark.parametrize("content", ["", "   \n\t "])
async def test_empty_content_is_invalid(stub: pb_grpc.SafetyServiceStub, content: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await analyze(stub, content)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "content is empty" in (caught.value.details() or "")


async def test_oversized_content_is_invalid(stub: pb_grpc.SafetyServiceStub) -> None:
    # 6000 euro signs are 6000 characters but 18000 UTF-8 bytes: the limit is in bytes.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await analyze(stub, "€" * 6000)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert "18000 bytes" in details
    assert str(MAX_CONTENT_BYTES) in details


async def test_content_at_the_limit_is_accepted(stub: pb_grpc.SafetyServiceStub) -> None:
    response = await analyze(stub, "a" * MAX_CONTENT_BYTES)
    assert response.crisis_level == pb.CRISIS_LEVEL_NONE


@pytest.mark.parametrize(
    ("python_enum", "proto_enum", "prefix"),
    [
        (CrisisLevel, pb.CrisisLevel, "CRISIS_LEVEL_"),
        (CrisisCategory, pb.CrisisCategory, "CRISIS_CATEGORY_"),
        (PhiCategory, pb.PhiCategory, "PHI_CATEGORY_"),
        (RecommendedAction, pb.RecommendedAction, "RECOMMENDED_ACTION_"),
    ],
)
def test_python_enums_mirror_the_proto(python_enum: type, proto_enum: object, prefix: str) -> None:
    proto_names = {
        name.removeprefix(prefix): number
        for name, number in proto_enum.items()  # type: ignore[attr-defined]
        if number != 0
    }
    assert {m.name: m.value for m in python_enum} == proto_names  # type: ignore[attr-defined]
