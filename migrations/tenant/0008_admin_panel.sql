-- The business's admin panel in Telegram: staff with roles and permissions, the audit log, per-service
-- slot steps, reasons for cancellations, customers who blocked the bot, and broadcasts through the outbox.
-- Everything here is added with defaults, so binaries from version 5 on still serve this schema.

-- An owner may do everything; a manager only what `permissions` lists. Owners named at `tenant create` /
-- `tenant update` have no `added_by`; owners and managers added in the bot name who added them.
ALTER TABLE admins
    ADD COLUMN permissions text[] NOT NULL DEFAULT '{}'
        CHECK (permissions <@ ARRAY['bookings', 'schedule', 'services', 'admins', 'audit', 'export', 'broadcast',
                                    'texts']::text[]),
    ADD COLUMN name text CHECK (length(name) <= 128);

-- Every admin action: who, when, what, and the state before and after.
CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   bigint      NOT NULL,
    action  text        NOT NULL CHECK (length(action) <= 64),
    target  text        CHECK (length(target) <= 200),
    before  jsonb,
    after   jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);

-- A service may offer its own slot step (a 90-minute colouring starts every 30 minutes, say).
ALTER TABLE services
    ADD COLUMN slot_step_minutes integer CHECK (slot_step_minutes BETWEEN 5 AND 240);
ALTER TABLE services DROP CONSTRAINT services_name_check;
ALTER TABLE services ADD CONSTRAINT services_name_check CHECK (length(name) BETWEEN 1 AND 100);

-- Why the business cancelled a booking (the customer is told).
ALTER TABLE bookings ADD COLUMN cancel_reason text CHECK (length(cancel_reason) <= 500);

-- Set when a message fails because the user blocked the bot (or deleted the account); cleared when they
-- write again. Broadcasts skip them.
ALTER TABLE customers ADD COLUMN blocked_at timestamptz;

-- A message an admin sent to every customer: one outbox row per recipient, and a progress message in
-- the author's chat that the dispatcher keeps current until the final report.
CREATE TABLE broadcasts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author      bigint      NOT NULL,
    text        text        NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
    recipients  integer     NOT NULL,
    -- Customers left out because they had blocked the bot.
    skipped     integer     NOT NULL DEFAULT 0,
    -- The author's progress message, edited as rows are sent.
    progress_chat    bigint,
    progress_message integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    reported_at timestamptz
);

ALTER TABLE outbox ADD COLUMN broadcast_id bigint REFERENCES broadcasts (id);
CREATE INDEX outbox_broadcast ON outbox (broadcast_id) WHERE broadcast_id IS NOT NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
    'reminder', 'rating_request', 'admin_booked', 'admin_moved', 'admin_cancelled', 'customer_cancelled',
    'admin_rated', 'customer_moved', 'broadcast'));

-- setup: a service that was booked once cannot lose its row (bookings reference it), so deleting one
-- with only past bookings hides it from the panel and from customers instead; one never booked is
-- deleted for real.
ALTER TABLE services ADD COLUMN deleted_at timestamptz;
