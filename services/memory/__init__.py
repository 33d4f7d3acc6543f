"""MemoryService: what the assistant remembers about a resident, and full-text search over it
with PostgreSQL's own text search (a generated ``tsvector`` column with a GIN index,
``websearch_to_tsquery``, ``ts_rank_cd`` ranking and ``ts_headline`` snippets whose highlight
markers are turned into code-point ranges). GetMemory counts reads; List and Search do not.
DeleteMemory erases content, tags and metadata for good and keeps a tombstone row so a repeated
delete succeeds. Vector search is an optional ``vector.VectorIndex`` with no implementation here.

Errors are ``mesh.status`` errors; the package defines none of its own.
"""
