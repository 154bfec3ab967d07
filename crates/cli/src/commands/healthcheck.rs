//! `threddex healthcheck`: `GET /readyz` with a short timeout; exit 0 on 200, else 1. For
//! container health checks (the runtime image has no curl).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::HealthcheckArgs;
use crate::config::Config;

/// The whole check, connection included.
const TIMEOUT: Duration = Duration::from_secs(3);

pub async fn run(args: HealthcheckArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let base = args.url.unwrap_or_else(|| base_url(&cfg.api.bind));
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    match client.get(&url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            eprintln!("unhealthy: {url} answered {}", r.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `http://HOST:PORT` for a listening address; an unspecified address (`0.0.0.0`, `[::]`) is
/// reached on loopback.
fn base_url(bind: &str) -> String {
    let bind = bind.trim();
    match bind.parse::<SocketAddr>() {
        Ok(mut a) => {
            if a.ip().is_unspecified() {
                a.set_ip(match a.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            format!("http://{a}")
        }
        Err(_) => format!("http://{bind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_from_bind() {
        assert_eq!(base_url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(base_url("[::]:9000"), "http://[::1]:9000");
        assert_eq!(base_url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(base_url("localhost:8080"), "http://localhost:8080");
    }
}
