-- What each business may tune about its bot: its own wording, a map link, and how fast customers may type
-- and tap before updates are dropped.
ALTER TABLE settings
    ADD COLUMN map_url               text CHECK (map_url ~ '^https?://' AND length(map_url) <= 500),
    ADD COLUMN flood_message_seconds numeric(5, 2) NOT NULL DEFAULT 2 CHECK (flood_message_seconds BETWEEN 0.1 AND 60),
    ADD COLUMN flood_button_seconds  numeric(5, 2) NOT NULL DEFAULT 1 CHECK (flood_button_seconds BETWEEN 0.1 AND 60);

-- The business's own wording for a text key; missing keys use the locale's defaults.
CREATE TABLE texts (
    key        text PRIMARY KEY,
    text       text NOT NULL CHECK (length(text) <= 4096),
    updated_at timestamptz NOT NULL DEFAULT now()
);
