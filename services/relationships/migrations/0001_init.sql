CREATE SCHEMA IF NOT EXISTS relationships;

CREATE TABLE relationships.relationships (
    relationship_id  text PRIMARY KEY,
    resident_id      text NOT NULL,
    related_user_id  text NOT NULL,
    kind             smallint NOT NULL CHECK (kind IN (1, 2, 3)),
    consent_level    smallint NOT NULL CHECK (consent_level IN (1, 2, 3)),
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    CHECK (resident_id <> related_user_id)
);

-- At most one relationship in force per (user, resident); tombstones do not count.
CREATE UNIQUE INDEX relationships_one_active
    ON relationships.relationships (related_user_id, resident_id)
    WHERE deleted_at IS NULL;

-- Keyset pagination, oldest first, per resident and per related user.
CREATE INDEX relationships_by_resident
    ON relationships.relationships (resident_id, created_at, relationship_id);
CREATE INDEX relationships_by_user
    ON relationships.relationships (related_user_id, created_at, relationship_id);

-- Every change, with the actor and the reason the caller gave (audit trail).
CREATE TABLE relationships.relationship_changes (
    change_id        bigserial PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES relationships.relationships (relationship_id),
    changed_at       timestamptz NOT NULL,
    actor            text NOT NULL,
    change           text NOT NULL CHECK (change IN ('created', 'consent_level', 'deleted')),
    old_consent      smallint,
    new_consent      smallint,
    reason           text NOT NULL DEFAULT ''
);
CREATE INDEX relationship_changes_by_relationship
    ON relationships.relationship_changes (relationship_id, changed_at);
