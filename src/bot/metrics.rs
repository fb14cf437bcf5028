//! The booking bot's own counters, registered beside the shared runtime's in its `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// What became of an outbox row.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboxOutcome {
    pub outcome: String,
}

/// Bookings made and cancelled by customers.
#[derive(Clone, Default)]
pub struct Bookings {
    pub created: Counter,
    pub cancelled: Counter,
}

impl Bookings {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("bookings_created", "Bookings made by customers", self.created.clone());
        registry.register("bookings_cancelled", "Bookings cancelled", self.cancelled.clone());
    }
}

/// The outbox dispatcher's work.
#[derive(Clone, Default)]
pub struct Outbox {
    pub rows: Family<OutboxOutcome, Counter>,
    /// How often the dispatcher woke up to look at the outbox.
    pub wakeups: Counter,
}

impl Outbox {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("outbox_messages", "Outbox rows worked on, by outcome", self.rows.clone());
        registry.register("outbox_wakeups", "Times the outbox dispatcher woke up", self.wakeups.clone());
    }

    pub fn outcome(&self, outcome: &str) {
        self.rows.get_or_create(&OutboxOutcome { outcome: outcome.to_string() }).inc();
    }
}
