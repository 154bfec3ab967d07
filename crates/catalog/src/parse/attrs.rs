//! Attribute access by namespace URI.

use std::borrow::Cow;

use quick_xml::events::BytesStart;
use quick_xml::events::attributes::Attribute;
use quick_xml::name::{NamespaceResolver, QName, ResolveResult};

use super::XLINK_NS;
use crate::model::Property;

/// Decodes a raw attribute value: references resolved and whitespace normalised (XML 1.0);
/// values that need neither are copied as they are.
pub(super) fn decode_value(raw: &str) -> String {
    // Branch-free scan (vectorises): `&`, or a control character (`\t`, `\n`, `\r`; other
    // control characters take the slow path too, which leaves them as they are).
    if !raw
        .bytes()
        .fold(false, |acc, b| acc | (b == b'&') | (b < b' '))
    {
        return raw.to_string();
    }
    let a = Attribute {
        key: QName(""),
        value: Cow::Borrowed(raw),
    };
    match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
        Ok(v) => v.into_owned(),
        Err(_) => raw.to_string(),
    }
}

/// The namespace of an attribute, as far as the catalog cares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// No prefix.
    Plain,
    /// In the xlink namespace.
    Xlink,
}

fn scope<'k>(r: &NamespaceResolver, key: &'k str) -> Option<(Scope, &'k str)> {
    if !key.contains(':') && key != "xmlns" {
        return Some((Scope::Plain, key));
    }
    let (ns, local) = r.resolve_attribute(QName(key));
    let local: &str = local.into_inner();
    match ns {
        ResolveResult::Unbound => Some((Scope::Plain, local)),
        ResolveResult::Bound(n) if n.0 == XLINK_NS => Some((Scope::Xlink, local)),
        _ => None,
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Calls `f(scope, local name, raw value)` for each unprefixed or xlink attribute, in order.
///
/// Fast path: a scanner for the plain `key="value"` form (what servers write), collecting up to
/// [`MAX_FAST`] attributes on the stack before calling `f`. On anything else quick-xml's
/// attribute iterator decides (and reports errors).
pub(super) fn each_attr<'a>(
    e: &'a BytesStart<'_>,
    r: &NamespaceResolver,
    mut f: impl FnMut(Scope, &str, &str),
) -> Result<(), String> {
    let raw: &'a str = e.attributes_raw();
    let mut found: [(&str, &str); MAX_FAST] = [("", ""); MAX_FAST];
    if let Some(n) = scan_simple(raw, &mut found) {
        for &(k, v) in found.iter().take(n) {
            if let Some((sc, local)) = scope(r, k) {
                f(sc, local, v);
            }
        }
        return Ok(());
    }
    let mut attrs = e.attributes();
    attrs.with_checks(false);
    for a in attrs {
        let a = a.map_err(|err| err.to_string())?;
        let (ns, local) = r.resolve_attribute(a.key);
        let local: &str = local.into_inner();
        let sc = match ns {
            ResolveResult::Unbound => Scope::Plain,
            ResolveResult::Bound(n) if n.0 == XLINK_NS => Scope::Xlink,
            _ => continue,
        };
        f(sc, local, &a.value);
    }
    Ok(())
}

/// Most attributes per tag handled by the fast scanner.
const MAX_FAST: usize = 16;

/// Scans `raw` as a sequence of whitespace-separated `key="value"` / `key='value'` into
/// `out`; returns how many, or `None` on anything else (or more than [`MAX_FAST`]).
fn scan_simple<'r>(raw: &'r str, out: &mut [(&'r str, &'r str); MAX_FAST]) -> Option<usize> {
    let b = raw.as_bytes();
    let mut i = 0;
    let mut n = 0;
    loop {
        while b.get(i).is_some_and(|&c| is_ws(c)) {
            i += 1;
        }
        if i >= b.len() {
            return Some(n);
        }
        let ks = i;
        while let Some(&c) = b.get(i) {
            if c == b'=' {
                break;
            }
            if is_ws(c) || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'/' | b'&') {
                return None;
            }
            i += 1;
        }
        if i == ks || b.get(i) != Some(&b'=') {
            return None;
        }
        let q = match b.get(i + 1) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return None,
        };
        let vs = i + 2;
        let len = raw.get(vs..)?.find(char::from(q))?;
        let ve = vs + len;
        if b.get(ve + 1).is_some_and(|&c| !is_ws(c)) {
            return None;
        }
        *out.get_mut(n)? = (raw.get(ks..i)?, raw.get(vs..ve)?);
        n += 1;
        i = ve + 1;
    }
}

/// An attribute to pick: unprefixed (`Plain`) or in the xlink namespace (`Xlink`).
#[derive(Clone, Copy)]
pub(super) enum A<'n> {
    Plain(&'n str),
    Xlink(&'n str),
}

/// Reads the wanted attributes of a start tag in one pass (namespaces resolved by URI).
pub(super) fn pick<const N: usize>(
    e: &BytesStart<'_>,
    r: &NamespaceResolver,
    want: [A<'_>; N],
) -> Result<[Option<String>; N], String> {
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    each_attr(e, r, |sc, local, value| {
        for (slot, w) in out.iter_mut().zip(want.iter()) {
            let hit = match *w {
                A::Plain(n) => sc == Scope::Plain && n == local,
                A::Xlink(n) => sc == Scope::Xlink && n == local,
            };
            if hit && slot.is_none() {
                *slot = Some(decode_value(value));
                break;
            }
        }
    })?;
    Ok(out)
}

/// A `property` element.
pub(super) fn property(e: &BytesStart<'_>, r: &NamespaceResolver) -> Result<Property, String> {
    let [name, value] = pick(e, r, [A::Plain("name"), A::Plain("value")])?;
    Ok(Property {
        name: name.unwrap_or_default(),
        value: value.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What quick-xml's attribute iterator yields for `raw`, or `None` on an error.
    fn reference(raw: &str) -> Option<Vec<(String, String)>> {
        let content = format!("e{raw}");
        let e = BytesStart::from_content(content.as_str(), 1);
        let mut attrs = e.attributes();
        attrs.with_checks(false);
        let mut out = Vec::new();
        for a in attrs {
            let a = a.ok()?;
            out.push((a.key.as_ref().to_string(), a.value.to_string()));
        }
        Some(out)
    }

    fn fast(raw: &str) -> Option<Vec<(String, String)>> {
        let mut found = [("", ""); MAX_FAST];
        let n = scan_simple(raw, &mut found)?;
        let found = found.iter().take(n);
        Some(found.map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// Whenever the fast scanner accepts, it agrees with quick-xml.
    fn agrees(raw: &str) -> Result<(), TestCaseError> {
        if let Some(got) = fast(raw) {
            prop_assert_eq!(Some(got), reference(raw), "{:?}", raw);
        }
        Ok(())
    }

    #[test]
    fn fast_scanner_accepts_the_usual_form() {
        let raw = r#" name="a &amp; b" ID='x"y'
            xlink:href="c.xml"	urlPath="d/e.nc" "#;
        let got = fast(raw);
        assert_eq!(got, reference(raw));
        assert_eq!(got.map(|v| v.len()), Some(4));
        assert_eq!(fast(""), Some(vec![]));
        let many: String = (0..=MAX_FAST).map(|i| format!(" a{i}=\"{i}\"")).collect();
        assert_eq!(
            fast(&many),
            None,
            "more than MAX_FAST attributes take the slow path"
        );
        for odd in [
            " a = \"1\"",
            " a=1",
            " a=\"1\"b=\"2\"",
            " a=\"1",
            " =\"1\"",
            " a\"=\"1\"",
        ] {
            assert_eq!(fast(odd), None, "{odd:?} must take the slow path");
        }
    }

    #[test]
    fn each_attr_resolves_prefixes_and_falls_back() {
        let xml = r#"<r xmlns:xl="http://www.w3.org/1999/xlink" xmlns:o="urn:other"><e a="1" xl:href="h" o:a="2" b = "3"/></r>"#;
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut ns = NamespaceResolver::default();
        let mut seen = Vec::new();
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Start(e)) => {
                    assert!(ns.push(&e).is_ok());
                }
                Ok(quick_xml::events::Event::Empty(e)) => {
                    assert!(ns.push(&e).is_ok());
                    let r = each_attr(&e, &ns, |sc, l, v| {
                        seen.push((sc == Scope::Xlink, l.to_string(), v.to_string()))
                    });
                    assert!(r.is_ok());
                }
                Ok(quick_xml::events::Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // `b = "3"` is not the simple form: the slow path (quick-xml) gives every attribute,
        // each once.
        let want = [(false, "a", "1"), (true, "href", "h"), (false, "b", "3")];
        let want: Vec<_> = want
            .iter()
            .map(|(x, l, v)| (*x, l.to_string(), v.to_string()))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn decode_value_normalises_only_when_needed() {
        assert_eq!(decode_value("plain/path.nc"), "plain/path.nc");
        assert_eq!(decode_value("a &amp; b&#x41;"), "a & bA");
        assert_eq!(decode_value("a\tb\nc"), "a b c");
        assert_eq!(decode_value("&undeclared;"), "&undeclared;");
    }

    proptest! {
        #[test]
        fn fast_scanner_agrees_with_quick_xml(raw in "[ \t\na-z:=\"'&;<>/]{0,40}") {
            agrees(&raw)?;
        }

        #[test]
        fn fast_scanner_agrees_on_attribute_lists(
            attrs in proptest::collection::vec(("[a-zA-Z:_]{1,8}", "[ a-z&;#0-9'<>/=]{0,12}", any::<bool>(), "[ \t\n]{1,3}"), 0..6)
        ) {
            let mut raw = String::new();
            for (k, v, single, ws) in &attrs {
                let q = if *single { '\'' } else { '"' };
                raw.push_str(ws);
                raw.push_str(k);
                raw.push('=');
                raw.push(q);
                raw.extend(v.chars().filter(|c| *c != q));
                raw.push(q);
            }
            prop_assert!(fast(&raw).is_some(), "{:?}", raw);
            agrees(&raw)?;
        }
    }
}
