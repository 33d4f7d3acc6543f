"""Audit service: tamper-evident, HMAC-chained HIPAA audit trail.

``chain`` is the pure core (canonical form, sealing, verification); ``logic`` the pure event
rules (what the MAC covers, validation, partitions, keys); ``store`` the SQL (rows sealed
with ``chain.seal``, stored by ``audit.append_sealed`` only if they continue the locked
partition head); ``writer`` the batching ``AuditWriter``; ``servicer``
the gRPC service (see docs/services/audit.md).

``verify_chain`` reports findings as values instead of raising, so this package has no
exception tree yet; misuse (several partitions at once, floats in content) raises the
standard ``ValueError`` / ``TypeError``.
"""
