"""BillingService: metered use of the AI services (embedding, generation, search), priced at
the unit cost in force when recorded, in integer micro-units, and totalled per UTC month.
RecordUsage is idempotent per (user_id, idempotency_key): a unique index and
``INSERT ... ON CONFLICT DO NOTHING`` make a retry return the first event, never bill twice;
the same key with another service type or quantity is ALREADY_EXISTS.

Errors are ``mesh.status`` errors; the package defines none of its own.
"""
