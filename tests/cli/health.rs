//! The daemon's `/healthz` and `/metrics`, as Docker's healthcheck and Prometheus see them.

use std::time::Duration;

use botctl::telegram::runtime::health::{self, Health};
use tokio_util::sync::CancellationToken;

use crate::support::{TestDb, block_on};

/// `botctl health`'s probe, off the runtime's threads: it blocks.
async fn probe(addr: std::net::SocketAddr) -> bool {
    tokio::task::spawn_blocking(move || health::probe(addr, Duration::from_secs(5))).await.unwrap().unwrap()
}

#[test]
fn healthz_needs_the_database_and_a_recent_poll() {
    let db = TestDb::new();
    block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db.url()).await.unwrap();
        let state = Health::new(pool.clone(), Duration::from_secs(60));
        let shutdown = CancellationToken::new();
        let (addr, task) =
            health::serve("127.0.0.1:0".parse().unwrap(), state.clone(), shutdown.clone()).await.unwrap();

        // Before the first getUpdates the bot is not serving anyone yet.
        assert!(!probe(addr).await);
        state.polled();
        assert!(probe(addr).await);

        state.metrics.updates.inc();
        let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
        assert!(text.contains("botctl_updates_total 1"), "{text}");
        assert!(text.contains("botctl_handler_seconds_bucket"), "{text}");

        // What the bot's own work learns of the database is what /healthz says, without asking it.
        state.database_failed(&"error returned from database: sorry, too many clients already");
        let body: serde_json::Value =
            reqwest::get(format!("http://{addr}/healthz")).await.unwrap().json().await.unwrap();
        assert_eq!(body["healthy"], false);
        assert_eq!(
            body["database"],
            "error: the server's max_connections is reached: error returned from database: sorry, too many clients \
             already",
            "{body}"
        );
        // An error that does not say why is explained once by a connection of its own; the database is
        // up, so the error stands as told.
        state.database_failed(&"connection refused");
        let body: serde_json::Value =
            reqwest::get(format!("http://{addr}/healthz")).await.unwrap().json().await.unwrap();
        assert_eq!(body["healthy"], false);
        assert_eq!(body["database"], "error: connection refused", "{body}");
        state.database_answered();
        assert!(probe(addr).await);

        // A database that stops answering makes the daemon unhealthy.
        pool.close().await;
        let body: serde_json::Value =
            reqwest::get(format!("http://{addr}/healthz")).await.unwrap().json().await.unwrap();
        assert_eq!(body["healthy"], false);
        assert!(body["database"].as_str().unwrap().starts_with("error"), "{body}");

        shutdown.cancel();
        task.await.unwrap();
        assert!(health::probe(addr, Duration::from_secs(1)).is_err(), "the listener stopped");
    });
}
