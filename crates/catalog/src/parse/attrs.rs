//! Attribute access by namespace URI.

use quick_xml::events::BytesStart;
use quick_xml::events::attributes::Attribute;
use quick_xml::name::{NamespaceResolver, ResolveResult};

use super::XLINK_NS;
use crate::model::Property;

pub(super) fn attr_value(a: &Attribute<'_>) -> String {
    let raw: &str = &a.value;
    if !raw.contains(['&', '\t', '\n', '\r']) {
        return raw.to_string();
    }
    match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
        Ok(v) => v.into_owned(),
        Err(_) => raw.to_string(),
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
    let mut attrs = e.attributes();
    attrs.with_checks(false);
    for a in attrs {
        let a = a.map_err(|err| err.to_string())?;
        let (ns, local) = r.resolve_attribute(a.key);
        let local: &str = local.into_inner();
        let xlink = match ns {
            ResolveResult::Unbound => false,
            ResolveResult::Bound(n) if n.0 == XLINK_NS => true,
            _ => continue,
        };
        for (slot, w) in out.iter_mut().zip(want.iter()) {
            let hit = match *w {
                A::Plain(n) => !xlink && n == local,
                A::Xlink(n) => xlink && n == local,
            };
            if hit && slot.is_none() {
                *slot = Some(attr_value(&a));
                break;
            }
        }
    }
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
