//! Naming authorities from host names.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The naming authority for a server host, in reverse-DNS form:
/// `thredds.ucar.edu` → `edu.ucar.thredds`.
///
/// Accepts a bare host, `host:port` or a URL (`https://host:port/path`; scheme, user info and
/// path are ignored). Lower-cased; a trailing dot is dropped. A non-default port (not 80/443)
/// is kept as a suffix `_PORT` (`localhost:8081` → `localhost_8081`), so two servers on one
/// host stay apart. IPv4 addresses and `localhost` are not reversed (`127.0.0.1`); IPv6
/// addresses become `ipv6-` + their eight groups (`[::1]` → `ipv6-0-0-0-0-0-0-0-1`). Other
/// characters than `[a-z0-9.-]` become `_`; the result never contains `:`. An empty host gives
/// `unknown`.
pub fn authority_from_host(host: &str) -> String {
    let mut h = host.trim();
    if let Some((_, rest)) = h.split_once("://") {
        h = rest;
    }
    h = h.split(['/', '?', '#']).next().unwrap_or("");
    if let Some((_, rest)) = h.rsplit_once('@') {
        h = rest;
    }
    // split host and port
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, tail)) => (addr, tail.strip_prefix(':')),
            None => (rest, None),
        }
    } else if h.matches(':').count() == 1 {
        match h.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (h, None),
        }
    } else {
        (h, None)
    };
    let port = port.filter(|p| !p.is_empty() && *p != "80" && *p != "443");
    let name = name.trim_end_matches('.').to_ascii_lowercase();

    let mut out = if let Ok(v6) = name.parse::<Ipv6Addr>() {
        let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
        format!("ipv6-{}", groups.join("-"))
    } else if name.parse::<Ipv4Addr>().is_ok() || name == "localhost" || !name.contains('.') {
        sanitize(&name)
    } else {
        let parts: Vec<&str> = name.split('.').filter(|s| !s.is_empty()).rev().collect();
        sanitize(&parts.join("."))
    };
    if out.is_empty() {
        out.push_str("unknown");
    }
    if let Some(p) = port {
        out.push('_');
        out.push_str(&sanitize(p));
    }
    out
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
