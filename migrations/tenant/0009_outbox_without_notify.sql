-- The outbox's dispatcher no longer listens: a bot wakes its own dispatcher in-process and rescans now
-- and then for rows written elsewhere, so that an idle tenant holds no connection. The trigger's
-- NOTIFY is not free even with nobody listening: PostgreSQL serialises the commits of every
-- transaction that notified, across the whole cluster (8 concurrent writers of outbox rows: about 400
-- commits a second with it, 1400 without; docs/BENCHMARKS.md). Binaries from before the in-process
-- wake-up sent their own bookings' notices only when notified, so they may not serve this schema.
DROP TRIGGER IF EXISTS outbox_wake ON outbox;
DROP FUNCTION IF EXISTS outbox_wake();
UPDATE schema_compat SET oldest_reader = greatest(oldest_reader, 9);
