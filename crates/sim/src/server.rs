//! The HTTP server: routing, latency, faults, conditional requests and counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::SimClock;
use crate::counters::Counters;
use crate::dir::DirSource;
use crate::faults::{self, Fault, FaultRule, Faults};
use crate::tree::Tree;
use crate::xml::{self, Doc, DocKind};
use crate::{RequiredHeader, SimConfig, TreeSpec};

struct AppState {
    tree: Tree,
    spec: TreeSpec,
    clock: SimClock,
    counters: Arc<Counters>,
    faults: Faults,
    latency: Duration,
    robots: Option<String>,
    dir: Option<DirSource>,
    /// Paths a redirect chain has just pointed back to: their next request skips redirect faults.
    passes: Mutex<HashMap<String, u32>>,
    require_auth: Option<RequiredHeader>,
    validators: bool,
}

/// A running simulated TDS.
pub struct SimServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Binds `127.0.0.1:{cfg.port}` (0 = ephemeral) and starts serving in the background.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<SimServer> {
        let dir = match &cfg.dir {
            Some(d) => Some(DirSource::new(d)?),
            None => None,
        };
        let state = Arc::new(AppState {
            tree: Tree::build(&cfg.tree, cfg.seed),
            spec: cfg.tree,
            clock: cfg.clock,
            counters: Arc::new(Counters::default()),
            faults: Faults::new(cfg.faults),
            latency: cfg.latency,
            robots: cfg.robots_txt,
            dir,
            passes: Mutex::new(HashMap::new()),
            require_auth: cfg.require_auth,
            validators: cfg.validators,
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let res = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = res {
                tracing::warn!("threddex-sim server stopped: {e}");
            }
        });
        Ok(SimServer {
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/thredds/catalog.xml`
    pub fn root_catalog_url(&self) -> String {
        format!("{}/thredds/catalog.xml", self.base_url())
    }

    /// Request counters.
    pub fn counters(&self) -> &Counters {
        &self.state.counters
    }

    /// The clock the trees are computed from (advance it for live-mode tests).
    pub fn clock(&self) -> &SimClock {
        &self.state.clock
    }

    /// The tree being served.
    pub fn tree(&self) -> &TreeSpec {
        &self.state.spec
    }

    /// Granules the generated tree holds at the clock's current time.
    pub fn granule_count(&self) -> u64 {
        self.state.tree.granule_count(self.state.clock.now())
    }

    /// The granules the server lists now (its clock's time): the truth an index of it must
    /// equal.
    pub fn listed_granules(&self) -> Vec<crate::SimGranule> {
        self.state.tree.granules(self.state.clock.now())
    }

    /// Catalogs reachable from the generated root.
    pub fn catalog_count(&self) -> u64 {
        self.state.tree.catalog_count()
    }

    /// Replace the fault rules (use counts restart).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.state.faults.set(rules);
    }

    /// Stop serving (waits up to 5 s for requests in flight).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn respond(status: StatusCode, headers: &[(HeaderName, &str)], body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static("threddex-sim"));
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k.clone(), v);
        }
    }
    r
}

fn text(status: StatusCode, msg: &str) -> Response {
    respond(
        status,
        &[(header::CONTENT_TYPE, DocKind::Text.content_type())],
        Body::from(msg.to_owned()),
    )
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn is_not_modified(headers: &HeaderMap, etag: &str, last_modified: DateTime<Utc>) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag);
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v.trim()).ok())
    {
        return last_modified.timestamp() <= ims.timestamp();
    }
    false
}

impl AppState {
    fn grant_pass(&self, key: &str) {
        let mut p = self.passes.lock().unwrap_or_else(|e| e.into_inner());
        *p.entry(key.to_owned()).or_insert(0) += 1;
    }

    fn take_pass(&self, key: &str) -> bool {
        let mut p = self.passes.lock().unwrap_or_else(|e| e.into_inner());
        match p.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                p.remove(key);
                true
            }
            None => false,
        }
    }

    async fn lookup_direct(&self, path: &str, query: Option<&str>) -> Option<Doc> {
        if path == "/robots.txt" {
            return self.robots.as_ref().map(|r| Doc {
                body: r.clone(),
                last_modified: crate::tree::static_epoch(),
                kind: DocKind::Text,
            });
        }
        if let Some(dir) = &self.dir
            && let Some(doc) = dir.resolve(path, query).await
        {
            return Some(doc);
        }
        let doc = self.tree.resolve(path, self.clock.now())?;
        // `catalog.xml?dataset=ID`: the single-dataset view, as a TDS answers it.
        match query.and_then(crate::subset::dataset_param) {
            Some(id) if doc.kind == DocKind::Xml => {
                match crate::subset::single_dataset(&doc.body, &id) {
                    Some(body) => Some(Doc { body, ..doc }),
                    None => Some(doc),
                }
            }
            _ => Some(doc),
        }
    }

    async fn lookup(&self, path: &str, query: Option<&str>) -> Option<Doc> {
        if let Some(doc) = self.lookup_direct(path, query).await {
            return Some(doc);
        }
        let dir_path = path.strip_suffix("/catalog.html")?;
        let xml_path = format!("{dir_path}/catalog.xml");
        let xml_doc = self.lookup_direct(&xml_path, query).await?;
        Some(Doc {
            body: xml::html_twin("catalog.xml", dir_path.rsplit('/').next().unwrap_or("")),
            last_modified: xml_doc.last_modified,
            kind: DocKind::Html,
        })
    }
}

/// `/redirect/{n}/{rest}`: the next hop of a redirect chain.
fn redirect_step(st: &AppState, rest: &str, query: Option<&str>) -> Response {
    let Some((n, tail)) = rest.split_once('/') else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Ok(n) = n.parse::<u32>() else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let q = query.map(|q| format!("?{q}")).unwrap_or_default();
    let location = if n <= 1 {
        let target = format!("/{tail}{q}");
        st.grant_pass(&target);
        target
    } else {
        format!("/redirect/{}/{tail}{q}", n - 1)
    };
    respond(
        StatusCode::FOUND,
        &[(header::LOCATION, &location)],
        Body::empty(),
    )
}

fn slow_body(body: String, delay: Duration) -> Body {
    let bytes = Bytes::from(body);
    let chunk = bytes.len().div_ceil(8).max(1);
    let stream = futures::stream::unfold(bytes, move |mut rest| async move {
        if rest.is_empty() {
            return None;
        }
        tokio::time::sleep(delay).await;
        let piece = rest.split_to(chunk.min(rest.len()));
        Some((Ok::<Bytes, std::io::Error>(piece), rest))
    });
    Body::from_stream(stream)
}

/// The first half of `body`, then a failed stream: hyper drops the connection mid-body.
fn reset_body(body: String) -> Body {
    let half = Bytes::from(faults::truncate(body));
    let stream = futures::stream::iter([
        Ok::<Bytes, std::io::Error>(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        )),
    ]);
    Body::from_stream(stream)
}

async fn handle(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let key = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let _in_flight = st.counters.enter_from(&key, agent);
    if !st.latency.is_zero() {
        tokio::time::sleep(st.latency).await;
    }
    let headers = req.headers();
    if headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE) {
        st.counters.count_with_credentials();
    }
    if let Some(required) = &st.require_auth {
        let ok = headers
            .get_all(required.name.as_str())
            .iter()
            .any(|v| v.as_bytes() == required.value.as_bytes());
        if !ok {
            st.counters.count_unauthorized();
            return respond(
                StatusCode::UNAUTHORIZED,
                &[
                    (header::WWW_AUTHENTICATE, "Basic realm=\"threddex-sim\""),
                    (header::CONTENT_TYPE, DocKind::Text.content_type()),
                ],
                Body::from("authentication required\n"),
            );
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            &[(header::ALLOW, "GET, HEAD")],
            Body::empty(),
        );
    }
    if let Some(rest) = path.strip_prefix("/redirect/") {
        return redirect_step(&st, rest, query.as_deref());
    }
    if let Some(back) = key.strip_prefix("/loop/") {
        // The other half of a redirect loop: back to where it came from.
        return respond(
            StatusCode::FOUND,
            &[(header::LOCATION, &format!("/{back}"))],
            Body::empty(),
        );
    }
    let pass = st.take_pass(&key);
    let fault = st.faults.pick(&key, pass);
    match &fault {
        Some(Fault::Status(code)) => {
            let code = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return text(code, "injected fault\n");
        }
        Some(Fault::TooMany { retry_after_secs }) => {
            return respond(
                StatusCode::TOO_MANY_REQUESTS,
                &[
                    (header::RETRY_AFTER, &retry_after_secs.to_string()),
                    (header::CONTENT_TYPE, DocKind::Text.content_type()),
                ],
                Body::from("too many requests\n"),
            );
        }
        Some(Fault::Unavailable { retry_after_secs }) => {
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                &[
                    (header::RETRY_AFTER, &retry_after_secs.to_string()),
                    (header::CONTENT_TYPE, DocKind::Text.content_type()),
                ],
                Body::from("service unavailable\n"),
            );
        }
        Some(Fault::HtmlErrorPage) => {
            return respond(
                StatusCode::OK,
                &[(header::CONTENT_TYPE, DocKind::Html.content_type())],
                Body::from(faults::html_error_page()),
            );
        }
        Some(Fault::Redirect { hops }) if *hops > 0 => {
            let location = if *hops == 1 {
                st.grant_pass(&key);
                key.clone()
            } else {
                format!("/redirect/{}{key}", hops - 1)
            };
            return respond(
                StatusCode::FOUND,
                &[(header::LOCATION, &location)],
                Body::empty(),
            );
        }
        Some(Fault::RedirectLoop) => {
            return respond(
                StatusCode::FOUND,
                &[(header::LOCATION, &format!("/loop{key}"))],
                Body::empty(),
            );
        }
        Some(Fault::RedirectTo(location)) => {
            return respond(
                StatusCode::FOUND,
                &[(header::LOCATION, location)],
                Body::empty(),
            );
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let iso = if path.starts_with("/thredds/iso/") {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("127.0.0.1");
        st.tree
            .iso_record(&path, st.clock.now(), &format!("http://{host}"))
    } else {
        None
    };
    let found = match iso {
        Some(doc) => Some(doc),
        None => st.lookup(&path, query.as_deref()).await,
    };
    let Some(mut doc) = found else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    match &fault {
        Some(Fault::Truncated) => doc.body = faults::truncate(doc.body),
        Some(Fault::Malformed) => doc.body = faults::malform(doc.body),
        Some(Fault::Cycle) => doc.body = faults::add_cycle(doc.body),
        _ => {}
    }
    let etag = format!("\"{:016x}\"", xml::hash64(0, &doc.body));
    let lm = http_date(doc.last_modified);
    if st.validators && is_not_modified(req.headers(), &etag, doc.last_modified) {
        st.counters.count_not_modified();
        return respond(
            StatusCode::NOT_MODIFIED,
            &[(header::ETAG, &etag), (header::LAST_MODIFIED, &lm)],
            Body::empty(),
        );
    }
    let all = [
        (header::CONTENT_TYPE, doc.kind.content_type()),
        (header::ETAG, etag.as_str()),
        (header::LAST_MODIFIED, lm.as_str()),
    ];
    let headers = if st.validators { &all[..] } else { &all[..1] };
    let body = match fault {
        Some(Fault::SlowBody { delay }) => slow_body(doc.body, delay),
        Some(Fault::Reset) => reset_body(doc.body),
        _ => Body::from(doc.body),
    };
    respond(StatusCode::OK, headers, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_headers() {
        let lm = DateTime::parse_from_rfc3339("2024-01-08T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        assert!(!is_not_modified(&h, "\"a\"", lm));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"b\", W/\"a\""),
        );
        assert!(is_not_modified(&h, "\"a\"", lm));
        assert!(!is_not_modified(&h, "\"c\"", lm));
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&http_date(lm)).unwrap(),
        );
        assert!(is_not_modified(&h, "\"a\"", lm));
        assert!(!is_not_modified(
            &h,
            "\"a\"",
            lm + chrono::Duration::seconds(1)
        ));
    }
}
