//! The virtual views of a catalog as the store records them: GRIB/FMRC Best, TwoD and full
//! collection datasets, FMRC forecast-run / constant-forecast / constant-offset catalogs and
//! `latest.xml` resolvers. They are not granules (the files behind them are listed as
//! granules elsewhere) and are never fetched: the catalog listing says everything recorded
//! here. The store links them to the collections whose files they aggregate.

use chrono::{DateTime, Utc};
use regex::Regex;
use threddex_catalog::{Catalog, DynamicKind, VirtualView};
use threddex_store::{MAX_VIEWS_PER_CATALOG, View, ViewAccess, ViewKind};

/// Most access URLs kept per view.
const MAX_ACCESS_PER_VIEW: usize = 32;

fn kind(k: DynamicKind) -> ViewKind {
    match k {
        DynamicKind::Latest => ViewKind::Latest,
        DynamicKind::LatestComplete => ViewKind::LatestComplete,
        DynamicKind::Resolver => ViewKind::Resolver,
        DynamicKind::Best => ViewKind::Best,
        DynamicKind::TwoD => ViewKind::TwoD,
        DynamicKind::FullCollection => ViewKind::FullCollection,
        DynamicKind::ForecastRun => ViewKind::ForecastRun,
        DynamicKind::ConstantForecast => ViewKind::ConstantForecast,
        DynamicKind::ConstantOffset => ViewKind::ConstantOffset,
    }
}

/// Whether `--skip` drops a view: any pattern matching its name, ID, urlPath or href.
fn skipped(v: &VirtualView, skip: &[Regex]) -> bool {
    let href = v.catalog_ref.as_ref().map(|u| u.as_str());
    let fields = [
        Some(v.name.as_str()),
        v.id.as_deref(),
        v.url_path.as_deref(),
        href,
    ];
    skip.iter()
        .any(|re| fields.iter().flatten().any(|f| re.is_match(f)))
}

/// The views of `cat` in listing order (at most [`MAX_VIEWS_PER_CATALOG`]); a relative time
/// coverage (`present`) is resolved at `now`.
pub(crate) fn views_of(cat: &Catalog, skip: &[Regex], now: DateTime<Utc>) -> Vec<View> {
    cat.views()
        .into_iter()
        .filter(|v| !skipped(v, skip))
        .take(MAX_VIEWS_PER_CATALOG)
        .map(|v| {
            let (start, end) = v
                .time_coverage
                .as_ref()
                .map(|tc| tc.range(now))
                .unwrap_or((None, None));
            let mut access: Vec<ViewAccess> = Vec::new();
            for a in v.access {
                if access.len() >= MAX_ACCESS_PER_VIEW {
                    break;
                }
                if access.iter().any(|x| x.url == a.url) {
                    continue;
                }
                access.push(ViewAccess {
                    service: a.service_name,
                    service_type: a.service_type.as_str().to_string(),
                    url: a.url,
                });
            }
            View {
                name: v.name,
                kind: kind(v.kind),
                id: v.id,
                url_path: v.url_path,
                catalog_ref: v.catalog_ref.map(String::from),
                access,
                start,
                end,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0";

    fn parse(xml: &str) -> Catalog {
        let url = url::Url::parse("https://tds.example.org/thredds/catalog/grib/X/catalog.xml")
            .expect("url");
        threddex_catalog::parse_catalog(xml.as_bytes(), &url).expect("parses")
    }

    #[test]
    fn views_carry_kind_access_and_own_coverage() {
        let cat = parse(&format!(
            r#"<catalog xmlns="{NS}" xmlns:xlink="http://www.w3.org/1999/xlink">
  <service name="all" serviceType="Compound" base="">
    <service name="odap" serviceType="OPENDAP" base="/thredds/dodsC/"/>
    <service name="wms" serviceType="WMS" base="/thredds/wms/"/>
  </service>
  <service name="latest" serviceType="Resolver" base=""/>
  <dataset name="X">
    <metadata inherited="true"><serviceName>all</serviceName>
      <timeCoverage><end>present</end><duration>10 days</duration></timeCoverage></metadata>
    <dataset name="Best X Time Series" ID="grib/X/Best" urlPath="grib/X/Best">
      <timeCoverage><start>2024-01-01T00:00:00Z</start><end>present</end></timeCoverage>
    </dataset>
    <dataset name="Latest Collection for X" urlPath="latest.xml" serviceName="latest"/>
    <dataset name="X_20240101_0000.grib2" urlPath="grib/X/X_20240101_0000.grib2"/>
    <catalogRef xlink:href="runs/catalog.xml" xlink:title="Forecast Model Run" name=""/>
    <catalogRef xlink:href="offsets/catalog.xml" xlink:title="Constant Forecast Offset" name=""/>
  </dataset>
</catalog>"#
        ));
        let now = DateTime::parse_from_rfc3339("2024-02-01T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let views = views_of(&cat, &[], now);
        let kinds: Vec<ViewKind> = views.iter().map(|v| v.kind).collect();
        assert_eq!(
            kinds,
            [
                ViewKind::Best,
                ViewKind::Latest,
                ViewKind::ForecastRun,
                ViewKind::ConstantOffset
            ]
        );
        let best = &views[0];
        assert_eq!(
            best.access
                .iter()
                .map(|a| (a.service_type.as_str(), a.url.as_str()))
                .collect::<Vec<_>>(),
            [
                (
                    "OPENDAP",
                    "https://tds.example.org/thredds/dodsC/grib/X/Best"
                ),
                ("WMS", "https://tds.example.org/thredds/wms/grib/X/Best"),
            ]
        );
        assert_eq!(
            (best.start, best.end),
            (
                Some(
                    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
                        .expect("t")
                        .with_timezone(&Utc)
                ),
                Some(now)
            )
        );
        // The resolver: its URL, no coverage of its own (the collection's is inherited).
        let latest = &views[1];
        assert_eq!(latest.access.len(), 1);
        assert_eq!(latest.access[0].service_type, "Resolver");
        assert_eq!(
            latest.access[0].url,
            "https://tds.example.org/thredds/catalog/grib/X/latest.xml"
        );
        assert_eq!((latest.start, latest.end), (None, None));
        assert_eq!(
            views[2].catalog_ref.as_deref(),
            Some("https://tds.example.org/thredds/catalog/grib/X/runs/catalog.xml")
        );
        assert!(views[2].access.is_empty());

        // --skip applies to views as to datasets and references.
        let skip = [Regex::new("(?i)latest|runs/").expect("regex")];
        let names: Vec<String> = views_of(&cat, &skip, now)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, ["Best X Time Series", "Constant Forecast Offset"]);
    }

    #[test]
    fn views_are_bounded() {
        let mut xml = format!(
            r#"<catalog xmlns="{NS}"><service name="r" serviceType="Resolver" base=""/><dataset name="d" serviceName="r">"#
        );
        for i in 0..(MAX_VIEWS_PER_CATALOG + 10) {
            xml.push_str(&format!(r#"<dataset name="r{i}" urlPath="r/{i}"/>"#));
        }
        xml.push_str("</dataset></catalog>");
        let views = views_of(&parse(&xml), &[], Utc::now());
        assert_eq!(views.len(), MAX_VIEWS_PER_CATALOG);
        assert!(views.iter().all(|v| v.kind == ViewKind::Resolver));
    }
}
