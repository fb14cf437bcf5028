-- `tenant delete` records that it has begun (with its final backup) before its destructive steps, so
-- that a delete that failed half-way is finished by the next one without a second backup. A deleted
-- tenant keeps no bot token.
ALTER TABLE botctl.tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE botctl.tenants ADD CONSTRAINT tenants_status_check
    CHECK (status IN ('stopped', 'running', 'deleting', 'deleted'));
ALTER TABLE botctl.tenants ADD COLUMN final_backup text;
ALTER TABLE botctl.tenants ALTER COLUMN token DROP NOT NULL;
UPDATE botctl.tenants SET token = NULL WHERE deleted_at IS NOT NULL;
ALTER TABLE botctl.tenants ADD CONSTRAINT tenants_deleted_no_token CHECK (deleted_at IS NULL OR token IS NULL);
