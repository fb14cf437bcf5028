-- The sales bot (issue 18): where each buyer's chat is in a flow that waits for typed input, in the
-- shape the shared Telegram runtime's dialogue storage reads and writes. Orders themselves are 0009's.
CREATE TABLE botctl.sales_dialogues (
    chat_id     bigint      PRIMARY KEY,
    version     integer     NOT NULL,
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
