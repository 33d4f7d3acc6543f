"""Optional semantic search: the interface a vector index must offer. No implementation ships
here (there is no embedding service yet); the servicer keeps an index in step when one is
given and otherwise searches with PostgreSQL full-text only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class VectorIndex(Protocol):
    async def upsert(self, memory_id: str, user_id: str, text: str) -> None:
        """Index (or re-index) one memory's text."""
        ...

    async def delete(self, memory_id: str) -> None:
        """Forget one memory; deleting an unknown id is not an error."""
        ...

    async def search(self, user_id: str, text: str, limit: int) -> Sequence[tuple[str, float]]:
        """(memory_id, similarity) pairs for one user's memories, best first."""
        ...
