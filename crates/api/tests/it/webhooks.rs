//! Webhook subscriptions end to end: the admin routes, and the delivery worker `serve` runs
//! posting to a scripted receiver on 127.0.0.1 (500, 429 with Retry-After, too slow, 410, a
//! long run of failures), out-of-order commits on Postgres, signatures checked by the
//! `standardwebhooks` package from PyPI, and private targets refused.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use threddex_api::{AdminToken, ApiConfig, AppState};
use threddex_notify::WebhookConfig;
use threddex_sim::{Received, Reply, WebhookReceiver};
use threddex_store::{Batch, ChangeQuery, NewSubscription, Store, SubscriptionFilter};

use super::common::{self, DAILY, OTHER, day};

const TOKEN: &str = "webhooks-test-token-0123456789abcdef";

fn fast(allow_private_targets: bool) -> WebhookConfig {
    WebhookConfig {
        enabled: true,
        allow_private_targets,
        timeout: Duration::from_millis(300),
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(3),
        max_failures: 4,
        poll: Duration::from_millis(20),
    }
}

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(store: Arc<dyn Store>, webhooks: WebhookConfig) -> Server {
        let config = ApiConfig {
            admin_token: Some(AdminToken::new(TOKEN).unwrap()),
            change_poll: Duration::from_millis(20),
            webhooks,
            ..ApiConfig::default()
        };
        let state = AppState::new(store, None, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(threddex_api::serve(listener, state, async {
            let _ = rx.await;
        }));
        Server {
            base,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("stops")
            .unwrap()
            .unwrap();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn admin(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method, url).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&b).unwrap());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn subscribe(base: &str, body: Value) -> (u16, Value) {
    admin(
        reqwest::Method::POST,
        &format!("{base}/subscriptions"),
        Some(body),
    )
    .await
}

/// One write transaction adding a granule to `collection`; its change-log position.
async fn add_granule(store: &dyn Store, collection: &str, name: &str) -> i64 {
    store
        .write_batch(&Batch {
            granules: vec![common::granule(collection, name, day(20), None)],
            ..Batch::default()
        })
        .await
        .unwrap();
    store.change_head().await.unwrap().0
}

/// IDs the receiver acknowledged (answered 2xx at once), in order.
fn acked(r: &[Received]) -> Vec<i64> {
    r.iter()
        .filter(|x| matches!(x.reply, Reply::Status(s) if (200..300).contains(&s)))
        .map(|x| x.id().parse().unwrap())
        .collect()
}

async fn wait_acked(rx: &WebhookReceiver, want: &[i64]) {
    let ok = rx
        .wait_until(Duration::from_secs(20), |r| acked(r).ends_with(want))
        .await;
    let got: Vec<(String, Reply)> = rx
        .received()
        .iter()
        .map(|r| (r.id().to_owned(), r.reply))
        .collect();
    assert!(
        ok,
        "waiting for {want:?} to be acknowledged; received {got:?}"
    );
}

async fn wait_status(base: &str, id: i64, status: &str) -> Value {
    let url = format!("{base}/subscriptions/{id}");
    for _ in 0..500 {
        let (code, v) = admin(reqwest::Method::GET, &url, None).await;
        assert_eq!(code, 200, "{v}");
        if v["status"] == status {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("subscription {id} never became {status}");
}

#[tokio::test]
async fn retries_back_off_honour_retry_after_stop_on_410_disable_and_resume() {
    let store = common::store().await;
    let server = Server::start(store.clone(), fast(true)).await;
    let base = server.base.clone();
    let rx = WebhookReceiver::start().await.unwrap();
    rx.script([
        Reply::Status(500),
        Reply::RetryAfter(429, 1),
        Reply::Slow(Duration::from_millis(1500)),
    ]);
    let (code, sub) = subscribe(&base, json!({"url": rx.url, "collections": [DAILY]})).await;
    assert_eq!(code, 201, "{sub}");
    assert!(sub["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = sub["id"].as_i64().unwrap();
    let (_, shown) = admin(
        reqwest::Method::GET,
        &format!("{base}/subscriptions/{id}"),
        None,
    )
    .await;
    assert!(shown.get("secret").is_none(), "the secret is shown once");
    assert_eq!(shown["filter"]["collections"], json!([DAILY]));

    // 500, then 429 with Retry-After: 1, then too slow, then 2xx; the other collection's
    // entry is not for this subscription.
    let e1 = add_granule(&*store, DAILY, "w1.nc").await;
    let other = add_granule(&*store, OTHER, "w_other.nc").await;
    let e2 = add_granule(&*store, DAILY, "w2.nc").await;
    let e3 = add_granule(&*store, DAILY, "w3.nc").await;
    wait_acked(&rx, &[e1, e2, e3]).await;
    let got = rx.received();
    let ids: Vec<i64> = got.iter().map(|r| r.id().parse().unwrap()).collect();
    assert_eq!(
        ids,
        [e1, e1, e1, e1, e2, e3],
        "in order, retried, never {other}"
    );
    let replies: Vec<Reply> = got.iter().map(|r| r.reply).take(4).collect();
    assert_eq!(
        replies,
        [
            Reply::Status(500),
            Reply::RetryAfter(429, 1),
            Reply::Slow(Duration::from_millis(1500)),
            Reply::Status(204)
        ]
    );
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(25),
        "backoff"
    );
    assert!(
        got[2].at - got[1].at >= Duration::from_millis(990),
        "Retry-After honoured: {:?}",
        got[2].at - got[1].at
    );
    // The slow answer was given up after the timeout, well before the receiver answered.
    assert!(got[3].at - got[2].at < Duration::from_millis(1400));
    for r in &got {
        let event: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(event["id"], r.id(), "the CloudEvent ID is the webhook-id");
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["subject"], DAILY);
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("webhook-signature").starts_with("v1,"));
    }
    let (_, log) = admin(
        reqwest::Method::GET,
        &format!("{base}/subscriptions/{id}/deliveries?limit=4"),
        None,
    )
    .await;
    let outcomes: Vec<(String, String, Value)> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["event_id"].as_str().unwrap().to_owned(),
                d["outcome"].as_str().unwrap().to_owned(),
                d["status"].clone(),
            )
        })
        .collect();
    let s = |x: i64| x.to_string();
    assert_eq!(
        outcomes,
        [
            (s(e3), "delivered".into(), json!(204)),
            (s(e2), "delivered".into(), json!(204)),
            (s(e1), "delivered".into(), json!(204)),
            (s(e1), "failed".into(), Value::Null),
        ]
    );
    let next = log["next"].as_str().unwrap();
    let (_, older) = admin(reqwest::Method::GET, next, None).await;
    let older: Vec<Value> = older["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].clone())
        .collect();
    assert_eq!(older, [json!(429), json!(500)]);
    let v = wait_status(&base, id, "active").await;
    assert_eq!(v["cursor"], e3);

    // 410 Gone: disabled at once; later entries wait; resuming delivers from the cursor.
    rx.script([Reply::Status(410)]);
    let e4 = add_granule(&*store, DAILY, "w4.nc").await;
    let v = wait_status(&base, id, "disabled").await;
    assert!(
        v["disabled_reason"].as_str().unwrap().contains("410"),
        "{v}"
    );
    assert_eq!(v["cursor"], e3);
    let e5 = add_granule(&*store, DAILY, "w5.nc").await;
    let before = rx.count();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        rx.count(),
        before,
        "a disabled subscription delivers nothing"
    );
    let (code, v) = admin(
        reqwest::Method::POST,
        &format!("{base}/subscriptions/{id}/resume"),
        None,
    )
    .await;
    assert_eq!((code, v["status"].as_str()), (200, Some("active")), "{v}");
    wait_acked(&rx, &[e4, e5]).await;

    // A long run of failures disables it (max_failures = 4); resumed, it catches up.
    rx.set_default(Reply::Status(500));
    let e6 = add_granule(&*store, DAILY, "w6.nc").await;
    let v = wait_status(&base, id, "disabled").await;
    assert!(
        v["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("4 failed attempts"),
        "{v}"
    );
    assert_eq!(v["failures"], 4);
    let e7 = add_granule(&*store, DAILY, "w7.nc").await;
    let tries = rx
        .received()
        .iter()
        .filter(|r| r.id() == e6.to_string())
        .count();
    assert_eq!(tries, 4);
    rx.set_default(Reply::Status(200));
    let (code, _) = admin(
        reqwest::Method::POST,
        &format!("{base}/subscriptions/{id}/resume"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    wait_acked(&rx, &[e6, e7]).await;
    // Every entry of the collection, acknowledged once each, in log order.
    let all: Vec<i64> = store
        .changes(&ChangeQuery {
            after: e1 - 1,
            collections: vec![DAILY.into()],
            limit: 0,
        })
        .await
        .unwrap()
        .changes
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(all, [e1, e2, e3, e4, e5, e6, e7]);
    assert_eq!(acked(&rx.received()), all);
    let v = wait_status(&base, id, "active").await;
    assert_eq!(
        (v["cursor"].as_i64(), v["failures"].as_i64()),
        (Some(e7), Some(0))
    );

    // Removal stops it.
    let (code, _) = admin(
        reqwest::Method::DELETE,
        &format!("{base}/subscriptions/{id}"),
        None,
    )
    .await;
    assert_eq!(code, 204);
    let (code, _) = admin(
        reqwest::Method::GET,
        &format!("{base}/subscriptions/{id}"),
        None,
    )
    .await;
    assert_eq!(code, 404);
    server.stop().await;
}

/// A filter by ID pattern and by text and box: evaluated through the store's record filter.
#[tokio::test]
async fn filters_by_pattern_text_and_box() {
    let store = common::store().await;
    let server = Server::start(store.clone(), fast(true)).await;
    let pattern = WebhookReceiver::start().await.unwrap();
    let text_box = WebhookReceiver::start().await.unwrap();
    let (c1, _) = subscribe(
        &server.base,
        json!({"url": pattern.url, "pattern": "test:wind/*"}),
    )
    .await;
    // The DAILY collection lies in the Pacific box and its title says "temperature".
    let (c2, _) = subscribe(
        &server.base,
        json!({"url": text_box.url, "q": "temperature", "bbox": [175.0, -5.0, 179.0, 5.0]}),
    )
    .await;
    assert_eq!((c1, c2), (201, 201));
    let d = add_granule(&*store, DAILY, "f1.nc").await;
    let o = add_granule(&*store, OTHER, "f2.nc").await;
    wait_acked(&pattern, &[o]).await;
    wait_acked(&text_box, &[d]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(acked(&pattern.received()), [o]);
    assert_eq!(acked(&text_box.received()), [d]);
    server.stop().await;
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `$THREDDEX_PYTHON` (else `.venv/bin/python` at the repository root) with
/// `standardwebhooks`; None (skip) outside CI when there is none.
fn python() -> Option<PathBuf> {
    let py = std::env::var_os("THREDDEX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    let ok = std::process::Command::new(&py)
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let msg = format!(
        "no Python with standardwebhooks at {} (set THREDDEX_PYTHON, or run: \
         .venv/bin/pip install standardwebhooks==1.3.0)",
        py.display()
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("skipping: {msg}");
    None
}

const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
data = json.load(open(sys.argv[1]))
wh = Webhook(data["secret"])
for m in data["messages"]:
    event = wh.verify(m["body"], m["headers"])
    assert event["id"] == m["headers"]["webhook-id"], (event, m["headers"])
    try:
        wh.verify(m["body"].replace("granules", "grAnules"), m["headers"])
        sys.exit("a tampered body verified")
    except WebhookVerificationError:
        pass
    try:
        Webhook("whsec_" + "QUJD" * 8).verify(m["body"], m["headers"])
        sys.exit("another secret verified")
    except WebhookVerificationError:
        pass
print(len(data["messages"]))
"#;

#[tokio::test]
async fn signatures_verify_with_the_standardwebhooks_package() {
    let Some(py) = python() else { return };
    let store = common::store().await;
    let server = Server::start(store.clone(), fast(true)).await;
    let rx = WebhookReceiver::start().await.unwrap();
    let (code, sub) = subscribe(&server.base, json!({"url": rx.url})).await;
    assert_eq!(code, 201);
    let mut want = Vec::new();
    for i in 0..5 {
        want.push(add_granule(&*store, DAILY, &format!("sig{i}.nc")).await);
    }
    wait_acked(&rx, &want).await;
    let messages: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| {
            json!({
                "body": String::from_utf8(r.body.to_vec()).unwrap(),
                "headers": {
                    "webhook-id": r.id(),
                    "webhook-timestamp": r.header("webhook-timestamp"),
                    "webhook-signature": r.header("webhook-signature"),
                },
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({"secret": sub["secret"], "messages": messages})).unwrap(),
    )
    .unwrap();
    let out = std::process::Command::new(py)
        .args(["-c", VERIFY])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
    server.stop().await;
}

#[tokio::test]
async fn private_targets_are_refused_without_the_setting() {
    let store = common::store().await;
    let server = Server::start(store.clone(), fast(false)).await;
    let rx = WebhookReceiver::start().await.unwrap();
    let port = rx.url.split(':').nth(2).unwrap().to_owned();
    for url in [
        rx.url.clone(),
        format!("http://localhost:{port}"),
        "http://[::1]/hook".into(),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://10.0.0.1/hook".into(),
        "http://0.0.0.0:9/".into(),
        "ftp://example.org/hook".into(),
    ] {
        let (code, v) = subscribe(&server.base, json!({"url": url})).await;
        assert_eq!(code, 400, "{url}: {v}");
        assert_eq!(v["error"]["parameter"], "url", "{url}: {v}");
    }
    assert!(store.list_subscriptions().await.unwrap().is_empty());
    // A subscription that got in anyway (the setting was on when it was added) is refused at
    // delivery time, after resolution: nothing reaches the receiver, and it is disabled.
    let sub = store
        .add_subscription(&NewSubscription {
            target_url: rx.url.clone(),
            secret: threddex_notify::webhook::sign::generate_secret(),
            filter: SubscriptionFilter::default(),
            cursor: store.change_head().await.unwrap().0,
        })
        .await
        .unwrap();
    add_granule(&*store, DAILY, "p1.nc").await;
    let v = wait_status(&server.base, sub.id, "disabled").await;
    assert!(
        v["disabled_reason"].as_str().unwrap().contains("private"),
        "{v}"
    );
    let log = store.deliveries(sub.id, None, 0).await.unwrap();
    assert_eq!(log.len(), 4);
    assert!(
        log.iter()
            .all(|d| d.attempt.outcome == threddex_store::DeliveryOutcome::Refused)
    );
    assert_eq!(rx.count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn admin_routes_need_the_token_and_check_input() {
    let store = common::store().await;
    let server = Server::start(store.clone(), fast(true)).await;
    let base = &server.base;
    let resp = client()
        .post(format!("{base}/subscriptions"))
        .body(r#"{"url": "http://127.0.0.1:9/"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    for (body, param) in [
        (json!({"url": "http://127.0.0.1:9/", "colour": 1}), "body"),
        (json!({"collections": ["x"]}), "body"),
        (
            json!({"url": "http://127.0.0.1:9/", "bbox": [0, 10, 5, -10]}),
            "body",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "after": 999_999}),
            "after",
        ),
        (json!({"url": "http://127.0.0.1:9/", "pattern": ""}), "body"),
    ] {
        let (code, v) = subscribe(base, body.clone()).await;
        assert_eq!(
            (code, v["error"]["parameter"].as_str()),
            (400, Some(param)),
            "{body}: {v}"
        );
    }
    for path in ["/subscriptions/abc", "/subscriptions/-1/deliveries"] {
        let (code, _) = admin(reqwest::Method::GET, &format!("{base}{path}"), None).await;
        assert_eq!(code, 400, "{path}");
    }
    let (code, _) = admin(
        reqwest::Method::GET,
        &format!("{base}/subscriptions/77"),
        None,
    )
    .await;
    assert_eq!(code, 404);
    let (code, v) = admin(reqwest::Method::GET, &format!("{base}/subscriptions"), None).await;
    assert_eq!(
        (code, v["subscriptions"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    server.stop().await;
}
