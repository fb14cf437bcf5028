-- Issue 19: the PostgreSQL servers tenant schemas live on. The control plane stays on the operator's own
-- server, `main`, which botctl reaches through its own connection (database.url or the local cluster):
-- its row has no URL. Every tenant records its server; commands route to it.
CREATE TABLE botctl.servers (
    name            text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,30}$'),
    -- An administrator's URL (CREATEROLE, CREATE on the database), password included: only the operator's
    -- role can read this schema, and botctl shows it redacted.
    url             text        CHECK ((name = 'main') = (url IS NULL)),
    -- How tenant containers reach the server when the URL's host is not that: HOST:PORT or a socket directory.
    container_host  text,
    -- How many tenants placement puts on it; `tenant create --server` may go past it.
    capacity        integer     NOT NULL CHECK (capacity > 0),
    -- A draining server takes no new tenants; `tenant move --all-from` empties it.
    draining        boolean     NOT NULL DEFAULT false,
    -- Which PostgreSQL cluster it is (`pg_control_system().system_identifier`, else its address and
    -- port), so that one cluster is not added twice: tenant roles are cluster-wide. NULL for `main`,
    -- whose own is read when a server is added.
    cluster         text,
    added_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO botctl.servers (name, url, capacity) VALUES ('main', NULL, 2000);

-- No foreign key: a deleted tenant keeps naming the server it was on after `server remove` (which
-- refuses a server with live tenants); placement locks the server row it chooses.
ALTER TABLE botctl.tenants ADD COLUMN server text NOT NULL DEFAULT 'main';
CREATE INDEX tenants_live_server ON botctl.tenants (server) WHERE deleted_at IS NULL;
