"""The audit chain passes intact and detects each kind of tampering."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest

from services.audit.chain import (
    GENESIS,
    AuditRecord,
    ChainHead,
    Violation,
    ViolationKind,
    canonical,
    compute_hash,
    seal,
    verify_chain,
)

KEYS = {"k1": b"k1-secret-" * 4, "k2": b"k2-secret-" * 4}


def event(i: int) -> dict[str, object]:
    return {
        "user_id": f"u-{i % 3}",
        "event_type": "phi_access",
        "action": "read",
        "resource": "phi",
        "resource_id": f"r-{i}",
        "phi_accessed": True,
        "compliance_context": "treatment",
        "additional_context": {"rpc": "/lilo.crisis.v1.CrisisService/GetAlert", "n": i},
        "timestamp_us": 1_750_000_000_000_000 + i,
    }


def build(n: int, key_id: str = "k1", rotate_at: int | None = None) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    head: ChainHead | None = None
    for i in range(1, n + 1):
        kid = "k2" if rotate_at is not None and i >= rotate_at else key_id
        rec = seal(
            head, partition="org-1", audit_id=f"a-{i}", content=event(i), key_id=kid, key=KEYS[kid]
        )
        records.append(rec)
        head = rec.head
    return records


def kinds(violations: list[Violation]) -> set[ViolationKind]:
    return {v.kind for v in violations}


def test_intact_chain_passes() -> None:
    records = build(8)
    assert records[0].prev_hash == GENESIS and records[0].sequence == 1
    assert all(b.prev_hash == a.record_hash for a, b in pairwise(records))
    assert verify_chain(records, KEYS) == []
    assert verify_chain(records, KEYS, expected_head=records[-1].head) == []
    assert verify_chain([], KEYS) == []


def test_canonical_is_stable() -> None:
    assert canonical({"b": 1, "a": [True, None, "é"]}) == canonical(
        {"a": [True, None, "é"], "b": 1}
    )
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    with pytest.raises(TypeError):
        canonical({"t": 1.5})


def test_edit_a_field_is_detected() -> None:
    records = build(6)
    edited = dict(records[2].content, user_id="someone-else")
    records[2] = dataclasses.replace(records[2], content=edited)
    found = verify_chain(records, KEYS)
    assert [(v.kind, v.sequence, v.audit_id) for v in found] == [(ViolationKind.EDITED, 3, "a-3")]


def test_edit_of_the_last_record_is_detected() -> None:
    records = build(4)
    records[-1] = dataclasses.replace(
        records[-1], content=dict(records[-1].content, action="write")
    )
    assert [(v.kind, v.sequence) for v in verify_chain(records, KEYS)] == [
        (ViolationKind.EDITED, 4)
    ]


def test_delete_a_row_is_detected() -> None:
    records = build(6)
    del records[3]  # sequence 4
    found = verify_chain(records, KEYS)
    assert [(v.kind, v.sequence, v.audit_id) for v in found] == [(ViolationKind.DELETED, 4, "a-5")]
    assert "4" in found[0].detail


def test_delete_several_rows_and_the_first_row() -> None:
    records = build(8)
    found = verify_chain(records[:2] + records[5:], KEYS)
    assert [(v.kind, v.sequence) for v in found] == [(ViolationKind.DELETED, 3)]
    assert "3..5" in found[0].detail
    found = verify_chain(records[1:], KEYS)
    assert [(v.kind, v.sequence) for v in found] == [(ViolationKind.DELETED, 1)]


def test_truncated_tail_needs_the_head() -> None:
    records = build(6)
    assert verify_chain(records[:4], KEYS) == []  # the chain alone cannot see it
    found = verify_chain(records[:4], KEYS, expected_head=records[-1].head)
    assert [(v.kind, v.sequence) for v in found] == [(ViolationKind.DELETED, 5)]


def test_swap_two_rows_in_delivery_order_is_detected() -> None:
    records = build(6)
    records[2], records[3] = records[3], records[2]
    found = verify_chain(records, KEYS)
    assert kinds(found) == {ViolationKind.REORDERED}
    assert {v.audit_id for v in found} == {"a-3"}


def test_swap_two_rows_by_sequence_number_is_detected() -> None:
    records = build(6)
    a, b = records[2], records[3]  # sequences 3 and 4
    records[2] = dataclasses.replace(b, sequence=3)
    records[3] = dataclasses.replace(a, sequence=4)
    found = verify_chain(records, KEYS)
    assert kinds(found) == {ViolationKind.REORDERED}
    assert {v.audit_id for v in found} == {"a-3", "a-4"}
    assert any("sealed at sequence 4" in v.detail for v in found)


def test_insert_a_forged_row_is_detected() -> None:
    records = build(6)
    forged_content = event(99)
    forged = AuditRecord(
        partition="org-1",
        sequence=4,
        audit_id="a-forged",
        content=forged_content,
        prev_hash=records[2].record_hash,
        key_id="k1",
        # The forger does not have k1; any other key gives a wrong MAC.
        record_hash=compute_hash(
            b"guess",
            partition="org-1",
            sequence=4,
            audit_id="a-forged",
            key_id="k1",
            content=forged_content,
            prev_hash=records[2].record_hash,
        ),
    )
    # Make room: every later row is renumbered up by one.
    shifted = [dataclasses.replace(r, sequence=r.sequence + 1) for r in records[3:]]
    found = verify_chain([*records[:3], forged, *shifted], KEYS)
    inserted = [v for v in found if v.kind is ViolationKind.INSERTED]
    assert [(v.sequence, v.audit_id) for v in inserted] == [(4, "a-forged")]
    # The renumbered rows are reported as moved, not as edited or deleted.
    assert kinds(found) == {ViolationKind.INSERTED, ViolationKind.REORDERED}


def test_insert_a_row_with_a_duplicate_sequence() -> None:
    records = build(5)
    forged = dataclasses.replace(records[1], audit_id="a-forged", record_hash="f" * 64)
    found = verify_chain([*records[:2], forged, *records[2:]], KEYS)
    assert [(v.kind, v.audit_id) for v in found] == [(ViolationKind.INSERTED, "a-forged")]


def test_append_a_forged_row_past_the_head() -> None:
    records = build(4)
    head = records[-1].head
    # Sealed with a key the forger made up, but labelled k1.
    forged = seal(head, partition="org-1", audit_id="a-x", content=event(5), key_id="k1", key=b"x")
    found = verify_chain([*records, forged], KEYS, expected_head=head)
    assert [(v.kind, v.audit_id) for v in found] == [(ViolationKind.INSERTED, "a-x")]


def test_key_rotation() -> None:
    records = build(6, rotate_at=4)
    assert {r.key_id for r in records} == {"k1", "k2"}
    assert verify_chain(records, KEYS) == []
    # Losing the old key makes its records unverifiable, and says why.
    found = verify_chain(records, {"k2": KEYS["k2"]})
    assert {v.sequence for v in found} == {1, 2, 3}
    assert all("unknown key id 'k1'" in v.detail for v in found)
    # Relabelling a record's key id breaks its MAC.
    records[4] = dataclasses.replace(records[4], key_id="k1")
    assert [(v.kind, v.sequence) for v in verify_chain(records, KEYS)] == [
        (ViolationKind.EDITED, 5)
    ]


def test_window_verification_with_an_anchor() -> None:
    records = build(10)
    assert verify_chain(records[5:], KEYS, anchor=records[4].head) == []
    found = verify_chain(records[6:], KEYS, anchor=records[4].head)
    assert [(v.kind, v.sequence) for v in found] == [(ViolationKind.DELETED, 6)]


def test_moving_a_record_to_another_partition_breaks_it() -> None:
    records = build(3)
    moved = [dataclasses.replace(r, partition="org-2") for r in records]
    assert kinds(verify_chain(moved, KEYS)) == {ViolationKind.EDITED}
    with pytest.raises(ValueError):
        verify_chain([records[0], moved[1]], KEYS)


# -- the sealing fast path writes exactly what canonical() writes ----------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"additional_context": {}},
        {"additional_context": {"zeta": "1", "alpha": 'quote " back \\ slash', "mid": "x"}},
        {"actor_user_id": "ünïcödé 👩‍⚕️", "trace_id": "\u2028\x00\x1f", "resource_id": "r/1"},
        {"phi_accessed": False, "break_glass": True, "recorded_at_us": 0},
        {"occurred_at_us": 2**62, "outcome": "DENIED", "compliance_context": "tab\there"},
    ],
)
def test_canonical_content_is_byte_for_byte_canonical(overrides: dict[str, object]) -> None:
    from audit_helpers import make_event

    from services.audit.chain import compute_hash_canonical

    e = make_event(7, **overrides)
    assert e.canonical_content() == canonical(e.content()).decode("utf-8")
    fast = compute_hash_canonical(
        KEYS["k1"],
        partition="p",
        sequence=3,
        audit_id=e.audit_id,
        key_id="k1",
        content_json=e.canonical_content(),
        prev_hash=GENESIS,
    )
    assert fast == compute_hash(
        KEYS["k1"],
        partition="p",
        sequence=3,
        audit_id=e.audit_id,
        key_id="k1",
        content=e.content(),
        prev_hash=GENESIS,
    )


def test_canonical_content_of_unexpected_types_is_left_to_canonical() -> None:
    """A value of another type than declared is not written by hand: ``canonical``
    encodes it (a number stays a number) or refuses it (floats)."""
    from audit_helpers import make_event

    odd = make_event(1, actor_user_id=42, additional_context={"n": 3})
    assert odd.canonical_content() == canonical(odd.content()).decode("utf-8")
    assert '"actor_user_id":42' in odd.canonical_content()
    with pytest.raises(TypeError, match="floats"):
        make_event(1, occurred_at_us=1.5).canonical_content()
