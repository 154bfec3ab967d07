//! A scripted webhook receiver on 127.0.0.1 for tests and benchmarks: it records every
//! request (headers, body, when) and answers from a script (500, 429 with `Retry-After`,
//! 410, slowly), then with a default answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// One answer of the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// This status at once (an empty body).
    Status(u16),
    /// This status (429 or 503) with `Retry-After: SECONDS`.
    RetryAfter(u16, u64),
    /// 204 after this long (beyond a sender's timeout, the sender never sees it).
    Slow(Duration),
}

impl Reply {
    /// Whether a sender that waits long enough sees a 2xx.
    pub fn is_success(self) -> bool {
        match self {
            Self::Status(s) => (200..300).contains(&s),
            Self::RetryAfter(..) => false,
            Self::Slow(_) => true,
        }
    }
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// What the receiver answered.
    pub reply: Reply,
}

impl Received {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `webhook-id` header.
    pub fn id(&self) -> &str {
        self.header("webhook-id")
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    received: Vec<Received>,
}

/// The receiver; stops when dropped.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hook(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
        let reply = g
            .script
            .pop_front()
            .or(g.default)
            .unwrap_or(Reply::Status(204));
        g.received.push(Received {
            at: Instant::now(),
            headers,
            body,
            reply,
        });
        reply
    };
    match reply {
        Reply::Status(s) => StatusCode::from_u16(s)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Reply::RetryAfter(s, secs) => {
            let mut r = StatusCode::from_u16(s)
                .unwrap_or(StatusCode::TOO_MANY_REQUESTS)
                .into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            r
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

impl WebhookReceiver {
    /// Listen on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(Arc::clone(&inner));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{addr}/hook"),
            inner,
            task,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer the next requests with these replies, in order (after those still queued).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    /// The answer once the script is used up (at first: 204).
    pub fn set_default(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.lock().received.len()
    }

    /// Wait until `done` holds for the requests so far (checking every 10 ms), at most
    /// `timeout`; whether it did.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lock().received) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
