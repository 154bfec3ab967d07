//! A small XML writer that escapes every text and attribute value.
//!
//! Element and attribute names are given by this crate's code (or were checked to be XML names
//! by the tree parser); values are always escaped here: `& < > " '` become entities, characters
//! that XML 1.0 forbids (C0 controls except tab/LF/CR, U+FFFE, U+FFFF) are dropped, and in
//! attributes tab/LF/CR become character references so they survive attribute normalisation.

use std::fmt::Write as _;

/// Whether `c` may appear in an XML 1.0 document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Removes characters XML 1.0 forbids.
pub fn clean(s: &str) -> String {
    s.chars().filter(|&c| is_xml_char(c)).collect()
}

/// Appends `s` escaped for element content.
pub fn escape_text_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// Appends `s` escaped for a double-quoted attribute value.
pub fn escape_attr_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// Escapes `s` for element content.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_text_into(&mut out, s);
    out
}

/// Makes `s` a valid `xs:anyURI` (RFC 3986 reference) without changing valid URLs:
/// characters outside RFC 3986 are percent-encoded (UTF-8), a `%` not followed by two hex
/// digits becomes `%25`, a second `#` becomes `%23`, brackets outside the authority are
/// encoded, and a first segment that would parse as an invalid scheme gets a `./` prefix.
pub fn safe_uri(s: &str) -> String {
    let s = s.trim();
    let scheme_end = s.find(['/', '?', '#']).map_or(s.len(), |i| i);
    let prefix = match s.get(..scheme_end).and_then(|head| head.find(':')) {
        Some(colon) => {
            let scheme = &s[..colon];
            let valid = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if valid { "" } else { "./" }
        }
        None => "",
    };
    // The authority (where IPv6 brackets are legal) follows "scheme://".
    let auth = s.find("://").filter(|_| prefix.is_empty()).map(|i| {
        let start = i + 3;
        let end = s[start..]
            .find(['/', '?', '#'])
            .map_or(s.len(), |j| start + j);
        (start, end)
    });
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(prefix);
    let mut seen_hash = false;
    for (i, c) in s.char_indices() {
        let in_auth = auth.is_some_and(|(a, b)| i >= a && i < b);
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' => out.push(c),
            ':' | '/' | '?' | '@' | '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';'
            | '=' => out.push(c),
            '[' | ']' if in_auth => out.push(c),
            '#' if !seen_hash => {
                seen_hash = true;
                out.push(c);
            }
            '%' if bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit) =>
            {
                out.push(c)
            }
            c if is_xml_char(c) => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            _ => {}
        }
    }
    out
}

/// Streaming writer. Names are `&str` chosen by the caller (trusted); values are escaped.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    stack: Vec<String>,
    open_tag: bool,
}

impl XmlWriter {
    /// A writer that starts with the XML declaration.
    pub fn new() -> Self {
        let mut w = Self::default();
        w.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        w
    }

    /// A writer without XML declaration (for fragments).
    pub fn fragment() -> Self {
        Self::default()
    }

    fn close_open_tag(&mut self) {
        if self.open_tag {
            self.out.push('>');
            self.open_tag = false;
        }
    }

    /// Opens `<name attrs…>`.
    pub fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.close_open_tag();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.attr(k, v);
        }
        self.open_tag = true;
        self.stack.push(name.to_string());
        self
    }

    /// Adds an attribute to the element just opened (before any content).
    pub fn attr(&mut self, key: &str, value: &str) -> &mut Self {
        self.out.push(' ');
        self.out.push_str(key);
        self.out.push_str("=\"");
        escape_attr_into(&mut self.out, value);
        self.out.push('"');
        self
    }

    /// Closes the innermost open element (`<a/>` when it has no content).
    pub fn end(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            if self.open_tag {
                self.out.push_str("/>");
                self.open_tag = false;
            } else {
                self.out.push_str("</");
                self.out.push_str(&name);
                self.out.push('>');
            }
        }
        self
    }

    /// Writes escaped text.
    pub fn text(&mut self, s: &str) -> &mut Self {
        if s.is_empty() {
            return self;
        }
        self.close_open_tag();
        escape_text_into(&mut self.out, s);
        self
    }

    /// `<name attrs/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start(name, attrs).end()
    }

    /// `<name attrs>text</name>`.
    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.start(name, attrs).text(text).end()
    }

    /// `<outer><gco:CharacterString>text</gco:CharacterString></outer>`.
    pub fn string(&mut self, outer: &str, text: &str) -> &mut Self {
        self.start(outer, &[])
            .leaf("gco:CharacterString", &[], text)
            .end()
    }

    /// `<outer gco:nilReason="reason"/>`.
    pub fn nil(&mut self, outer: &str, reason: &str) -> &mut Self {
        self.empty(outer, &[("gco:nilReason", reason)])
    }

    /// A line break (between top-level sections, for readability).
    pub fn newline(&mut self) -> &mut Self {
        self.close_open_tag();
        self.out.push('\n');
        self
    }

    /// Appends pre-formatted text (numbers) without escaping; only for values this crate
    /// formatted itself.
    pub fn raw_number(&mut self, v: f64) -> &mut Self {
        self.close_open_tag();
        let _ = write!(self.out, "{}", fmt_decimal(v));
        self
    }

    /// Appends a complete, well-formed XML element as it is (no escaping), e.g. a stored
    /// record embedded in a CSW response. Only for XML this program produced itself.
    pub fn raw_xml(&mut self, xml: &str) -> &mut Self {
        self.close_open_tag();
        self.out.push_str(xml);
        self
    }

    /// Closes every open element and returns the document.
    pub fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.end();
        }
        self.out
    }
}

/// Formats a finite number as an `xs:decimal` (no exponent; `-0` as `0`).
pub fn fmt_decimal(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let v = if v == 0.0 { 0.0 } else { v };
    // Round to 1e-9 to avoid 0.30000000000000004-style tails.
    let r = if v.abs() < 1.0e12 {
        (v * 1.0e9).round() / 1.0e9
    } else {
        v
    };
    let s = format!("{r}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_drops_forbidden_chars() {
        assert_eq!(
            escape_text("a<b&c>]]>\u{0}\u{1}\u{8}\u{b}ok\u{FFFE}é\r"),
            "a&lt;b&amp;c&gt;]]&gt;oké&#13;"
        );
    }

    #[test]
    fn escapes_attributes() {
        let mut w = XmlWriter::fragment();
        w.empty("a", &[("x", "\"'<&>\n\t\r")]);
        assert_eq!(
            w.finish(),
            "<a x=\"&quot;&apos;&lt;&amp;&gt;&#10;&#9;&#13;\"/>"
        );
    }

    #[test]
    fn nesting_and_empty() {
        let mut w = XmlWriter::fragment();
        w.start("a", &[]).empty("b", &[]).leaf("c", &[], "x").end();
        assert_eq!(w.finish(), "<a><b/><c>x</c></a>");
    }

    #[test]
    fn uris_are_made_valid() {
        assert_eq!(
            safe_uri("https://h.example/a/b?c=d&e=f#g"),
            "https://h.example/a/b?c=d&e=f#g"
        );
        assert_eq!(safe_uri("http://[::1]:8080/x"), "http://[::1]:8080/x");
        assert_eq!(
            safe_uri(" a b<>%zz%4a##日 "),
            "a%20b%3C%3E%25zz%4a#%23%E6%97%A5"
        );
        assert_eq!(safe_uri(":x"), "./:x");
        assert_eq!(safe_uri("1a:b"), "./1a:b");
        assert_eq!(safe_uri("mailto:x@y"), "mailto:x@y");
        assert_eq!(safe_uri("[::1]"), "./%5B::1%5D");
        assert_eq!(safe_uri("a%"), "a%25");
    }

    #[test]
    fn decimals_have_no_exponent() {
        assert_eq!(fmt_decimal(1e21), "1000000000000000000000.0");
        assert_eq!(fmt_decimal(-0.0), "0.0");
        assert_eq!(fmt_decimal(0.1 + 0.2), "0.3");
        assert_eq!(fmt_decimal(-179.5), "-179.5");
        assert_eq!(fmt_decimal(1e-12), "0.0");
    }
}
