-- Sales orders (issue 18): every step of a buyer's purchase, trial or renewal is a row here, so a
-- restart at any point resumes it. The state machine's rules live in `platform::orders::machine`; the
-- history of every state entered is its own append-only table. Nothing cascades: orders outlive tenants.

CREATE TABLE botctl.orders (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What leaves the platform to name the order (YooKassa metadata, the Stars invoice payload): random,
    -- so it tells nothing of how many orders there are.
    reference        text        NOT NULL UNIQUE CHECK (reference ~ '^[a-z0-9]{16}$'),
    buyer_user_id    bigint      NOT NULL,
    buyer_chat_id    bigint      NOT NULL,
    buyer_language   text        NOT NULL CHECK (buyer_language IN ('ru', 'en')),
    kind             text        NOT NULL CHECK (kind IN ('trial', 'purchase', 'renewal')),
    business_name    text        CHECK (length(business_name) BETWEEN 1 AND 64),
    tenant_slug      text        CHECK (tenant_slug ~ '^[a-z][a-z0-9_]{1,30}$'),
    -- The bot once its token is checked. The token itself waits in botctl.order_tokens.
    bot_id           bigint,
    bot_username     text        CHECK (length(bot_username) BETWEEN 1 AND 64),
    template         text        CHECK (length(template) BETWEEN 1 AND 64),
    timezone         text        CHECK (length(timezone) BETWEEN 1 AND 64),
    plan             text        REFERENCES botctl.plans (code),
    -- Fixed when the payment is asked for: a price changed later does not change what this order owes.
    amount           bigint      CHECK (amount >= 0),
    currency         text        CHECK (currency ~ '^[A-Z]{3}$'),
    provider         text        CHECK (provider IN ('yookassa', 'stars')),
    payment_id       text        CHECK (length(payment_id) BETWEEN 1 AND 128),
    idempotence_key  text        CHECK (length(idempotence_key) BETWEEN 1 AND 64),
    state            text        NOT NULL DEFAULT 'draft'
                     CHECK (state IN ('draft', 'awaiting_payment', 'paid', 'credited', 'provisioned', 'done',
                                      'canceled', 'failed')),
    -- Why the order failed or was canceled, for the operator's alert and the buyer's message.
    reason           text        CHECK (length(reason) BETWEEN 1 AND 500),
    created_at       timestamptz NOT NULL,
    -- When the order last changed (a state entered, a draft's choice): the resumer looks for orders
    -- stuck since; when each state was entered is in botctl.order_events.
    updated_at       timestamptz NOT NULL,
    CHECK ((amount IS NULL) = (currency IS NULL)),
    CHECK ((bot_id IS NULL) = (bot_username IS NULL)),
    CHECK (kind <> 'trial' OR provider IS NULL),
    CHECK (kind <> 'renewal' OR tenant_slug IS NOT NULL),
    -- No order waits for a payment it cannot re-fetch, and none counts as paid without one.
    CHECK (state IN ('draft', 'canceled', 'failed') OR kind = 'trial'
           OR (provider IS NOT NULL AND amount IS NOT NULL AND plan IS NOT NULL AND idempotence_key IS NOT NULL)),
    CHECK (state NOT IN ('paid', 'credited', 'provisioned', 'done') OR kind = 'trial' OR payment_id IS NOT NULL),
    CHECK (state <> 'failed' OR reason IS NOT NULL)
);
-- One provider payment pays one order.
CREATE UNIQUE INDEX orders_payment ON botctl.orders (provider, payment_id) WHERE payment_id IS NOT NULL;
-- A buyer's free trial, once: a canceled one does not count.
CREATE UNIQUE INDEX orders_one_trial ON botctl.orders (buyer_user_id) WHERE kind = 'trial' AND state <> 'canceled';
-- A new business's name and bot, claimed by one open order at a time: two buyers racing for one name
-- are settled here, not by a check-then-insert. A finished order hands both to its tenant row.
CREATE UNIQUE INDEX orders_open_slug ON botctl.orders (tenant_slug)
    WHERE kind <> 'renewal' AND state NOT IN ('done', 'canceled', 'failed');
CREATE UNIQUE INDEX orders_open_bot ON botctl.orders (bot_id)
    WHERE kind <> 'renewal' AND state NOT IN ('done', 'canceled', 'failed');
CREATE INDEX orders_buyer ON botctl.orders (buyer_user_id, created_at);
-- The resumer's scan: open orders by state and age.
CREATE INDEX orders_open ON botctl.orders (state, updated_at) WHERE state NOT IN ('done', 'canceled', 'failed');

-- Every state an order entered, when, on what event and by whom: one row per transition, never changed.
CREATE TABLE botctl.order_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    bigint      NOT NULL REFERENCES botctl.orders (id),
    at          timestamptz NOT NULL,
    from_state  text,
    to_state    text        NOT NULL,
    event       text        NOT NULL,
    actor       text        NOT NULL,
    -- What the transition set on the order (never a token: that is not an order fact).
    facts       jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(facts) = 'object')
);
CREATE INDEX order_events_order ON botctl.order_events (order_id, id);
CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON botctl.order_events
    FOR EACH ROW EXECUTE FUNCTION botctl.refuse_money_change();

-- A pasted (or Managed Bots) token between the check and the tenant's creation, which then keeps it in
-- botctl.tenants; deleted in the transaction that moves the order on, so no secret outlives its use.
CREATE TABLE botctl.order_tokens (
    order_id   bigint      PRIMARY KEY REFERENCES botctl.orders (id),
    token      text        NOT NULL,
    stored_at  timestamptz NOT NULL
);
