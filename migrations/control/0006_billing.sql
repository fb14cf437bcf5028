-- Money and subscriptions (issue 16). Amounts are integers in a currency's minor unit (RUB kopecks,
-- whole Telegram Stars as XTR), never floats. Nothing here cascades from a tenant: a tenant row is never
-- deleted (only marked), and its money rows outlive it.

CREATE TABLE botctl.plans (
    code        text        PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,15}$'),
    name_ru     text        NOT NULL CHECK (length(name_ru) BETWEEN 1 AND 64),
    name_en     text        NOT NULL CHECK (length(name_en) BETWEEN 1 AND 64),
    days        integer     NOT NULL CHECK (days BETWEEN 1 AND 3660),
    -- A disabled plan is no longer sold; payments that name it keep their meaning.
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A plan's price in each currency it is sold in; a currency with no row here cannot buy the plan.
CREATE TABLE botctl.plan_prices (
    plan      text   NOT NULL REFERENCES botctl.plans (code),
    currency  text   NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount    bigint NOT NULL CHECK (amount > 0),
    PRIMARY KEY (plan, currency)
);

-- The original platform's live prices; Stars prices are the operator's to set (`billing plan set`).
INSERT INTO botctl.plans (code, name_ru, name_en, days) VALUES
    ('1m', '1 месяц', '1 month', 30),
    ('3m', '3 месяца', '3 months', 90),
    ('6m', '6 месяцев', '6 months', 180),
    ('12m', '12 месяцев', '12 months', 365);
INSERT INTO botctl.plan_prices (plan, currency, amount) VALUES
    ('1m', 'RUB', 29900),
    ('3m', 'RUB', 79900),
    ('6m', 'RUB', 149900),
    ('12m', 'RUB', 249900);

-- One subscription per tenant. `paid_until` ends the trial or the paid period; a complimentary or
-- cancelled subscription has none to end.
CREATE TABLE botctl.subscriptions (
    tenant_id      bigint      PRIMARY KEY REFERENCES botctl.tenants (id),
    state          text        NOT NULL
                   CHECK (state IN ('trial', 'active', 'grace', 'suspended', 'complimentary', 'cancelled')),
    paid_until     timestamptz,
    grace_until    timestamptz,
    plan           text        REFERENCES botctl.plans (code),
    -- The bot was stopped by a suspension and must run again once paid: set by the crediting commit,
    -- cleared when the bot has started, so the clock retries a start that failed.
    start_pending  boolean     NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (state IN ('complimentary', 'cancelled') OR paid_until IS NOT NULL),
    CHECK (state NOT IN ('grace', 'suspended') OR grace_until IS NOT NULL)
);
-- The clock's scan: the next instant any subscription changes state.
CREATE INDEX subscriptions_paid_until ON botctl.subscriptions (paid_until) WHERE state IN ('trial', 'active');
CREATE INDEX subscriptions_grace_until ON botctl.subscriptions (grace_until) WHERE state = 'grace';

-- Upgrading stops nothing: every tenant that exists now runs as before.
INSERT INTO botctl.subscriptions (tenant_id, state)
SELECT id, CASE WHEN deleted_at IS NULL THEN 'complimentary' ELSE 'cancelled' END FROM botctl.tenants;

-- Every payment, whatever its provider. The provider's own reference is unique per provider, so the
-- same payment is never recorded, nor credited, twice.
CREATE TABLE botctl.payments (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint      NOT NULL REFERENCES botctl.tenants (id),
    provider     text        NOT NULL CHECK (provider IN ('manual', 'yookassa', 'stars')),
    reference    text        NOT NULL CHECK (length(reference) BETWEEN 1 AND 128),
    amount       bigint      NOT NULL CHECK (amount >= 0),
    currency     text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    plan         text        REFERENCES botctl.plans (code),
    days         integer     NOT NULL CHECK (days BETWEEN 1 AND 3660),
    state        text        NOT NULL CHECK (state IN ('pending', 'succeeded', 'canceled', 'refunded')),
    recorded_by  text        NOT NULL,
    note         text,
    -- What the provider said, as it said it (never a secret: providers do not send ours back).
    raw          jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, reference)
);
CREATE INDEX payments_tenant ON botctl.payments (tenant_id, created_at);

-- Every change of a tenant's paid period, as its own row: a credit, a revocation (refund), a trial.
CREATE TABLE botctl.ledger (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    tenant_id      bigint      NOT NULL REFERENCES botctl.tenants (id),
    payment_id     bigint      REFERENCES botctl.payments (id),
    kind           text        NOT NULL CHECK (kind IN ('trial', 'credit', 'revocation')),
    -- Signed: a revocation takes days away.
    days           integer     NOT NULL,
    amount         bigint,
    currency       text        CHECK (currency ~ '^[A-Z]{3}$'),
    period_before  timestamptz,
    period_after   timestamptz,
    actor          text        NOT NULL,
    CHECK ((amount IS NULL) = (currency IS NULL))
);
CREATE INDEX ledger_tenant_at ON botctl.ledger (tenant_id, at);
CREATE INDEX ledger_at ON botctl.ledger (at);

-- Money rows are never deleted, and a ledger row never changes: the database refuses, whoever asks.
CREATE FUNCTION botctl.refuse_money_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'botctl.% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON botctl.ledger
    FOR EACH ROW EXECUTE FUNCTION botctl.refuse_money_change();
CREATE TRIGGER payments_never_deleted BEFORE DELETE ON botctl.payments
    FOR EACH ROW EXECUTE FUNCTION botctl.refuse_money_change();

-- Notices to a business's owners, each sent once per period: the key is the period's end and the kind.
CREATE TABLE botctl.billing_notices (
    tenant_id   bigint      NOT NULL REFERENCES botctl.tenants (id),
    period_end  timestamptz NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('ends_in_7d', 'ends_in_3d', 'ends_in_1d', 'grace', 'suspended')),
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period_end, kind)
);
