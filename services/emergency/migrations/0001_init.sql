-- Break-glass accesses: one row per access; rows are never deleted (review and early
-- revocation update the row, and every grant, review, revocation and use is audited).
CREATE SCHEMA IF NOT EXISTS emergency;

CREATE TABLE emergency.accesses (
    access_id       text        PRIMARY KEY,
    user_id         text        NOT NULL,
    organization_id text        NOT NULL DEFAULT '',
    patient_id      text        NOT NULL,
    emergency_type  text        NOT NULL,
    justification   text        NOT NULL,
    granted_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    review_status   text        NOT NULL CHECK (review_status IN ('pending', 'approved', 'rejected')),
    reviewed_by     text        NOT NULL DEFAULT '',
    review_note     text        NOT NULL DEFAULT '',
    reviewed_at     timestamptz,
    revoked_at      timestamptz,
    revoked_by      text        NOT NULL DEFAULT '',
    revoke_reason   text        NOT NULL DEFAULT '',
    trace_id        text        NOT NULL DEFAULT ''
);

-- The mesh's per-call lookup (mesh.facts): a user's unrevoked accesses to one patient.
CREATE INDEX accesses_live_lookup ON emergency.accesses (patient_id, user_id, expires_at)
    WHERE revoked_at IS NULL;
CREATE INDEX accesses_newest ON emergency.accesses (granted_at DESC, access_id DESC);
CREATE INDEX accesses_pending ON emergency.accesses (granted_at DESC, access_id DESC)
    WHERE review_status = 'pending';
CREATE INDEX accesses_by_user ON emergency.accesses (user_id, granted_at DESC);

CREATE FUNCTION emergency.refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'emergency.accesses rows are never deleted'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER accesses_never_deleted BEFORE DELETE ON emergency.accesses
    FOR EACH ROW EXECUTE FUNCTION emergency.refuse_delete();
