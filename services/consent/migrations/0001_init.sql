-- Consent grants: one row per grant (its status changes, the row is never deleted) and an
-- append-only history of every change.
CREATE SCHEMA IF NOT EXISTS consent;

CREATE TABLE consent.grants (
    consent_id    text        PRIMARY KEY,
    resident_id   text        NOT NULL,
    grantee_id    text        NOT NULL,
    data_category text        NOT NULL,
    granted_by    text        NOT NULL,
    grantor_kind  text        NOT NULL,
    purpose       text        NOT NULL DEFAULT '',
    status        text        NOT NULL CHECK (status IN ('active', 'revoked', 'expired', 'superseded')),
    granted_at    timestamptz NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    revoked_by    text        NOT NULL DEFAULT '',
    superseded_by text        NOT NULL DEFAULT ''
);

-- At most one active grant per grantee and category: a new one supersedes the old.
CREATE UNIQUE INDEX grants_one_active ON consent.grants (resident_id, grantee_id, data_category)
    WHERE status = 'active';
-- The mesh's per-call lookup (mesh.facts): active grants of one grantee for one resident.
CREATE INDEX grants_active_lookup ON consent.grants (resident_id, grantee_id)
    INCLUDE (data_category, expires_at) WHERE status = 'active';
CREATE INDEX grants_by_resident ON consent.grants (resident_id, granted_at DESC, consent_id DESC);

CREATE TABLE consent.history (
    seq         bigserial   PRIMARY KEY,
    entry_id    text        NOT NULL UNIQUE,
    consent_id  text        NOT NULL REFERENCES consent.grants (consent_id),
    resident_id text        NOT NULL,
    change      text        NOT NULL CHECK (change IN ('granted', 'revoked', 'expired', 'superseded')),
    grant_state jsonb       NOT NULL,
    actor_id    text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL
);
CREATE INDEX history_by_resident ON consent.history (resident_id, seq);

CREATE FUNCTION consent.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent.% rows are never % (history is kept)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON consent.history
    FOR EACH ROW EXECUTE FUNCTION consent.refuse_change();
CREATE TRIGGER grants_never_deleted BEFORE DELETE ON consent.grants
    FOR EACH ROW EXECUTE FUNCTION consent.refuse_change();
