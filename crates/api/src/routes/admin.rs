//! The administrative endpoints: `GET /sources`, `POST /sources`, `PUT /sources/{name}`,
//! `POST /sources/{name}/sync` and `GET /runs`. Every handler takes [`Admin`] first, so
//! nothing runs (no body is read) without the admin token.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};
use threddex_crawler::source_input::{self, MAX_PATTERNS, SourceInput, SourceInputError};
use threddex_store::{ClassRule, CrawlRun, ErrorChain, RunStatus, Source, Timestamp};
use url::form_urlencoded;

use crate::AppState;
use crate::admin::{Admin, SyncStartError};
use crate::error::{ApiError, json_response};
use crate::params::Params;
use crate::routes::base_url;

/// `GET /runs` page size when none is asked, and the largest.
const DEFAULT_RUNS: u32 = 20;
const MAX_RUNS: u32 = 100;

#[derive(Serialize)]
struct SourceOut<'a> {
    name: &'a str,
    /// As stored, but a password in it (a row registered before credentials in URLs were
    /// refused) shows as `*****`.
    url: String,
    authority: Option<&'a str>,
    every_secs: Option<i64>,
    select: &'a [String],
    skip: &'a [String],
    rules: &'a [ClassRule],
    created_at: Timestamp,
    last_sync_at: Option<Timestamp>,
    last_success_at: Option<Timestamp>,
    /// `never` (no run ended yet), `running`, `ok`, `partial` or `failed`: the latest run's
    /// status, else what the last sync times say.
    status: &'static str,
    last_run: Option<RunSummary>,
}

#[derive(Serialize)]
struct RunSummary {
    id: i64,
    kind: &'static str,
    status: &'static str,
    started_at: Timestamp,
    finished_at: Option<Timestamp>,
}

fn source_out<'a>(s: &'a Source, last: Option<&CrawlRun>) -> SourceOut<'a> {
    let status = match (last, s.last_sync_at) {
        (Some(r), _) => r.status.as_str(),
        (None, None) => "never",
        (None, Some(t)) if s.last_success_at == Some(t) => RunStatus::Ok.as_str(),
        (None, Some(_)) => RunStatus::Failed.as_str(),
    };
    SourceOut {
        name: &s.settings.name,
        url: source_input::redact_url(&s.settings.url),
        authority: s.settings.authority.as_deref(),
        every_secs: s.settings.every_secs,
        select: &s.settings.select,
        skip: &s.settings.skip,
        rules: &s.settings.rules,
        created_at: s.created_at,
        last_sync_at: s.last_sync_at,
        last_success_at: s.last_success_at,
        status,
        last_run: last.map(|r| RunSummary {
            id: r.id,
            kind: r.kind.as_str(),
            status: r.status.as_str(),
            started_at: r.started_at,
            finished_at: r.finished_at,
        }),
    }
}

/// `GET /sources`: every registered source (never credentials: the store has none).
pub(crate) async fn list_sources(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let sources = state.store.list_sources().await?;
    let mut lasts = Vec::with_capacity(sources.len());
    for s in &sources {
        lasts.push(
            state
                .store
                .list_runs(Some(&s.settings.name), 1)
                .await?
                .pop(),
        );
    }
    let out: Vec<SourceOut<'_>> = sources
        .iter()
        .zip(&lasts)
        .map(|(s, r)| source_out(s, r.as_ref()))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "sources": out }),
    ))
}

/// `POST /sources`: register a source from a JSON object (see [`parse_new_source`]).
pub(crate) async fn add_source(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    check_json(&headers)?;
    let input = parse_source_body(&body)?;
    // The default name tells a second start catalog of one server apart, as the CLI does.
    let taken: std::collections::HashSet<String> = state
        .store
        .list_sources()
        .await?
        .into_iter()
        .map(|s| s.settings.name)
        .collect();
    let new = input
        .check(|url| source_input::derive_name(url, &|n| taken.contains(n)))
        .map_err(bad_input)?;
    let added = state.store.add_source(&new).await.map_err(|e| match e {
        threddex_store::StoreError::Conflict(_) => ApiError::Conflict(format!(
            "a source named {:?} or with URL {:?} exists: change its settings with \
             PUT /sources/{{name}}, or give another name",
            new.name, new.url
        )),
        other => ApiError::from(other),
    })?;
    tracing::info!(source = %added.settings.name, url = %added.settings.url, "source added over the admin API");
    Ok(json_response(
        StatusCode::CREATED,
        &source_out(&added, None),
    ))
}

/// `PUT /sources/{name}`: replace the settings (`every`, `authority`, `select`, `skip`,
/// `rules`) of a registered source from the same JSON object as `POST /sources`. Its `url`
/// must be the registered one (a source's URL never changes: 409) and a `name`, when given,
/// the one in the path; omitted settings become unset. Its harvested data and runs stay.
pub(crate) async fn update_source(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let Path(name) = name.map_err(|_| ApiError::bad("name", "invalid source name in the path"))?;
    check_json(&headers)?;
    let input = parse_source_body(&body)?;
    if input.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::bad(
            "name",
            "must be the name in the path (a source cannot be renamed)",
        ));
    }
    let mut wanted = input.check(|_| Some(name.clone())).map_err(bad_input)?;
    wanted.name = name;
    let updated = state
        .store
        .update_source(&wanted)
        .await
        .map_err(|e| match e {
            threddex_store::StoreError::NotFound(_) => {
                ApiError::NotFound(format!("no source named {:?}", wanted.name))
            }
            threddex_store::StoreError::Conflict(_) => ApiError::Conflict(format!(
                "source {:?} is registered with another URL; a source's URL cannot be changed \
             (remove the source and add it again)",
                wanted.name
            )),
            other => ApiError::from(other),
        })?;
    tracing::info!(source = %updated.settings.name, "source settings updated over the admin API");
    let last = state
        .store
        .list_runs(Some(&updated.settings.name), 1)
        .await?
        .pop();
    Ok(json_response(
        StatusCode::OK,
        &source_out(&updated, last.as_ref()),
    ))
}

/// A body with a `Content-Type` other than JSON is refused (none is taken as JSON).
pub(crate) fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE)
        && !ct
            .to_str()
            .unwrap_or("")
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    {
        return Err(ApiError::bad(
            "body",
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    Ok(())
}

/// `POST /sources/{name}/sync`: start a sync in the background.
pub(crate) async fn start_sync(
    _admin: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let Path(name) = name.map_err(|_| ApiError::bad("name", "invalid source name in the path"))?;
    let Some(starter) = state.sync_starter() else {
        return Err(ApiError::NotImplemented(
            "this server cannot start syncs (it runs without a crawler)".into(),
        ));
    };
    let started = starter.start_sync(&name).await.map_err(|e| match e {
        SyncStartError::UnknownSource(_) => ApiError::NotFound(e.to_string()),
        SyncStartError::Busy { .. } => ApiError::Conflict(e.to_string()),
        SyncStartError::Store(e) => {
            ApiError::Internal(format!("cannot start a sync: store: {}", ErrorChain(&e)))
        }
        SyncStartError::Failed(m) => ApiError::Internal(format!("cannot start a sync: {m}")),
    })?;
    crate::metrics::sync_started();
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("source", &name);
    let runs = format!("{}/runs?{}", base_url(&state.config, &headers), q.finish());
    let mut r = json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({
            "source": name,
            "run_id": started.run_id,
            "status": "running",
            "runs": runs,
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&runs) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /runs?source=&limit=`: crawl runs, newest first.
pub(crate) async fn list_runs(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(&["source", "limit"])?;
    let limit = params.limit("limit", DEFAULT_RUNS, MAX_RUNS)?;
    let source = params.get("source");
    if let Some(name) = source
        && state.store.source_by_name(name).await?.is_none()
    {
        return Err(ApiError::NotFound(format!("no source named {name:?}")));
    }
    let runs = state.store.list_runs(source, limit).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "runs": runs }),
    ))
}

/// A refused setting as a 400 naming its field.
fn bad_input(e: SourceInputError) -> ApiError {
    ApiError::bad(e.field, e.message)
}

/// The body of `POST /sources`: a JSON object with `url` (required, http or https), `name`
/// (default `host[:port]`, or with the catalog path when that is taken), `every` (`"10m"` or
/// seconds), `authority`, `select`, `skip` (arrays of regexes) and `rules` (`"REGEX=class"`
/// strings or `{"pattern", "class"}` objects). Unknown fields are refused; every error names
/// its field. The settings are checked by [`SourceInput::check`], as every entry point does.
fn parse_source_body(body: &[u8]) -> Result<SourceInput, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad("body", "a JSON object is required"));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad("body", format!("invalid JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(ApiError::bad("body", "a JSON object is required"));
    };
    const FIELDS: [&str; 7] = [
        "name",
        "url",
        "every",
        "authority",
        "select",
        "skip",
        "rules",
    ];
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad(
            k.chars().take(64).collect::<String>(),
            format!("unknown field; known fields: {}", FIELDS.join(", ")),
        ));
    }
    let Some(url) = take_string(&mut obj, "url")? else {
        return Err(ApiError::bad("url", "required"));
    };
    let every = match obj.remove("every") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(ApiError::bad(
                "every",
                "a number of seconds or a string such as \"90s\", \"10m\", \"2h\", \"1d\"",
            ));
        }
    };
    Ok(SourceInput {
        url,
        name: take_string(&mut obj, "name")?,
        every,
        authority: take_string(&mut obj, "authority")?,
        select: take_patterns(&mut obj, "select")?,
        skip: take_patterns(&mut obj, "skip")?,
        rules: take_rules(&mut obj)?,
    })
}

fn take_string(obj: &mut Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad(field, "must be a string")),
    }
}

fn take_array(obj: &mut Map<String, Value>, field: &str) -> Result<Vec<Value>, ApiError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.len() <= MAX_PATTERNS => Ok(a),
        Some(Value::Array(_)) => Err(ApiError::bad(
            field,
            format!("at most {MAX_PATTERNS} entries"),
        )),
        Some(_) => Err(ApiError::bad(field, "must be an array")),
    }
}

fn take_patterns(obj: &mut Map<String, Value>, field: &str) -> Result<Vec<String>, ApiError> {
    take_array(obj, field)?
        .into_iter()
        .map(|v| match v {
            Value::String(p) => Ok(p),
            _ => Err(ApiError::bad(field, "must be an array of strings")),
        })
        .collect()
}

/// The rules as `REGEX=CLASS` strings (objects `{"pattern", "class"}` written that way).
fn take_rules(obj: &mut Map<String, Value>) -> Result<Vec<String>, ApiError> {
    const FIELD: &str = "rules";
    take_array(obj, FIELD)?
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            Value::Object(mut o) => {
                let p = take_string(&mut o, "pattern")?;
                let c = take_string(&mut o, "class")?;
                match (p, c, o.is_empty()) {
                    (Some(p), Some(c), true) => {
                        // Checked here: the class must not hide an `=` the split would take.
                        source_input::rule(&p, &c).map_err(bad_input)?;
                        Ok(format!("{p}={c}"))
                    }
                    _ => Err(ApiError::bad(
                        FIELD,
                        "a rule object has exactly \"pattern\" and \"class\"",
                    )),
                }
            }
            _ => Err(ApiError::bad(
                FIELD,
                "entries are \"REGEX=CLASS\" strings or {\"pattern\", \"class\"} objects",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use threddex_store::{NewSource, NodeClass};

    /// The body checked as `POST /sources` does when no source is registered.
    fn parse_new_source(body: &[u8]) -> Result<NewSource, ApiError> {
        parse_source_body(body)?
            .check(|u| Some(source_input::host_port(u)))
            .map_err(bad_input)
    }

    fn field(body: &str) -> String {
        match parse_new_source(body.as_bytes()) {
            Err(ApiError::BadParameter { parameter, .. }) => parameter,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn bodies() {
        let s = parse_new_source(
            br#"{"url": "http://Example.org:8080/thredds/catalog.html", "every": "10m",
                 "select": ["\\.nc$"], "skip": ["latest"], "authority": "org.example",
                 "rules": ["/\\d{8}/=archival", {"pattern": "today", "class": "live"}]}"#,
        )
        .unwrap();
        assert_eq!(s.name, "example.org:8080");
        assert_eq!(s.url, "http://example.org:8080/thredds/catalog.xml");
        assert_eq!(s.every_secs, Some(600));
        assert_eq!(s.rules.len(), 2);
        assert_eq!(s.rules[0].class, NodeClass::Archival);
        let s =
            parse_new_source(br#"{"url": "https://h/c.xml", "name": "a-b", "every": 90}"#).unwrap();
        assert_eq!((s.name.as_str(), s.every_secs), ("a-b", Some(90)));

        assert_eq!(field(""), "body");
        assert_eq!(field("[1]"), "body");
        assert_eq!(field("{"), "body");
        assert_eq!(field("{}"), "url");
        assert_eq!(field(r#"{"url": "ftp://h/c.xml"}"#), "url");
        assert_eq!(field(r#"{"url": "file:///etc/passwd"}"#), "url");
        assert_eq!(field(r#"{"url": "not a url"}"#), "url");
        assert_eq!(field(r#"{"url": "http://u:p@h/c.xml"}"#), "url");
        assert_eq!(field(r#"{"url": 5}"#), "url");
        assert_eq!(field(r#"{"url": "http://h/c.xml", "name": "a/b"}"#), "name");
        assert_eq!(field(r#"{"url": "http://h/c.xml", "name": ""}"#), "name");
        assert_eq!(
            field(r#"{"url": "http://h/c.xml", "every": "5x"}"#),
            "every"
        );
        assert_eq!(field(r#"{"url": "http://h/c.xml", "every": 0}"#), "every");
        assert_eq!(
            field(r#"{"url": "http://h/c.xml", "select": ["("]}"#),
            "select"
        );
        assert_eq!(field(r#"{"url": "http://h/c.xml", "skip": "x"}"#), "skip");
        assert_eq!(
            field(r#"{"url": "http://h/c.xml", "rules": ["x=old"]}"#),
            "rules"
        );
        assert_eq!(
            field(r#"{"url": "http://h/c.xml", "authority": " "}"#),
            "authority"
        );
        assert_eq!(field(r#"{"url": "http://h/c.xml", "colour": 1}"#), "colour");
    }
}
