//! TEMPORARY stand-ins for the fulfil, yookassa and stars branches' APIs, removed at their merge.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::platform::fleet::Fleet;
use crate::platform::orders::Order;

pub struct Fulfiller {
    pub pool: PgPool,
    pub fleet: Fleet,
    pub telegram_api_url: url::Url,
    pub trial_days: i32,
    pub actor: String,
}
impl Fulfiller {
    pub async fn carry(&self, _order: i64, _progress: &dyn crate::progress::Progress) -> anyhow::Result<Order> {
        anyhow::bail!("shim")
    }
}
pub trait Buyers: Send + Sync + 'static {
    fn tell(&self, order: Order) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>>;
}
pub trait PaymentCheck: Send + Sync + 'static {
    fn check(&self, order: Order) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>>;
}
pub struct Resumer {
    pub fulfiller: Arc<Fulfiller>,
    pub payments: Option<Arc<dyn PaymentCheck>>,
    pub buyers: Arc<dyn Buyers>,
}
pub async fn run(_resumer: Resumer, shutdown: CancellationToken) -> anyhow::Result<()> {
    shutdown.cancelled().await;
    Ok(())
}
#[derive(Clone)]
pub struct Checkout {}
impl Checkout {
    pub async fn request(&self, _: &PgPool, _: i64, _: &str, _: DateTime<Utc>) -> anyhow::Result<url::Url> {
        anyhow::bail!("shim")
    }
    pub async fn check_now(&self, _: &PgPool, _: i64, _: DateTime<Utc>) -> anyhow::Result<Order> {
        anyhow::bail!("shim")
    }
}
pub mod stars {
    use super::*;
    pub struct Invoice {
        pub title: String,
        pub description: String,
        pub payload: String,
        pub label: String,
        pub stars: u32,
    }
    pub async fn request(_: &PgPool, _: i64, _: &str, _: DateTime<Utc>) -> anyhow::Result<Invoice> {
        anyhow::bail!("shim")
    }
    pub async fn pre_checkout(_: &PgPool, _: &str, _: &str, _: u32, _: DateTime<Utc>) -> Result<(), String> {
        Err("shim".into())
    }
    pub struct StarsPayment {
        pub charge_id: String,
        pub payload: String,
        pub currency: String,
        pub total_amount: u32,
    }
    pub async fn paid(_: &PgPool, _: &StarsPayment, _: DateTime<Utc>) -> anyhow::Result<Order> {
        anyhow::bail!("shim")
    }
}
