"""SubscriptionService: plans, and one user's subscription through TRIAL, ACTIVE, PAST_DUE and
CANCELLED. Every state change goes through the pure transition table in ``logic``; the store
applies a pure function to a row locked ``FOR UPDATE``, so concurrent writes serialise.
A user has at most one subscription that is not cancelled (partial unique index); creates are
idempotent per (user, idempotency_key) and payments per payment_reference. GetSubscription is
served through ``mesh.cache`` and every write invalidates it.

Errors are ``mesh.status`` errors; the package defines none of its own.
"""
