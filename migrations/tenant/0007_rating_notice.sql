-- Admins hear of a new rating too: a notice shortly after it, so that it carries the comment if the
-- customer writes one. Older binaries drop rows of a kind they do not know, so the floor stays.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
    'reminder', 'rating_request', 'admin_booked', 'admin_moved', 'admin_cancelled', 'customer_cancelled',
    'admin_rated'));
