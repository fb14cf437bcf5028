-- Which binaries may run on this schema, so that `tenant upgrade` can roll a bot back to the image it
-- replaced after migrating. Migrations normally only add (tables, indexes, columns with defaults), which
-- older binaries ignore, and leave this alone. A migration an older binary cannot live with (a dropped
-- or renamed column, a new NOT NULL column without a default, a changed meaning) sets `oldest_reader` to
-- its own version in the same file.
CREATE TABLE schema_compat (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    -- The oldest binary schema version that may serve this schema: 5 is the first that reads this table.
    oldest_reader bigint  NOT NULL
);
INSERT INTO schema_compat (oldest_reader) VALUES (5);
