"""Chat service: conversations and their messages, screened for crises before they are stored.

``ChatService`` (servicer.py) stores conversations and per-conversation numbered messages in
PostgreSQL (messages partitioned by month), keeps per-resident daily analytics on write and
publishes every stored message on Redis; ``ChatHubService`` (hub.py) is the live bidi
connection on top of the same storage path. ``logic`` is pure (validation, sender rules,
page tokens, ordering of live deliveries), ``store`` is the asyncpg adapter, ``core`` the
append path shared by both servicers (screen -> store -> publish), ``live`` the Redis side.

Errors are the mesh's ``mesh.status.ServiceError`` tree; the package adds none of its own.
A screening failure surfaces as ``Unavailable`` (message not stored, a resend may work).
"""
