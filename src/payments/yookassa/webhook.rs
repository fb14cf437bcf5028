//! YooKassa's notifications as botctl takes them. YooKassa signs nothing, so: only allowed peers may
//! post (YooKassa's networks unless configured otherwise; `X-Forwarded-For` believed only from a
//! trusted proxy); the body is never trusted — the object it names is fetched from the API; and the
//! answer is 200 only once the consumer has committed what the fetched object means. Anything else
//! answers 5xx, and YooKassa delivers again for 24 hours.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::future::BoxFuture;
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use super::source::{within, yookassa_networks};
use super::{Client, Notification, Notified};

/// Which peers may post notifications.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Where notifications may come from.
    pub allowed: Vec<IpNet>,
    /// Proxies in front of the listener whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for Sources {
    /// YooKassa's published networks, no proxy.
    fn default() -> Self {
        Self { allowed: yookassa_networks(), trusted_proxies: Vec::new() }
    }
}

impl Sources {
    /// Where a request came from: its peer, or — while the hop is a trusted proxy — the address that
    /// proxy says it forwarded for, read from the right of `X-Forwarded-For` (the left is whatever the
    /// client wrote). `None` when a trusted proxy's header is missing or unreadable.
    pub fn origin(&self, peer: IpAddr, forwarded_for: Option<&str>) -> Option<IpAddr> {
        if !within(&self.trusted_proxies, peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = forwarded_for?.split(',').map(str::trim).collect();
        for hop in hops.iter().rev() {
            let ip: IpAddr = hop.parse().ok()?;
            if !within(&self.trusted_proxies, ip) {
                return Some(ip);
            }
        }
        None
    }

    pub fn allows(&self, origin: IpAddr) -> bool {
        within(&self.allowed, origin)
    }
}

/// What a fetched notification means to botctl (a credit, a cancelled order, a refund), committed before
/// YooKassa hears 200. It must be idempotent: YooKassa delivers a notification more than once.
pub trait Consumer: Send + Sync + 'static {
    fn consume(&self, notified: Notified) -> BoxFuture<'static, anyhow::Result<()>>;
}

struct Listener {
    client: Client,
    sources: Sources,
    consumer: Arc<dyn Consumer>,
}

/// The largest body read: a payment object is a few kilobytes.
const MAX_BODY: usize = 64 * 1024;

/// Serves notifications at `POST /` on `addr` until `shutdown`; returns the bound address.
pub async fn listen(
    addr: SocketAddr,
    client: Client,
    sources: Sources,
    consumer: Arc<dyn Consumer>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/", post(notified))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(Listener { client, sources, consumer }));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the YooKassa notification listener stopped");
        }
    });
    Ok((bound, task))
}

async fn notified(
    State(listener): State<Arc<Listener>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let origin = listener.sources.origin(peer.ip(), forwarded);
    if !origin.is_some_and(|ip| listener.sources.allows(ip)) {
        // Nothing of the body is logged: it is anyone's words.
        tracing::warn!(peer = %peer.ip(), ?origin, "a YooKassa notification from outside the allowed networks was refused");
        return StatusCode::FORBIDDEN;
    }
    let Ok(notification) = serde_json::from_slice::<Notification>(&body) else {
        tracing::warn!(peer = %peer.ip(), "an unreadable YooKassa notification was refused");
        return StatusCode::BAD_REQUEST;
    };
    let fetched = match listener.client.fetch_notified(&notification).await {
        Ok(fetched) => fetched,
        Err(error) => {
            tracing::warn!(event = %notification.event, %error, "the notified object could not be fetched; YooKassa will deliver again");
            return if error.is_retryable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
        }
    };
    match listener.consumer.consume(fetched).await {
        Ok(()) => StatusCode::OK,
        Err(error) => {
            tracing::error!(event = %notification.event, error = format!("{error:#}"), "a YooKassa notification could not be taken in; YooKassa will deliver again");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy_and_only_from_its_right() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let direct = Sources::default();
        assert_eq!(
            direct.origin(ip("127.0.0.1"), Some("185.71.76.1")),
            Some(ip("127.0.0.1")),
            "an untrusted peer's header is ignored"
        );
        assert!(!direct.allows(ip("127.0.0.1")));
        assert!(direct.allows(ip("185.71.76.1")));

        let proxied = Sources { allowed: yookassa_networks(), trusted_proxies: nets(&["10.0.0.0/8"]) };
        assert_eq!(proxied.origin(ip("10.0.0.2"), Some("185.71.76.1")), Some(ip("185.71.76.1")));
        // A client that writes YooKassa's address on the left gains nothing: the proxy appends the truth.
        assert_eq!(proxied.origin(ip("10.0.0.2"), Some("185.71.76.1, 203.0.113.9")), Some(ip("203.0.113.9")));
        assert_eq!(
            proxied.origin(ip("10.0.0.2"), Some("185.71.76.1, 10.0.0.3")),
            Some(ip("185.71.76.1")),
            "proxies chain"
        );
        assert_eq!(proxied.origin(ip("10.0.0.2"), None), None);
        assert_eq!(proxied.origin(ip("10.0.0.2"), Some("not an address")), None);
    }
}
