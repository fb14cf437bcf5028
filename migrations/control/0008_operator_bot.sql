-- The operator bot (issue 17): where each operator's chat is in a flow that waits for typed input, in
-- the shape the shared Telegram runtime's dialogue storage reads and writes.
CREATE TABLE botctl.operator_dialogues (
    chat_id     bigint      PRIMARY KEY,
    version     integer     NOT NULL,
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
