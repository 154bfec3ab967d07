//! Assets: what each THREDDS access service gives, as a STAC asset (key, media type, roles).

use threddex_store::AccessService;

/// How an access service appears as an asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssetKind {
    /// The asset key (stable across collections: named after the service type).
    pub key: &'static str,
    /// The media type of what the access URL answers (None: the service is unknown).
    pub media_type: Option<&'static str>,
    /// The asset's roles.
    pub roles: &'static [&'static str],
    /// Whether the access URL is the file itself (so `file:size` applies).
    pub is_file: bool,
}

/// The media type of a file, from its name's extension (compared ignoring ASCII case).
pub(crate) fn file_media_type(url_path: &str) -> &'static str {
    let name = url_path.rsplit('/').next().unwrap_or(url_path);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    // The longest known extension has 6 bytes: longer ones are none of them.
    let mut lower = [0u8; 6];
    let Some(slot) = lower.get_mut(..ext.len()) else {
        return "application/octet-stream";
    };
    slot.copy_from_slice(ext.as_bytes());
    slot.make_ascii_lowercase();
    match &*slot {
        b"nc" | b"nc4" | b"cdf" | b"netcdf" | b"ncd" => "application/x-netcdf",
        b"grib" | b"grb" | b"grib1" | b"grb1" => "application/wmo-GRIB1",
        b"grib2" | b"grb2" => "application/wmo-GRIB2",
        b"h5" | b"hdf5" | b"he5" => "application/x-hdf5",
        b"hdf" | b"hdf4" | b"he4" => "application/x-hdf",
        b"tif" | b"tiff" => "image/tiff; application=geotiff",
        b"json" => "application/json",
        b"xml" => "application/xml",
        b"csv" => "text/csv",
        b"gz" => "application/gzip",
        b"zip" => "application/zip",
        b"bz2" => "application/x-bzip2",
        _ => "application/octet-stream",
    }
}

/// The asset a service gives for a granule at `url_path` (used for its media type when the
/// service serves the file itself).
pub fn asset_kind(service_type: &str, url_path: &str) -> AssetKind {
    let kind = |key, media_type, roles| AssetKind {
        key,
        media_type: Some(media_type),
        roles,
        is_file: false,
    };
    match service_type.to_ascii_lowercase().as_str() {
        "httpserver" | "file" | "fileserver" => AssetKind {
            key: "data",
            media_type: Some(file_media_type(url_path)),
            roles: &["data"],
            is_file: true,
        },
        "opendap" | "dods" => kind(
            "opendap",
            "application/vnd.opendap.dap2",
            &["data", "opendap"],
        ),
        "dap4" => kind(
            "dap4",
            "application/vnd.opendap.dap4.dataset-services+xml",
            &["data", "dap4"],
        ),
        "wcs" => kind("wcs", "application/xml", &["data", "wcs"]),
        "wms" => kind("wms", "application/xml", &["visual", "wms"]),
        "netcdfsubset" | "ncss" => kind("ncss", "text/html", &["data", "subset"]),
        "cdmremote" => kind(
            "cdmremote",
            "application/octet-stream",
            &["data", "cdmremote"],
        ),
        "iso" => kind(
            "iso",
            "application/vnd.iso.19139+xml",
            &["metadata", "iso-19139"],
        ),
        "ncml" => kind("ncml", "application/xml", &["metadata", "ncml"]),
        "uddc" => kind("uddc", "text/html", &["metadata", "uddc"]),
        _ => AssetKind {
            key: "service",
            media_type: None,
            roles: &["data"],
            is_file: false,
        },
    }
}

/// The services through which single granules are reachable (not `Compound`, a container of
/// others; not without a base URL), each with its asset key: its kind's key, with `-2`, `-3`,
/// … appended when an earlier service took it. The same services always give the same keys,
/// so a collection's `item_assets` and its items agree.
pub fn item_asset_keys(services: &[AccessService]) -> Vec<(String, &AccessService)> {
    let mut out: Vec<(String, &AccessService)> = Vec::with_capacity(services.len());
    for s in services
        .iter()
        .filter(|s| !s.service_type.eq_ignore_ascii_case("compound") && !s.base.is_empty())
    {
        let base = asset_kind(&s.service_type, "").key;
        let mut key = base.to_owned();
        let mut n = 1;
        while out.iter().any(|(k, _)| *k == key) {
            n += 1;
            key = format!("{base}-{n}");
        }
        out.push((key, s));
    }
    out
}
