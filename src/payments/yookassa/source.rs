//! Where YooKassa's notifications come from: the addresses its official SDKs accept, as a first filter
//! before the notified object is fetched from the API (the only check that is trusted).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 networks (address, prefix length) from the official PHP SDK's `SecurityHelper`.
const V4: [(Ipv4Addr, u32); 6] = [
    (Ipv4Addr::new(185, 71, 76, 0), 27),
    (Ipv4Addr::new(185, 71, 77, 0), 27),
    (Ipv4Addr::new(77, 75, 153, 0), 25),
    (Ipv4Addr::new(77, 75, 154, 128), 25),
    (Ipv4Addr::new(77, 75, 156, 11), 32),
    (Ipv4Addr::new(77, 75, 156, 35), 32),
];

/// IPv6 networks from the same file.
const V6: [(Ipv6Addr, u32); 4] = [
    (Ipv6Addr::new(0x2a02, 0x5180, 0, 0x1509, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x2a02, 0x5180, 0, 0x2655, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x2a02, 0x5180, 0, 0x1533, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x2a02, 0x5180, 0, 0x2669, 0, 0, 0, 0), 64),
];

/// Whether `ip` (the socket's peer, or the last hop a trusted proxy added, never a client-supplied
/// header) is one YooKassa sends notifications from. Hand-written: ten fixed networks do not need a crate.
pub fn is_notification_source(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            V4.iter().any(|&(net, len)| prefix_matches(u32::from(ip).into(), u32::from(net).into(), len, 32))
        }
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_notification_source(IpAddr::V4(v4)),
            None => V6.iter().any(|&(net, len)| prefix_matches(u128::from(ip), u128::from(net), len, 128)),
        },
    }
}

fn prefix_matches(ip: u128, net: u128, len: u32, bits: u32) -> bool {
    let shift = bits - len;
    shift >= bits || (ip >> shift) == (net >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

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
