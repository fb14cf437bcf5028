-- The platform's notices to the business's owners about their subscription (its end near, grace, the bot
-- stopped), written into this outbox by `botctl platform serve` and sent by the bot like any other row.
-- Older binaries drop rows of a kind they do not know, so the floor stays.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
    'reminder', 'rating_request', 'admin_booked', 'admin_moved', 'admin_cancelled', 'customer_cancelled',
    'admin_rated', 'customer_moved', 'broadcast', 'billing'));
