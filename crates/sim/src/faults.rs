//! Fault injection: rules matched on the request path, applied before or to the response.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A fault applied to requests whose path (with query) contains `path_contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Substring of the request path (and query, `path?query`) that selects the requests.
    pub path_contains: String,
    /// What to do.
    pub fault: Fault,
    /// Apply to the first N matching requests only; `None` = always.
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule applied to every matching request.
    pub fn always(path_contains: impl Into<String>, fault: Fault) -> Self {
        Self {
            path_contains: path_contains.into(),
            fault,
            times: None,
        }
    }

    /// A rule applied to the first `n` matching requests.
    pub fn times(path_contains: impl Into<String>, fault: Fault, n: u32) -> Self {
        Self {
            path_contains: path_contains.into(),
            fault,
            times: Some(n),
        }
    }
}

/// The kinds of fault the server can inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Respond with this status code and a short text body.
    Status(u16),
    /// 429 Too Many Requests with `Retry-After`.
    TooMany {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// 503 Service Unavailable with `Retry-After`.
    Unavailable {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// Send the headers, then the body in 8 chunks, sleeping `delay` before each.
    SlowBody {
        /// Sleep before each chunk.
        delay: Duration,
    },
    /// 200 with only the first half of the body.
    Truncated,
    /// 200 with a broken closing tag (not well-formed XML).
    Malformed,
    /// 200 with an HTML error page instead of the catalog.
    HtmlErrorPage,
    /// A chain of `hops` 302 responses through `/redirect/{n}/…` ending at the real path.
    Redirect {
        /// Number of 302 responses before the real document.
        hops: u32,
    },
    /// The catalog additionally contains a catalogRef back to the root catalog.
    Cycle,
    /// Sleep this long before responding normally.
    Delay(Duration),
    /// A 302 to this absolute URL (e.g. another server: cross-origin redirects).
    RedirectTo(String),
    /// A redirect loop: a 302 to `/loop{path}`, which redirects back to the path, for ever.
    RedirectLoop,
    /// 200 with the first half of the body, then the connection is dropped (the body stream
    /// fails; a client may or may not see the headers first): a server going away in the
    /// middle of a response.
    Reset,
}

impl std::str::FromStr for FaultRule {
    type Err = String;

    /// `SUBSTRING=KIND[:ARG][@TIMES]`, KIND one of `status:CODE`, `toomany:SECS`,
    /// `unavailable:SECS`, `slow:MS`, `truncated`, `malformed`, `html`, `redirect:HOPS`, `cycle`,
    /// `delay:MS`, `redirectloop`, `reset`. Example: `/N0Q/=unavailable:2@3`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (path, rest) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("fault `{s}`: expected SUBSTRING=KIND"))?;
        let (kind, times) = match rest.split_once('@') {
            Some((k, t)) => (
                k,
                Some(
                    t.parse::<u32>()
                        .map_err(|e| format!("fault `{s}`: times: {e}"))?,
                ),
            ),
            None => (rest, None),
        };
        let (name, arg) = match kind.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (kind, None),
        };
        let num = |what: &str| -> Result<u64, String> {
            arg.ok_or_else(|| format!("fault `{s}`: {name} needs :{what}"))?
                .parse::<u64>()
                .map_err(|e| format!("fault `{s}`: {e}"))
        };
        let fault = match name {
            "status" => {
                Fault::Status(u16::try_from(num("CODE")?).map_err(|e| format!("fault `{s}`: {e}"))?)
            }
            "toomany" => Fault::TooMany {
                retry_after_secs: num("SECS")?,
            },
            "unavailable" => Fault::Unavailable {
                retry_after_secs: num("SECS")?,
            },
            "slow" => Fault::SlowBody {
                delay: Duration::from_millis(num("MS")?),
            },
            "truncated" => Fault::Truncated,
            "malformed" => Fault::Malformed,
            "html" => Fault::HtmlErrorPage,
            "redirect" => Fault::Redirect {
                hops: u32::try_from(num("HOPS")?).map_err(|e| format!("fault `{s}`: {e}"))?,
            },
            "cycle" => Fault::Cycle,
            "delay" => Fault::Delay(Duration::from_millis(num("MS")?)),
            "redirectloop" => Fault::RedirectLoop,
            "reset" => Fault::Reset,
            other => return Err(format!("fault `{s}`: unknown kind `{other}`")),
        };
        Ok(FaultRule {
            path_contains: path.to_owned(),
            fault,
            times,
        })
    }
}

struct RuleState {
    rule: FaultRule,
    used: AtomicU32,
}

/// The active rules with their per-rule use counts.
#[derive(Default)]
pub(crate) struct Faults {
    rules: RwLock<Vec<RuleState>>,
}

impl Faults {
    pub(crate) fn new(rules: Vec<FaultRule>) -> Self {
        let f = Self::default();
        f.set(rules);
        f
    }

    pub(crate) fn set(&self, rules: Vec<FaultRule>) {
        let states = rules
            .into_iter()
            .map(|rule| RuleState {
                rule,
                used: AtomicU32::new(0),
            })
            .collect();
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = states;
    }

    /// The first rule matching `key` that still has uses left; counts the use.
    pub(crate) fn pick(&self, key: &str, skip_redirects: bool) -> Option<Fault> {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        for st in rules.iter() {
            if !key.contains(st.rule.path_contains.as_str()) {
                continue;
            }
            if skip_redirects && matches!(st.rule.fault, Fault::Redirect { .. }) {
                continue;
            }
            let ok = match st.rule.times {
                None => {
                    st.used.fetch_add(1, Ordering::SeqCst);
                    true
                }
                Some(n) => st
                    .used
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
                        (u < n).then_some(u + 1)
                    })
                    .is_ok(),
            };
            if ok {
                return Some(st.rule.fault.clone());
            }
        }
        None
    }
}

/// The first half of `body` (cut on a character boundary).
pub(crate) fn truncate(mut body: String) -> String {
    let mut cut = body.len() / 2;
    while cut > 0 && !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body.truncate(cut);
    body
}

/// `body` with a closing tag broken so that it is not well-formed XML.
pub(crate) fn malform(body: String) -> String {
    for tag in ["</dataset>", "</catalog>"] {
        if body.contains(tag) {
            return body.replacen(tag, "</datasett oops>", 1);
        }
    }
    let mut b = body;
    b.push_str("<unclosed attr=\"");
    b
}

/// `body` with an extra catalogRef back to the root catalog.
pub(crate) fn add_cycle(body: String) -> String {
    const REF: &str = "  <catalogRef xlink:href=\"/thredds/catalog.xml\" xlink:title=\"Back to the root\" name=\"Back to the root\" ID=\"sim-cycle\" />\n";
    match body.rfind("</catalog>") {
        Some(i) => {
            let mut o = String::with_capacity(body.len() + REF.len());
            o.push_str(body.get(..i).unwrap_or(""));
            o.push_str(REF);
            o.push_str(body.get(i..).unwrap_or(""));
            o
        }
        None => body,
    }
}

/// A TDS/Tomcat-like HTML error page.
pub(crate) fn html_error_page() -> String {
    "<!DOCTYPE html>\n<html><head><title>Error report</title></head>\n<body><h1>HTTP Status 500 - Internal Server Error</h1>\n<p>The server encountered an unexpected condition.</p>\n</body></html>\n".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_limits_uses_per_rule() {
        let f = Faults::new(vec![
            FaultRule::times("a", Fault::Status(500), 2),
            FaultRule::always("a", Fault::Truncated),
        ]);
        assert_eq!(f.pick("/x/a", false), Some(Fault::Status(500)));
        assert_eq!(f.pick("/x/a", false), Some(Fault::Status(500)));
        assert_eq!(f.pick("/x/a", false), Some(Fault::Truncated));
        assert_eq!(f.pick("/x/b", false), None);
    }

    #[test]
    fn parses_rules() {
        let r: FaultRule = "/N0Q/=unavailable:2@3".parse().unwrap();
        assert_eq!(
            r,
            FaultRule::times(
                "/N0Q/",
                Fault::Unavailable {
                    retry_after_secs: 2
                },
                3
            )
        );
        let r: FaultRule = "catalog=slow:250".parse().unwrap();
        assert_eq!(
            r,
            FaultRule::always(
                "catalog",
                Fault::SlowBody {
                    delay: Duration::from_millis(250)
                }
            )
        );
        assert_eq!("x=cycle".parse::<FaultRule>().unwrap().fault, Fault::Cycle);
        assert_eq!(
            "x=redirectloop".parse::<FaultRule>().unwrap().fault,
            Fault::RedirectLoop
        );
        assert_eq!("x=reset@2".parse::<FaultRule>().unwrap().times, Some(2));
        assert_eq!(
            "x=status:503".parse::<FaultRule>().unwrap().fault,
            Fault::Status(503)
        );
        assert!("x=status".parse::<FaultRule>().is_err());
        assert!("x=bogus".parse::<FaultRule>().is_err());
        assert!("nothing".parse::<FaultRule>().is_err());
        assert!("x=html@z".parse::<FaultRule>().is_err());
    }

    #[test]
    fn transforms() {
        let body = "<catalog><dataset></dataset></catalog>".to_owned();
        assert_eq!(truncate(body.clone()).len(), body.len() / 2);
        assert!(malform(body.clone()).contains("</datasett oops>"));
        let c = add_cycle(body);
        assert!(c.contains("xlink:href=\"/thredds/catalog.xml\""));
        assert!(c.ends_with("</catalog>"));
        assert_eq!(truncate("é".to_owned()), "");
    }
}
