//! A small robots.txt parser and matcher (RFC 9309).
//!
//! - Groups start with one or more `User-agent` lines; `Allow`/`Disallow` lines belong to the
//!   current group. Other keys (`Sitemap`, `Crawl-delay`, …) are ignored.
//! - The groups naming our product token (case-insensitive, e.g. `threddex`) are merged and
//!   used; when none does, the `*` groups are merged and used; when there is neither, every
//!   path is allowed.
//! - The longest matching pattern wins; on a tie `Allow` wins. Patterns support `*` (any run
//!   of characters) and a trailing `$` (end of the path). An empty `Disallow` allows all.
//! - `/robots.txt` itself is always allowed.

/// Largest robots.txt we read (RFC 9309 asks for at least 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 512 * 1024;
/// Largest number of rules kept (hostile files are cut off here).
const MAX_RULES: usize = 10_000;
/// Longest pattern kept.
const MAX_PATTERN: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    allow: bool,
    pattern: String,
}

/// The rules that apply to one user agent on one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Robots {
    rules: Vec<Rule>,
}

#[derive(Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<Rule>,
}

impl Robots {
    /// Rules allowing everything (no robots.txt, or it could not be read).
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// Parse a robots.txt body for the product token `agent` (e.g. `threddex`).
    pub fn parse(text: &str, agent: &str) -> Self {
        let text = truncate_at_char(text, MAX_ROBOTS_BYTES);
        let agent = agent.to_ascii_lowercase();
        let mut groups: Vec<Group> = Vec::new();
        let mut current: Option<Group> = None;
        let mut in_agents = false;
        let mut rule_count = 0usize;
        for raw in text.lines() {
            let line = match raw.find('#') {
                Some(i) => raw.get(..i).unwrap_or(""),
                None => raw,
            };
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" => {
                    if !in_agents {
                        if let Some(g) = current.take() {
                            groups.push(g);
                        }
                        current = Some(Group::default());
                        in_agents = true;
                    }
                    if let Some(g) = current.as_mut() {
                        g.agents.push(value.to_ascii_lowercase());
                    }
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    let Some(g) = current.as_mut() else {
                        continue; // rules before any user-agent line belong to no group
                    };
                    if value.is_empty() || value.len() > MAX_PATTERN || rule_count >= MAX_RULES {
                        continue;
                    }
                    rule_count += 1;
                    g.rules.push(Rule {
                        allow: key == "allow",
                        pattern: value.to_string(),
                    });
                }
                _ => {
                    // Other records do not end the user-agent run of a group.
                }
            }
        }
        if let Some(g) = current.take() {
            groups.push(g);
        }
        let named: Vec<Rule> = groups
            .iter()
            .filter(|g| g.agents.iter().any(|a| agent_matches(a, &agent)))
            .flat_map(|g| g.rules.iter().cloned())
            .collect();
        let named_exists = groups
            .iter()
            .any(|g| g.agents.iter().any(|a| agent_matches(a, &agent)));
        let rules = if named_exists {
            named
        } else {
            groups
                .iter()
                .filter(|g| g.agents.iter().any(|a| a == "*"))
                .flat_map(|g| g.rules.iter().cloned())
                .collect()
        };
        Self { rules }
    }

    /// Whether `path` (path plus `?query`, starting with `/`) may be fetched.
    pub fn allowed(&self, path: &str) -> bool {
        if path == "/robots.txt" {
            return true;
        }
        let mut best: Option<(usize, bool)> = None;
        for rule in &self.rules {
            if pattern_matches(&rule.pattern, path) {
                let len = rule.pattern.len();
                best = match best {
                    None => Some((len, rule.allow)),
                    Some((blen, ballow)) => {
                        if len > blen || (len == blen && rule.allow && !ballow) {
                            Some((len, rule.allow))
                        } else {
                            Some((blen, ballow))
                        }
                    }
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }

    /// Number of rules that apply (for logs).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// A group's user-agent value matches our token when it equals it, or when it is a product
/// token our token starts with (`threddex/0.1` lines are written as `threddex`).
fn agent_matches(line_agent: &str, ours: &str) -> bool {
    if line_agent == "*" || line_agent.is_empty() {
        return false;
    }
    let token = line_agent.split('/').next().unwrap_or(line_agent).trim();
    !token.is_empty() && token == ours
}

/// Whether a robots pattern matches `path` (patterns match prefixes unless they end in `$`).
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (pat, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    glob(pat.as_bytes(), path.as_bytes(), anchored)
}

/// Iterative wildcard match with single-star backtracking: O(len(p) * len(s)) worst case.
fn glob(p: &[u8], s: &[u8], anchored: bool) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi == p.len() && (!anchored || si == s.len()) {
            return true;
        }
        if let Some(&pc) = p.get(pi) {
            if pc == b'*' {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            if s.get(si) == Some(&pc) {
                pi += 1;
                si += 1;
                continue;
            }
        }
        // Mismatch (or pattern exhausted while anchored): backtrack to the last star.
        match star {
            Some((sp, ss)) if ss < s.len() => {
                star = Some((sp, ss + 1));
                pi = sp + 1;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_allows_all() {
        let r = Robots::parse("", "threddex");
        assert!(r.allowed("/anything"));
        assert!(Robots::allow_all().allowed("/x"));
    }

    #[test]
    fn star_group_disallow() {
        let r = Robots::parse("User-agent: *\nDisallow: /private/\n", "threddex");
        assert!(!r.allowed("/private/catalog.xml"));
        assert!(r.allowed("/public/catalog.xml"));
        assert!(r.allowed("/private"));
    }

    #[test]
    fn named_group_beats_star() {
        let text = "User-agent: *\nDisallow: /\n\nUser-agent: Threddex\nDisallow: /secret\n";
        let r = Robots::parse(text, "threddex");
        assert!(r.allowed("/thredds/catalog.xml"));
        assert!(!r.allowed("/secret/x"));
        let other = Robots::parse(text, "otherbot");
        assert!(!other.allowed("/thredds/catalog.xml"));
    }

    #[test]
    fn longest_match_and_allow_tie() {
        let text = "User-agent: *\nDisallow: /thredds/\nAllow: /thredds/catalog/public/\n";
        let r = Robots::parse(text, "threddex");
        assert!(!r.allowed("/thredds/catalog/x/catalog.xml"));
        assert!(r.allowed("/thredds/catalog/public/catalog.xml"));
        let tie = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\n", "threddex");
        assert!(tie.allowed("/a/b"));
    }

    #[test]
    fn wildcards_and_anchor() {
        let text = "User-agent: *\nDisallow: /*.html$\nDisallow: /x*/y\n";
        let r = Robots::parse(text, "threddex");
        assert!(!r.allowed("/thredds/catalog.html"));
        assert!(r.allowed("/thredds/catalog.html?x=1"));
        assert!(r.allowed("/thredds/catalog.xml"));
        assert!(!r.allowed("/xabc/yz"));
        assert!(r.allowed("/xabc/z"));
    }

    #[test]
    fn multiple_agents_one_group_and_comments() {
        let text = "# hello\nUser-agent: foo\nUser-agent: threddex # us\nDisallow: /no\nCrawl-delay: 5\nDisallow: /also\nUser-agent: *\nDisallow: /\n";
        let r = Robots::parse(text, "threddex");
        assert!(!r.allowed("/no/1"));
        assert!(!r.allowed("/also"));
        assert!(r.allowed("/yes"));
        assert_eq!(r.rule_count(), 2);
    }

    #[test]
    fn empty_disallow_allows() {
        let r = Robots::parse("User-agent: *\nDisallow:\n", "threddex");
        assert!(r.allowed("/x"));
    }

    #[test]
    fn robots_txt_always_allowed() {
        let r = Robots::parse("User-agent: *\nDisallow: /\n", "threddex");
        assert!(r.allowed("/robots.txt"));
        assert!(!r.allowed("/"));
    }

    #[test]
    fn hostile_patterns_are_fast_and_safe() {
        let pat = "*a".repeat(500);
        let text = format!("User-agent: *\nDisallow: /{pat}b\n");
        let r = Robots::parse(&text, "threddex");
        let path = format!("/{}", "a".repeat(2000));
        assert!(r.allowed(&path));
        let garbage = Robots::parse("\u{0}\u{ffff}:::\nUser-agent\nDisallow /x\n", "threddex");
        assert!(garbage.allowed("/x"));
    }
}
