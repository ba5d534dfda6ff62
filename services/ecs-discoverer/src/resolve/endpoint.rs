//! An endpoint a marker declares, and the checks every convention shares: ports, bindings,
//! metrics paths, scrape intervals and server names.

use std::collections::BTreeMap;

use crate::model::NetworkBinding;

use super::Convention;
use super::skip::SkipReason;

/// The scrape intervals a target may declare (those of prometheus-ecs-discoverer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    S15,
    S30,
    M1,
    M5,
}

impl Interval {
    pub const ALL: [Interval; 4] = [Interval::S15, Interval::S30, Interval::M1, Interval::M5];

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::S15 => "15s",
            Interval::S30 => "30s",
            Interval::M1 => "1m",
            Interval::M5 => "5m",
        }
    }

    pub(super) fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == raw)
    }
}

/// One endpoint a marker declares, before it is bound to an address.
#[derive(Debug, Clone)]
pub(super) struct Endpoint<'a> {
    pub(super) convention: Convention,
    pub(super) container: &'a str,
    pub(super) port: u16,
    pub(super) path: String,
    pub(super) interval: Option<Interval>,
    pub(super) scheme: Option<String>,
    pub(super) job: Option<String>,
    pub(super) host: Option<String>,
    pub(super) labels: BTreeMap<String, String>,
}

pub(super) fn parse_port(key: &'static str, raw: &str) -> Result<u16, SkipReason> {
    match raw.trim().parse::<i64>() {
        Ok(port) if (1..=65535).contains(&port) => Ok(port as u16),
        _ => Err(SkipReason::InvalidPort {
            key,
            value: raw.to_string(),
        }),
    }
}

pub(super) fn binding_host_port(binding: &NetworkBinding) -> Result<u16, SkipReason> {
    match binding.host_port {
        Some(port) if (1..=65535).contains(&port) => Ok(port as u16),
        Some(port) if port != 0 => Err(SkipReason::InvalidPort {
            key: "networkBindings.hostPort",
            value: port.to_string(),
        }),
        _ => Err(SkipReason::DynamicPortUnassigned {
            container_port: binding.container_port,
        }),
    }
}

pub(super) fn binding_for(
    bindings: &[NetworkBinding],
    container_port: u16,
) -> Result<u16, SkipReason> {
    bindings
        .iter()
        .find(|b| b.container_port == Some(i32::from(container_port)))
        .ok_or(SkipReason::NoBindingForPort {
            port: container_port,
        })
        .and_then(binding_host_port)
}

/// At most this many endpoints per container from `PROMETHEUS_ENDPOINT`: a runaway value (a
/// 10 KB variable made 1,800 targets) can't flood Prometheus.
pub const MAX_ENDPOINTS_PER_CONTAINER: usize = 32;

/// A metrics path as `__metrics_path__`: absolute, without a query or fragment. Prometheus
/// escapes a `?` in the path (`%3F`), so `/metrics?x=1` would scrape a path that doesn't exist;
/// such an endpoint is refused with its reason rather than scraped wrong. (Query parameters
/// belong in the scrape config's `params`.)
pub(super) fn check_path(key: &'static str, path: &str) -> Result<String, SkipReason> {
    if !path.starts_with('/') {
        Err(SkipReason::InvalidPath {
            key,
            value: path.to_string(),
        })
    } else if path.contains(['?', '#']) {
        Err(SkipReason::QueryInPath {
            key,
            value: path.to_string(),
        })
    } else {
        Ok(path.to_string())
    }
}

/// `PROMETHEUS_EXPORTER_SERVER_NAME` as the host part of a target address: a DNS name (RFC 1123
/// labels) or an IP address, IPv6 in brackets. Anything else (a port, a path, a query,
/// credentials) would change what Prometheus scrapes, or make a target it rejects.
pub(super) fn server_name(value: &str) -> Result<String, SkipReason> {
    if let Ok(ip) = value.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(name.to_string())
    } else {
        Err(SkipReason::InvalidServerName {
            value: value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A port is accepted exactly when it is an integer of 1..=65535 (spaces around it
        /// allowed), and then it is that number.
        #[test]
        fn ports_are_accepted_exactly_in_range(raw in "[ ]?[-+]?[0-9]{1,6}[ ]?") {
            let expected = raw.trim().parse::<i64>().ok().filter(|p| (1..=65535).contains(p));
            let parsed = parse_port("PROMETHEUS_PORT", &raw).ok().map(i64::from);
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn any_text_that_is_not_a_number_is_refused_with_its_key(raw in "[^0-9]*") {
            let refused = matches!(parse_port("METRICS_PORT", &raw), Err(SkipReason::InvalidPort { key: "METRICS_PORT", .. }));
            prop_assert!(refused);
        }

        /// A bound host port is the target's port; 0 or none is a dynamic port not yet
        /// assigned, and anything out of range is refused.
        #[test]
        fn host_ports_of_bindings(host_port in proptest::option::of(-70000i32..70000)) {
            let binding = NetworkBinding { container_port: Some(8080), host_port };
            match (host_port, binding_host_port(&binding)) {
                (Some(p @ 1..=65535), Ok(port)) => prop_assert_eq!(i32::from(port), p),
                (None | Some(0), Err(SkipReason::DynamicPortUnassigned { .. })) => {}
                (Some(_), Err(SkipReason::InvalidPort { .. })) => {}
                (port, other) => prop_assert!(false, "{port:?} gave {other:?}"),
            }
        }
    }
}
