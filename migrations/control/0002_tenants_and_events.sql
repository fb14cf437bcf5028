-- Tenants. A deleted tenant keeps its row (and its events); only live tenants hold a slug or a bot.
CREATE TABLE botctl.tenants (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug              text        NOT NULL CHECK (slug ~ '^[a-z][a-z0-9_]{1,30}$'),
    display_name      text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
    bot_id            bigint      NOT NULL,
    bot_username      text        NOT NULL,
    -- The bot token is a secret the container needs; only the operator's role can read this schema.
    token             text        NOT NULL,
    admins            bigint[]    NOT NULL CHECK (cardinality(admins) > 0),
    timezone          text        NOT NULL,
    locale            text        NOT NULL CHECK (locale IN ('ru', 'en')),
    template          text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('stopped', 'running', 'deleted')),
    -- The tenant schema's migration version, so `migrate --all` skips current tenants without opening them.
    schema_version    bigint      NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);
CREATE UNIQUE INDEX tenants_live_slug ON botctl.tenants (slug) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX tenants_live_bot ON botctl.tenants (bot_id) WHERE deleted_at IS NULL;

-- What operators did, never with secrets in it. Rows outlive the tenants they name.
CREATE TABLE botctl.events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text        NOT NULL,
    tenant   text,
    action   text        NOT NULL,
    details  jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX events_tenant_at ON botctl.events (tenant, at);
