"""Emergency (break-glass) access service, HIPAA 164.312(a)(2)(ii).

A user states why they need a patient's data; access is granted at once for a short
fixed window (``LILO_EMERGENCY_MAX_SECONDS``, default 3600) with review pending; an
administrator approves or rejects it afterwards (rejecting an active access ends it).
Accesses expire by themselves: the mesh (``mesh.facts.PgAccessFacts.break_glass``)
compares ``expires_at`` with the injected clock on every call. The grant, its review and
revocation are audited here; every call that USES an access is audited by the mesh sink
with ``break_glass`` set.

No exception tree of its own: handlers raise ``mesh.status`` errors.
"""
