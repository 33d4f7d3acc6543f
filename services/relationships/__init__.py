"""RelationshipService: who is family, provider or caregiver of which resident, and with which
consent level. Relationships are never erased: ending one sets ``deleted_at`` (a tombstone),
and at most one relationship per (user, resident) is in force at a time (a partial unique
index). ``CheckRelationship`` is the mesh's hot read and goes through ``mesh.cache``.

Errors are ``mesh.status`` errors (``InvalidArgument``, ``NotFound``, ``AlreadyExists``,
``FailedPrecondition``); the package defines none of its own.
"""
