//! Parsing of the node's pod CIDR (`spec.podCIDR`) and the address arithmetic IPAM and the
//! bridge need: network, gateway (first address), broadcast, and the assignable range between.
//! IPv4 only. Pure functions; no IO.

use std::fmt;
use std::net::Ipv4Addr;

use crate::error::NetError;

/// An IPv4 network in canonical form (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodCidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl PodCidr {
    /// The shortest prefix accepted: a /8 already means 16 M possible IPAM records.
    pub const MIN_PREFIX: u8 = 8;
    /// The longest prefix accepted: a /30 leaves network, gateway, one pod and broadcast.
    pub const MAX_PREFIX: u8 = 30;

    /// Parses `a.b.c.d/n`. Host bits are cleared, as Go's `net.ParseCIDR` does for the network.
    pub fn parse(text: &str) -> Result<Self, NetError> {
        let invalid = |reason| NetError::InvalidCidr { cidr: text.to_string(), reason };
        let (addr, prefix) = text.split_once('/').ok_or_else(|| invalid("missing /prefix"))?;
        if addr.contains(':') {
            return Err(invalid("only IPv4 pod CIDRs are supported"));
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid("not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid("prefix is not a number"))?;
        if !(Self::MIN_PREFIX..=Self::MAX_PREFIX).contains(&prefix) {
            return Err(invalid("prefix must be between /8 and /30"));
        }
        let network = Ipv4Addr::from(u32::from(addr) & mask(prefix));
        Ok(PodCidr { network, prefix })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The bridge's address and every pod's default route: the first address after the network.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    /// Addresses a pod may get, lowest first: everything except network, gateway and broadcast.
    pub fn pod_addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.gateway()) + 1..u32::from(self.broadcast())).map(Ipv4Addr::from)
    }
}

impl fmt::Display for PodCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    // prefix is 8..=30 after parsing, so the shift never overflows.
    u32::MAX << (32 - u32::from(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_derives_addresses() {
        let cidr = PodCidr::parse("10.42.0.0/24").expect("valid");
        assert_eq!(cidr.to_string(), "10.42.0.0/24");
        assert_eq!(cidr.gateway(), Ipv4Addr::new(10, 42, 0, 1));
        assert_eq!(cidr.broadcast(), Ipv4Addr::new(10, 42, 0, 255));
        let hosts: Vec<_> = cidr.pod_addresses().collect();
        assert_eq!(hosts.len(), 253);
        assert_eq!(hosts[0], Ipv4Addr::new(10, 42, 0, 2));
        assert_eq!(hosts[252], Ipv4Addr::new(10, 42, 0, 254));
        assert!(cidr.contains(Ipv4Addr::new(10, 42, 0, 77)));
        assert!(!cidr.contains(Ipv4Addr::new(10, 42, 1, 77)));
    }

    #[test]
    fn clears_host_bits() {
        let cidr = PodCidr::parse("10.1.2.3/16").expect("valid");
        assert_eq!(cidr.to_string(), "10.1.0.0/16");
        assert_eq!(cidr.gateway(), Ipv4Addr::new(10, 1, 0, 1));
    }

    #[test]
    fn slash_29_has_five_pod_addresses() {
        let cidr = PodCidr::parse("10.201.9.8/29").expect("valid");
        let hosts: Vec<_> = cidr.pod_addresses().map(|ip| ip.octets()[3]).collect();
        assert_eq!(hosts, vec![10, 11, 12, 13, 14]);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in ["", "10.0.0.0", "10.0.0.0/", "10.0.0.0/x", "10.0.0/24", "10.0.0.0/31", "10.0.0.0/7", "fd00::/64"] {
            assert!(matches!(PodCidr::parse(bad), Err(NetError::InvalidCidr { .. })), "{bad:?} must be rejected");
        }
    }
}
