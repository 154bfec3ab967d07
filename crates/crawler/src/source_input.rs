//! What a person gives to register a source — its start catalog URL, name, sync interval,
//! authority, filters and classification rules — checked once, the same way for every entry
//! point: `threddex sources add`, `threddex harvest`, `[[sources]]` in the configuration and
//! the admin API's `POST /sources` / `PUT /sources/{name}`.
//!
//! Each entry point turns its own syntax (flags, TOML, JSON) into a [`SourceInput`] and calls
//! [`SourceInput::check`]; a refusal names the field ([`SourceInputError`]) so each can report
//! it its own way (a JSON 400, an exit status).

use regex::RegexBuilder;
use threddex_store::{ClassRule, NewSource, NodeClass};
use url::Url;

/// Longest source name.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest start catalog URL.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest naming authority.
pub const MAX_AUTHORITY_CHARS: usize = 200;
/// Most patterns in `select`, `skip` or `rules`.
pub const MAX_PATTERNS: usize = 50;
/// Longest pattern.
pub const MAX_PATTERN_CHARS: usize = 1000;
/// Compiled size limit of a pattern (as the crawler compiles them).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest sync interval: 366 days.
pub const MAX_EVERY_SECS: i64 = 366 * 86_400;
/// The sync interval of a source that gives none.
pub const DEFAULT_EVERY_SECS: i64 = 600;

/// A refused source setting: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SourceInputError {
    /// The field (`url`, `name`, `every`, `authority`, `select`, `skip`, `rules`).
    pub field: &'static str,
    /// What is wrong and what is accepted.
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> SourceInputError {
    SourceInputError {
        field,
        message: message.into(),
    }
}

/// A source's settings as given, before they are checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceInput {
    /// The start catalog URL.
    pub url: String,
    /// The name (None: a default is derived from the URL, see [`derive_name`]).
    pub name: Option<String>,
    /// The sync interval as written (`90s`, `10m`, `2h`, `1d`, or a number of seconds).
    pub every: Option<String>,
    /// The naming authority.
    pub authority: Option<String>,
    /// Regexes of datasets to keep.
    pub select: Vec<String>,
    /// Regexes of datasets and catalogRefs to skip.
    pub skip: Vec<String>,
    /// Classification rules `REGEX=archival|live|daily|mixed`.
    pub rules: Vec<String>,
}

impl SourceInput {
    /// Checks every field and returns the settings to store. `default_name` gives the name
    /// when none was given (it sees the checked URL).
    pub fn check(
        self,
        default_name: impl FnOnce(&Url) -> Option<String>,
    ) -> Result<NewSource, SourceInputError> {
        let url = check_url(&self.url)?;
        let name = match self.name {
            Some(n) => {
                check_name(&n)?;
                n
            }
            None => default_name(&url).ok_or_else(|| {
                refuse("name", format!("no free default name for {url}: give one"))
            })?,
        };
        let every_secs = self.every.as_deref().map(parse_every).transpose()?;
        let authority = self.authority.as_deref().map(check_authority).transpose()?;
        check_patterns("select", &self.select)?;
        check_patterns("skip", &self.skip)?;
        if self.rules.len() > MAX_PATTERNS {
            return Err(refuse("rules", format!("at most {MAX_PATTERNS} entries")));
        }
        let rules = self
            .rules
            .iter()
            .map(|r| parse_rule(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewSource {
            name,
            url: url.to_string(),
            authority,
            every_secs,
            select: self.select,
            skip: self.skip,
            rules,
        })
    }
}

/// A start catalog URL: absolute http(s), at most [`MAX_URL_BYTES`], without credentials
/// (they belong in the configuration's `[sources.auth]`, never in a stored URL), normalised
/// as the crawler stores catalog URLs.
pub fn check_url(raw: &str) -> Result<Url, SourceInputError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_BYTES {
        return Err(refuse("url", format!("longer than {MAX_URL_BYTES} bytes")));
    }
    let url = Url::parse(raw).map_err(|e| {
        refuse(
            "url",
            format!("not an absolute URL ({e}): expected http(s)://host/…/catalog.xml"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(
            "url",
            "only http and https catalog URLs can be sources",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "url",
            "must not contain credentials: give them in the configuration ([sources.auth])",
        ));
    }
    crate::urls::parse_catalog_url(url.as_str()).map_err(|e| refuse("url", e))
}

/// A stored start catalog URL as it may be shown: a password in it (a row registered before
/// credentials in URLs were refused) is replaced by `*****`. Text that does not parse as a
/// URL is shown as stored.
pub fn redact_url(stored: &str) -> String {
    match Url::parse(stored) {
        Ok(mut u) if u.password().is_some() => match u.set_password(Some("*****")) {
            Ok(()) => u.to_string(),
            Err(()) => "[URL with credentials]".to_string(),
        },
        _ => stored.to_string(),
    }
}

/// Whether a stored URL holds credentials (a user name or a password).
pub fn has_credentials(stored: &str) -> bool {
    Url::parse(stored).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// A source name: 1 to [`MAX_NAME_CHARS`] characters among `A-Z a-z 0-9 . _ : -` (so it is
/// a path segment of `/sources/{name}` as written).
pub fn check_name(n: &str) -> Result<(), SourceInputError> {
    let ok = !n.is_empty()
        && n.chars().count() <= MAX_NAME_CHARS
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(refuse(
            "name",
            format!("1 to {MAX_NAME_CHARS} characters among A-Z a-z 0-9 . _ : -"),
        ))
    }
}

/// A naming authority: trimmed, 1 to [`MAX_AUTHORITY_CHARS`] characters, no control
/// characters.
pub fn check_authority(a: &str) -> Result<String, SourceInputError> {
    let a = a.trim();
    if a.is_empty() || a.chars().count() > MAX_AUTHORITY_CHARS || a.chars().any(char::is_control) {
        return Err(refuse(
            "authority",
            format!("1 to {MAX_AUTHORITY_CHARS} characters, no control characters"),
        ));
    }
    Ok(a.to_owned())
}

/// Regexes as the crawler compiles them: at most [`MAX_PATTERNS`], each at most
/// [`MAX_PATTERN_CHARS`] characters and [`REGEX_SIZE_LIMIT`] compiled.
pub fn check_patterns(field: &'static str, patterns: &[String]) -> Result<(), SourceInputError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(refuse(field, format!("at most {MAX_PATTERNS} entries")));
    }
    patterns.iter().try_for_each(|p| check_pattern(field, p))
}

fn check_pattern(field: &'static str, p: &str) -> Result<(), SourceInputError> {
    if p.chars().count() > MAX_PATTERN_CHARS {
        return Err(refuse(
            field,
            format!("a pattern is longer than {MAX_PATTERN_CHARS} characters"),
        ));
    }
    RegexBuilder::new(p)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(|_| ())
        .map_err(|e| {
            let msg: String = e.to_string().chars().take(300).collect();
            refuse(field, format!("bad pattern {p:?}: {msg}"))
        })
}

/// A classification rule `REGEX=archival|live|daily|mixed` (split at the last `=`).
pub fn parse_rule(s: &str) -> Result<ClassRule, SourceInputError> {
    let classes = "archival, live, daily or mixed";
    let Some((pattern, class)) = s.rsplit_once('=') else {
        return Err(refuse(
            "rules",
            format!("a rule is \"REGEX=CLASS\" with CLASS {classes}"),
        ));
    };
    rule(pattern, class)
}

/// A classification rule from its two parts.
pub fn rule(pattern: &str, class: &str) -> Result<ClassRule, SourceInputError> {
    if pattern.is_empty() {
        return Err(refuse("rules", "a rule's pattern is empty"));
    }
    check_pattern("rules", pattern)?;
    let class = NodeClass::parse(class).ok_or_else(|| {
        refuse(
            "rules",
            format!("unknown class {class:?}: the class must be archival, live, daily or mixed"),
        )
    })?;
    Ok(ClassRule {
        pattern: pattern.to_owned(),
        class,
    })
}

/// A sync interval in seconds: a positive whole number with a unit `s`, `m`, `h` or `d` (or
/// none: seconds), between 1 s and 366 d.
pub fn parse_every(s: &str) -> Result<i64, SourceInputError> {
    let t = s.trim();
    let bad = || {
        refuse(
            "every",
            format!("{s:?} is not an interval between 1s and 366d: use e.g. 90s, 10m, 2h or 1d"),
        )
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    if secs <= 0 || secs > MAX_EVERY_SECS {
        return Err(bad());
    }
    Ok(secs)
}

/// A sync interval as people write it: `2h`, `90s` (`10m (default)` when unset).
pub fn every_text(secs: Option<i64>) -> String {
    match secs {
        None => "10m (default)".into(),
        Some(s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) if s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

/// The name a new source for `url` gets when none is given: `host[:port]` when that is free,
/// else `host[:port]` plus the distinguishing part of the catalog path
/// (`thredds.ucar.edu_nexrad_level3` for `…/thredds/catalog/nexrad/level3/catalog.xml`), else
/// that with `-2`, `-3`, … appended; `taken` says which names are in use.
pub fn derive_name(url: &Url, taken: &dyn Fn(&str) -> bool) -> Option<String> {
    let host = host_port(url);
    if !taken(&host) {
        return Some(host);
    }
    let base = match path_part(url, MAX_NAME_CHARS.saturating_sub(host.len() + 6)) {
        Some(path) => {
            let named = format!("{host}_{path}");
            if !taken(&named) {
                return Some(named);
            }
            named
        }
        None => host,
    };
    (2..=1000)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken(name))
}

/// `host[:port]` of a URL.
pub fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("source");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// What tells a start catalog apart from others of its server: its path without the TDS
/// context and catalog service (`/thredds/catalog/`) and without the file name `catalog.xml`
/// (another file name keeps its stem), segments joined by `_`, characters other than
/// `A-Z a-z 0-9 . _ -` replaced by `-`; leading segments dropped to fit in `max` characters.
/// None when nothing is left (the server's root catalog).
fn path_part(url: &Url, max: usize) -> Option<String> {
    let mut segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    match segs.last().copied() {
        Some("catalog.xml") => {
            segs.pop();
        }
        Some(last) => {
            if let Some(stem) = last.strip_suffix(".xml").filter(|s| !s.is_empty())
                && let Some(slot) = segs.last_mut()
            {
                *slot = stem;
            }
        }
        None => {}
    }
    if segs.len() >= 2 && segs[1] == "catalog" {
        segs.drain(..2);
    } else if segs.first() == Some(&"thredds") {
        segs.remove(0);
    }
    let clean: Vec<String> = segs
        .iter()
        .map(|seg| {
            seg.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .collect();
    // The most specific (last) segments are kept when the whole does not fit.
    let mut start = 0;
    while start < clean.len() && clean[start..].join("_").len() > max {
        start += 1;
    }
    let joined = clean[start..].join("_");
    (!joined.is_empty()).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> SourceInput {
        SourceInput {
            url: url.into(),
            ..SourceInput::default()
        }
    }

    #[test]
    fn every_entry_point_refuses_the_same_things() {
        let field = |i: SourceInput| i.check(|u| Some(host_port(u))).unwrap_err().field;
        assert_eq!(field(input("ftp://h/c.xml")), "url");
        assert_eq!(field(input("http://u:p@h/thredds/catalog.xml")), "url");
        assert_eq!(field(input("http://u@h/thredds/catalog.xml")), "url");
        assert_eq!(field(input("catalog.xml")), "url");
        assert_eq!(
            field(input(&format!("http://h/{}", "a".repeat(3000)))),
            "url"
        );
        let with = |f: &dyn Fn(&mut SourceInput)| {
            let mut i = input("http://h/thredds/catalog.xml");
            f(&mut i);
            i
        };
        assert_eq!(field(with(&|i| i.name = Some("a b".into()))), "name");
        assert_eq!(field(with(&|i| i.name = Some("a/b".into()))), "name");
        assert_eq!(field(with(&|i| i.every = Some("0s".into()))), "every");
        assert_eq!(field(with(&|i| i.every = Some("367d".into()))), "every");
        assert_eq!(field(with(&|i| i.every = Some("ten".into()))), "every");
        assert_eq!(
            field(with(&|i| i.authority = Some(" ".into()))),
            "authority"
        );
        assert_eq!(field(with(&|i| i.select = vec!["(".into()])), "select");
        assert_eq!(field(with(&|i| i.skip = vec!["x".into(); 51])), "skip");
        assert_eq!(
            field(with(&|i| i.rules = vec!["x=sometimes".into()])),
            "rules"
        );
        assert_eq!(field(with(&|i| i.rules = vec!["=live".into()])), "rules");
        assert_eq!(field(with(&|i| i.rules = vec!["nothing".into()])), "rules");
        let ok = with(&|i| {
            i.every = Some("2h".into());
            i.authority = Some(" edu.ucar.unidata ".into());
            i.rules = vec!["a=b=archival".into()];
        })
        .check(|u| Some(host_port(u)))
        .unwrap();
        assert_eq!(ok.name, "h");
        assert_eq!(ok.every_secs, Some(7200));
        assert_eq!(ok.authority.as_deref(), Some("edu.ucar.unidata"));
        assert_eq!(ok.rules[0].pattern, "a=b");
        assert_eq!(ok.rules[0].class, NodeClass::Archival);
    }

    #[test]
    fn stored_credentials_are_never_shown() {
        let shown = redact_url("http://user:secret@h:8080/thredds/catalog.xml");
        assert_eq!(shown, "http://user:*****@h:8080/thredds/catalog.xml");
        assert!(has_credentials("http://user:secret@h/thredds/catalog.xml"));
        assert!(has_credentials("http://user@h/thredds/catalog.xml"));
        assert!(!has_credentials("http://h/thredds/catalog.xml"));
        assert_eq!(
            redact_url("http://h/thredds/catalog.xml"),
            "http://h/thredds/catalog.xml"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_every("90s"), Ok(90));
        assert_eq!(parse_every("10m"), Ok(600));
        assert_eq!(parse_every("2h"), Ok(7200));
        assert_eq!(parse_every("1d"), Ok(86_400));
        assert_eq!(parse_every(" 45 "), Ok(45));
        for bad in ["", "-1", "1.5h", "1w", "h", "99999999999999999999d"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
        for s in [1, 59, 60, 3600, 7200, 86_400, 90_061] {
            assert_eq!(parse_every(&every_text(Some(s))), Ok(s));
        }
    }

    #[test]
    fn default_names_tell_start_catalogs_apart() {
        let u = |s: &str| Url::parse(s).unwrap();
        let a = u("https://thredds.ucar.edu/thredds/catalog/nexrad/level3/catalog.xml");
        assert_eq!(
            derive_name(&a, &|_| false).as_deref(),
            Some("thredds.ucar.edu")
        );
        assert_eq!(
            derive_name(&a, &|n| n == "thredds.ucar.edu").as_deref(),
            Some("thredds.ucar.edu_nexrad_level3")
        );
        assert_eq!(
            derive_name(&a, &|n| n.starts_with("thredds.ucar.edu")
                && !n.ends_with("-2"))
            .as_deref(),
            Some("thredds.ucar.edu_nexrad_level3-2")
        );
        let root = u("http://127.0.0.1:8081/thredds/catalog.xml");
        assert_eq!(
            derive_name(&root, &|n| n == "127.0.0.1:8081").as_deref(),
            Some("127.0.0.1:8081-2")
        );
        let long = u(&format!(
            "http://h/thredds/catalog/{}/catalog.xml",
            vec!["segment"; 40].join("/")
        ));
        let n = derive_name(&long, &|n| n == "h").unwrap();
        assert!(n.len() <= MAX_NAME_CHARS, "{n}");
        assert!(check_name(&n).is_ok(), "{n}");
    }
}
