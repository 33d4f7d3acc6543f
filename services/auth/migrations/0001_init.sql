-- Auth service schema: accounts, relations, signing keys, refresh-token families.
-- Secrets are stored only as hashes (passwords: argon2id PHC; refresh tokens: SHA-256) or
-- AES-GCM ciphertext (TOTP secrets, signing keys), never in the clear.
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.organizations (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.users (
    id               text PRIMARY KEY,
    organization_id  text NOT NULL REFERENCES auth.organizations (id),
    -- Stored lower-cased by the service, so uniqueness is case-insensitive.
    username         text NOT NULL UNIQUE,
    email            text NOT NULL UNIQUE,
    display_name     text NOT NULL DEFAULT '',
    role             text NOT NULL CHECK (role IN ('system', 'admin', 'health_provider',
                                                   'care_staff', 'family_member', 'resident')),
    password_hash    text NOT NULL,
    -- AES-GCM ciphertext of the base32 TOTP secret (NULL until enrolment is confirmed).
    mfa_secret       bytea,
    mfa_enrolled     boolean NOT NULL DEFAULT false,
    -- Last accepted TOTP step: a code must match a later step (replay protection).
    mfa_last_step    bigint,
    disabled         boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT mfa_enrolled OR mfa_secret IS NOT NULL)
);

CREATE TABLE auth.patient_relations (
    user_id        text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    -- The resident's id (= the resident's user id when they have an account).
    patient_id     text NOT NULL,
    relationship   text NOT NULL CHECK (relationship IN ('family', 'provider', 'caregiver')),
    consent_level  text NOT NULL CHECK (consent_level IN ('full', 'limited', 'emergency_only')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, patient_id, relationship)
);
CREATE INDEX patient_relations_patient ON auth.patient_relations (patient_id);

CREATE TABLE auth.signing_keys (
    kid           text PRIMARY KEY,
    -- AES-GCM ciphertext of the raw 32-byte Ed25519 private key.
    private_key   bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    retired_at    timestamptz,
    -- Tokens signed by a retired key verify until then (NULL while the key is current).
    verify_until  timestamptz,
    CHECK ((retired_at IS NULL) = (verify_until IS NULL))
);
-- At most one current key.
CREATE UNIQUE INDEX signing_keys_one_current ON auth.signing_keys ((true)) WHERE retired_at IS NULL;

CREATE TABLE auth.refresh_families (
    family_id      text PRIMARY KEY,
    subject        text NOT NULL,
    session_id     text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoke_reason  text NOT NULL DEFAULT ''
);
CREATE INDEX refresh_families_subject ON auth.refresh_families (subject) WHERE revoked_at IS NULL;
CREATE INDEX refresh_families_session ON auth.refresh_families (session_id);

CREATE TABLE auth.refresh_tokens (
    token_hash   text PRIMARY KEY,
    family_id    text NOT NULL REFERENCES auth.refresh_families (family_id) ON DELETE CASCADE,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    replaced_by  text
);
CREATE INDEX refresh_tokens_family ON auth.refresh_tokens (family_id);
