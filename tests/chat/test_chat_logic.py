"""Pure chat rules: sender resolution, page tokens, date ranges, live ordering."""

from __future__ import annotations

import pytest
from lilo.chat.v1 import chat_service_pb2 as pb

from mesh.status import InvalidArgument, PermissionDenied
from services.chat import logic

RESIDENT = logic.Caller("res-1", "resident", False)
SERVICE = logic.Caller("assistant", "system", True)


def test_users_write_only_as_themselves_in_their_role() -> None:
    assert logic.resolve_sender(RESIDENT, "", 0) == ("res-1", pb.SENDER_ROLE_RESIDENT)
    assert logic.resolve_sender(RESIDENT, "res-1", pb.SENDER_ROLE_RESIDENT)[0] == "res-1"
    with pytest.raises(PermissionDenied, match="sender_id"):
        logic.resolve_sender(RESIDENT, "res-2", 0)
    with pytest.raises(PermissionDenied, match="sender_role"):
        logic.resolve_sender(RESIDENT, "", pb.SENDER_ROLE_ASSISTANT)
    family = logic.Caller("fam-1", "family_member", False)
    assert logic.resolve_sender(family, "", 0) == ("fam-1", pb.SENDER_ROLE_FAMILY)


def test_services_name_the_sender() -> None:
    assert logic.resolve_sender(SERVICE, "bot", pb.SENDER_ROLE_ASSISTANT) == (
        "bot",
        pb.SENDER_ROLE_ASSISTANT,
    )
    with pytest.raises(InvalidArgument, match="sender_id"):
        logic.resolve_sender(SERVICE, "", pb.SENDER_ROLE_ASSISTANT)
    with pytest.raises(InvalidArgument, match="sender_role"):
        logic.resolve_sender(SERVICE, "bot", 0)
    with pytest.raises(InvalidArgument, match="sender_role"):
        logic.resolve_sender(SERVICE, "bot", 77)


def test_message_page_tokens_are_bound_to_their_conversation() -> None:
    token = logic.encode_token("messages", "conv-a", [41])
    assert logic.messages_start("conv-a", token, 0) == 41
    with pytest.raises(InvalidArgument, match="different listing"):
        logic.messages_start("conv-b", token, 0)
    with pytest.raises(InvalidArgument, match="page_token"):
        logic.messages_start("conv-a", token, 5)
    with pytest.raises(InvalidArgument, match="malformed"):
        logic.messages_start("conv-a", "%%%", 0)
    assert logic.messages_start("conv-a", "", 7) == 7
    assert logic.messages_start("conv-a", "", 0) is None


def test_page_size_defaults_and_caps() -> None:
    assert [logic.page_size(v) for v in (0, 10, 501)] == [50, 10, 500]
    with pytest.raises(InvalidArgument, match="page_size"):
        logic.page_size(-1)


def test_analytics_range() -> None:
    first, last = logic.analytics_range("2025-01-30", "2025-02-02")
    assert [d.isoformat() for d in logic.days(first, last)] == [
        "2025-01-30", "2025-01-31", "2025-02-01", "2025-02-02",
    ]  # fmt: skip
    with pytest.raises(InvalidArgument, match="start_date"):
        logic.analytics_range("2025-1-1", "2025-01-02")
    with pytest.raises(InvalidArgument, match="366"):
        logic.analytics_range("2024-01-01", "2025-01-01")
    assert len(logic.days(*logic.analytics_range("2024-01-01", "2024-12-31"))) == 366


def test_content_limits() -> None:
    assert logic.validate_content("é" * 8192) == "é" * 8192  # 16 KiB of UTF-8
    with pytest.raises(InvalidArgument, match="16 KiB"):
        logic.validate_content("é" * 8193)


def test_live_order_skips_repeats_and_reports_gaps() -> None:
    order = logic.LiveOrder(3)
    assert not order.accept(3)
    assert order.gap(4) is None
    assert order.gap(7) == (3, 7)
    order.delivered(7)
    assert not order.accept(5) and order.accept(8)
