//! The resumer: what moves open orders on without the buyer, run by the platform daemon while it leads.
//! It wakes on every order's transition (`LISTEN` on [`super::WAKE_CHANNEL`]) and on a schedule, and from
//! the orders table alone — so a restart anywhere loses nothing — carries paid orders to a running bot,
//! tells buyers how their orders ended, asks the provider about payments not heard of, and gives up on
//! payments and drafts left too long.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::WAKE_CHANNEL;
use super::advance::{Outcome, Transition, advance};
use super::fulfil::Fulfiller;
use super::machine::{Event, Kind, State};
use super::model::{COLUMNS, Facts, Order, OrderRow};
use super::store::{Lookup, find, pending};
use crate::progress::NoProgress;

/// How often open orders are looked at without a notification: one lost, or a wait run out.
pub const SCAN_EVERY: Duration = Duration::from_secs(30);
/// An order awaiting payment this long unchanged is asked about at the provider (a notification may be
/// lost), and then at most this often.
pub const CHECK_AFTER: TimeDelta = TimeDelta::minutes(1);
/// A payment not made this long after it was asked for is not waited for any more.
pub const PAYMENT_GIVE_UP: TimeDelta = TimeDelta::hours(24);
/// A draft untouched this long is canceled.
pub const DRAFT_EXPIRES: TimeDelta = TimeDelta::days(7);
/// The reason an order is canceled with when its payment never came.
pub const PAYMENT_EXPIRED: &str = "the payment was not completed within 24 hours";
/// The reason a draft is canceled with when the buyer left it.
pub const DRAFT_EXPIRED: &str = "the order was left unfinished for 7 days";
/// The actor in the history of what the resumer moves.
pub const ACTOR: &str = "resumer";
/// How many orders are worked on at once: a burst of paid orders starts containers a few at a time.
const PARALLEL: usize = 4;
/// The first wait before an order whose step failed is tried again; it doubles up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(600);

/// Asks the payment provider how an `awaiting_payment` order's payment stands and moves the order itself
/// (paid through `orders::confirm`, canceled with the reason). Implemented by the YooKassa part.
pub trait PaymentCheck: Send + Sync + 'static {
    fn check(&self, order: Order) -> BoxFuture<'static, anyhow::Result<()>>;
}

/// Tells the buyer how their order ended: provisioned (the bot is live), a renewal credited, failed or
/// canceled (with the reason). Implemented by the sales bot, which owns the chat.
pub trait Buyers: Send + Sync + 'static {
    fn tell(&self, order: Order) -> BoxFuture<'static, anyhow::Result<()>>;
}

pub struct Resumer {
    pub fulfiller: Arc<Fulfiller>,
    /// None when no provider is configured (trials only).
    pub payments: Option<Arc<dyn PaymentCheck>>,
    pub buyers: Arc<dyn Buyers>,
}

/// Records that the buyer has been told how their failed or canceled order ended, so nothing tells them
/// again; whether this call recorded it. The sales bot calls it when it tells the buyer itself (a cancel
/// the buyer pressed).
pub async fn told(conn: &mut PgConnection, order: i64, at: DateTime<Utc>) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE botctl.orders SET buyer_told_at = $2 \
         WHERE id = $1 AND state IN ('failed', 'canceled') AND buyer_told_at IS NULL",
    )
    .bind(order)
    .bind(crate::billing::period::stored(at))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Failed and canceled orders whose buyer has not been told, oldest first.
async fn untold(conn: &mut PgConnection) -> anyhow::Result<Vec<Order>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM botctl.orders WHERE state IN ('failed', 'canceled') AND buyer_told_at IS NULL \
         ORDER BY updated_at, id LIMIT 500"
    );
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(conn).await?;
    rows.into_iter().map(Order::try_from).collect()
}

/// Runs until `shutdown`: a scan at start, at every order notification and every [`SCAN_EVERY`].
pub async fn run(resumer: Resumer, shutdown: CancellationToken) -> anyhow::Result<()> {
    let work = Arc::new(Work {
        resumer,
        in_flight: Mutex::default(),
        retries: Mutex::default(),
        checked: Mutex::default(),
        parallel: Semaphore::new(PARALLEL),
    });
    let mut listener: Option<PgListener> = None;
    let mut tasks = JoinSet::new();
    loop {
        if listener.is_none() {
            listener = match listen(&work.resumer.fulfiller.pool).await {
                Ok(listener) => Some(listener),
                Err(error) => {
                    tracing::warn!(
                        "the order resumer cannot listen for orders (scanning every {SCAN_EVERY:?}): {error:#}"
                    );
                    None
                }
            };
        }
        if let Err(error) = work.scan(&mut tasks).await {
            tracing::warn!("the order resumer's scan failed: {error:#}");
        }
        while tasks.try_join_next().is_some() {}
        let notified = async {
            match listener.as_mut() {
                Some(listener) => listener.try_recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(SCAN_EVERY) => {}
            notified = notified => match notified {
                // Several transitions may notify at once: one scan covers them all.
                Ok(Some(_)) => {
                    if let Some(listener) = listener.as_mut() {
                        while listener.next_buffered().is_some() {}
                    }
                }
                // Lost and mended by the listener itself; what was missed meanwhile, the scan finds.
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!("the order resumer lost its listening connection: {error:#}");
                    listener = None;
                }
            },
        }
    }
    // Every step is resumable, so what is cut off here the next leader finishes.
    tasks.shutdown().await;
    Ok(())
}

/// A connection of its own (a pool of one), so listening never holds one of the shared pool's.
async fn listen(pool: &PgPool) -> anyhow::Result<PgListener> {
    let own =
        PgPoolOptions::new().max_connections(1).min_connections(0).connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(WAKE_CHANNEL).await?;
    Ok(listener)
}

/// What a scan found an order waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// Carried on, delivered, or its ending told: whatever its state asks.
    Drive,
    /// Its payment asked about at the provider.
    Check,
    /// A draft left too long: canceled.
    Expire,
}

struct Retry {
    attempts: u32,
    not_before: Instant,
}

struct Work {
    resumer: Resumer,
    /// Orders a task works on now: never two at once for one order in this process.
    in_flight: Mutex<HashSet<i64>>,
    /// Orders whose last step failed, and when to try again.
    retries: Mutex<HashMap<i64, Retry>>,
    /// When each awaiting order's payment was last asked about.
    checked: Mutex<HashMap<i64, Instant>>,
    parallel: Semaphore,
}

/// Holds an order's place in `in_flight` until its task ends, however it ends.
struct InFlight {
    work: Arc<Work>,
    order: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.work.in_flight).remove(&self.order);
    }
}

/// A poisoned lock only means another task panicked mid-update of a plain set: its data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Work {
    async fn scan(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> anyhow::Result<()> {
        let now = Utc::now();
        let mut conn = self.resumer.fulfiller.pool.acquire().await?;
        let open = pending(&mut conn, &[State::Paid, State::Credited, State::Provisioned], now).await?;
        let awaiting = pending(&mut conn, &[State::AwaitingPayment], now - CHECK_AFTER).await?;
        let drafts = pending(&mut conn, &[State::Draft], now - DRAFT_EXPIRES).await?;
        let ended = untold(&mut conn).await?;
        drop(conn);
        // What is remembered of orders no longer open is forgotten, so the maps hold open orders only.
        let seen: HashSet<i64> = open.iter().chain(&awaiting).chain(&drafts).chain(&ended).map(|o| o.id).collect();
        lock(&self.retries).retain(|id, _| seen.contains(id));
        lock(&self.checked).retain(|id, _| seen.contains(id));
        let jobs = open
            .into_iter()
            .chain(ended)
            .map(|order| (order, Job::Drive))
            .chain(awaiting.into_iter().map(|order| (order, Job::Check)))
            .chain(drafts.into_iter().map(|order| (order, Job::Expire)));
        for (order, job) in jobs {
            self.spawn(order, job, tasks);
        }
        Ok(())
    }

    fn spawn(self: &Arc<Self>, order: Order, job: Job, tasks: &mut JoinSet<()>) {
        let id = order.id;
        if lock(&self.retries).get(&id).is_some_and(|retry| retry.not_before > Instant::now()) {
            return;
        }
        let every = CHECK_AFTER.to_std().unwrap_or(Duration::from_secs(60));
        if job == Job::Check && lock(&self.checked).get(&id).is_some_and(|at| at.elapsed() < every) {
            return;
        }
        if !lock(&self.in_flight).insert(id) {
            return;
        }
        if job == Job::Check {
            lock(&self.checked).insert(id, Instant::now());
        }
        let guard = InFlight { work: Arc::clone(self), order: id };
        let work = Arc::clone(self);
        tasks.spawn(async move {
            let _guard = guard;
            let Ok(_permit) = work.parallel.acquire().await else { return };
            let reference = order.reference.clone();
            match work.job(order, job).await {
                Ok(()) => {
                    lock(&work.retries).remove(&id);
                }
                Err(error) => {
                    let mut retries = lock(&work.retries);
                    let attempts = retries.get(&id).map_or(0, |r| r.attempts).saturating_add(1);
                    let wait = RETRY_FIRST.saturating_mul(2u32.saturating_pow(attempts - 1)).min(RETRY_MAX);
                    retries.insert(id, Retry { attempts, not_before: Instant::now() + wait });
                    tracing::warn!(order = %reference, attempts, "an order step failed, tried again in {wait:?}: {error:#}");
                }
            }
        });
    }

    /// `seen` is as the scan read it, perhaps before a task that has just ended moved it: the order is
    /// read again, now that this task alone works on it, and the job done only if still due.
    async fn job(&self, seen: Order, job: Job) -> anyhow::Result<()> {
        let order = self.reload(seen.id).await?;
        let now = Utc::now();
        let order = match job {
            Job::Drive => order,
            Job::Check if order.state == State::AwaitingPayment && now - order.updated_at >= CHECK_AFTER => {
                self.check(order).await?
            }
            Job::Expire if order.state == State::Draft && now - order.updated_at >= DRAFT_EXPIRES => {
                self.cancel(&order, DRAFT_EXPIRED).await?
            }
            Job::Check | Job::Expire => return Ok(()),
        };
        self.drive(order).await
    }

    /// Moves the order on for as long as it moves: carried, delivered, its ending told.
    async fn drive(&self, mut order: Order) -> anyhow::Result<()> {
        loop {
            let next = match (order.kind, order.state) {
                (Kind::Renewal, State::Credited) | (_, State::Provisioned) => self.deliver(&order).await?,
                (_, State::Paid | State::Credited) => self.resumer.fulfiller.carry(order.id, &NoProgress).await?,
                (_, State::Failed | State::Canceled) if order.buyer_told_at.is_none() => {
                    self.tell_ending(&order).await?;
                    return Ok(());
                }
                _ => return Ok(()),
            };
            if next.state == order.state {
                return Ok(());
            }
            order = next;
        }
    }

    /// The buyer told their bot is live (or their days are on), then the order `done`.
    async fn deliver(&self, order: &Order) -> anyhow::Result<Order> {
        self.resumer.buyers.tell(order.clone()).await?;
        self.advance(order, Event::Delivered, Facts::default()).await
    }

    /// The buyer told how the order ended, once: recorded after the telling, so a telling cut off is
    /// repeated rather than lost.
    async fn tell_ending(&self, order: &Order) -> anyhow::Result<()> {
        self.resumer.buyers.tell(order.clone()).await?;
        told(&mut *self.resumer.fulfiller.pool.acquire().await?, order.id, Utc::now()).await?;
        Ok(())
    }

    /// Asks the provider about the payment; one not made in [`PAYMENT_GIVE_UP`] is not waited for any
    /// more — but only once the provider has been asked and has not confirmed it, so a payment made is
    /// never canceled for an unanswered question.
    async fn check(&self, order: Order) -> anyhow::Result<Order> {
        let overdue = Utc::now() - order.updated_at >= PAYMENT_GIVE_UP;
        if let Some(payments) = &self.resumer.payments {
            payments.check(order.clone()).await?;
        }
        let order = self.reload(order.id).await?;
        if overdue && order.state == State::AwaitingPayment {
            return self.cancel(&order, PAYMENT_EXPIRED).await;
        }
        Ok(order)
    }

    async fn cancel(&self, order: &Order, why: &str) -> anyhow::Result<Order> {
        tracing::info!(order = %order.reference, state = %order.state, "canceling the order: {why}");
        let facts = Facts { reason: Some(why.to_string()), ..Facts::default() };
        self.advance(order, Event::Canceled, facts).await
    }

    async fn advance(&self, order: &Order, event: Event, facts: Facts) -> anyhow::Result<Order> {
        let step =
            Transition { order: order.id, from: order.state, event, facts, actor: ACTOR.to_string(), at: Utc::now() };
        let advanced = advance(&mut *self.resumer.fulfiller.pool.acquire().await?, &step).await?;
        if advanced.outcome == Outcome::NotInState {
            tracing::info!(order = %order.reference, state = %advanced.order.state, "order moved on meanwhile");
        }
        Ok(advanced.order)
    }

    async fn reload(&self, id: i64) -> anyhow::Result<Order> {
        find(&mut *self.resumer.fulfiller.pool.acquire().await?, Lookup::Id(id))
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {id} is gone"))
    }
}
