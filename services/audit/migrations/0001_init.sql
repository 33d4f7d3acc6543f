-- Audit trail: append-only, HMAC-chained per partition (see services/audit/chain.py).
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE audit.events (
    -- Surrogate insertion order, used only for stable paging; not part of the chain.
    id                 bigserial PRIMARY KEY,
    partition          text        NOT NULL,
    sequence           bigint      NOT NULL CHECK (sequence >= 1),
    audit_id           text        NOT NULL,
    key_id             text        NOT NULL,
    prev_hash          text        NOT NULL,
    integrity_hash     text        NOT NULL,
    -- Every column below is covered by integrity_hash (services/audit/logic.py content()).
    actor_user_id      text        NOT NULL,
    actor_role         text        NOT NULL,
    event_type         text        NOT NULL,
    action             text        NOT NULL,
    resource           text        NOT NULL,
    resource_id        text        NOT NULL DEFAULT '',
    resident_id        text        NOT NULL DEFAULT '',
    phi_accessed       boolean     NOT NULL,
    compliance_context text        NOT NULL DEFAULT '',
    break_glass        boolean     NOT NULL,
    outcome            text        NOT NULL,
    trace_id           text        NOT NULL DEFAULT '',
    additional_context jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL,
    CONSTRAINT events_audit_id_key UNIQUE (audit_id),
    -- Deferrable so a bug (or tampering) that renumbers rows is judged at statement end;
    -- the chain, not this constraint, is what proves integrity.
    CONSTRAINT events_partition_sequence_key UNIQUE (partition, sequence)
        DEFERRABLE INITIALLY IMMEDIATE
);

CREATE INDEX events_occurred_idx ON audit.events (occurred_at DESC, id DESC);
CREATE INDEX events_actor_idx ON audit.events (actor_user_id, occurred_at DESC, id DESC);
CREATE INDEX events_resident_idx ON audit.events (resident_id, occurred_at DESC, id DESC)
    WHERE resident_id <> '';

-- The last sealed position of each partition, so a cut-off tail or an appended forgery
-- shows up (chain.verify_chain expected_head). Anchor head_hash outside the database too.
CREATE TABLE audit.heads (
    partition   text        PRIMARY KEY,
    sequence    bigint      NOT NULL,
    record_hash text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Defence in depth: nobody, not even the table owner, changes or removes audit rows
-- through ordinary SQL. (A superuser can still bypass triggers; the chain catches that.)
CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

-- The role audit writers run as (SET LOCAL ROLE): may add and read, never change.
-- Roles are cluster-wide, so create it only once (several databases may migrate at once).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lilo_audit_writer') THEN
        CREATE ROLE lilo_audit_writer NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA audit TO lilo_audit_writer;
REVOKE ALL ON audit.events FROM lilo_audit_writer;
GRANT SELECT, INSERT ON audit.events TO lilo_audit_writer;
GRANT USAGE ON SEQUENCE audit.events_id_seq TO lilo_audit_writer;
GRANT SELECT, INSERT, UPDATE ON audit.heads TO lilo_audit_writer;
