CREATE SCHEMA IF NOT EXISTS memory;

CREATE TABLE memory.memories (
    memory_id         text PRIMARY KEY,
    user_id           text NOT NULL,
    type              smallint NOT NULL CHECK (type BETWEEN 1 AND 5),
    content           text NOT NULL,
    tags              text[] NOT NULL DEFAULT '{}',
    metadata          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL,
    access_count      bigint NOT NULL DEFAULT 0,
    last_accessed_at  timestamptz,
    deleted_at        timestamptz,
    -- English configuration named explicitly: the generated column must be immutable.
    search_vector     tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    CHECK (deleted_at IS NULL OR (content = '' AND tags = '{}' AND metadata = '{}'))
);

CREATE INDEX memories_search ON memory.memories USING gin (search_vector);
CREATE INDEX memories_tags ON memory.memories USING gin (tags);
CREATE INDEX memories_by_user_time ON memory.memories (user_id, created_at DESC, memory_id DESC)
    WHERE deleted_at IS NULL;
