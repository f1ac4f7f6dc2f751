//! Connections counted per peer, so that one client cannot hold every
//! connection the server serves (`--max-connections-per-peer`): a client
//! that opens thousands of connections and sends their headers a byte at a
//! time used to fill `--max-connections`, and every other client's
//! `/v1/analyze` got 503 for as long as it kept doing so.
//!
//! A peer is an IPv4 address, or an IPv6 /64 (what one host is usually
//! given, so a client cannot step around its cap by changing the low bits).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Where a peer's connections are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer(IpAddr);

impl Peer {
    pub fn of(address: IpAddr) -> Peer {
        let address = match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let network = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(Ipv6Addr::from(network))
                }
            },
            v4 => v4,
        };
        Peer(address)
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Open connections of every peer that has one.
#[derive(Clone, Default)]
pub struct PeerCounts {
    open: Arc<Mutex<HashMap<Peer, usize>>>,
}

impl PeerCounts {
    /// Counts a new connection of `peer` while the guard lives.
    pub fn open(&self, peer: Peer) -> PeerConnection {
        let mut open = self.open.lock().unwrap();
        let n = open.entry(peer).or_insert(0);
        *n += 1;
        PeerConnection { counts: self.clone(), peer, n: *n }
    }

    #[cfg(test)]
    fn peers(&self) -> usize {
        self.open.lock().unwrap().len()
    }
}

/// One open connection of a peer.
pub struct PeerConnection {
    counts: PeerCounts,
    pub peer: Peer,
    /// The peer's connections open with this one.
    pub n: usize,
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap();
        if let Some(n) = open.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Peer::of(a), Peer::of(b));
        assert_ne!(Peer::of(a), Peer::of(c));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(Peer::of(mapped), Peer::of("127.0.0.2".parse().unwrap()));
        assert_eq!(Peer::of(a).to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn counts_go_up_with_connections_and_a_peer_is_forgotten_when_its_last_closes() {
        let counts = PeerCounts::default();
        let peer = Peer::of("127.0.0.2".parse().unwrap());
        let first = counts.open(peer);
        let second = counts.open(peer);
        let other = counts.open(Peer::of("127.0.0.3".parse().unwrap()));
        assert_eq!((first.n, second.n, other.n), (1, 2, 1));
        drop(second);
        assert_eq!(counts.open(peer).n, 2);
        drop((first, other));
        assert_eq!(counts.peers(), 0);
    }
}
