-- Carrying orders out (issue 18): when the buyer was told how a failed or canceled order ended, so the
-- resumer tells them once whatever restarts it; and the operator's alert for a paid order that failed.

ALTER TABLE botctl.orders ADD COLUMN buyer_told_at timestamptz;
-- Orders that ended before the resumer existed are not told of now.
UPDATE botctl.orders SET buyer_told_at = updated_at WHERE state IN ('failed', 'canceled');
-- The resumer's scan for endings not yet told.
CREATE INDEX orders_untold ON botctl.orders (updated_at)
    WHERE state IN ('failed', 'canceled') AND buyer_told_at IS NULL;

ALTER TABLE botctl.alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE botctl.alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('bot_down', 'backup_failed', 'grace', 'suspended', 'payment', 'start_failed', 'takeover',
                    'order_failed'));
