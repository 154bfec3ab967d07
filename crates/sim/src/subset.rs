//! `catalog.xml?dataset=ID`: the single-dataset view a real TDS answers.
//!
//! A TDS given `?dataset=ID` on a catalog URL returns a catalog holding the services and only
//! that dataset, with the metadata it inherits. Clients such as `thredds_crawler` request this
//! once per leaf dataset, so the simulated server answers it too (for the generated tree; files
//! served from a directory map their queries themselves). Works on the generated XML, whose
//! shape is known: leaf datasets hold no nested datasets.

use crate::xml;

/// The value of the first `dataset=` parameter of a query string, percent-decoded.
pub(crate) fn dataset_param(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("dataset="))
        .and_then(percent_decode)
        .filter(|v| !v.is_empty())
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b.get(i) {
            Some(b'%') => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            Some(c) => {
                out.push(*c);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).ok()
}

/// The catalog `body` reduced to the leaf dataset whose `ID` is `id`, with the container's
/// inherited metadata copied into it; `None` when no such leaf is listed.
pub(crate) fn single_dataset(body: &str, id: &str) -> Option<String> {
    let needle = format!(" ID=\"{}\"", xml::escape(id));
    let attr = body.find(&needle)?;
    let start = body.get(..attr)?.rfind("<dataset ")?;
    let open_end = attr + body.get(attr..)?.find('>')? + 1;
    // The ID must belong to this <dataset> tag (no other tag in between).
    if body.get(start + 1..attr)?.contains(['<', '>']) {
        return None;
    }
    let open = body.get(start..open_end)?;
    let (inner, close) = if open.ends_with("/>") {
        ("", "")
    } else {
        let rest = body.get(open_end..)?;
        let end = rest.find("</dataset>")?;
        let inner = rest.get(..end)?;
        if inner.contains("<dataset ") {
            return None; // a container, not a leaf
        }
        (inner, "</dataset>")
    };
    let header_end = body.find("<dataset ")?;
    let header = body.get(..header_end)?;
    let inherited = body
        .get(..start)
        .and_then(|before| {
            let m = before.find("<metadata inherited=\"true\">")?;
            let e = before.get(m..)?.find("</metadata>")? + m + "</metadata>".len();
            before.get(m..e)
        })
        .unwrap_or("");
    let mut out = String::with_capacity(header.len() + open.len() + inner.len() + 256);
    out.push_str(header);
    if close.is_empty() {
        // Self-closed leaf: reopen it to hold the metadata.
        out.push_str(open.trim_end_matches("/>").trim_end());
        out.push('>');
    } else {
        out.push_str(open);
    }
    if !inherited.is_empty() {
        out.push_str("\n    ");
        out.push_str(inherited);
    }
    out.push_str(inner.trim_end());
    out.push_str("\n  </dataset>\n</catalog>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0" name="d">
  <service name="S" serviceType="Compound" base="">
    <service name="HTTPServer" serviceType="HTTPServer" base="/thredds/fileServer/" />
  </service>
  <dataset name="d" ID="A/d">
    <metadata inherited="true">
      <serviceName>S</serviceName>
    </metadata>
    <dataset name="x_0000.nids" ID="A/d/x_0000.nids" urlPath="a/x_0000.nids">
      <dataSize units="Kbytes">1.00</dataSize>
    </dataset>
    <dataset name="x &amp; y" ID="A/d/x&amp;y" urlPath="a/xy" />
  </dataset>
</catalog>
"#;

    #[test]
    fn query_param_is_decoded() {
        assert_eq!(
            dataset_param("a=1&dataset=A%2Fd%2Fx_0000.nids").as_deref(),
            Some("A/d/x_0000.nids")
        );
        assert_eq!(dataset_param("dataset=A/d/x").as_deref(), Some("A/d/x"));
        assert_eq!(dataset_param("dataset="), None);
        assert_eq!(dataset_param("dataset=%zz"), None);
        assert_eq!(dataset_param("dataset=%2"), None);
        assert_eq!(dataset_param("other=1"), None);
    }

    #[test]
    fn leaf_is_cut_out_with_inherited_metadata() {
        let out = single_dataset(CAT, "A/d/x_0000.nids").unwrap_or_default();
        assert!(out.contains("<service name=\"HTTPServer\""));
        assert!(out.contains("ID=\"A/d/x_0000.nids\""));
        assert!(out.contains("<serviceName>S</serviceName>"));
        assert!(out.contains("<dataSize units=\"Kbytes\">1.00</dataSize>"));
        assert!(!out.contains("ID=\"A/d\""));
        assert!(!out.contains("x &amp; y"));
        assert_eq!(out.matches("<dataset ").count(), 1);
        assert_eq!(out.matches("</dataset>").count(), 1);
        assert!(out.trim_end().ends_with("</catalog>"));
    }

    #[test]
    fn self_closed_leaf_and_escaped_id() {
        let out = single_dataset(CAT, "A/d/x&y").unwrap_or_default();
        assert!(out.contains("<dataset name=\"x &amp; y\" ID=\"A/d/x&amp;y\" urlPath=\"a/xy\">"));
        assert!(out.contains("<serviceName>S</serviceName>"));
        assert_eq!(out.matches("</dataset>").count(), 1);
    }

    #[test]
    fn containers_and_unknown_ids_are_not_cut() {
        assert_eq!(single_dataset(CAT, "A/d"), None);
        assert_eq!(single_dataset(CAT, "nope"), None);
        assert_eq!(single_dataset(CAT, "A/d/x_0000"), None);
        assert_eq!(single_dataset("<catalog>", "x"), None);
    }
}
