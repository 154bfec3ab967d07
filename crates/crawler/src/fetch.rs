//! Fetching one catalog: conditional GET through the host's politeness gate, a streamed body
//! with a size cap, HTML detection, retries with backoff and `Retry-After`, and robots.txt.

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use url::Url;

use crate::Progress;
use crate::auth::Credentials;
use crate::host::HostPool;
use crate::retry::{self, Failure, Retry};
use crate::robots::{MAX_ROBOTS_BYTES, Robots};
use crate::urls::host_key;

/// Validators from the previous successful fetch.
#[derive(Clone, Debug, Default)]
pub(crate) struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Why a fetch failed, after retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FetchError {
    /// A human-readable reason, for the catalog state and the report.
    pub reason: String,
    /// The server answered 404 Not Found or 410 Gone: the document does not exist (whether
    /// that is an expected disappearance is the caller's decision).
    pub gone: bool,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A successful fetch.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// 304: the stored state is still current.
    NotModified,
    /// 2xx with the body.
    Body {
        /// The URL after redirects (relative links resolve against it).
        final_url: Url,
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Settings of the fetcher (copied out of the crawl config).
#[derive(Clone, Debug)]
pub(crate) struct FetchSettings {
    pub max_body_bytes: usize,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub max_retry_after: Duration,
    pub respect_robots: bool,
    pub robots_agent: String,
}

pub(crate) struct Fetcher {
    client: reqwest::Client,
    pub(crate) hosts: HostPool,
    settings: FetchSettings,
    /// Limits shared with the other processes of the database (workers), after the local ones.
    pub(crate) shared: Option<std::sync::Arc<crate::shared_hosts::SharedHosts>>,
}

impl Fetcher {
    pub(crate) fn new(
        client: reqwest::Client,
        hosts: HostPool,
        settings: FetchSettings,
        shared: Option<std::sync::Arc<crate::shared_hosts::SharedHosts>>,
    ) -> Self {
        Self {
            client,
            hosts,
            settings,
            shared,
        }
    }

    /// Fetch a catalog, retrying transient failures. `Err` carries the final reason and
    /// whether the server said the document does not exist. The
    /// source's credentials, when given, are sent only if `url` has their origin.
    pub(crate) async fn fetch_catalog(
        &self,
        url: &Url,
        validators: &Validators,
        auth: Option<&Credentials>,
        progress: &Progress,
    ) -> Result<Fetched, FetchError> {
        self.with_retries(url, progress, |u| {
            self.attempt(
                u,
                validators,
                self.settings.max_body_bytes,
                true,
                auth,
                progress,
            )
        })
        .await
    }

    async fn with_retries<'a, F, Fut>(
        &'a self,
        url: &'a Url,
        progress: &'a Progress,
        mut once: F,
    ) -> Result<Fetched, FetchError>
    where
        F: FnMut(&'a Url) -> Fut,
        Fut: Future<Output = Result<Fetched, Failure>>,
    {
        let mut attempt: u32 = 0;
        loop {
            let failure = match once(url).await {
                Ok(f) => return Ok(f),
                Err(f) => f,
            };
            if failure.retry == Retry::Never {
                return Err(FetchError {
                    reason: failure.reason,
                    gone: failure.gone,
                });
            }
            if attempt >= self.settings.max_retries {
                return Err(FetchError {
                    reason: format!(
                        "{} (gave up after {} attempts)",
                        failure.reason,
                        attempt + 1
                    ),
                    gone: false,
                });
            }
            match failure.retry {
                // The host is paused already; the next acquire waits for the pause.
                Retry::After(_) => {}
                _ => {
                    let d = {
                        let mut rng = rand::rng();
                        retry::backoff(
                            attempt,
                            self.settings.backoff_base,
                            self.settings.backoff_cap,
                            &mut rng,
                        )
                    };
                    tracing::debug!(%url, reason = %failure.reason, wait = ?d, "retrying");
                    tokio::time::sleep(d).await;
                }
            }
            progress.add_retry();
            attempt += 1;
        }
    }

    /// One request: politeness gate, credentials (same origin only), conditional headers,
    /// status handling, capped body.
    async fn attempt(
        &self,
        url: &Url,
        validators: &Validators,
        cap: usize,
        check_html: bool,
        auth: Option<&Credentials>,
        progress: &Progress,
    ) -> Result<Fetched, Failure> {
        let key = host_key(url);
        let host = self.hosts.get(&key);
        let _slot = host.acquire().await;
        let _shared = match &self.shared {
            Some(shared) => Some(shared.acquire(&key).await),
            None => None,
        };
        progress.add_request();
        let mut req = self
            .client
            .get(url.clone())
            .header(header::ACCEPT, "application/xml, text/xml;q=0.9, */*;q=0.1");
        if let Some(e) = &validators.etag {
            req = req.header(header::IF_NONE_MATCH, e.as_str());
        }
        if let Some(m) = &validators.last_modified {
            req = req.header(header::IF_MODIFIED_SINCE, m.as_str());
        }
        let credentials = auth.and_then(|a| a.for_url(url));
        if let Some((name, value)) = credentials {
            req = req.header(name.clone(), value.clone());
        }
        let mut resp = req.send().await.map_err(|e| Failure {
            reason: retry::describe_transport(&e),
            retry: retry::classify_transport(&e),
            gone: false,
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            let after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()));
            let class =
                retry::classify_status(status.as_u16(), after, self.settings.max_retry_after);
            if let Retry::After(d) = class {
                host.pause_for(d);
            }
            let reason = match (status.as_u16(), credentials.is_some()) {
                (401, false) => format!(
                    "HTTP {status}: the server requires credentials and none are configured \
                     for this source's origin"
                ),
                (401, true) => format!("HTTP {status}: the source's credentials were refused"),
                (403, true) => {
                    format!("HTTP {status}: access denied with the source's credentials")
                }
                _ => format!("HTTP {status}"),
            };
            return Err(Failure {
                reason,
                retry: class,
                gone: matches!(status.as_u16(), 404 | 410),
            });
        }
        let final_url = resp.url().clone();
        let headers = resp.headers().clone();
        if check_html && is_html_type(&headers) {
            return Err(Failure::permanent(format!(
                "HTML page instead of catalog XML (HTTP {}, {})",
                status.as_u16(),
                content_type(&headers)
                    .unwrap_or("text/html")
                    .chars()
                    .take(80)
                    .collect::<String>()
            )));
        }
        if let Some(len) = resp.content_length()
            && len > cap as u64
        {
            return Err(Failure::permanent(format!(
                "body of {len} bytes exceeds the cap of {cap} bytes"
            )));
        }
        let initial = resp
            .content_length()
            .map_or(16 * 1024, |l| l as usize)
            .min(cap);
        let mut body: Vec<u8> = Vec::with_capacity(initial);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    progress.add_bytes(chunk.len() as u64);
                    if body.len() + chunk.len() > cap {
                        return Err(Failure::permanent(format!(
                            "body exceeds the cap of {cap} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure {
                        reason: retry::describe_transport(&e),
                        retry: retry::classify_transport(&e),
                        gone: false,
                    });
                }
            }
        }
        if check_html && looks_like_html(&body) {
            return Err(Failure::permanent(format!(
                "HTML page instead of catalog XML (HTTP {})",
                status.as_u16()
            )));
        }
        Ok(Fetched::Body {
            final_url,
            body,
            etag: header_string(&headers, header::ETAG),
            last_modified: header_string(&headers, header::LAST_MODIFIED),
        })
    }

    /// Whether robots.txt of the URL's host allows fetching it (always true when robots are
    /// not respected). The file is fetched once per host; 4xx means "no rules"; a server or
    /// network failure (after retries) is also treated as "no rules" (the catalog fetches that
    /// follow will meet the same failure and record it).
    /// The source's credentials are sent with the robots.txt request when it has their origin.
    pub(crate) async fn robots_allows(
        &self,
        url: &Url,
        auth: Option<&Credentials>,
        progress: &Progress,
    ) -> bool {
        if !self.settings.respect_robots {
            return true;
        }
        let key = host_key(url);
        let host = self.hosts.get(&key);
        let rules = host
            .robots
            .get_or_init(|| async {
                let robots_url = match Url::parse(&format!("{key}/robots.txt")) {
                    Ok(u) => u,
                    Err(_) => return Robots::allow_all(),
                };
                let none = Validators::default();
                let got = self
                    .with_retries(&robots_url, progress, |u| {
                        self.attempt(u, &none, MAX_ROBOTS_BYTES, false, auth, progress)
                    })
                    .await;
                match got {
                    Ok(Fetched::Body { body, .. }) => {
                        let text = String::from_utf8_lossy(&body);
                        let r = Robots::parse(&text, &self.settings.robots_agent);
                        tracing::debug!(host = %key, rules = r.rule_count(), "robots.txt loaded");
                        r
                    }
                    Ok(Fetched::NotModified) => Robots::allow_all(),
                    Err(reason) => {
                        tracing::debug!(host = %key, %reason, "no usable robots.txt");
                        Robots::allow_all()
                    }
                }
            })
            .await;
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        rules.allowed(&path)
    }
}

fn header_string(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 1024)
        .map(str::to_string)
}

fn content_type(h: &HeaderMap) -> Option<&str> {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn is_html_type(h: &HeaderMap) -> bool {
    content_type(h).is_some_and(|ct| {
        let ct = ct.trim_start().to_ascii_lowercase();
        ct.starts_with("text/html") || ct.starts_with("application/xhtml")
    })
}

/// Whether a body is an HTML page (error pages are often served with 200 and text/xml).
pub(crate) fn looks_like_html(body: &[u8]) -> bool {
    let mut b = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    // Skip whitespace, an XML declaration and comments at the start.
    for _ in 0..8 {
        let start = b
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(b.len());
        b = b.get(start..).unwrap_or(&[]);
        if b.starts_with(b"<?") {
            match find(b, b"?>") {
                Some(i) => b = b.get(i + 2..).unwrap_or(&[]),
                None => return false,
            }
        } else if b.starts_with(b"<!--") {
            match find(b, b"-->") {
                Some(i) => b = b.get(i + 3..).unwrap_or(&[]),
                None => return false,
            }
        } else {
            break;
        }
    }
    let head: Vec<u8> = b.iter().take(14).map(u8::to_ascii_lowercase).collect();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_sniffing() {
        assert!(looks_like_html(b"<!DOCTYPE html><html></html>"));
        assert!(looks_like_html(
            b"\xEF\xBB\xBF  \n<HTML><body>Error</body></HTML>"
        ));
        assert!(looks_like_html(
            b"<?xml version=\"1.0\"?>\n<!-- x --><html>"
        ));
        assert!(!looks_like_html(b"<?xml version=\"1.0\"?><catalog/>"));
        assert!(!looks_like_html(
            b"<catalog xmlns=\"x\"><dataset name=\"html\"/></catalog>"
        ));
        assert!(!looks_like_html(b""));
        assert!(!looks_like_html(b"<?xml never closed"));
    }
}
