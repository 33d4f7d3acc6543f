"""Consent service: which people a resident lets see which kinds of their data.

A grant covers one data category for one grantee and is made by the resident (or a
guardian). A newer grant for the same grantee and category supersedes the active one;
revocation ends a grant at once, and because the mesh looks consent up on every call
(``mesh.facts.PgAccessFacts``) it bites on the very next call. Grant rows are never
deleted and every change is appended to ``consent.history``.

No exception tree of its own: handlers raise ``mesh.status`` errors.
"""
