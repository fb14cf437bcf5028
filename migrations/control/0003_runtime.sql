-- Which installation this control plane is. Its containers carry the id as a label, so installations
-- sharing one Docker engine never take each other's containers for their own (or for orphans).
CREATE TABLE botctl.installation (
    only_row    boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO botctl.installation DEFAULT VALUES;

ALTER TABLE botctl.tenants
    -- The image the tenant's bot last ran healthy from: `tenant start` recreates from it, and only
    -- `tenant upgrade` moves it. NULL until the first healthy start.
    ADD COLUMN image     text,
    -- Per-tenant container limits; NULL means the configured runtime default.
    ADD COLUMN memory_mb integer          CHECK (memory_mb BETWEEN 16 AND 1048576),
    ADD COLUMN cpus      double precision CHECK (cpus > 0 AND cpus <= 1024);
