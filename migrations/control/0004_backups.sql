-- Every archive `botctl backup` wrote, so that an operator can find, check and trust them; a row stays
-- when retention deletes its file (`pruned_at` says when).
CREATE TABLE botctl.backups (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant          text        NOT NULL,
    path            text        NOT NULL,
    size_bytes      bigint      NOT NULL CHECK (size_bytes > 0),
    sha256          text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    schema_version  bigint      NOT NULL,
    rows            bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    pruned_at       timestamptz
);
CREATE INDEX backups_tenant_created ON botctl.backups (tenant, created_at);
CREATE UNIQUE INDEX backups_live_path ON botctl.backups (path) WHERE pruned_at IS NULL;
