-- Customers, their bookings, the business's own blocks, date exceptions, ratings and dialogue state.

-- Rules the booking flow needs beyond the template's: how soon a slot may start, and whether the first
-- booking asks for a phone number.
ALTER TABLE settings
    ADD COLUMN min_lead_minutes integer NOT NULL DEFAULT 60 CHECK (min_lead_minutes BETWEEN 0 AND 10080),
    ADD COLUMN ask_phone        boolean NOT NULL DEFAULT true;

-- A customer is a Telegram user who started the bot; in a private chat the chat id is the user id.
CREATE TABLE customers (
    user_id       bigint PRIMARY KEY,
    first_name    text   NOT NULL,
    username      text,
    phone         text,
    language_code text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

-- The business's time taken, either by a customer's booking or by the business itself (a block: a
-- break, a day off). One exclusion constraint over both makes a double booking impossible by
-- construction, whatever the bot's code does.
CREATE TABLE bookings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text   NOT NULL DEFAULT 'customer' CHECK (kind IN ('customer', 'block')),
    customer_id   bigint REFERENCES customers (user_id),
    service_id    bigint REFERENCES services (id),
    -- What was booked, as it was then: later edits to the service do not change a booking.
    service_name  text,
    price_minor   bigint CHECK (price_minor >= 0),
    note          text   CHECK (length(note) <= 500),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    status        text   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'completed', 'no_show')),
    cancelled_by  text   CHECK (cancelled_by IN ('customer', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (kind = 'block' OR (customer_id IS NOT NULL AND service_id IS NOT NULL AND service_name IS NOT NULL
                              AND price_minor IS NOT NULL)),
    CHECK ((status = 'cancelled') = (cancelled_by IS NOT NULL)),
    EXCLUDE USING gist (tstzrange(starts_at, ends_at) WITH &&) WHERE (status = 'active')
);
CREATE INDEX bookings_customer_active ON bookings (customer_id, starts_at) WHERE status = 'active';
CREATE INDEX bookings_starts_at ON bookings (starts_at);

-- Dates whose hours differ from the weekly ones. A date with rows uses only those rows; a row without
-- times closes the date.
CREATE TABLE date_hours (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day    date NOT NULL,
    opens  time,
    closes time,
    note   text CHECK (length(note) <= 200),
    CHECK ((opens IS NULL) = (closes IS NULL)),
    CHECK (opens < closes)
);
CREATE INDEX date_hours_day ON date_hours (day);

-- One rating per visit, by its customer.
CREATE TABLE ratings (
    booking_id bigint PRIMARY KEY REFERENCES bookings (id),
    score      smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    text CHECK (length(comment) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Each chat's place in a conversation, versioned so that a state this binary cannot read restarts the
-- dialogue instead of locking the customer out.
CREATE TABLE dialogues (
    chat_id    bigint PRIMARY KEY,
    version    integer NOT NULL,
    state      jsonb   NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
