-- The control plane belongs to the operator's role alone: tenant roles must not even see its names.
REVOKE ALL ON SCHEMA botctl FROM PUBLIC;
COMMENT ON SCHEMA botctl IS 'botctl control plane: tenants, operator events, backups. Managed by botctl init.';
