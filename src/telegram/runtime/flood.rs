//! Incoming flood limits per user (GCRA through governor): over the limit, updates are dropped, and the
//! user hears "please slow down" at most once per window instead of once per dropped update.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};

/// What kinds of input are limited separately: typing is slower than tapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Message,
    Button,
}

/// Per-tenant limits; the defaults are 1 message per 2 s and 1 button press per second, with a small
/// burst so a quick double tap is not punished.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub message_every: Duration,
    pub message_burst: u32,
    pub button_every: Duration,
    pub button_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            message_every: Duration::from_secs(2),
            message_burst: 2,
            button_every: Duration::from_secs(1),
            button_burst: 3,
        }
    }
}

/// The verdict on one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Drop it, and tell the user to slow down (the first drop in a window).
    DropAndWarn,
    /// Drop it silently (already warned in this window).
    Drop,
}

type Keyed<C> = RateLimiter<
    i64,
    governor::state::keyed::DefaultKeyedStateStore<i64>,
    C,
    governor::middleware::NoOpMiddleware<<C as Clock>::Instant>,
>;

pub struct FloodGuard<C: Clock + Clone = DefaultClock> {
    messages: Keyed<C>,
    buttons: Keyed<C>,
    /// Users warned recently: one warning per user per `warn_every`.
    warned: Keyed<C>,
}

fn quota(every: Duration, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(every.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl FloodGuard<DefaultClock> {
    pub fn new(limits: Limits) -> Self {
        Self::with_clock(limits, &DefaultClock::default())
    }
}

impl<C: Clock + Clone> FloodGuard<C> {
    pub fn with_clock(limits: Limits, clock: &C) -> Self {
        let window = limits.message_every.max(limits.button_every);
        Self {
            messages: RateLimiter::dashmap_with_clock(quota(limits.message_every, limits.message_burst), clock.clone()),
            buttons: RateLimiter::dashmap_with_clock(quota(limits.button_every, limits.button_burst), clock.clone()),
            warned: RateLimiter::dashmap_with_clock(quota(window * 5, 1), clock.clone()),
        }
    }

    pub fn check(&self, user: i64, input: Input) -> Verdict {
        let limiter = match input {
            Input::Message => &self.messages,
            Input::Button => &self.buttons,
        };
        if limiter.check_key(&user).is_ok() {
            Verdict::Allow
        } else if self.warned.check_key(&user).is_ok() {
            Verdict::DropAndWarn
        } else {
            Verdict::Drop
        }
    }

    /// Forgets users who have been quiet, so the maps do not grow with every user ever seen.
    pub fn shrink(&self) {
        self.messages.retain_recent();
        self.buttons.retain_recent();
        self.warned.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn messages_over_the_limit_are_dropped_with_one_warning_per_window() {
        let clock = FakeRelativeClock::default();
        let guard = FloodGuard::with_clock(Limits { message_burst: 1, ..Limits::default() }, &clock);
        assert_eq!(guard.check(1, Input::Message), Verdict::Allow);
        assert_eq!(guard.check(1, Input::Message), Verdict::DropAndWarn);
        assert_eq!(guard.check(1, Input::Message), Verdict::Drop);
        // Another user is not affected.
        assert_eq!(guard.check(2, Input::Message), Verdict::Allow);
        clock.advance(Duration::from_secs(2));
        assert_eq!(guard.check(1, Input::Message), Verdict::Allow);
        assert_eq!(guard.check(1, Input::Message), Verdict::Drop, "warned already in this window");
    }

    #[test]
    fn buttons_allow_a_small_burst_then_one_per_second() {
        let clock = FakeRelativeClock::default();
        let guard = FloodGuard::with_clock(Limits::default(), &clock);
        for _ in 0..3 {
            assert_eq!(guard.check(1, Input::Button), Verdict::Allow);
        }
        assert_eq!(guard.check(1, Input::Button), Verdict::DropAndWarn);
        clock.advance(Duration::from_secs(1));
        assert_eq!(guard.check(1, Input::Button), Verdict::Allow);
        // Buttons and messages have separate budgets.
        assert_eq!(guard.check(1, Input::Message), Verdict::Allow);
    }
}
