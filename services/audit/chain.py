"""Tamper-evident audit chain (pure): sealing records and verifying a partition's chain.

Format
    Each partition (e.g. one organisation, or one day) is a hash chain. Record ``n`` holds
    ``sequence = n`` (1-based), ``prev_hash`` = record ``n-1``'s ``record_hash`` (64 zeros
    for the first) and::

        record_hash = hex(HMAC-SHA256(keys[key_id],
                          canonical({"audit_id", "content", "key_id", "partition",
                                     "sequence"}) + prev_hash))

    ``canonical`` is JSON with sorted keys, no whitespace, UTF-8, no NaN; floats are refused
    because their text form is not stable across languages and databases (store times as
    integer microseconds or RFC 3339 strings). The envelope fields are inside the MAC, so
    moving a record to another sequence or partition, or relabelling its key, breaks it.

Key rotation
    ``key_id`` is stored on every record; verification looks the key up per record, so a
    chain may span several keys. Retired keys must be kept for as long as records are.

What the chain cannot show on its own: the tail being cut off. Pass ``expected_head``
(the last sequence and hash, kept elsewhere, e.g. in the partition's head row or a
periodic external anchor) to detect it.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Any

__all__ = [
    "GENESIS",
    "AuditRecord",
    "ChainHead",
    "Violation",
    "ViolationKind",
    "canonical",
    "compute_hash",
    "compute_hash_canonical",
    "seal",
    "verify_chain",
]

GENESIS = "0" * 64

#: A JSON string literal exactly as ``canonical`` writes it (``ensure_ascii=False``).
_quote: Callable[[str], str] = json.encoder.encode_basestring


def _reject_floats(value: Any) -> None:
    # Iterative, with the common leaves first: this runs for every record sealed.
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None or type(item) in _PLAIN_LEAVES:
            continue
        if isinstance(item, float):
            raise TypeError("floats are not allowed in audit records (not canonical)")
        if isinstance(item, Mapping):
            for k, v in item.items():
                if not isinstance(k, str):
                    raise TypeError("audit record keys must be strings")
                pending.append(v)
        elif isinstance(item, list | tuple):
            pending.extend(item)


_PLAIN_LEAVES = frozenset({str, int, bool})


def canonical(value: Any) -> bytes:
    """Stable bytes for JSON-compatible ``value`` (sorted keys, compact, UTF-8)."""
    _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_hash(
    key: bytes,
    *,
    partition: str,
    sequence: int,
    audit_id: str,
    key_id: str,
    content: Mapping[str, Any],
    prev_hash: str,
) -> str:
    return compute_hash_canonical(
        key,
        partition=partition,
        sequence=sequence,
        audit_id=audit_id,
        key_id=key_id,
        content_json=canonical(content).decode("utf-8"),
        prev_hash=prev_hash,
    )


def compute_hash_canonical(
    key: bytes,
    *,
    partition: str,
    sequence: int,
    audit_id: str,
    key_id: str,
    content_json: str,
    prev_hash: str,
) -> str:
    """``compute_hash`` for a ``content`` already in canonical form (``content_json`` =
    ``canonical(content)`` as text): the envelope is spliced around it, which gives the
    very bytes ``canonical`` gives for the whole envelope (its keys are in sorted order
    here), without walking and sorting the content again for every record sealed."""
    if type(sequence) is not int:
        raise TypeError("sequence must be an int")
    message = (
        '{"audit_id":'
        + _quote(audit_id)
        + ',"content":'
        + content_json
        + ',"key_id":'
        + _quote(key_id)
        + ',"partition":'
        + _quote(partition)
        + ',"sequence":'
        + str(sequence)
        + "}"
        + prev_hash
    )
    return hmac.digest(key, message.encode("utf-8"), "sha256").hex()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last sealed position of a partition (``sequence`` 0 + GENESIS when empty)."""

    sequence: int = 0
    record_hash: str = GENESIS


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One sealed row. ``content`` is the audit event (user_id, event_type, action, resource,
    resource_id, phi_accessed, compliance_context, additional_context, timestamp, ...)."""

    partition: str
    sequence: int
    audit_id: str
    content: Mapping[str, Any]
    prev_hash: str
    key_id: str
    record_hash: str

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.sequence, self.record_hash)


def seal(
    head: ChainHead | None,
    *,
    partition: str,
    audit_id: str,
    content: Mapping[str, Any],
    key_id: str,
    key: bytes,
) -> AuditRecord:
    """The record that follows ``head`` (``None`` = empty partition). The writer must
    serialise appends per partition (e.g. ``SELECT ... FOR UPDATE`` on the head row)."""
    head = head or ChainHead()
    sequence = head.sequence + 1
    record_hash = compute_hash(
        key,
        partition=partition,
        sequence=sequence,
        audit_id=audit_id,
        key_id=key_id,
        content=content,
        prev_hash=head.record_hash,
    )
    return AuditRecord(
        partition=partition,
        sequence=sequence,
        audit_id=audit_id,
        content=content,
        prev_hash=head.record_hash,
        key_id=key_id,
        record_hash=record_hash,
    )


class ViolationKind(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    INSERTED = "inserted"


@dataclass(frozen=True, slots=True)
class Violation:
    """One finding. ``sequence`` is where it was found (the first missing sequence for
    DELETED); ``audit_id`` the record concerned (the record after the gap for DELETED)."""

    kind: ViolationKind
    sequence: int
    audit_id: str | None
    detail: str


def verify_chain(
    records: Sequence[AuditRecord],
    keys: Mapping[str, bytes],
    *,
    anchor: ChainHead | None = None,
    expected_head: ChainHead | None = None,
) -> list[Violation]:
    """Check one partition's records, given in the order they were read; [] means intact.

    ``anchor`` is the verified position just before ``records[0]`` (default: genesis),
    so a long chain can be checked window by window.

    Classification:

    * EDITED: the MAC does not match the record but the record is still linked into the
      chain (its successor points at its stored hash, or it is the last record).
    * DELETED: sequences missing between two records, before the first, or after the last
      when ``expected_head`` says the chain is longer.
    * REORDERED: a record whose MAC verifies at another sequence (it was renumbered or two
      rows swapped), a record delivered after a higher sequence, or a record whose
      ``prev_hash`` points at a different existing record than its predecessor.
    * INSERTED: a record with no valid MAC that nothing links to while later records exist
      (a forgery), or a second record claiming an already used sequence.
    """
    start = anchor or ChainHead()
    if not records:
        if expected_head is not None and expected_head.sequence > start.sequence:
            return [
                Violation(
                    ViolationKind.DELETED,
                    start.sequence + 1,
                    None,
                    f"no records, but the head is at sequence {expected_head.sequence}",
                )
            ]
        return []
    if len({r.partition for r in records}) != 1:
        raise ValueError("verify_chain checks one partition at a time")

    def valid_at(rec: AuditRecord, sequence: int) -> bool:
        key = keys.get(rec.key_id)
        if key is None:
            return False
        expected = compute_hash(
            key,
            partition=rec.partition,
            sequence=sequence,
            audit_id=rec.audit_id,
            key_id=rec.key_id,
            content=rec.content,
            prev_hash=rec.prev_hash,
        )
        return hmac.compare_digest(expected, rec.record_hash)

    by_hash: dict[str, AuditRecord] = {}
    for rec in records:
        by_hash.setdefault(rec.record_hash, rec)
    # How many records point at each hash; a record is "referenced" if another one does.
    pointers = Counter(r.prev_hash for r in records)
    seq_counts = Counter(r.sequence for r in records)
    max_seq = max(r.sequence for r in records)

    sealed = _resolve_sealed_sequences(records, by_hash, start, valid_at)
    violations: list[Violation] = []
    forged: set[int] = set()

    # 1. Each record on its own: does its MAC hold, and where was it sealed?
    for rec in records:
        s = sealed[id(rec)]
        if s == rec.sequence:
            continue
        if s is not None:
            violations.append(
                Violation(
                    ViolationKind.REORDERED,
                    rec.sequence,
                    rec.audit_id,
                    f"sealed at sequence {s}, stored at sequence {rec.sequence}",
                )
            )
            continue
        why = "record_hash does not match its content"
        if rec.key_id not in keys:
            why = f"unknown key id {rec.key_id!r}"
        linked = pointers[rec.record_hash] > 0
        beyond_head = expected_head is not None and rec.sequence > expected_head.sequence
        if not linked and (seq_counts[rec.sequence] > 1 or rec.sequence < max_seq or beyond_head):
            forged.add(id(rec))
            violations.append(
                Violation(
                    ViolationKind.INSERTED,
                    rec.sequence,
                    rec.audit_id,
                    f"not part of the chain: {why} and no record links to it",
                )
            )
        else:
            violations.append(Violation(ViolationKind.EDITED, rec.sequence, rec.audit_id, why))

    # 2. Delivery order: rows must come back in increasing sequence.
    for before, rec in pairwise(records):
        if rec.sequence < before.sequence:
            violations.append(
                Violation(
                    ViolationKind.REORDERED,
                    rec.sequence,
                    rec.audit_id,
                    f"delivered after sequence {before.sequence}",
                )
            )

    # 3. Links, in sealed order, ignoring forgeries already reported.
    chain = sorted(
        (r for r in records if id(r) not in forged),
        key=lambda r: sealed[id(r)] or r.sequence,
    )
    prev_seq, prev_hash = start.sequence, start.record_hash
    for rec in chain:
        seq = sealed[id(rec)] or rec.sequence
        if seq <= prev_seq:
            violations.append(
                Violation(
                    ViolationKind.INSERTED,
                    rec.sequence,
                    rec.audit_id,
                    f"second record at sequence {seq}",
                )
            )
            continue
        if seq > prev_seq + 1:
            missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}..{seq - 1}"
            violations.append(
                Violation(
                    ViolationKind.DELETED,
                    prev_seq + 1,
                    rec.audit_id,
                    f"sequence {missing} missing before {rec.audit_id}",
                )
            )
        elif rec.prev_hash != prev_hash:
            target = by_hash.get(rec.prev_hash)
            if target is not None:
                violations.append(
                    Violation(
                        ViolationKind.REORDERED,
                        rec.sequence,
                        rec.audit_id,
                        f"prev_hash points at sequence {target.sequence} "
                        f"({target.audit_id}), not at sequence {prev_seq}",
                    )
                )
            else:
                violations.append(
                    Violation(
                        ViolationKind.DELETED,
                        seq - 1,
                        rec.audit_id,
                        "prev_hash points at a record that is not in the chain",
                    )
                )
        prev_seq, prev_hash = seq, rec.record_hash

    # 4. The tail, against an externally kept head.
    if expected_head is not None:
        if prev_seq < expected_head.sequence:
            violations.append(
                Violation(
                    ViolationKind.DELETED,
                    prev_seq + 1,
                    None,
                    f"chain ends at {prev_seq}, head is at {expected_head.sequence}",
                )
            )
        elif prev_seq == expected_head.sequence and prev_hash != expected_head.record_hash:
            violations.append(
                Violation(
                    ViolationKind.EDITED,
                    prev_seq,
                    None,
                    "last record's hash differs from the recorded head",
                )
            )
    return violations


def _resolve_sealed_sequences(
    records: Sequence[AuditRecord],
    by_hash: Mapping[str, AuditRecord],
    start: ChainHead,
    valid_at: Callable[[AuditRecord, int], bool],
) -> dict[int, int | None]:
    """For each record: the sequence its MAC verifies at (its own, or its predecessor's
    sealed sequence + 1), or None if it verifies nowhere. Iterative: chains are long."""
    memo: dict[int, int | None] = {}
    for first in records:
        stack = [first]
        visiting: set[int] = set()
        while stack:
            rec = stack[-1]
            if id(rec) in memo:
                stack.pop()
                continue
            if valid_at(rec, rec.sequence):
                memo[id(rec)] = rec.sequence
                stack.pop()
                continue
            if rec.prev_hash == start.record_hash:
                base: int | None = start.sequence
            else:
                pred = by_hash.get(rec.prev_hash)
                if pred is None or pred is rec or id(pred) in visiting:
                    base = None
                elif id(pred) not in memo:
                    visiting.add(id(rec))
                    stack.append(pred)
                    continue
                else:
                    base = memo[id(pred)]
            candidate = None if base is None else base + 1
            memo[id(rec)] = (
                candidate
                if candidate is not None and candidate != rec.sequence and valid_at(rec, candidate)
                else None
            )
            visiting.discard(id(rec))
            stack.pop()
    return memo
