//! The `--listen ADDR|off` option.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// Where the HTTP server listens, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    Off,
    On(SocketAddr),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        s.parse().map(Listen::On).map_err(|_| {
            format!("'{s}' is not a listen address: give IP:PORT (e.g. 0.0.0.0:9001) or 'off'")
        })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Off => f.write_str("off"),
            Listen::On(addr) => addr.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("off".parse::<Listen>(), Ok(Listen::Off));
        assert_eq!(
            "127.0.0.1:9001".parse::<Listen>(),
            Ok(Listen::On("127.0.0.1:9001".parse().expect("addr")))
        );
        let err = "9001".parse::<Listen>().expect_err("no host");
        assert!(err.contains("'9001'") && err.contains("IP:PORT"));
    }
}
