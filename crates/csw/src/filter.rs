//! Constraints: OGC Filter 1.1 (XML) and CQL text → [`RecordFilter`], read by
//! [`threddex_query`] (see there for the languages); errors become `ows:ExceptionReport`s
//! with the locator `Constraint` (or the missing part's name).

use threddex_records::tree::Element;
use threddex_store::RecordFilter;

pub use threddex_query::{
    APISO_QUERYABLES, MAX_DEPTH, MAX_NODES, MAX_WORDS, QUERYABLES, make_bbox, parse_time, queryable,
};

use crate::error::CswError;

impl From<threddex_query::QueryError> for CswError {
    fn from(e: threddex_query::QueryError) -> Self {
        match e {
            threddex_query::QueryError::Missing(what) => CswError::missing(&what),
            threddex_query::QueryError::Invalid(message) => {
                CswError::invalid("Constraint", message)
            }
        }
    }
}

/// Converts an `ogc:Filter` element (or an element holding one) into a filter.
pub fn ogc_filter(root: &Element) -> Result<RecordFilter, CswError> {
    Ok(threddex_query::Query::Filter(root).parse()?)
}

/// Parses CQL text (`dc:title LIKE '%sea%' AND BBOX(ows:BoundingBox, -10, -5, 10, 5)`).
pub fn cql(text: &str) -> Result<RecordFilter, CswError> {
    Ok(threddex_query::Query::Text(text).parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns;
    use threddex_records::tree::{TreeLimits, parse};

    fn filter(xml: &str) -> Result<RecordFilter, CswError> {
        let doc = format!(
            "<ogc:Filter xmlns:ogc=\"{}\" xmlns:gml=\"{}\">{xml}</ogc:Filter>",
            ns::OGC,
            ns::GML
        );
        ogc_filter(&parse(doc.as_bytes(), &TreeLimits::default()).unwrap())
    }

    #[test]
    fn errors_name_the_constraint_or_the_missing_part() {
        let e = filter(
            "<ogc:PropertyIsEqualTo><ogc:PropertyName>dc:nope</ogc:PropertyName>\
             <ogc:Literal>x</ogc:Literal></ogc:PropertyIsEqualTo>",
        )
        .unwrap_err();
        assert_eq!(e.locator.as_deref(), Some("Constraint"));
        assert_eq!(e.status, 400);
        let e =
            filter("<ogc:PropertyIsEqualTo><ogc:Literal>x</ogc:Literal></ogc:PropertyIsEqualTo>")
                .unwrap_err();
        assert_eq!(e.locator.as_deref(), Some("PropertyName"));
        let e = cql("dc:title ~ 'x'").unwrap_err();
        assert_eq!(e.locator.as_deref(), Some("Constraint"));
    }
}
