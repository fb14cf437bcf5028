-- The bot lists the active services in the owner's order on every booking, and admins' edits are dated.
ALTER TABLE services ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX services_listing ON services (position, id) WHERE active;
