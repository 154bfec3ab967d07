//! Generator of a large, realistic (NEXRAD-like) catalog, shared by the bench and the
//! `throughput` example.

use std::fmt::Write as _;

/// A realistic TDS-style file listing: services, inherited metadata with serviceName, and
/// `n` leaf datasets with dataSize and date modified, split over station/day sub-datasets.
pub fn synthetic_catalog(n: usize) -> String {
    let mut s = String::with_capacity(n * 360 + 4096);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>
<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" name="NEXRAD Level II" version="1.2">
  <service name="RadarServices" serviceType="Compound" base="">
    <service name="OPENDAP" serviceType="OPENDAP" base="/thredds/dodsC/" />
    <service name="HTTPServer" serviceType="HTTPServer" base="/thredds/fileServer/" />
    <service name="CdmRemote" serviceType="CdmRemote" base="/thredds/cdmremote/" />
    <service name="NetcdfSubset" serviceType="NetcdfSubset" base="/thredds/ncss/point/" />
  </service>
  <dataset name="NEXRAD Level II Radar" ID="nexrad/level2">
    <metadata inherited="true">
      <serviceName>RadarServices</serviceName>
      <authority>edu.ucar.unidata</authority>
      <dataType>RADIAL</dataType>
      <dataFormat>NEXRAD2</dataFormat>
      <documentation type="summary">NEXRAD Level II Radar WSR-88D from IDD. Sent every 5 minutes.</documentation>
      <documentation type="rights">Freely available</documentation>
      <timeCoverage><end>present</end><duration>14 days</duration></timeCoverage>
    </metadata>
"#);
    let stations = [
        "KFTG", "KCYS", "KGLD", "KPUX", "KGJX", "KRIW", "KABX", "KAMA",
    ];
    let per_day = 250;
    let mut i = 0;
    'outer: for (si, st) in stations.iter().cycle().enumerate() {
        let day = 1 + (si / stations.len()) % 28;
        let month = 1 + (si / (stations.len() * 28)) % 12;
        let _ = writeln!(
            s,
            r#"    <dataset name="{st} 2024-{month:02}-{day:02}" ID="nexrad/level2/{st}/2024{month:02}{day:02}">"#
        );
        for k in 0..per_day {
            if i == n {
                s.push_str("    </dataset>\n");
                break 'outer;
            }
            let (hh, mm, ss) = (k * 5 / 60 % 24, k * 5 % 60, (k * 7) % 60);
            let f = format!("Level2_{st}_2024{month:02}{day:02}_{hh:02}{mm:02}.ar2v");
            let _ = write!(
                s,
                r#"      <dataset name="{f}" ID="nexrad/level2/{st}/2024{month:02}{day:02}/{f}" urlPath="nexrad/level2/{st}/2024{month:02}{day:02}/{f}">
        <dataSize units="Mbytes">{}.{:02}</dataSize>
        <date type="modified">2024-{month:02}-{day:02}T{hh:02}:{mm:02}:{ss:02}Z</date>
      </dataset>
"#,
                5 + k % 20,
                k % 100
            );
            i += 1;
        }
        s.push_str("    </dataset>\n");
    }
    s.push_str("  </dataset>\n</catalog>\n");
    s
}
