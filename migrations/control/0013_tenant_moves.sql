-- Issue 19: `tenant move` journals each move's progress, so that a move a crash interrupted is finished
-- (once the record switched) or rolled back (before) by the next `tenant move` of that tenant, and so
-- that other runtime commands refuse a tenant whose move is unfinished. Servers are named, not
-- referenced: `server remove` must not be blocked by the history of moves off it.
CREATE TABLE botctl.tenant_moves (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant       text        NOT NULL,
    source       text        NOT NULL,
    target       text        NOT NULL CHECK (target <> source),
    -- preparing: the target's role and schema may exist; stopped: the bot is down and the source held;
    -- loaded: the target holds a verified copy; switched: the record names the target;
    -- switching_back: the bot failed on the target, the record names the source again;
    -- done / rolled_back: finished.
    step         text        NOT NULL CHECK (step IN
                     ('preparing', 'stopped', 'loaded', 'switched', 'switching_back', 'done', 'rolled_back')),
    -- Whether the bot ran when the move began: it runs again wherever the move ends.
    was_running  boolean     NOT NULL,
    archive      text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    error        text,
    CHECK ((finished_at IS NULL) = (step NOT IN ('done', 'rolled_back')))
);
-- One unfinished move per tenant.
CREATE UNIQUE INDEX tenant_moves_unfinished ON botctl.tenant_moves (tenant) WHERE finished_at IS NULL;
