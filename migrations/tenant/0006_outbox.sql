-- Every message the bot sends on its own — reminders, rating requests, notifications — one row each,
-- written in the same transaction as the change that causes it and sent by the dispatcher in `serve`.
CREATE TABLE outbox (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('reminder', 'rating_request', 'admin_booked', 'admin_moved',
                                                     'admin_cancelled', 'customer_cancelled')),
    -- A private chat, so the user's id.
    recipient   bigint      NOT NULL,
    booking_id  bigint      REFERENCES bookings (id),
    -- What the text needs that the booking no longer says (the old time of a move, a reason).
    params      jsonb       NOT NULL DEFAULT '{}',
    due_at      timestamptz NOT NULL,
    -- Past this the message is of no use (a reminder once the visit has begun): it is marked expired.
    expires_at  timestamptz NOT NULL,
    state       text        NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'sent', 'failed', 'cancelled', 'expired')),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text        CHECK (length(last_error) <= 1000),
    sent_at     timestamptz,
    -- While a dispatcher sends it: the database session (backend pid) of its claim, and until when the
    -- claim holds if that session lives on without an outcome. A claim whose session is gone is void.
    claimed_by    integer,
    claimed_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- What makes two rows the same message (one 2 h reminder per booking and start time): a duplicate
    -- cannot be written, whoever writes it.
    dedupe_key  text        NOT NULL UNIQUE,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
-- The dispatcher's claim: the soonest pending row.
CREATE INDEX outbox_pending_due ON outbox (due_at) WHERE state = 'pending';
CREATE INDEX outbox_booking ON outbox (booking_id) WHERE state = 'pending';
CREATE INDEX outbox_failed_at ON outbox (updated_at) WHERE state = 'failed';

-- Wakes the tenant's dispatchers, in whichever process, when a pending row is written: it may be due
-- sooner than the one they sleep for. Within a transaction PostgreSQL sends one notification.
CREATE OR REPLACE FUNCTION outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('botctl_outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_wake AFTER INSERT OR UPDATE OF due_at, state ON outbox
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION outbox_wake();
