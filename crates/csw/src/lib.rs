//! `threddex-csw`: the OGC Catalogue Service for the Web (CSW 2.0.2) of threddex, without any
//! transport.
//!
//! [`Csw`] answers KVP (GET) and XML (POST) requests over a [`threddex_store::Store`] with XML
//! documents ([`CswResponse`]); the HTTP layer (`threddex-api`, route `/csw`) only moves bytes.
//!
//! * Operations: `GetCapabilities`, `DescribeRecord`, `GetDomain`, `GetRecords`,
//!   `GetRecordById` ([`request`] decodes both encodings into [`Request`]).
//! * Constraints: OGC Filter 1.1 and CQL text are read by `threddex-query` into the store's
//!   filter tree ([`threddex_store::RecordFilter`]), which one compiler turns into SQL with
//!   bound parameters for every backend ([`filter`]).
//! * Records: Dublin Core (`csw:Record`, brief / summary / full, or `ElementName`s) built from
//!   the collection row (and its ISO record for `full`), or the stored ISO 19139 series record
//!   (`outputSchema=http://www.isotc211.org/2005/gmd`), synthesised when none is stored yet.
//!   `GetRecordById` also accepts a granule ID: the granule-level record is derived on demand
//!   from its collection's series record.
//! * Errors are `ows:ExceptionReport` documents ([`CswError`]) with the exception code,
//!   locator and an HTTP status (400 for client errors, 413 for oversized bodies, 500 for store
//!   failures).
//! * XML input is hostile: bodies are size-capped, DOCTYPEs refused, nesting and element
//!   counts bounded, filters limited in size and depth.

#![forbid(unsafe_code)]

pub mod error;
pub mod filter;
pub mod request;
pub mod response;

use std::sync::Arc;

use chrono::Duration;
use threddex_query::search_collections;
use threddex_records::{Extent, RecordSummary, SeriesInput, granule_record, summary, synthesize};
use threddex_store::{
    Collection, CollectionView, GranuleQuery, LikePattern, Queryable, RecordFilter, SortKey, Store,
    TextProperty,
};

pub use crate::error::{CswError, ExceptionCode};
pub use crate::request::{ElementSet, GetRecords, Limits, OutputSchema, Request, ResultType};
pub use crate::response::ServiceInfo;

/// Namespace URIs.
pub mod ns {
    /// CSW 2.0.2.
    pub const CSW: &str = "http://www.opengis.net/cat/csw/2.0.2";
    /// Dublin Core elements.
    pub const DC: &str = "http://purl.org/dc/elements/1.1/";
    /// Dublin Core terms.
    pub const DCT: &str = "http://purl.org/dc/terms/";
    /// OWS 1.0.
    pub const OWS: &str = "http://www.opengis.net/ows";
    /// OGC Filter 1.1.
    pub const OGC: &str = "http://www.opengis.net/ogc";
    /// GML 3.1.1 (as used by Filter 1.1).
    pub const GML: &str = "http://www.opengis.net/gml";
    /// ISO 19139 metadata.
    pub const GMD: &str = "http://www.isotc211.org/2005/gmd";
    /// XLink.
    pub const XLINK: &str = "http://www.w3.org/1999/xlink";
    /// XML Schema instance.
    pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    /// The ISO application profile queryables.
    pub const APISO: &str = "http://www.opengis.net/cat/csw/apiso/1.0";
}

/// Settings of the catalogue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CswConfig {
    /// Shown in the capabilities.
    pub info: ServiceInfo,
    /// Request limits.
    pub limits: Limits,
}

/// An answer: HTTP status and an XML document (`application/xml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CswResponse {
    /// HTTP status (200, or the error's).
    pub status: u16,
    /// The XML document.
    pub body: String,
}

impl CswResponse {
    fn ok(body: String) -> Self {
        Self { status: 200, body }
    }

    fn error(e: &CswError) -> Self {
        Self {
            status: e.status,
            body: e.to_xml(),
        }
    }
}

/// A record as a `gmd:MD_Metadata` document, re-serialised from its parsed tree (so what is
/// embedded is always well-formed with its namespaces declared). An ISO 19115-2
/// `gmi:MI_Metadata` root becomes `gmd:MD_Metadata` without its `gmi:acquisitionInformation`
/// (clients such as OWSLib look for `gmd:MD_Metadata` when they ask for this schema).
///
/// `position` is the record's number in the answer (1, 2, …): its XML IDs (`id`, `gml:id`) and
/// same-document references get the suffix `-r{position}` ([`threddex_records::embed_ids`]), so
/// an answer holding several records never repeats an ID (every ncISO record has
/// `id="DataIdentification"`) and validates against the schemas.
pub fn as_gmd(xml: &str, position: usize) -> Result<String, threddex_records::RecordError> {
    use threddex_records::tree::{self, GMD, GMI, TreeLimits};
    let mut root = tree::parse(xml.as_bytes(), &TreeLimits::default())?;
    if root.is(GMI, "MI_Metadata") {
        root.ns = GMD.to_owned();
        root.local = "MD_Metadata".to_owned();
        root.remove_children(|e| e.is(GMI, "acquisitionInformation"));
    } else if !root.is(GMD, "MD_Metadata") {
        return Err(threddex_records::RecordError::NotIso {
            root: format!("{{{}}}{}", root.ns, root.local),
        });
    }
    threddex_records::embed_ids(&mut root, position);
    Ok(tree::serialize(&root, 0))
}

/// How records are shown.
#[derive(Clone, Copy)]
struct View<'a> {
    schema: OutputSchema,
    set: ElementSet,
    names: &'a [String],
    base: &'a str,
}

/// Most granules scanned to find a granule without a time in its ID.
const MAX_GRANULE_SCAN: u32 = 20_000;

/// The catalogue service over a store.
#[derive(Clone)]
pub struct Csw {
    store: Arc<dyn Store>,
    config: CswConfig,
}

impl std::fmt::Debug for Csw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Csw")
            .field("backend", &self.store.backend())
            .field("config", &self.config)
            .finish()
    }
}

fn store_err(e: &threddex_store::StoreError) -> CswError {
    match e {
        threddex_store::StoreError::Invalid(m) => CswError::invalid("Constraint", m.clone()),
        other => {
            tracing::error!(error = %other, "store failure while answering a CSW request");
            CswError::internal()
        }
    }
}

impl Csw {
    /// A catalogue over `store`.
    pub fn new(store: Arc<dyn Store>, config: CswConfig) -> Self {
        Self { store, config }
    }

    /// The request limits.
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Answers a KVP (GET) request. `base_url` is the service root (links to `/csw` and
    /// `/index` are built from it; empty: relative links).
    pub async fn get(&self, pairs: &[(String, String)], base_url: &str) -> CswResponse {
        match request::from_kvp(pairs, &self.config.limits) {
            Ok(r) => self.answer(r, base_url).await,
            Err(e) => CswResponse::error(&e),
        }
    }

    /// Answers an XML (POST) request body.
    pub async fn post(&self, body: &[u8], base_url: &str) -> CswResponse {
        match request::from_xml(body, &self.config.limits) {
            Ok(r) => self.answer(r, base_url).await,
            Err(e) => CswResponse::error(&e),
        }
    }

    /// Answers a decoded request.
    pub async fn answer(&self, request: Request, base_url: &str) -> CswResponse {
        match self.execute(request, base_url).await {
            Ok(body) => CswResponse::ok(body),
            Err(e) => CswResponse::error(&e),
        }
    }

    /// Runs a decoded request; the document on success.
    pub async fn execute(&self, request: Request, base_url: &str) -> Result<String, CswError> {
        let base = base_url.trim_end_matches('/');
        match request {
            Request::GetCapabilities => Ok(response::capabilities(
                &self.config.info,
                &format!("{base}/csw"),
            )),
            Request::DescribeRecord { type_names } => Ok(response::describe_record(&type_names)),
            Request::GetDomain {
                property,
                parameter,
            } => {
                self.get_domain(property.as_deref(), parameter.as_deref())
                    .await
            }
            Request::GetRecords(g) => self.get_records(&g, base).await,
            Request::GetRecordById {
                ids,
                element_set,
                output_schema,
            } => {
                self.get_record_by_id(&ids, element_set, output_schema, base)
                    .await
            }
        }
    }

    /// The ISO series record of a collection: the stored one (which lists the collection's
    /// virtual views), else synthesised with `views`.
    fn iso_of(&self, c: &Collection, views: &[CollectionView], base: &str) -> String {
        match &c.iso_record {
            Some(xml) if !xml.trim().is_empty() => xml.clone(),
            _ => {
                let search = (!base.is_empty()).then(|| format!("{base}/"));
                let mut input = SeriesInput::from_collection(&c.info, search.as_deref());
                input.views = views.to_vec();
                synthesize(&input, &Extent::new(c.start, c.end), c.updated_at)
            }
        }
    }

    /// The virtual views a record of `c` in this view must be synthesised with: none when
    /// it has a stored record or the output shows no links.
    async fn views_for(
        &self,
        c: &Collection,
        view: &View<'_>,
    ) -> Result<Vec<CollectionView>, CswError> {
        let stored = c
            .iso_record
            .as_deref()
            .is_some_and(|x| !x.trim().is_empty());
        let shows_links = match view.schema {
            OutputSchema::Iso => true,
            OutputSchema::Csw => view.set == ElementSet::Full && view.names.is_empty(),
        };
        if stored || !shows_links {
            return Ok(Vec::new());
        }
        self.store
            .collection_views(&c.info.id)
            .await
            .map_err(|e| store_err(&e))
    }

    fn write_record(
        &self,
        w: &mut threddex_records::writer::XmlWriter,
        c: &Collection,
        views: &[CollectionView],
        view: &View<'_>,
        index: usize,
    ) {
        let View {
            schema,
            set,
            names,
            base,
        } = *view;
        match schema {
            OutputSchema::Iso => {
                let xml = self.iso_of(c, views, base);
                let doc = as_gmd(&xml, index).or_else(|e| {
                    tracing::warn!(collection = %c.info.id, error = %e, "unreadable ISO record; synthesising");
                    let mut input = SeriesInput::from_collection(&c.info, None);
                    input.views = views.to_vec();
                    let xml = synthesize(&input, &Extent::new(c.start, c.end), c.updated_at);
                    as_gmd(&xml, index)
                });
                match doc {
                    Ok(doc) => {
                        w.raw_xml(response::embeddable(&doc));
                    }
                    Err(e) => {
                        // Synthesised records always parse; never embed one unchecked.
                        tracing::error!(collection = %c.info.id, error = %e, "synthesised ISO record unreadable; record left out");
                    }
                }
            }
            OutputSchema::Csw => {
                let iso: Option<RecordSummary> = (set == ElementSet::Full && names.is_empty())
                    .then(|| summary(&self.iso_of(c, views, base)).ok())
                    .flatten();
                response::dc_record(
                    w,
                    &response::DcRecord::of_collection(c, iso.as_ref()),
                    set,
                    names,
                );
            }
        }
    }

    async fn get_records(&self, g: &GetRecords, base: &str) -> Result<String, CswError> {
        let offset = g.start_position.saturating_sub(1);
        let limit = match g.result_type {
            ResultType::Hits => 0,
            ResultType::Results => g.max_records,
        };
        let page = search_collections(&*self.store, &g.filter, &g.sort, offset, limit)
            .await
            .map_err(|e| store_err(&e))?;
        let returned = page.collections.len() as u64;
        let end = offset + returned;
        let next = match g.result_type {
            ResultType::Results if end < page.matched => end + 1,
            ResultType::Hits if g.start_position <= page.matched => g.start_position,
            _ => 0,
        };
        let mut w = response::open_get_records(&response::SearchHeader {
            request_id: g.request_id.as_deref(),
            matched: page.matched,
            returned,
            next,
            record_schema: g.output_schema.uri(),
            element_set: g.element_names.is_empty().then_some(g.element_set),
        });
        let view = View {
            schema: g.output_schema,
            set: g.element_set,
            names: &g.element_names,
            base,
        };
        for (i, c) in page.collections.iter().enumerate() {
            let views = self.views_for(c, &view).await?;
            self.write_record(&mut w, c, &views, &view, i + 1);
        }
        Ok(w.finish())
    }

    async fn get_record_by_id(
        &self,
        ids: &[String],
        set: ElementSet,
        schema: OutputSchema,
        base: &str,
    ) -> Result<String, CswError> {
        let mut w = response::open_get_record_by_id();
        let view = View {
            schema,
            set,
            names: &[],
            base,
        };
        for (i, id) in ids.iter().enumerate() {
            if let Some(c) = self.store.collection(id).await.map_err(|e| store_err(&e))? {
                let views = self.views_for(&c, &view).await?;
                self.write_record(&mut w, &c, &views, &view, i + 1);
                continue;
            }
            let Some(xml) = self.granule_record(id, base).await? else {
                continue;
            };
            match schema {
                OutputSchema::Iso => {
                    let doc = as_gmd(&xml, i + 1).map_err(|e| {
                        tracing::error!(granule = %id, error = %e, "unreadable granule record");
                        CswError::internal()
                    })?;
                    w.raw_xml(response::embeddable(&doc));
                }
                OutputSchema::Csw => {
                    let s = summary(&xml).map_err(|e| {
                        tracing::error!(granule = %id, error = %e, "unreadable granule record");
                        CswError::internal()
                    })?;
                    response::dc_record(&mut w, &response::DcRecord::of_summary(&s), set, &[]);
                }
            }
        }
        Ok(w.finish())
    }

    /// The record of a granule: its collection is found from the ID with the identity rules
    /// (timestamps removed), the granule by the time in its name (or a bounded scan).
    async fn granule_record(&self, id: &str, base: &str) -> Result<Option<String>, CswError> {
        let derived = threddex_ids::Deriver::new().derive(id, "");
        let path = derived.collection_id.as_str();
        if path.is_empty() || path == id {
            return Ok(None);
        }
        // Candidate collections: the derived path, alone or after any naming authority.
        let mut alternatives = Vec::new();
        let mut paths = vec![path];
        if let Some((_, rest)) = path.split_once(':') {
            paths.push(rest);
        }
        for p in paths {
            alternatives.push(RecordFilter::CompareText {
                prop: TextProperty::Identifier,
                op: threddex_store::CompareOp::Eq,
                value: p.to_owned(),
                match_case: true,
            });
            let mut pattern = LikePattern::default();
            pattern.parts.push(threddex_store::LikePart::Any);
            pattern
                .parts
                .push(threddex_store::LikePart::Text(format!(":{p}")));
            alternatives.push(RecordFilter::Like {
                prop: TextProperty::Identifier,
                pattern,
                match_case: true,
            });
        }
        let candidates =
            search_collections(&*self.store, &RecordFilter::Or(alternatives), &[], 0, 8)
                .await
                .map_err(|e| store_err(&e))?;
        for c in &candidates.collections {
            let query = GranuleQuery {
                collection_id: c.info.id.clone(),
                start: derived.start,
                end: derived.start.map(|s| s + Duration::microseconds(1)),
                after: None,
                limit: if derived.start.is_some() {
                    1_000
                } else {
                    MAX_GRANULE_SCAN
                },
            };
            let granules = self
                .store
                .list_granules(&query)
                .await
                .map_err(|e| store_err(&e))?;
            if let Some(g) = granules.iter().find(|g| g.granule_id == id) {
                let series = self.iso_of(c, &[], base);
                return granule_record(&series, g, &c.info.services)
                    .map(Some)
                    .map_err(|e| {
                        tracing::error!(granule = %id, error = %e, "granule record failed");
                        CswError::internal()
                    });
            }
        }
        Ok(None)
    }

    async fn get_domain(
        &self,
        property: Option<&str>,
        parameter: Option<&str>,
    ) -> Result<String, CswError> {
        use response::Domain;
        if let Some(p) = property {
            let prop = filter::queryable(p).ok_or_else(|| {
                CswError::invalid("PropertyName", format!("unknown property {p:?}"))
            })?;
            let domain = match prop {
                Queryable::Type => {
                    Domain::List(vec![threddex_store::COLLECTION_RECORD_TYPE.into()])
                }
                Queryable::TempBegin | Queryable::TempEnd | Queryable::Modified => {
                    let first = self.edge(prop, false).await?;
                    let last = self.edge(prop, true).await?;
                    Domain::Range(first, last)
                }
                _ => Domain::Open,
            };
            return Ok(response::get_domain(Some(p), None, &domain));
        }
        let p = parameter.unwrap_or("");
        let values = response::parameter_domain(p).ok_or_else(|| {
            CswError::invalid("ParameterName", format!("unknown parameter {p:?}"))
        })?;
        Ok(response::get_domain(
            None,
            Some(p),
            &Domain::List(values.iter().map(|v| (*v).to_owned()).collect()),
        ))
    }

    /// The smallest (or largest) value of a time property.
    async fn edge(&self, prop: Queryable, descending: bool) -> Result<Option<String>, CswError> {
        let key = SortKey::new(prop, descending)
            .map_err(|e| CswError::invalid("PropertyName", e.to_string()))?;
        let page = search_collections(
            &*self.store,
            &RecordFilter::Not(Box::new(RecordFilter::IsNull(prop))),
            &[key],
            0,
            1,
        )
        .await
        .map_err(|e| store_err(&e))?;
        Ok(page.collections.first().and_then(|c| {
            let t = match prop {
                Queryable::TempBegin => c.start,
                Queryable::TempEnd => c.end,
                _ => Some(c.updated_at),
            };
            t.as_ref().map(response::fmt_time)
        }))
    }
}
