//! Where a piece's `fetch` may go. The host decides; the guest cannot get
//! around it.
//!
//! By default a fetch may reach the public internet and nothing else:
//! loopback, private, link-local, CGNAT, multicast, unspecified, broadcast,
//! documentation, benchmarking and reserved ranges are denied, and so are the
//! cloud metadata addresses and the daemon's own listen address. The check
//! runs on the addresses a name resolves to, at connect time ([`PolicyResolver`]
//! is the HTTP client's resolver), so DNS rebinding cannot get past it; IP
//! literals are checked before the request starts, and every redirect hop is
//! checked again.
//!
//! Opening it up: `--allow-private-network` lets the private classes
//! (loopback, private, link-local, CGNAT) through, but never the metadata
//! addresses or the daemon itself; `--allow-host PATTERN` lets a matching host
//! through whatever it resolves to (`api.example.com`, `*.example.com`, an IP).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// A rule that denied a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyRule {
    Scheme,
    Loopback,
    Private,
    LinkLocal,
    Cgnat,
    Multicast,
    Unspecified,
    Broadcast,
    Documentation,
    Benchmarking,
    Reserved,
    Metadata,
    DaemonAddress,
}

impl DenyRule {
    pub fn name(self) -> &'static str {
        match self {
            Self::Scheme => "scheme",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link_local",
            Self::Cgnat => "cgnat",
            Self::Multicast => "multicast",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::Reserved => "reserved",
            Self::Metadata => "metadata",
            Self::DaemonAddress => "daemon_address",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Scheme => "only http and https are allowed",
            Self::Loopback => "a loopback address",
            Self::Private => "a private-network address",
            Self::LinkLocal => "a link-local address",
            Self::Cgnat => "a carrier-grade NAT address",
            Self::Multicast => "a multicast address",
            Self::Unspecified => "the unspecified address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Reserved => "a reserved address",
            Self::Metadata => "a cloud metadata address",
            Self::DaemonAddress => "the bgwasm daemon's own API",
        }
    }

    /// Whether `--allow-private-network` opens this rule.
    fn is_private_network(self) -> bool {
        matches!(
            self,
            Self::Loopback | Self::Private | Self::LinkLocal | Self::Cgnat
        )
    }
}

/// Why the policy refused a fetch; the message is what the piece sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target} is denied by the egress policy: {} (rule `{}`){}", rule.describe(), rule.name(), hint(*rule))]
pub struct EgressDenied {
    pub target: String,
    pub rule: DenyRule,
}

/// The words every denial's message has (see the `#[error]` above).
const DENIAL_MARK: &str = " is denied by the egress policy: ";

impl EgressDenied {
    /// Whether a fetch's error message is a denial's. A run's fetch record
    /// keeps only the message (it is what the piece sees), so this is how the
    /// metrics tell a denied fetch from a failed one.
    pub fn is_denial(message: &str) -> bool {
        message.contains(DENIAL_MARK)
    }
}

fn hint(rule: DenyRule) -> &'static str {
    match rule {
        DenyRule::Scheme => "",
        DenyRule::Metadata | DenyRule::DaemonAddress => "; only --allow-host naming it opens this",
        _ if rule.is_private_network() => {
            "; the operator can open it with --allow-host or --allow-private-network"
        }
        _ => "; the operator can open it with --allow-host",
    }
}

/// A host name pattern of `--allow-host`: `example.com` (that host),
/// `*.example.com` (its subdomains), `*` (everything), or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let pattern = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let name = pattern.strip_prefix("*.").unwrap_or(&pattern);
        let valid = pattern == "*"
            || name.parse::<IpAddr>().is_ok()
            || (!name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                }));
        if valid {
            Ok(Self(pattern))
        } else {
            Err(format!(
                "{text:?} is not a host pattern; write api.example.com, *.example.com or an IP address"
            ))
        }
    }
}

impl HostPattern {
    pub fn matches(&self, host: &str) -> bool {
        let host = host
            .trim_end_matches('.')
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            _ if self.0 == "*" => true,
            Some(parent) => {
                host.len() > parent.len()
                    && host.ends_with(parent)
                    && host[..host.len() - parent.len()].ends_with('.')
            }
            None => host == self.0,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a fetch may reach.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow_private_network: bool,
    allow_hosts: Vec<HostPattern>,
    daemon_addrs: Vec<SocketAddr>,
}

impl EgressPolicy {
    pub fn new(allow_private_network: bool, allow_hosts: Vec<HostPattern>) -> Self {
        Self {
            allow_private_network,
            allow_hosts,
            daemon_addrs: Vec::new(),
        }
    }

    /// Denies the daemon's own API (its listen address) to pieces.
    pub fn deny_daemon_address(&mut self, addr: SocketAddr) {
        self.daemon_addrs.push(addr);
    }

    fn allowed_by_name(&self, host: &str) -> bool {
        self.allow_hosts.iter().any(|pattern| pattern.matches(host))
    }

    /// Checks a URL before a request to it starts: its scheme, an IP literal
    /// host, and the daemon's address.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), EgressDenied> {
        let denied = |rule| EgressDenied {
            target: url.as_str().to_owned(),
            rule,
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(denied(DenyRule::Scheme));
        }
        let Some(host) = url.host_str() else {
            return Err(denied(DenyRule::Scheme));
        };
        if self.allowed_by_name(host) {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            self.check_ip(ip).map_err(denied)?;
        }
        if self.is_daemon(host, literal, port) {
            return Err(denied(DenyRule::DaemonAddress));
        }
        Ok(())
    }

    /// Whether `host:port` is the daemon's API. Names are compared by what
    /// they obviously stand for (`localhost`); every other name is covered
    /// by the range checks at connect time unless the operator opened them.
    fn is_daemon(&self, host: &str, literal: Option<IpAddr>, port: u16) -> bool {
        let ips: Vec<IpAddr> = match literal {
            Some(ip) => vec![ip],
            None if host.eq_ignore_ascii_case("localhost")
                || host.to_ascii_lowercase().ends_with(".localhost") =>
            {
                vec![
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(Ipv6Addr::LOCALHOST),
                ]
            }
            None => return false,
        };
        self.daemon_addrs.iter().any(|daemon| {
            daemon.port() == port
                && ips.iter().any(|ip| {
                    let ip = canonical(*ip);
                    ip == canonical(daemon.ip())
                        || (daemon.ip().is_unspecified()
                            && (ip.is_loopback() || ip.is_unspecified()))
                })
        })
    }

    /// Checks one address a name resolved to (or an IP literal).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), DenyRule> {
        match classify(ip) {
            None => Ok(()),
            Some(rule) if rule.is_private_network() && self.allow_private_network => Ok(()),
            Some(rule) => Err(rule),
        }
    }
}

/// An IPv4 address carried in IPv6 (mapped, compatible, NAT64, 6to4) is
/// judged as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // ::a.b.c.d (deprecated "compatible") and 64:ff9b::/96 (NAT64).
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    // 2002:aabb:ccdd::/48 (6to4).
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// The rule an address falls under, if any.
pub fn classify(ip: IpAddr) -> Option<DenyRule> {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<DenyRule> {
    let [a, b, c, _] = ip.octets();
    const METADATA: [Ipv4Addr; 4] = [
        Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack
        Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
        Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
        Ipv4Addr::new(168, 63, 129, 16),   // Azure wire server
    ];
    Some(match () {
        _ if METADATA.contains(&ip) => DenyRule::Metadata,
        _ if ip.is_unspecified() || a == 0 => DenyRule::Unspecified,
        _ if ip.is_loopback() => DenyRule::Loopback,
        _ if ip.is_private() => DenyRule::Private,
        _ if ip.is_link_local() => DenyRule::LinkLocal,
        _ if a == 100 && (64..128).contains(&b) => DenyRule::Cgnat,
        _ if ip.is_broadcast() => DenyRule::Broadcast,
        _ if ip.is_multicast() => DenyRule::Multicast,
        _ if ip.is_documentation() => DenyRule::Documentation,
        _ if a == 198 && (b == 18 || b == 19) => DenyRule::Benchmarking,
        _ if a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 192 && b == 88 && c == 99) => {
            DenyRule::Reserved
        }
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<DenyRule> {
    let s = ip.segments();
    Some(match () {
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => DenyRule::Metadata,
        _ if ip.is_unspecified() => DenyRule::Unspecified,
        _ if ip.is_loopback() => DenyRule::Loopback,
        _ if ip.is_multicast() => DenyRule::Multicast,
        _ if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 => DenyRule::Private,
        _ if (s[0] & 0xffc0) == 0xfe80 => DenyRule::LinkLocal,
        _ if s[0] == 0x2001 && s[1] == 0x0db8 => DenyRule::Documentation,
        _ if s[0] == 0x3fff && s[1] < 0x1000 => DenyRule::Documentation,
        _ if s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0 => DenyRule::Benchmarking,
        // Discard-only 100::/64, Teredo 2001::/32, and the rest outside 2000::/3.
        _ if (s[0] == 0x100 && s[1..4] == [0, 0, 0]) || (s[0] == 0x2001 && s[1] == 0) => {
            DenyRule::Reserved
        }
        _ if (s[0] & 0xe000) != 0x2000 => DenyRule::Reserved,
        _ => return None,
    })
}

/// The HTTP client's resolver: resolves a name and keeps only the addresses
/// the policy allows, so the check holds at connect time.
pub struct PolicyResolver {
    pub policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.allowed_by_name(&host) {
                return Ok(Box::new(resolved.into_iter()) as reqwest::dns::Addrs);
            }
            let mut first_denial = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check_ip(addr.ip()) {
                    Ok(()) => true,
                    Err(rule) => {
                        first_denial.get_or_insert((addr.ip(), rule));
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), first_denial) {
                (true, Some((ip, rule))) => Err(Box::new(EgressDenied {
                    target: format!("{host} ({ip})"),
                    rule,
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ip: &str) -> Option<DenyRule> {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn every_internal_range_is_classified() {
        for (ip, expected) in [
            ("127.0.0.1", DenyRule::Loopback),
            ("127.255.0.9", DenyRule::Loopback),
            ("10.1.2.3", DenyRule::Private),
            ("172.16.0.1", DenyRule::Private),
            ("172.31.255.255", DenyRule::Private),
            ("192.168.1.1", DenyRule::Private),
            ("169.254.1.1", DenyRule::LinkLocal),
            ("100.64.0.1", DenyRule::Cgnat),
            ("100.127.255.255", DenyRule::Cgnat),
            ("224.0.0.1", DenyRule::Multicast),
            ("0.0.0.0", DenyRule::Unspecified),
            ("0.1.2.3", DenyRule::Unspecified),
            ("255.255.255.255", DenyRule::Broadcast),
            ("192.0.2.1", DenyRule::Documentation),
            ("198.51.100.7", DenyRule::Documentation),
            ("203.0.113.9", DenyRule::Documentation),
            ("198.18.0.1", DenyRule::Benchmarking),
            ("240.0.0.1", DenyRule::Reserved),
            ("169.254.169.254", DenyRule::Metadata),
            ("100.100.100.200", DenyRule::Metadata),
            ("168.63.129.16", DenyRule::Metadata),
            ("::1", DenyRule::Loopback),
            ("::", DenyRule::Unspecified),
            ("fc00::1", DenyRule::Private),
            ("fd12:3456::1", DenyRule::Private),
            ("fe80::1", DenyRule::LinkLocal),
            ("ff02::1", DenyRule::Multicast),
            ("2001:db8::1", DenyRule::Documentation),
            ("fd00:ec2::254", DenyRule::Metadata),
            ("::ffff:127.0.0.1", DenyRule::Loopback),
            ("::ffff:169.254.169.254", DenyRule::Metadata),
            ("::ffff:10.0.0.1", DenyRule::Private),
            ("::127.0.0.1", DenyRule::Loopback),
            ("64:ff9b::a9fe:a9fe", DenyRule::Metadata),
            ("2002:7f00:1::", DenyRule::Loopback),
            ("2001::1", DenyRule::Reserved),
        ] {
            assert_eq!(rule(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(rule(ip), None, "{ip}");
        }
    }

    #[test]
    fn private_network_flag_opens_private_classes_but_not_metadata() {
        let open = EgressPolicy::new(true, vec![]);
        assert!(open.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(open.check_ip("10.0.0.1".parse().unwrap()).is_ok());
        assert_eq!(
            open.check_ip("169.254.169.254".parse().unwrap()),
            Err(DenyRule::Metadata)
        );
        assert_eq!(
            open.check_ip("224.0.0.1".parse().unwrap()),
            Err(DenyRule::Multicast)
        );
        let closed = EgressPolicy::default();
        assert_eq!(
            closed.check_ip("127.0.0.1".parse().unwrap()),
            Err(DenyRule::Loopback)
        );
    }

    #[test]
    fn urls_are_checked_for_scheme_literals_and_the_daemon() {
        let mut policy = EgressPolicy::new(true, vec![]);
        policy.deny_daemon_address("127.0.0.1:8000".parse().unwrap());
        let check = |url: &str| {
            policy
                .check_url(&reqwest::Url::parse(url).unwrap())
                .map_err(|e| e.rule)
        };
        assert_eq!(check("file:///etc/passwd"), Err(DenyRule::Scheme));
        assert_eq!(check("ftp://example.com/"), Err(DenyRule::Scheme));
        assert_eq!(
            check("http://127.0.0.1:8000/api/integrations/bg"),
            Err(DenyRule::DaemonAddress)
        );
        assert_eq!(
            check("http://localhost:8000/healthz"),
            Err(DenyRule::DaemonAddress)
        );
        assert_eq!(
            check("http://[::ffff:127.0.0.1]:8000/"),
            Err(DenyRule::DaemonAddress)
        );
        assert_eq!(check("http://127.0.0.1:9000/"), Ok(()));
        assert_eq!(
            check("http://169.254.169.254/latest/meta-data"),
            Err(DenyRule::Metadata)
        );
        assert_eq!(check("https://example.com/"), Ok(()));
        let closed = EgressPolicy::default();
        assert_eq!(
            closed
                .check_url(&reqwest::Url::parse("http://10.0.0.1/").unwrap())
                .map_err(|e| e.rule),
            Err(DenyRule::Private)
        );
    }

    #[test]
    fn allow_host_patterns_open_named_hosts() {
        let pattern: HostPattern = "*.example.com".parse().unwrap();
        assert!(pattern.matches("api.example.com"));
        assert!(pattern.matches("A.B.Example.COM."));
        assert!(!pattern.matches("example.com"));
        assert!(!pattern.matches("badexample.com"));
        let exact: HostPattern = "Example.com".parse().unwrap();
        assert!(exact.matches("example.com") && !exact.matches("www.example.com"));
        let ip: HostPattern = "169.254.169.254".parse().unwrap();
        let policy = EgressPolicy::new(false, vec![ip]);
        assert!(
            policy
                .check_url(&reqwest::Url::parse("http://169.254.169.254/").unwrap())
                .is_ok()
        );
        assert!("not a host!".parse::<HostPattern>().is_err());
        assert!("".parse::<HostPattern>().is_err());
    }

    #[test]
    fn the_message_names_the_rule_and_the_way_out() {
        let denied = EgressPolicy::default()
            .check_url(&reqwest::Url::parse("http://10.0.0.1/x").unwrap())
            .unwrap_err();
        let message = denied.to_string();
        assert!(message.contains("http://10.0.0.1/x"), "{message}");
        assert!(message.contains("rule `private`"), "{message}");
        assert!(message.contains("--allow-private-network"), "{message}");
    }

    #[test]
    fn every_denial_message_is_recognised_as_one() {
        let mut policy = EgressPolicy::default();
        policy.deny_daemon_address("127.0.0.1:8000".parse().unwrap());
        for url in [
            "ftp://example.com/",
            "http://10.0.0.1/x",
            "http://169.254.169.254/",
            "http://127.0.0.1:8000/healthz",
        ] {
            let denied = policy
                .check_url(&reqwest::Url::parse(url).unwrap())
                .unwrap_err();
            assert!(EgressDenied::is_denial(&denied.to_string()), "{denied}");
        }
        for other in [
            "cannot connect: Connection refused (os error 111)",
            "the request timed out",
            "the body broke off: connection reset",
        ] {
            assert!(!EgressDenied::is_denial(other), "{other}");
        }
    }
}
