//! The MQTT relay: publishes every change-log entry to a broker as a WIS2 notification message
//! ([`crate::wis2`]), QoS 1, on one topic per collection, and advances its own durable cursor
//! ([`ChangeLog::save_relay_cursor`](threddex_store::ChangeLog::save_relay_cursor)) only over
//! entries the broker acknowledged (PUBACK).
//!
//! One session is one connection: entries after the cursor are read from the store in log
//! order and published, at most [`MqttConfig::max_in_flight`] unacknowledged at a time. The
//! cursor moves to the highest position below which every message was acknowledged. When the
//! connection fails the session ends, the relay waits (backoff doubling from
//! [`BACKOFF_MIN`] to [`BACKOFF_MAX`]) and a new session starts again after the saved cursor:
//! messages that were in flight are sent again (at least once, with the same `id`), none is
//! skipped. Brokers acknowledge QoS 1 publications in order (MQTT 3.1.1, 4.6), so a
//! subscriber sees the entries of a topic in log order, possibly with repeats after a
//! reconnection.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde::{Deserialize, Serialize};
use threddex_store::prelude::*;
use threddex_store::{ChangeQuery, ErrorChain};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::wis2;

/// Shortest wait before reconnecting.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait before reconnecting.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often the acknowledged position is saved while messages flow.
const SAVE_EVERY: Duration = Duration::from_millis(200);
/// Largest message (a WIS2 message of one entry is a few kB at most).
const MAX_PACKET: usize = 1024 * 1024;
/// Longest wait for the broker's CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `[notify.mqtt]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker: `mqtt://HOST[:PORT]` (port 1883 by default).
    pub url: String,
    /// Topics are `{topic_prefix}/{collection ID, topic-encoded}`.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// The MQTT client ID; also names the relay's durable cursor (`mqtt:{client_id}`).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Most messages published and not yet acknowledged (1..=1000).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: u16,
}

fn default_prefix() -> String {
    "threddex".into()
}
fn default_client_id() -> String {
    "threddex-relay".into()
}
fn default_in_flight() -> u16 {
    64
}

impl MqttConfig {
    /// A configuration with the defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            topic_prefix: default_prefix(),
            client_id: default_client_id(),
            max_in_flight: default_in_flight(),
        }
    }

    /// The broker's host and port; an error names what is wrong.
    pub fn broker(&self) -> Result<(String, u16), String> {
        let u = url::Url::parse(&self.url)
            .map_err(|e| format!("notify.mqtt.url {:?} is not a URL: {e}", self.url))?;
        if u.scheme() != "mqtt" {
            return Err(format!(
                "notify.mqtt.url {:?}: only mqtt://HOST[:PORT] is supported",
                self.url
            ));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err("notify.mqtt.url: credentials in the URL are not supported".into());
        }
        if u.path().len() > 1 || u.query().is_some() || u.fragment().is_some() {
            return Err(format!(
                "notify.mqtt.url {:?} must be mqtt://HOST[:PORT] with nothing after it",
                self.url
            ));
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("notify.mqtt.url {:?} has no host", self.url))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok((host.to_owned(), u.port().unwrap_or(1883)))
    }

    /// Check every value; an error names the key.
    pub fn validate(&self) -> Result<(), String> {
        self.broker()?;
        if self.topic_prefix.contains(['+', '#', '\0']) || self.topic_prefix.starts_with('$') {
            return Err(format!(
                "notify.mqtt.topic_prefix {:?} must not contain + # or NUL nor start with $",
                self.topic_prefix
            ));
        }
        if self.topic_prefix.len() > 1024 {
            return Err("notify.mqtt.topic_prefix is longer than 1024 bytes".into());
        }
        if self.client_id.is_empty()
            || self.client_id.len() > 128
            || self.client_id.chars().any(char::is_control)
        {
            return Err("notify.mqtt.client_id must be 1 to 128 printable characters".into());
        }
        if !(1..=1000).contains(&self.max_in_flight) {
            return Err("notify.mqtt.max_in_flight must be between 1 and 1000".into());
        }
        Ok(())
    }

    /// The name of the relay's cursor in the store.
    pub fn cursor_name(&self) -> String {
        format!("mqtt:{}", self.client_id)
    }
}

/// The relay of one process.
pub struct MqttRelay {
    store: Arc<dyn Store>,
    config: MqttConfig,
    host: String,
    port: u16,
    base: String,
    poll: Duration,
    acked: watch::Sender<i64>,
}

impl std::fmt::Debug for MqttRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttRelay")
            .field("config", &self.config)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Why a session ended.
enum End {
    /// The shutdown signal.
    Stop,
    /// The connection or the store failed; the flag says whether it had connected.
    Failed(String, bool),
}

impl MqttRelay {
    /// A relay of `store`'s change log to the broker of `config`; links in messages are
    /// absolute below `base` (the API's public URL, no trailing slash); the log is looked at
    /// every `poll` when idle.
    pub fn new(
        store: Arc<dyn Store>,
        config: MqttConfig,
        base: &str,
        poll: Duration,
    ) -> Result<Self, String> {
        config.validate()?;
        let (host, port) = config.broker()?;
        Ok(Self {
            store,
            config,
            host,
            port,
            base: base.trim_end_matches('/').to_owned(),
            poll: poll.max(Duration::from_millis(10)),
            acked: watch::channel(0).0,
        })
    }

    /// The position up to which the broker acknowledged every message (as saved).
    pub fn acknowledged(&self) -> watch::Receiver<i64> {
        self.acked.subscribe()
    }

    /// Relay until `shutdown` completes, reconnecting with backoff.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut backoff = BACKOFF_MIN;
        loop {
            let end = tokio::select! {
                end = self.session() => end,
                () = &mut shutdown => End::Stop,
            };
            match end {
                End::Stop => return,
                End::Failed(why, connected) => {
                    if connected {
                        backoff = BACKOFF_MIN;
                    }
                    tracing::warn!(broker = %self.config.url, error = %why, retry_in = ?backoff,
                        "MQTT relay: session ended");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = &mut shutdown => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// The saved cursor, or the log's head for a relay that never ran (it does not replay
    /// history), saved at once.
    async fn start_cursor(&self) -> Result<i64, String> {
        let name = self.config.cursor_name();
        let err = |e: threddex_store::StoreError| ErrorChain(&e).to_string();
        if let Some(c) = self.store.relay_cursor(&name).await.map_err(err)? {
            return Ok(c);
        }
        let (head, _) = self.store.change_head().await.map_err(err)?;
        self.store
            .save_relay_cursor(&name, head)
            .await
            .map_err(err)?;
        Ok(head)
    }

    async fn session(&self) -> End {
        let cursor = match self.start_cursor().await {
            Ok(c) => c,
            Err(e) => return End::Failed(format!("cannot read the cursor: {e}"), false),
        };
        self.acked.send_replace(cursor);
        let max = usize::from(self.config.max_in_flight);
        let mut opts = MqttOptions::new(&self.config.client_id, &self.host, self.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        // Packet IDs cycle over more values than may be in flight: with in-order PUBACKs an ID
        // is never reused while its message is unacknowledged.
        opts.set_inflight(self.config.max_in_flight.saturating_mul(2));
        opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        let (client, mut events) = AsyncClient::new(opts, max + 8);
        let mut s = Session {
            read_to: cursor,
            saved: cursor,
            ..Session::default()
        };
        let connect_by = Instant::now() + CONNECT_TIMEOUT;
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_save = Instant::now();
        loop {
            let room = max.saturating_sub(s.unacked.len());
            // Read when told to (connected, a tick, a full page last time) and there is room
            // for half a window (or nothing is in flight).
            if s.connected && s.want_read && room > 0 && (room * 2 >= max || s.unacked.is_empty()) {
                match self.publish_more(&client, &mut s, room).await {
                    Ok(full) => s.want_read = full,
                    Err(e) => return End::Failed(e, true),
                }
            }
            let event = tokio::select! {
                ev = events.poll() => Some(ev),
                _ = tick.tick() => {
                    s.want_read = true;
                    None
                }
            };
            match event {
                Some(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    tracing::info!(broker = %self.config.url, cursor = s.read_to, "MQTT relay connected");
                    s.connected = true;
                    s.want_read = true;
                }
                Some(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                    if let Some(seq) = s.queued.pop_front() {
                        s.by_pkid.insert(pkid, seq);
                    }
                }
                Some(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                    if let Some(seq) = s.by_pkid.remove(&ack.pkid) {
                        s.unacked.remove(&seq);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    if let Err(why) = self.save(&mut s).await {
                        tracing::warn!(error = %why, "MQTT relay: cannot save its cursor");
                    }
                    return End::Failed(e.to_string(), s.connected);
                }
                None if !s.connected && Instant::now() > connect_by => {
                    return End::Failed("no CONNACK from the broker".into(), false);
                }
                None => {}
            }
            if s.acked_through() > s.saved
                && (s.unacked.is_empty() || last_save.elapsed() >= SAVE_EVERY)
            {
                if let Err(e) = self.save(&mut s).await {
                    return End::Failed(e, true);
                }
                last_save = Instant::now();
            }
        }
    }

    /// Save the acknowledged position (when it moved) and publish it.
    async fn save(&self, s: &mut Session) -> Result<(), String> {
        let through = s.acked_through();
        if through <= s.saved {
            return Ok(());
        }
        self.store
            .save_relay_cursor(&self.config.cursor_name(), through)
            .await
            .map_err(|e| format!("cannot save the cursor: {}", ErrorChain(&e)))?;
        s.saved = through;
        self.acked.send_replace(through);
        Ok(())
    }

    /// Read up to `room` entries after what was handed to the client and publish them.
    /// True when the page was full (there may be more).
    async fn publish_more(
        &self,
        client: &AsyncClient,
        s: &mut Session,
        room: usize,
    ) -> Result<bool, String> {
        let page = self
            .store
            .changes(&ChangeQuery {
                after: s.read_to,
                collections: Vec::new(),
                limit: u32::try_from(room).unwrap_or(1).max(1),
            })
            .await
            .map_err(|e| format!("cannot read the change log: {}", ErrorChain(&e)))?;
        if page.expired {
            tracing::error!(
                cursor = s.read_to,
                pruned_through = page.pruned_through,
                "MQTT relay: its cursor is older than the change log keeps; continuing from the head \
                 (entries in between are not relayed)"
            );
            s.read_to = page.head;
            return Ok(true);
        }
        let mut bboxes = HashMap::new();
        for change in &page.changes {
            let bbox = match bboxes.get(&change.collection_id) {
                Some(b) => *b,
                None => {
                    let b = self
                        .store
                        .collection(&change.collection_id)
                        .await
                        .map_err(|e| format!("cannot read a collection: {}", ErrorChain(&e)))?
                        .and_then(|c| c.info.bbox);
                    bboxes.insert(change.collection_id.clone(), b);
                    b
                }
            };
            let message = wis2::notification(change, &self.base, bbox);
            let payload = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
            let topic = wis2::topic(&self.config.topic_prefix, &change.collection_id);
            client
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
                .map_err(|e| format!("cannot queue a message: {e}"))?;
            s.queued.push_back(change.seq);
            s.unacked.insert(change.seq);
            s.read_to = change.seq;
        }
        let full = page.changes.len() >= room;
        if !full {
            // Everything up to the page's end is handed over.
            s.read_to = s.read_to.max(page.next);
        }
        Ok(full)
    }
}

/// The state of one connection.
#[derive(Default)]
struct Session {
    connected: bool,
    /// The log may hold entries not read yet.
    want_read: bool,
    /// Every entry up to here was handed to the client (or had nothing to send).
    read_to: i64,
    /// The saved cursor.
    saved: i64,
    /// Positions handed to the client whose packet was not written yet, in order.
    queued: VecDeque<i64>,
    /// Packet ID → position, for written and unacknowledged messages.
    by_pkid: HashMap<u16, i64>,
    /// Positions not acknowledged yet.
    unacked: BTreeSet<i64>,
}

impl Session {
    /// Every message up to this position was acknowledged.
    fn acked_through(&self) -> i64 {
        self.unacked.first().map_or(self.read_to, |first| first - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_and_settings_are_checked() {
        let ok = MqttConfig::new("mqtt://127.0.0.1:1884");
        assert_eq!(ok.broker(), Ok(("127.0.0.1".into(), 1884)));
        assert_eq!(
            MqttConfig::new("mqtt://broker.example").broker(),
            Ok(("broker.example".into(), 1883))
        );
        assert_eq!(
            MqttConfig::new("mqtt://[::1]:1883").broker(),
            Ok(("::1".into(), 1883))
        );
        assert_eq!(ok.cursor_name(), "mqtt:threddex-relay");
        for bad in [
            "http://127.0.0.1:1883",
            "mqtt://",
            "mqtt://u:p@127.0.0.1",
            "mqtt://127.0.0.1/x",
            "not a url",
            "mqtts://127.0.0.1",
        ] {
            assert!(MqttConfig::new(bad).validate().is_err(), "{bad}");
        }
        let with = |f: &dyn Fn(&mut MqttConfig)| {
            let mut c = MqttConfig::new("mqtt://127.0.0.1");
            f(&mut c);
            c.validate()
        };
        assert!(with(&|c| c.topic_prefix = "a/+".into()).is_err());
        assert!(with(&|c| c.topic_prefix = "$SYS".into()).is_err());
        assert!(with(&|c| c.client_id = String::new()).is_err());
        assert!(with(&|c| c.max_in_flight = 0).is_err());
        assert!(with(&|c| c.max_in_flight = 1001).is_err());
        assert!(with(&|c| c.topic_prefix = "wis2/a".into()).is_ok());
    }
}
