//! Node classification (the production model of `docs/crawl-model.md`) and the adaptive
//! revisit interval. Pure functions: no I/O, no clock reads (the caller passes `now`).
//!
//! All date arithmetic is in UTC: a dated folder's day is the UTC calendar day its path names,
//! "today" is the UTC day of the reference instant.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use regex::Regex;
use threddex_store::{CatalogState, CatalogStatus, ClassRule, NodeClass};

/// A point in time (UTC).
pub type Timestamp = DateTime<Utc>;

/// A source of "now" (the system clock in production; a simulated clock in tests).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Default grace period for late files in a dated folder (beyond the day after its date).
pub const DEFAULT_GRACE: Duration = Duration::hours(6);
/// Default shortest revisit interval of an adaptive live node (and the default sync interval).
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::minutes(10);
/// Default longest revisit interval of an adaptive live node.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::hours(24);
/// A node whose `next_visit` is at most this far in the future counts as due (a sync started a
/// little before its scheduled time still re-reads what it should).
pub const DUE_SLACK: Duration = Duration::seconds(60);

/// Per-source classification overrides, compiled.
#[derive(Clone, Debug, Default)]
pub struct ClassRules {
    rules: Vec<(Regex, NodeClass)>,
}

impl ClassRules {
    /// Compile a source's rules (bad patterns are an error naming the pattern).
    pub fn compile(rules: &[ClassRule]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(rules.len());
        for r in rules {
            let re = regex::RegexBuilder::new(&r.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("bad rule pattern {:?}: {e}", r.pattern))?;
            out.push((re, r.class));
        }
        Ok(Self { rules: out })
    }

    /// The class of the first rule whose pattern matches `url`.
    pub fn class_for(&self, url: &str) -> Option<NodeClass> {
        self.rules
            .iter()
            .find(|(re, _)| re.is_match(url))
            .map(|(_, c)| *c)
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Parse `REGEX=archival|live|daily|mixed` (the CLI's `--rule`). The split is at the last `=`
/// so patterns may contain `=`.
pub fn parse_rule(s: &str) -> Result<ClassRule, String> {
    let (pattern, class) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("rule {s:?} is not REGEX=CLASS"))?;
    if pattern.is_empty() {
        return Err(format!("rule {s:?} has an empty pattern"));
    }
    let class = NodeClass::parse(class)
        .ok_or_else(|| format!("rule {s:?}: class must be archival, live, daily or mixed"))?;
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("rule {s:?}: bad pattern: {e}"))?;
    Ok(ClassRule {
        pattern: pattern.to_string(),
        class,
    })
}

/// What is known about a node when it is (re)classified.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeFacts<'a> {
    /// The catalog URL.
    pub url: &'a str,
    /// The catalog's `name` (or the title of the reference that led to it), if known.
    pub name: Option<&'a str>,
    /// The catalog is a dynamic view (resolver, `latest`, `Best`, forecast-run views).
    pub dynamic: bool,
    /// Whether the catalog lists dated child catalogs; `None` when unknown (a 304).
    pub dated_children: Option<bool>,
    /// The class it had before, if any (kept for `Mixed` when the children are unknown).
    pub prior_class: Option<NodeClass>,
}

/// Why a node got its class; decides how its next visit is scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A per-source `--rule` matched.
    Rule,
    /// A live name (`latest`, `current`, `realtime`, `Best`, run views, resolvers) or a
    /// dynamic view.
    LiveName,
    /// A dated folder old enough to be final.
    DatedPast,
    /// A dated folder of today or yesterday (or within the grace period).
    DatedRecent,
    /// A folder listing dated children.
    DatedChildren,
    /// Anything else: live with an adaptive revisit interval.
    Other,
}

/// The classification settings of one run.
#[derive(Clone, Copy, Debug)]
pub struct ClassifyParams {
    /// The current time.
    pub now: Timestamp,
    /// When the source's last successful sync ended (`None`: never; `now` is used).
    pub last_success: Option<Timestamp>,
    /// Extra time after the end of the day following a dated folder's date before it is
    /// archival.
    pub grace: Duration,
}

/// The class of a node and why.
///
/// In order: a per-source rule matching the URL wins; a live name or dynamic view is
/// [`NodeClass::Live`]; a dated node (see [`threddex_ids::path_date`]: a day folder in any
/// layout, an hour folder below one, anything below those) is
/// [`NodeClass::Archival`] when `reference ≥ date + 2 days + grace` (the reference being the
/// last successful sync's end, or `now` before the first one; so today's and yesterday's
/// folders are never archival) and [`NodeClass::Daily`] otherwise; a node listing dated
/// children is [`NodeClass::Mixed`]; anything else is [`NodeClass::Live`] (adaptive).
pub fn classify_with_reason(
    facts: &NodeFacts<'_>,
    params: &ClassifyParams,
    rules: &ClassRules,
) -> (NodeClass, Reason) {
    if let Some(c) = rules.class_for(facts.url) {
        return (c, Reason::Rule);
    }
    if facts.dynamic
        || threddex_ids::is_live_name(facts.url)
        || facts.name.is_some_and(threddex_ids::is_live_name)
    {
        return (NodeClass::Live, Reason::LiveName);
    }
    let path = match url::Url::parse(facts.url) {
        Ok(u) => u.path().to_string(),
        Err(_) => facts.url.to_string(),
    };
    if let Some(day) = threddex_ids::path_date(&path) {
        let reference = params
            .last_success
            .map_or(params.now, |ls| ls.min(params.now));
        let start = day.and_time(NaiveTime::MIN).and_utc();
        let final_at = start
            .checked_add_signed(Duration::days(2))
            .and_then(|t| t.checked_add_signed(params.grace));
        return match final_at {
            Some(t) if reference >= t => (NodeClass::Archival, Reason::DatedPast),
            _ => (NodeClass::Daily, Reason::DatedRecent),
        };
    }
    let mixed = match facts.dated_children {
        Some(d) => d,
        None => facts.prior_class == Some(NodeClass::Mixed),
    };
    if mixed {
        return (NodeClass::Mixed, Reason::DatedChildren);
    }
    (NodeClass::Live, Reason::Other)
}

/// [`classify_with_reason`] without the reason.
pub fn classify(facts: &NodeFacts<'_>, params: &ClassifyParams, rules: &ClassRules) -> NodeClass {
    classify_with_reason(facts, params, rules).0
}

/// Revisit settings.
#[derive(Clone, Copy, Debug)]
pub struct RevisitParams {
    /// Shortest interval (the source's sync interval).
    pub min: Duration,
    /// Longest interval.
    pub max: Duration,
}

impl Default for RevisitParams {
    fn default() -> Self {
        Self {
            min: DEFAULT_MIN_INTERVAL,
            max: DEFAULT_MAX_INTERVAL,
        }
    }
}

/// When a listing is expected to change next, read from the times of what it lists: files
/// that arrive on a cadence (model runs every 6 h, images every 15 min) make the next one
/// predictable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeHint {
    /// The newest time among the listed granules and child catalogs.
    pub newest: Timestamp,
    /// The typical gap between consecutive times (their median).
    pub cadence: Duration,
}

impl ChangeHint {
    /// When the next file is due: `newest + cadence`.
    pub fn next_change(&self) -> Option<Timestamp> {
        self.newest.checked_add_signed(self.cadence)
    }
}

/// Fewest distinct times a cadence is read from.
const HINT_MIN_TIMES: usize = 3;

/// A [`ChangeHint`] from the times a listing carries (in any order, duplicates allowed);
/// `None` with fewer than three distinct times.
pub fn change_hint(times: &mut Vec<Timestamp>) -> Option<ChangeHint> {
    times.sort_unstable();
    times.dedup();
    if times.len() < HINT_MIN_TIMES {
        return None;
    }
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let cadence = *gaps.get(gaps.len() / 2)?;
    Some(ChangeHint {
        newest: *times.last()?,
        cadence,
    })
}

/// When a node should be visited again.
///
/// - archival: `None` (never: it is not a sync seed whatever `next_visit` says);
/// - daily, mixed, live names and rule-made live/daily/mixed nodes: `None` (every sync);
/// - other live nodes (adaptive): `run_start + interval`, where the interval is `min` when the
///   content changed (or on the first visit) and otherwise twice the previous interval (as
///   read from the prior state: `next_visit - last_fetch`, rounded to a power-of-two multiple
///   of `min`), capped at `max`;
/// - an adaptive node whose listing is expected to change at `next_change` (see
///   [`ChangeHint::next_change`]) still in the future is visited no later than then (and no
///   sooner than `min` after the run), so the doubling never lets a regular feed fall
///   behind; once that time has passed without a change (a late feed), the doubling decides;
/// - never later than the catalog's `expires` (an already passed `expires` makes it due at the
///   next sync).
#[allow(clippy::too_many_arguments)]
pub fn next_visit(
    class: NodeClass,
    reason: Reason,
    prior: Option<&CatalogState>,
    changed: bool,
    run_start: Timestamp,
    expires: Option<Timestamp>,
    revisit: &RevisitParams,
    next_change: Option<Timestamp>,
) -> Option<Timestamp> {
    if class == NodeClass::Archival {
        return None;
    }
    if reason != Reason::Other {
        return expires.map(|e| e.max(run_start));
    }
    let min = revisit.min.max(Duration::seconds(1));
    let max = revisit.max.max(min);
    let interval = if changed {
        min
    } else {
        match prior.and_then(|p| Some((p.next_visit?, p.last_fetch?))) {
            Some((nv, lf)) => {
                let prev = (nv - lf).num_milliseconds().max(0) as f64;
                let ratio = prev / min.num_milliseconds().max(1) as f64;
                // The previous interval as a power-of-two multiple of `min` (rounded: the
                // stored last_fetch is a little later than the run start it was counted from).
                let k = if ratio <= 1.0 {
                    0
                } else {
                    ratio.log2().round().clamp(0.0, 40.0) as u32
                };
                let next_k = k.saturating_add(1).min(40);
                let factor = 1i64.checked_shl(next_k).unwrap_or(i64::MAX);
                min.checked_mul(i32::try_from(factor).unwrap_or(i32::MAX))
                    .unwrap_or(max)
                    .min(max)
            }
            None => min,
        }
    };
    let mut t = run_start.checked_add_signed(interval).unwrap_or(run_start);
    if let Some(expected) = next_change
        && expected > run_start
    {
        let earliest = run_start.checked_add_signed(min).unwrap_or(run_start);
        t = t.min(expected.max(earliest));
    }
    Some(match expires {
        Some(e) => t.min(e.max(run_start)),
        None => t,
    })
}

/// Whether a stored node should be re-read by a sync at `now`: never an archival one; always a
/// pending or failed one (a retry); otherwise when `next_visit` is unset or has come (within
/// [`DUE_SLACK`]).
/// The latest `next_visit` that [`is_due`] treats as due at `now` (`now` plus the slack).
pub fn due_by(now: Timestamp) -> Timestamp {
    now.checked_add_signed(DUE_SLACK).unwrap_or(now)
}

pub fn is_due(state: &CatalogState, now: Timestamp) -> bool {
    if state.class == NodeClass::Archival && state.status != CatalogStatus::Pending {
        return false;
    }
    match state.status {
        CatalogStatus::Pending | CatalogStatus::Failed => true,
        CatalogStatus::Ok | CatalogStatus::NotModified => {
            state.next_visit.is_none_or(|t| t <= due_by(now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn params(now: &str, last: Option<&str>) -> ClassifyParams {
        ClassifyParams {
            now: at(now),
            last_success: last.map(at),
            grace: DEFAULT_GRACE,
        }
    }

    const NOW: &str = "2024-01-08T12:00:00Z";

    #[test]
    fn classification_table() {
        let none = ClassRules::default();
        let rules = ClassRules::compile(&[
            ClassRule {
                pattern: "/frozen/".into(),
                class: NodeClass::Archival,
            },
            ClassRule {
                pattern: r"/2023\d{4}/".into(),
                class: NodeClass::Live,
            },
        ])
        .expect("rules");
        let base = "http://h/thredds/catalog/x";
        #[allow(clippy::type_complexity)]
        let table: &[(
            &str,
            Option<&str>,
            bool,
            Option<bool>,
            Option<&str>,
            &ClassRules,
            NodeClass,
        )] = &[
            // Dated folders in every layout, relative to NOW (2024-01-08 12:00 UTC).
            (
                "/20240108/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            (
                "/20240107/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            (
                "/20240106/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024-01-05/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024/01/04/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024/01/08/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            (
                "/2024003/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024008/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            // Year + MMDD, hour folders below any full date (like their day).
            (
                "/2024/0104/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024/0108/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            (
                "/2024/01/05/23/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024/01/08/00/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            (
                "/2024/003/00/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024/008/23/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            (
                "/20240105/06/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            (
                "/2024-01-07/12/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            // Run numbers and lone hour-like folders are not dates.
            (
                "/runs/0001/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            (
                "/runs/00/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            (
                "/clim/0104/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            // A future folder (clock skew) is daily.
            (
                "/20240110/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Daily,
            ),
            // Below a dated folder: dated too.
            (
                "/20240101/sub/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
            // Live names win over dates and defaults.
            (
                "/latest.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            ("/GFS/Best", None, false, None, None, &none, NodeClass::Live),
            (
                "/realtime/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            (
                "/current/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            (
                "/runs/catalog.xml",
                Some("Forecast Model Run"),
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            (
                "/runs/catalog.xml",
                None,
                true,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            // Folders listing dated children are mixed; a 304 keeps a prior mixed.
            (
                "/N0Q/FTG/catalog.xml",
                None,
                false,
                Some(true),
                None,
                &none,
                NodeClass::Mixed,
            ),
            (
                "/N0Q/FTG/catalog.xml",
                None,
                false,
                None,
                Some("mixed"),
                &none,
                NodeClass::Mixed,
            ),
            (
                "/N0Q/FTG/catalog.xml",
                None,
                false,
                Some(false),
                Some("mixed"),
                &none,
                NodeClass::Live,
            ),
            (
                "/N0Q/catalog.xml",
                None,
                false,
                Some(false),
                None,
                &none,
                NodeClass::Live,
            ),
            (
                "/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Live,
            ),
            // Rules win over everything.
            (
                "/frozen/latest.xml",
                None,
                false,
                None,
                None,
                &rules,
                NodeClass::Archival,
            ),
            (
                "/frozen/catalog.xml",
                None,
                false,
                Some(true),
                None,
                &rules,
                NodeClass::Archival,
            ),
            (
                "/20231201/catalog.xml",
                None,
                false,
                None,
                None,
                &rules,
                NodeClass::Live,
            ),
            (
                "/20231201/catalog.xml",
                None,
                false,
                None,
                None,
                &none,
                NodeClass::Archival,
            ),
        ];
        for (path, name, dynamic, dated, prior, rules, want) in table {
            let url = format!("{base}{path}");
            let facts = NodeFacts {
                url: &url,
                name: *name,
                dynamic: *dynamic,
                dated_children: *dated,
                prior_class: prior.and_then(NodeClass::parse),
            };
            let got = classify(&facts, &params(NOW, None), rules);
            assert_eq!(got, *want, "{path}");
        }
    }

    #[test]
    fn grace_and_reference_time() {
        let none = ClassRules::default();
        let url = "http://h/c/20240106/catalog.xml";
        let f = NodeFacts {
            url,
            ..NodeFacts::default()
        };
        // Archival from 2024-01-08 06:00 UTC (date + 2 days + 6 h grace).
        assert_eq!(
            classify(&f, &params("2024-01-08T05:59:59Z", None), &none),
            NodeClass::Daily
        );
        assert_eq!(
            classify(&f, &params("2024-01-08T06:00:00Z", None), &none),
            NodeClass::Archival
        );
        // The reference is the last successful sync, not now: archival only at the sync after.
        assert_eq!(
            classify(
                &f,
                &params("2024-01-09T12:00:00Z", Some("2024-01-08T05:00:00Z")),
                &none
            ),
            NodeClass::Daily
        );
        assert_eq!(
            classify(
                &f,
                &params("2024-01-09T12:00:00Z", Some("2024-01-08T07:00:00Z")),
                &none
            ),
            NodeClass::Archival
        );
        // An hour folder of that day is final when its day is.
        let hour = NodeFacts {
            url: "http://h/c/2024/006/23/catalog.xml",
            ..NodeFacts::default()
        };
        assert_eq!(
            classify(&hour, &params("2024-01-08T05:59:59Z", None), &none),
            NodeClass::Daily
        );
        assert_eq!(
            classify(&hour, &params("2024-01-08T06:00:00Z", None), &none),
            NodeClass::Archival
        );
        // A zero grace: archival right when the day after ends.
        let p = ClassifyParams {
            grace: Duration::zero(),
            ..params("2024-01-08T00:00:00Z", None)
        };
        assert_eq!(classify(&f, &p, &none), NodeClass::Archival);
        // Non-UTC offsets in the input make no difference: everything is UTC.
        let p = ClassifyParams {
            now: chrono::FixedOffset::west_opt(5 * 3600)
                .expect("tz")
                .with_ymd_and_hms(2024, 1, 8, 0, 30, 0)
                .single()
                .expect("t")
                .to_utc(),
            last_success: None,
            grace: DEFAULT_GRACE,
        };
        // 00:30 at UTC-5 is 05:30 UTC: still daily.
        assert_eq!(classify(&f, &p, &none), NodeClass::Daily);
    }

    fn state(next: Option<&str>, fetched: Option<&str>) -> CatalogState {
        let mut s = CatalogState::pending("http://h/c/catalog.xml", 1, None, 0);
        s.status = CatalogStatus::Ok;
        s.next_visit = next.map(at);
        s.last_fetch = fetched.map(at);
        s
    }

    #[test]
    fn adaptive_interval_doubles_caps_and_snaps_back() {
        let rv = RevisitParams {
            min: Duration::minutes(10),
            max: Duration::hours(24),
        };
        let start = at(NOW);
        let nv = |prior: Option<&CatalogState>, changed: bool, expires: Option<&str>| {
            next_visit(
                NodeClass::Live,
                Reason::Other,
                prior,
                changed,
                start,
                expires.map(at),
                &rv,
                None,
            )
        };
        // First visit: the minimum.
        assert_eq!(nv(None, true, None), Some(start + Duration::minutes(10)));
        // Unchanged: doubles (the prior's last_fetch a few seconds after its run start).
        let p = state(Some("2024-01-08T11:50:00Z"), Some("2024-01-08T11:40:03Z"));
        assert_eq!(
            nv(Some(&p), false, None),
            Some(start + Duration::minutes(20))
        );
        let p = state(Some("2024-01-08T12:00:00Z"), Some("2024-01-08T11:20:05Z"));
        assert_eq!(
            nv(Some(&p), false, None),
            Some(start + Duration::minutes(80))
        );
        // Changed: back to the minimum.
        assert_eq!(
            nv(Some(&p), true, None),
            Some(start + Duration::minutes(10))
        );
        // Capped.
        let p = state(Some("2024-01-09T12:00:00Z"), Some("2024-01-08T12:00:00Z"));
        assert_eq!(nv(Some(&p), false, None), Some(start + Duration::hours(24)));
        // `expires` is honoured, and a passed one makes it due at once.
        assert_eq!(
            nv(Some(&p), false, Some("2024-01-08T12:05:00Z")),
            Some(at("2024-01-08T12:05:00Z"))
        );
        assert_eq!(nv(None, true, Some("2024-01-01T00:00:00Z")), Some(start));
        // Archival: never; every-sync classes: None unless expires says otherwise.
        assert_eq!(
            next_visit(
                NodeClass::Archival,
                Reason::DatedPast,
                None,
                true,
                start,
                None,
                &rv,
                None
            ),
            None
        );
        assert_eq!(
            next_visit(
                NodeClass::Daily,
                Reason::DatedRecent,
                None,
                true,
                start,
                None,
                &rv,
                None
            ),
            None
        );
        assert_eq!(
            next_visit(
                NodeClass::Mixed,
                Reason::DatedChildren,
                None,
                false,
                start,
                None,
                &rv,
                None
            ),
            None
        );
    }

    #[test]
    fn a_regular_feed_is_read_when_its_next_file_is_due() {
        let rv = RevisitParams {
            min: Duration::minutes(10),
            max: Duration::hours(24),
        };
        // Runs every 6 h, the newest at 06:00: the next is due at 12:00.
        let mut runs: Vec<Timestamp> = [
            "2024-01-08T00:00:00Z",
            "2024-01-08T06:00:00Z",
            "2024-01-07T18:00:00Z",
            "2024-01-07T12:00:00Z",
            "2024-01-08T06:00:00Z",
        ]
        .iter()
        .map(|t| at(t))
        .collect();
        let hint = change_hint(&mut runs).expect("hint");
        assert_eq!(hint.cadence, Duration::hours(6));
        assert_eq!(hint.newest, at("2024-01-08T06:00:00Z"));
        assert_eq!(hint.next_change(), Some(at("2024-01-08T12:00:00Z")));
        // Unchanged for a long while: the doubling alone would wait 24 h.
        let p = state(Some("2024-01-09T07:00:00Z"), Some("2024-01-08T07:00:00Z"));
        let nv = |start: &str, next_change: Option<&str>| {
            next_visit(
                NodeClass::Live,
                Reason::Other,
                Some(&p),
                false,
                at(start),
                None,
                &rv,
                next_change.map(at),
            )
        };
        let noon = Some("2024-01-08T12:00:00Z");
        assert_eq!(
            nv("2024-01-08T07:00:00Z", None),
            Some(at("2024-01-09T07:00:00Z"))
        );
        assert_eq!(nv("2024-01-08T07:00:00Z", noon), noon.map(at));
        // No sooner than the minimum interval.
        assert_eq!(
            nv("2024-01-08T11:55:00Z", noon),
            Some(at("2024-01-08T12:05:00Z"))
        );
        // Late (the expected time has passed with no change): the doubling decides.
        assert_eq!(
            nv("2024-01-08T12:30:00Z", noon),
            Some(at("2024-01-09T12:30:00Z"))
        );
        // Too few distinct times: no hint.
        let t = at(NOW);
        assert_eq!(change_hint(&mut vec![t, t, t + Duration::hours(1)]), None);
    }

    #[test]
    fn due() {
        let now = at(NOW);
        let mut s = state(None, Some(NOW));
        assert!(is_due(&s, now));
        s.next_visit = Some(now + Duration::seconds(30));
        assert!(is_due(&s, now), "within the slack");
        s.next_visit = Some(now + Duration::minutes(5));
        assert!(!is_due(&s, now));
        s.status = CatalogStatus::Failed;
        assert!(is_due(&s, now), "failed nodes are retried");
        s.status = CatalogStatus::Ok;
        s.class = NodeClass::Archival;
        s.next_visit = None;
        assert!(!is_due(&s, now), "archival is never re-read");
        s.status = CatalogStatus::Failed;
        assert!(!is_due(&s, now), "not even after a failure");
        s.status = CatalogStatus::Pending;
        assert!(is_due(&s, now), "but a never-fetched one is");
    }

    #[test]
    fn rules_parse() {
        let r = parse_rule(r"/latest/=live").expect("rule");
        assert_eq!(r.class, NodeClass::Live);
        assert_eq!(r.pattern, "/latest/");
        assert_eq!(parse_rule("a=b=archival").expect("rule").pattern, "a=b");
        assert!(parse_rule("nothing").is_err());
        assert!(parse_rule("=live").is_err());
        assert!(parse_rule("x=sometimes").is_err());
        assert!(parse_rule("(=live").is_err());
    }
}
