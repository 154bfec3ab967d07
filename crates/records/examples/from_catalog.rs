//! Prints the series record synthesised for the first leaf of a THREDDS catalog file.
//! Usage: cargo run -p threddex-records --example from_catalog -- CATALOG.xml [URL]
use chrono::Utc;
use threddex_catalog::{Url, parse_catalog};
use threddex_records::{Extent, SeriesInput, synthesize};
use threddex_store::{AccessService, CollectionUpsert};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), url) = (
        args.get(1),
        args.get(2)
            .map_or("https://fixture.example/catalog.xml", String::as_str),
    ) else {
        eprintln!("usage: from_catalog CATALOG.xml [URL]");
        std::process::exit(2);
    };
    let (Ok(bytes), Ok(url)) = (std::fs::read(path), Url::parse(url)) else {
        std::process::exit(2)
    };
    let cat = match parse_catalog(&bytes, &url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let leaves = cat.leaves();
    let Some(leaf) = leaves.first() else {
        eprintln!("no leaves");
        std::process::exit(1);
    };
    let c = CollectionUpsert {
        id: leaf.id().unwrap_or(leaf.name()).to_string(),
        title: leaf.name().to_string(),
        catalog_url: url.to_string(),
        services: leaf
            .access_services(&cat)
            .into_iter()
            .map(|a| AccessService {
                name: a.service_name,
                service_type: a.service_type.as_str().into(),
                base: a.base,
                suffix: a.suffix,
            })
            .collect(),
        metadata: serde_json::to_value(&leaf.meta).unwrap_or_default(),
        ..Default::default()
    };
    let (start, end) = leaf.time_range(Utc::now());
    print!(
        "{}",
        synthesize(
            &SeriesInput::from_collection(&c, Some("https://threddex.example/")),
            &Extent::new(start, end),
            Utc::now()
        )
    );
}
