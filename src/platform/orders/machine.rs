//! An order's states, the events that move it and the one transition function: plain rules, no I/O.
//!
//! ```text
//! purchase, renewal: draft ─PaymentRequested→ awaiting_payment ─PaymentSucceeded→ paid ─Credited→ credited
//! trial:             draft ─Credited→ credited            (its days are the trial's, granted with the tenant)
//! trial, purchase:   credited ─Provisioned→ provisioned ─Delivered→ done
//! renewal:           credited ─Delivered→ done            (its tenant exists and runs already)
//! draft, awaiting_payment ─Canceled→ canceled             (no money taken)
//! any open state ─Failed→ failed                          (the caller alerts the operator, tells the buyer)
//! ```
//! Once paid, an order cannot be canceled: it ends in `done` or in `failed` (with an alert), never in
//! money silently kept.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Where an order stands. `done`, `canceled` and `failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The buyer is still choosing (name, bot, template, time zone, plan).
    Draft,
    /// The provider has been asked for the payment; the buyer has not paid yet (or we have not heard).
    AwaitingPayment,
    /// The provider confirmed the payment; its days are not credited yet.
    Paid,
    /// The days are on the tenant's subscription (a credit, or a trial's days).
    Credited,
    /// The tenant exists and its bot runs.
    Provisioned,
    /// The buyer has been told: the order is over.
    Done,
    /// Nothing was paid: the buyer or the provider canceled.
    Canceled,
    /// Something broke; the reason is on the order.
    Failed,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Draft,
        State::AwaitingPayment,
        State::Paid,
        State::Credited,
        State::Provisioned,
        State::Done,
        State::Canceled,
        State::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::AwaitingPayment => "awaiting_payment",
            State::Paid => "paid",
            State::Credited => "credited",
            State::Provisioned => "provisioned",
            State::Done => "done",
            State::Canceled => "canceled",
            State::Failed => "failed",
        }
    }

    /// Whether nothing more happens to the order.
    pub fn is_final(self) -> bool {
        matches!(self, State::Done | State::Canceled | State::Failed)
    }

    /// Whether the buyer's money has been taken (so the order must end in days and a bot, or an alert).
    pub fn is_paid(self) -> bool {
        matches!(self, State::Paid | State::Credited | State::Provisioned | State::Done)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| format!("unknown order state `{s}`"))
    }
}

/// What the buyer is ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A new business's free trial: no payment.
    Trial,
    /// A new business's paid plan.
    Purchase,
    /// More days for an existing tenant.
    Renewal,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Trial, Kind::Purchase, Kind::Renewal];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Trial => "trial",
            Kind::Purchase => "purchase",
            Kind::Renewal => "renewal",
        }
    }

    /// Whether the order makes a new tenant (and so claims its name and bot).
    pub fn creates_tenant(self) -> bool {
        self != Kind::Renewal
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or_else(|| format!("unknown order kind `{s}`"))
    }
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The payment was asked of the provider: amount, provider and idempotence key are fixed.
    PaymentRequested,
    /// The provider confirmed the payment (re-fetched and checked, never taken from a notification).
    PaymentSucceeded,
    /// The days are on the subscription.
    Credited,
    /// The tenant is made and its bot started.
    Provisioned,
    /// The buyer has been told the bot is live (or, for a renewal, that the days are on).
    Delivered,
    /// The buyer gave up, or the provider canceled the payment, before any money was taken.
    Canceled,
    /// A step failed for good.
    Failed,
}

impl Event {
    pub const ALL: [Event; 7] = [
        Event::PaymentRequested,
        Event::PaymentSucceeded,
        Event::Credited,
        Event::Provisioned,
        Event::Delivered,
        Event::Canceled,
        Event::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::PaymentRequested => "payment_requested",
            Event::PaymentSucceeded => "payment_succeeded",
            Event::Credited => "credited",
            Event::Provisioned => "provisioned",
            Event::Delivered => "delivered",
            Event::Canceled => "canceled",
            Event::Failed => "failed",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event that the order's state (and kind) does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {kind} order in state `{from}` cannot take `{event}`{}", hint(*.from, *.event))]
pub struct InvalidTransition {
    pub kind: Kind,
    pub from: State,
    pub event: Event,
}

fn hint(from: State, event: Event) -> &'static str {
    match (from, event) {
        (_, _) if from.is_final() => ": the order is over",
        (_, Event::Canceled) if from.is_paid() => ": it is paid, so it ends credited or failed, never canceled",
        _ => "",
    }
}

/// Whether a `kind` order can ever be in `state`: a trial takes no payment, a renewal provisions nothing.
fn reachable(kind: Kind, state: State) -> bool {
    match state {
        State::AwaitingPayment | State::Paid => kind != Kind::Trial,
        State::Provisioned => kind.creates_tenant(),
        _ => true,
    }
}

/// The state `event` moves a `kind` order in `from` to, or why it cannot.
pub fn next(kind: Kind, from: State, event: Event) -> Result<State, InvalidTransition> {
    use Event as E;
    use State as S;
    let paid = kind != Kind::Trial;
    let to = match (from, event) {
        _ if !reachable(kind, from) => None,
        (S::Draft, E::PaymentRequested) if paid => Some(S::AwaitingPayment),
        (S::Draft, E::Credited) if !paid => Some(S::Credited),
        (S::AwaitingPayment, E::PaymentSucceeded) => Some(S::Paid),
        (S::Paid, E::Credited) => Some(S::Credited),
        (S::Credited, E::Provisioned) if kind.creates_tenant() => Some(S::Provisioned),
        (S::Credited, E::Delivered) if !kind.creates_tenant() => Some(S::Done),
        (S::Provisioned, E::Delivered) => Some(S::Done),
        (S::Draft | S::AwaitingPayment, E::Canceled) => Some(S::Canceled),
        (_, E::Failed) if !from.is_final() => Some(S::Failed),
        _ => None,
    };
    to.ok_or(InvalidTransition { kind, from, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every legal edge, by kind; everything not listed is refused.
    fn legal(kind: Kind) -> Vec<(State, Event, State)> {
        use Event as E;
        use State as S;
        let mut edges = match kind {
            Kind::Trial => vec![
                (S::Draft, E::Credited, S::Credited),
                (S::Credited, E::Provisioned, S::Provisioned),
                (S::Provisioned, E::Delivered, S::Done),
            ],
            Kind::Purchase => vec![
                (S::Draft, E::PaymentRequested, S::AwaitingPayment),
                (S::AwaitingPayment, E::PaymentSucceeded, S::Paid),
                (S::Paid, E::Credited, S::Credited),
                (S::Credited, E::Provisioned, S::Provisioned),
                (S::Provisioned, E::Delivered, S::Done),
            ],
            Kind::Renewal => vec![
                (S::Draft, E::PaymentRequested, S::AwaitingPayment),
                (S::AwaitingPayment, E::PaymentSucceeded, S::Paid),
                (S::Paid, E::Credited, S::Credited),
                (S::Credited, E::Delivered, S::Done),
            ],
        };
        let reachable = |s: &State| match kind {
            Kind::Trial => !matches!(s, S::AwaitingPayment | S::Paid),
            Kind::Renewal => *s != S::Provisioned,
            Kind::Purchase => true,
        };
        edges.extend(
            [(S::Draft, E::Canceled, S::Canceled), (S::AwaitingPayment, E::Canceled, S::Canceled)]
                .into_iter()
                .filter(|(s, _, _)| reachable(s)),
        );
        edges.extend(
            State::ALL.into_iter().filter(|s| !s.is_final() && reachable(s)).map(|s| (s, E::Failed, S::Failed)),
        );
        edges
    }

    #[test]
    fn every_edge_of_every_kind_is_allowed_and_every_other_pair_refused() {
        for kind in Kind::ALL {
            let legal = legal(kind);
            for from in State::ALL {
                for event in Event::ALL {
                    let expected = legal.iter().find(|(f, e, _)| *f == from && *e == event).map(|(_, _, to)| *to);
                    match expected {
                        Some(to) => assert_eq!(next(kind, from, event), Ok(to), "{kind} {from} {event}"),
                        None => {
                            assert_eq!(next(kind, from, event), Err(InvalidTransition { kind, from, event }))
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn each_kind_walks_from_draft_to_done() {
        for kind in Kind::ALL {
            let path: &[Event] = match kind {
                Kind::Trial => &[Event::Credited, Event::Provisioned, Event::Delivered],
                Kind::Purchase => &[
                    Event::PaymentRequested,
                    Event::PaymentSucceeded,
                    Event::Credited,
                    Event::Provisioned,
                    Event::Delivered,
                ],
                Kind::Renewal => &[Event::PaymentRequested, Event::PaymentSucceeded, Event::Credited, Event::Delivered],
            };
            let end = path.iter().try_fold(State::Draft, |state, event| next(kind, state, *event));
            assert_eq!(end, Ok(State::Done), "{kind}");
        }
    }

    #[test]
    fn a_paid_order_cannot_be_canceled_and_the_refusal_says_why() {
        for from in [State::Paid, State::Credited, State::Provisioned] {
            let err = next(Kind::Purchase, from, Event::Canceled).unwrap_err().to_string();
            assert!(err.contains("it is paid") && err.contains("never canceled"), "{err}");
            assert_eq!(next(Kind::Purchase, from, Event::Failed), Ok(State::Failed));
        }
    }

    #[test]
    fn final_states_take_nothing() {
        for from in [State::Done, State::Canceled, State::Failed] {
            assert!(from.is_final());
            for event in Event::ALL {
                let err = next(Kind::Purchase, from, event).unwrap_err();
                assert!(err.to_string().ends_with("the order is over"), "{err}");
            }
        }
    }

    #[test]
    fn a_trial_takes_no_payment_and_a_renewal_provisions_nothing() {
        assert!(next(Kind::Trial, State::Draft, Event::PaymentRequested).is_err());
        assert!(next(Kind::Purchase, State::Draft, Event::Credited).is_err());
        assert!(next(Kind::Renewal, State::Credited, Event::Provisioned).is_err());
        assert!(next(Kind::Purchase, State::Credited, Event::Delivered).is_err());
    }

    #[test]
    fn names_read_back_as_written() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
        }
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert!("pending".parse::<State>().unwrap_err().contains("`pending`"));
        assert!("gift".parse::<Kind>().is_err());
    }
}
