-- One round trip per batch: audit.append_sealed takes rows already sealed by the writer
-- (services/audit/chain.py computes the HMACs) and stores them only if they continue the
-- current head of every partition they touch, all in one statement.
--
-- Why this keeps each chain strictly linear with many writer processes: the head row of
-- every partition is locked (FOR UPDATE, in sorted partition order, so writers never
-- deadlock) before it is compared with the first row of the batch for that partition
-- (sequence = head + 1, prev_hash = head hash). Rows are inserted and the head moved while
-- the lock is held, in the same transaction. A writer that sealed against an old head
-- stores nothing and gets the current heads back ('stale') to seal again. A batch that
-- reuses a stored audit_id fails on events_audit_id_key and stores nothing either (no
-- lookup up front: the unique index answers that question on insert for free).
--
-- p_role: when not empty, the statements below run as that role (SET LOCAL ROLE for the
-- rest of the transaction), e.g. lilo_audit_writer, which may insert but never change rows.
CREATE FUNCTION audit.append_sealed(
    p_role text,
    p_partition text[],
    p_sequence bigint[],
    p_audit_id text[],
    p_key_id text[],
    p_prev_hash text[],
    p_integrity_hash text[],
    p_actor_user_id text[],
    p_actor_role text[],
    p_event_type text[],
    p_action text[],
    p_resource text[],
    p_resource_id text[],
    p_resident_id text[],
    p_phi_accessed boolean[],
    p_compliance_context text[],
    p_break_glass boolean[],
    p_outcome text[],
    p_trace_id text[],
    p_additional_context text[],
    p_occurred_at timestamptz[],
    p_recorded_at timestamptz[]
) RETURNS TABLE (status text, head_partition text, head_sequence bigint, head_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    batch record;
    cur_sequence bigint;
    cur_hash text;
    stale boolean := false;
    -- Per partition touched, in sorted order: its head now, and after this batch.
    heads_partition text[] := '{}';
    now_sequence bigint[] := '{}';
    now_hash text[] := '{}';
    next_sequence bigint[] := '{}';
    next_hash text[] := '{}';
BEGIN
    IF coalesce(p_role, '') <> '' THEN
        PERFORM set_config('role', p_role, true);
    END IF;

    FOR batch IN
        SELECT b.partition,
               min(b.sequence) AS first_sequence,
               max(b.sequence) AS last_sequence,
               count(*) AS n,
               (array_agg(b.prev_hash ORDER BY b.sequence))[1] AS first_prev_hash,
               (array_agg(b.integrity_hash ORDER BY b.sequence DESC))[1] AS last_hash
        FROM unnest(p_partition, p_sequence, p_prev_hash, p_integrity_hash)
             AS b(partition, sequence, prev_hash, integrity_hash)
        GROUP BY b.partition
        ORDER BY b.partition
    LOOP
        IF batch.last_sequence - batch.first_sequence + 1 <> batch.n THEN
            RAISE EXCEPTION 'audit batch for partition % is not contiguous', batch.partition
                USING ERRCODE = 'data_exception';
        END IF;
        SELECT h.sequence, h.record_hash INTO cur_sequence, cur_hash
        FROM audit.heads h WHERE h.partition = batch.partition FOR UPDATE;
        IF NOT FOUND THEN
            -- A new partition: create its head at genesis (a concurrent writer may do the
            -- same; ON CONFLICT waits for it), then lock it like any other.
            INSERT INTO audit.heads AS h (partition, sequence, record_hash)
            VALUES (batch.partition, 0, repeat('0', 64))
            ON CONFLICT (partition) DO NOTHING;
            SELECT h.sequence, h.record_hash INTO cur_sequence, cur_hash
            FROM audit.heads h WHERE h.partition = batch.partition FOR UPDATE;
        END IF;
        heads_partition := heads_partition || batch.partition;
        now_sequence := now_sequence || cur_sequence;
        now_hash := now_hash || cur_hash;
        next_sequence := next_sequence || batch.last_sequence;
        next_hash := next_hash || batch.last_hash;
        IF cur_sequence + 1 <> batch.first_sequence OR cur_hash <> batch.first_prev_hash THEN
            stale := true;
        END IF;
    END LOOP;

    IF NOT stale THEN
        INSERT INTO audit.events (
            partition, sequence, audit_id, key_id, prev_hash, integrity_hash, actor_user_id,
            actor_role, event_type, action, resource, resource_id, resident_id, phi_accessed,
            compliance_context, break_glass, outcome, trace_id, additional_context,
            occurred_at, recorded_at)
        SELECT r.partition, r.sequence, r.audit_id, r.key_id, r.prev_hash, r.integrity_hash,
               r.actor_user_id, r.actor_role, r.event_type, r.action, r.resource,
               r.resource_id, r.resident_id, r.phi_accessed, r.compliance_context,
               r.break_glass, r.outcome, r.trace_id, r.additional_context::jsonb,
               r.occurred_at, r.recorded_at
        FROM unnest(p_partition, p_sequence, p_audit_id, p_key_id, p_prev_hash,
                    p_integrity_hash, p_actor_user_id, p_actor_role, p_event_type, p_action,
                    p_resource, p_resource_id, p_resident_id, p_phi_accessed,
                    p_compliance_context, p_break_glass, p_outcome, p_trace_id,
                    p_additional_context, p_occurred_at, p_recorded_at)
             AS r(partition, sequence, audit_id, key_id, prev_hash, integrity_hash,
                  actor_user_id, actor_role, event_type, action, resource, resource_id,
                  resident_id, phi_accessed, compliance_context, break_glass, outcome,
                  trace_id, additional_context, occurred_at, recorded_at);
        UPDATE audit.heads h
        SET sequence = t.sequence, record_hash = t.record_hash, updated_at = now()
        FROM unnest(heads_partition, next_sequence, next_hash)
             AS t(partition, sequence, record_hash)
        WHERE h.partition = t.partition;
        RETURN QUERY
            SELECT 'ok'::text, t.partition, t.sequence, t.record_hash
            FROM unnest(heads_partition, next_sequence, next_hash)
                 AS t(partition, sequence, record_hash);
    ELSE
        -- Nothing stored: every head as it is, to seal the whole batch again.
        RETURN QUERY
            SELECT 'stale'::text, t.partition, t.sequence, t.record_hash
            FROM unnest(heads_partition, now_sequence, now_hash)
                 AS t(partition, sequence, record_hash);
    END IF;
END
$$;

GRANT EXECUTE ON FUNCTION audit.append_sealed(
    text, text[], bigint[], text[], text[], text[], text[], text[], text[], text[], text[],
    text[], text[], text[], boolean[], text[], boolean[], text[], text[], text[],
    timestamptz[], timestamptz[]
) TO lilo_audit_writer;
