//! Webhook targets: `http`/`https` URLs whose addresses are public, unless the configuration
//! allows private ones. Checked when a subscription is created and again, after DNS
//! resolution, before every delivery (the delivery then connects to the checked addresses
//! only, so a name that resolves differently later cannot point it elsewhere).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

/// Longest target URL.
pub const MAX_TARGET_LEN: usize = 2048;

/// How long a target's name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not a usable URL.
    #[error("the target must be an absolute http or https URL without credentials: {0}")]
    Invalid(String),
    /// Its name does not resolve.
    #[error("the target's host {0:?} does not resolve")]
    Unresolved(String),
    /// It resolves to an address that is not public.
    #[error(
        "the target's host resolves to {0}, a private, loopback, link-local or unspecified \
         address (allowed only with notify.webhooks.allow_private_targets)"
    )]
    Private(IpAddr),
}

/// Parse and check the form of a target URL (no lookup).
pub fn parse_target(url: &str) -> Result<Url, TargetError> {
    if url.len() > MAX_TARGET_LEN {
        return Err(TargetError::Invalid(format!(
            "longer than {MAX_TARGET_LEN} bytes"
        )));
    }
    let u = Url::parse(url).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(TargetError::Invalid(format!("scheme {:?}", u.scheme())));
    }
    if u.host().is_none() {
        return Err(TargetError::Invalid("no host".into()));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(TargetError::Invalid("credentials in the URL".into()));
    }
    if u.fragment().is_some() {
        return Err(TargetError::Invalid("a fragment".into()));
    }
    Ok(u)
}

/// Whether deliveries may go to this address without `allow_private_targets`: not private,
/// loopback, link-local, unspecified, shared (100.64/10), broadcast, multicast or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s0 & 0xfe00) == 0xfc00 // unique local
                || (s0 & 0xffc0) == 0xfe80 // link-local
                || (s0 & 0xffc0) == 0xfec0 // site-local (deprecated)
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                || (v6.segments()[..6] == [0, 0, 0, 0, 0, 0])) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || o[0] >= 240)
}

/// Resolve the target's host and check every address; the addresses to connect to.
pub async fn resolve_target(
    url: &Url,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, TargetError> {
    let host = url
        .host_str()
        .ok_or_else(|| TargetError::Invalid("no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| TargetError::Invalid("no port".into()))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if let Ok(ip) = bare.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((bare, port))).await {
            Ok(Ok(a)) => a.collect(),
            _ => return Err(TargetError::Unresolved(host.to_owned())),
        }
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolved(host.to_owned()));
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(TargetError::Private(bad.ip()));
    }
    Ok(addrs)
}

/// [`parse_target`] and [`resolve_target`]: what a subscription's creation checks.
pub async fn check_target(url: &str, allow_private: bool) -> Result<Url, TargetError> {
    let u = parse_target(url)?;
    resolve_target(&u, allow_private).await?;
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(!is_public(ip), "{private} is not public");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().expect("ip");
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn forms_are_checked() {
        assert!(parse_target("https://example.org/hook?x=1").is_ok());
        for bad in [
            "ftp://example.org/",
            "file:///etc/passwd",
            "https://user:pw@example.org/",
            "not a url",
            "https://example.org/#frag",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        let err = check_target("http://127.0.0.1:9/hook", false)
            .await
            .expect_err("refused");
        assert!(matches!(err, TargetError::Private(_)), "{err}");
        let err = check_target("http://localhost:9/hook", false)
            .await
            .expect_err("refused");
        assert!(matches!(err, TargetError::Private(_)), "{err}");
        let err = check_target("http://[::1]:9/hook", false)
            .await
            .expect_err("refused");
        assert!(matches!(err, TargetError::Private(_)), "{err}");
        assert!(check_target("http://127.0.0.1:9/hook", true).await.is_ok());
    }
}
