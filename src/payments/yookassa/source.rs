//! Where YooKassa's notifications come from: the addresses its official SDKs accept, as a first filter
//! before the notified object is fetched from the API (the only check that is trusted).

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;

/// The networks from the official PHP SDK's `SecurityHelper`.
const NETWORKS: [&str; 10] = [
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.154.128/25",
    "77.75.156.11/32",
    "77.75.156.35/32",
    "2a02:5180:0:1509::/64",
    "2a02:5180:0:2655::/64",
    "2a02:5180:0:1533::/64",
    "2a02:5180:0:2669::/64",
];

// Constants of the code, parsed once; the unit test proves every one parses.
static YOOKASSA: LazyLock<Vec<IpNet>> = LazyLock::new(|| NETWORKS.iter().filter_map(|n| n.parse().ok()).collect());

/// The networks YooKassa sends notifications from.
pub fn yookassa_networks() -> Vec<IpNet> {
    YOOKASSA.clone()
}

/// Whether `ip` (the socket's peer, or the last hop a trusted proxy added, never a client-supplied
/// header) is one YooKassa sends notifications from.
pub fn is_notification_source(ip: IpAddr) -> bool {
    within(&YOOKASSA, ip)
}

/// Whether `ip` is in one of `networks`; an IPv4-mapped IPv6 address counts as its IPv4 self.
pub fn within(networks: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    networks.iter().any(|network| network.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_parses() {
        assert_eq!(yookassa_networks().len(), NETWORKS.len());
    }

    fn allowed(ip: &str) -> bool {
        is_notification_source(ip.parse().unwrap())
    }

    #[test]
    fn yookassa_networks_are_allowed_and_their_neighbours_not() {
        for ip in [
            "185.71.76.0",
            "185.71.76.31",
            "185.71.77.5",
            "77.75.153.127",
            "77.75.154.200",
            "77.75.156.11",
            "77.75.156.35",
            "2a02:5180:0:1509::1",
            "2a02:5180:0:2669:ffff:ffff:ffff:ffff",
            "::ffff:185.71.76.1",
        ] {
            assert!(allowed(ip), "{ip}");
        }
        for ip in [
            "185.71.76.32",
            "185.71.78.1",
            "77.75.153.128",
            "77.75.154.127",
            "77.75.156.12",
            "127.0.0.1",
            "2a02:5180:0:1510::1",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!allowed(ip), "{ip}");
        }
    }
}
