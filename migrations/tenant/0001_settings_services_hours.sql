-- A tenant's own schema. Names are unqualified: botctl runs tenant migrations with the search path set
-- to the tenant's schema, and the tenant's role finds them through its own search path.

-- The business's settings: one row, seeded from the template at `tenant create`.
CREATE TABLE settings (
    id                          boolean PRIMARY KEY DEFAULT true CHECK (id),
    display_name                text    NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
    locale                      text    NOT NULL CHECK (locale IN ('ru', 'en')),
    timezone                    text    NOT NULL,
    currency                    text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    slot_step_minutes           integer NOT NULL CHECK (slot_step_minutes BETWEEN 5 AND 120),
    horizon_days                integer NOT NULL CHECK (horizon_days BETWEEN 1 AND 365),
    cancellation_cutoff_minutes integer NOT NULL CHECK (cancellation_cutoff_minutes BETWEEN 0 AND 10080),
    max_active_bookings         integer NOT NULL CHECK (max_active_bookings BETWEEN 1 AND 20),
    reminder_offsets_minutes    integer[] NOT NULL,
    feedback_delay_minutes      integer NOT NULL CHECK (feedback_delay_minutes BETWEEN 0 AND 10080),
    address                     text,
    contacts                    text
);

CREATE TABLE services (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    description      text    CHECK (length(description) <= 500),
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
    price_minor      bigint  NOT NULL CHECK (price_minor >= 0),
    position         integer NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX services_active_name ON services (lower(name)) WHERE active;

-- Weekly hours: several intervals a day make breaks; a day without rows is closed. ISO weekdays, 1 = Monday.
CREATE TABLE working_hours (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens   time     NOT NULL,
    closes  time     NOT NULL,
    CHECK (opens < closes)
);
CREATE INDEX working_hours_weekday ON working_hours (weekday, opens);

-- The business's admins in Telegram. Owners come from `botctl tenant create --admin`; the others are
-- added by owners from the bot.
CREATE TABLE admins (
    user_id   bigint  PRIMARY KEY,
    is_owner  boolean NOT NULL DEFAULT false,
    added_at  timestamptz NOT NULL DEFAULT now(),
    added_by  bigint
);
