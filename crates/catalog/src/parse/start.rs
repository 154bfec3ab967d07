//! Start-tag handlers of the catalog builder.

use quick_xml::events::BytesStart;
use quick_xml::name::NamespaceResolver;

use super::attrs::{A, Scope, decode_value, each_attr, pick, property};
use super::*;

impl Builder {
    pub(super) fn warn(&mut self, w: String) {
        if self.cat.warnings.len() < MAX_WARNINGS {
            self.cat.warnings.push(w);
        }
    }

    pub(super) fn resolve(&self, raw: &str) -> String {
        let r = if raw.trim().is_empty() {
            self.base_url.join("./")
        } else {
            self.base_url.join(raw.trim())
        };
        match r {
            Ok(u) => u.to_string(),
            Err(_) => raw.to_string(),
        }
    }

    /// Where metadata-group elements go at this point.
    pub(super) fn target(&mut self) -> &mut ThreddsMetadata {
        if let Some(b) = self.block.as_mut() {
            return &mut b.content;
        }
        match self.ds_stack.last_mut() {
            Some(d) => &mut d.own,
            None => &mut self.sink,
        }
    }

    pub(super) fn text_start(&mut self, t: Txt) -> Ctx {
        self.text.clear();
        Ctx::Text(t)
    }

    pub(super) fn start(
        &mut self,
        parent: Ctx,
        local: &str,
        e: &BytesStart<'_>,
        r: &NamespaceResolver,
    ) -> Result<Ctx, String> {
        match parent {
            Ctx::Catalog | Ctx::Dataset => match local {
                "service" => return self.start_service(e, r),
                "dataset" => return self.start_dataset(e, r),
                "catalogRef" => return self.start_catalog_ref(e, r),
                "metadata" => return self.start_metadata(e, r),
                "access" if parent == Ctx::Dataset => {
                    let [service_name, url_path, data_format] = pick(
                        e,
                        r,
                        [
                            A::Plain("serviceName"),
                            A::Plain("urlPath"),
                            A::Plain("dataFormat"),
                        ],
                    )?;
                    self.access = Some(Access {
                        service_name,
                        url_path: url_path.unwrap_or_default(),
                        data_format,
                        data_size: None,
                    });
                    return Ok(Ctx::Access);
                }
                "property" if parent == Ctx::Catalog => {
                    let p = property(e, r)?;
                    self.cat.properties.push(p);
                    return Ok(Ctx::Done);
                }
                _ if parent == Ctx::Dataset => return self.start_meta_elem(local, e, r),
                _ => return Ok(Ctx::Skip),
            },
            Ctx::Metadata => return self.start_meta_elem(local, e, r),
            Ctx::Service => match local {
                "service" => return self.start_service(e, r),
                "property" => {
                    let p = property(e, r)?;
                    if let Some(s) = self.svc_stack.last_mut() {
                        s.properties.push(p);
                    }
                    return Ok(Ctx::Done);
                }
                _ => {}
            },
            Ctx::Access if local == "dataSize" => {
                let [units] = pick(e, r, [A::Plain("units")])?;
                self.pending.a = units;
                return Ok(self.text_start(Txt::AccessDataSize));
            }
            Ctx::Source => match local {
                "name" => {
                    let [v] = pick(e, r, [A::Plain("vocabulary")])?;
                    self.pending.a = v;
                    return Ok(self.text_start(Txt::SourceName));
                }
                "contact" => {
                    let [url, email] = pick(e, r, [A::Plain("url"), A::Plain("email")])?;
                    if let Some(s) = self.source.as_mut() {
                        s.contact_url = url;
                        s.contact_email = email;
                    }
                    return Ok(Ctx::Done);
                }
                _ => {}
            },
            Ctx::TimeCoverage => match local {
                "start" => return Ok(self.text_start(Txt::TcStart)),
                "end" => return Ok(self.text_start(Txt::TcEnd)),
                "duration" => return Ok(self.text_start(Txt::TcDuration)),
                "resolution" => return Ok(self.text_start(Txt::TcResolution)),
                _ => {}
            },
            Ctx::Geo => match local {
                "northsouth" => return Ok(self.start_axis(Axis::NorthSouth)),
                "eastwest" => return Ok(self.start_axis(Axis::EastWest)),
                "updown" => return Ok(self.start_axis(Axis::UpDown)),
                "name" => {
                    let [v] = pick(e, r, [A::Plain("vocabulary")])?;
                    self.pending.a = v;
                    return Ok(self.text_start(Txt::GeoName));
                }
                _ => {}
            },
            Ctx::Axis(_) => match local {
                "start" => return Ok(self.text_start(Txt::AxStart)),
                "size" => return Ok(self.text_start(Txt::AxSize)),
                "resolution" => return Ok(self.text_start(Txt::AxResolution)),
                "units" => return Ok(self.text_start(Txt::AxUnits)),
                _ => {}
            },
            Ctx::Variables => match local {
                "variable" => {
                    let [a, b, c] = pick(
                        e,
                        r,
                        [
                            A::Plain("name"),
                            A::Plain("vocabulary_name"),
                            A::Plain("units"),
                        ],
                    )?;
                    self.pending = Pending { a, b, c, d: None };
                    return Ok(self.text_start(Txt::Variable));
                }
                "variableMap" => {
                    let [href, title] = pick(e, r, [A::Xlink("href"), A::Xlink("title")])?;
                    if let Some(v) = self.vars.as_mut() {
                        v.variable_map_href = href;
                        v.variable_map_title = title;
                    }
                    return Ok(Ctx::Done);
                }
                _ => {}
            },
            _ => {}
        }
        Ok(Ctx::Skip)
    }

    pub(super) fn start_axis(&mut self, axis: Axis) -> Ctx {
        self.axis = Some(Range::default());
        Ctx::Axis(axis)
    }

    pub(super) fn start_service(
        &mut self,
        e: &BytesStart<'_>,
        r: &NamespaceResolver,
    ) -> Result<Ctx, String> {
        let [name, stype, base, suffix, desc] = pick(
            e,
            r,
            [
                A::Plain("name"),
                A::Plain("serviceType"),
                A::Plain("base"),
                A::Plain("suffix"),
                A::Plain("desc"),
            ],
        )?;
        let base = base.unwrap_or_default();
        let resolved_base = self.resolve(&base);
        self.svc_stack.push(Service {
            name: name.unwrap_or_default(),
            service_type: ServiceType::parse(stype.as_deref().unwrap_or("")),
            base,
            resolved_base,
            suffix: suffix.unwrap_or_default(),
            desc,
            children: Vec::new(),
            properties: Vec::new(),
        });
        Ok(Ctx::Service)
    }

    pub(super) fn start_dataset(
        &mut self,
        e: &BytesStart<'_>,
        r: &NamespaceResolver,
    ) -> Result<Ctx, String> {
        // Built in place on the stack of open datasets (no move of the large node).
        self.ds_stack.push(Dataset {
            name: String::new(),
            id: None,
            url_path: None,
            alias: None,
            collection_type: None,
            harvest: None,
            restrict_access: None,
            access: Vec::new(),
            children: Vec::new(),
            catalog_refs: Vec::new(),
            services: Vec::new(),
            dynamic: None,
            own: Box::default(),
            metadata: Vec::new(),
        });
        let Some(ds) = self.ds_stack.last_mut() else {
            return Ok(Ctx::Skip);
        };
        each_attr(e, r, |sc, local, v| {
            if sc != Scope::Plain {
                return;
            }
            match local {
                "name" => ds.name = decode_value(v),
                "ID" => ds.id = Some(decode_value(v)),
                "urlPath" => ds.url_path = Some(decode_value(v)),
                "alias" => ds.alias = Some(decode_value(v)),
                "collectionType" => ds.collection_type = Some(decode_value(v)),
                "harvest" => ds.harvest = Some(decode_value(v).trim().eq_ignore_ascii_case("true")),
                "restrictAccess" => ds.restrict_access = Some(decode_value(v)),
                "serviceName" => ds.own.service_name = non_empty(decode_value(v)),
                "dataType" => ds.own.data_type = non_empty(decode_value(v)),
                "dataFormat" => ds.own.data_format = non_empty(decode_value(v)),
                "authority" => ds.own.authority = non_empty(decode_value(v)),
                _ => {}
            }
        })?;
        Ok(Ctx::Dataset)
    }

    pub(super) fn start_catalog_ref(
        &mut self,
        e: &BytesStart<'_>,
        r: &NamespaceResolver,
    ) -> Result<Ctx, String> {
        let [raw_href, title, name, id] = pick(
            e,
            r,
            [
                A::Xlink("href"),
                A::Xlink("title"),
                A::Plain("name"),
                A::Plain("ID"),
            ],
        )?;
        let raw_href = raw_href.unwrap_or_default();
        let href = match self.base_url.join(raw_href.trim()) {
            Ok(u) => u,
            Err(err) => {
                self.warn(format!(
                    "catalogRef href {raw_href:?} does not resolve: {err}"
                ));
                return Ok(Ctx::Skip);
            }
        };
        let dynamic = dynamic::classify_ref(&raw_href, title.as_deref(), name.as_deref());
        let cr = CatalogRef {
            href,
            raw_href,
            title,
            name,
            id,
            dynamic,
            doc_order: self.ref_order,
        };
        self.ref_order += 1;
        match self.ds_stack.last_mut() {
            Some(d) => d.catalog_refs.push(cr),
            None => self.cat.catalog_refs.push(cr),
        }
        Ok(Ctx::CatalogRef)
    }

    pub(super) fn start_metadata(
        &mut self,
        e: &BytesStart<'_>,
        r: &NamespaceResolver,
    ) -> Result<Ctx, String> {
        if self.block.is_some() {
            return Ok(Ctx::Skip);
        }
        let [inherited, metadata_type, href, title] = pick(
            e,
            r,
            [
                A::Plain("inherited"),
                A::Plain("metadataType"),
                A::Xlink("href"),
                A::Xlink("title"),
            ],
        )?;
        self.block = Some(MetadataBlock {
            inherited: inherited.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            metadata_type,
            href,
            title,
            content: ThreddsMetadata::default(),
        });
        Ok(Ctx::Metadata)
    }

    pub(super) fn start_meta_elem(
        &mut self,
        local: &str,
        e: &BytesStart<'_>,
        r: &NamespaceResolver,
    ) -> Result<Ctx, String> {
        Ok(match local {
            "serviceName" => self.text_start(Txt::ServiceName),
            "dataType" => self.text_start(Txt::DataType),
            "dataFormat" => self.text_start(Txt::DataFormat),
            "authority" => self.text_start(Txt::Authority),
            "dataSize" => {
                let [units] = pick(e, r, [A::Plain("units")])?;
                self.pending.a = units;
                self.text_start(Txt::DataSize)
            }
            "date" => {
                let [t, f] = pick(e, r, [A::Plain("type"), A::Plain("format")])?;
                self.pending.a = t;
                self.pending.b = f;
                self.text_start(Txt::Date)
            }
            "documentation" => {
                let [a, b, c] = pick(
                    e,
                    r,
                    [A::Plain("type"), A::Xlink("href"), A::Xlink("title")],
                )?;
                self.pending = Pending { a, b, c, d: None };
                self.text_start(Txt::Documentation)
            }
            "keyword" | "project" => {
                let [v] = pick(e, r, [A::Plain("vocabulary")])?;
                self.pending.a = v;
                self.text_start(if local == "keyword" {
                    Txt::Keyword
                } else {
                    Txt::Project
                })
            }
            "contributor" => {
                let [role] = pick(e, r, [A::Plain("role")])?;
                self.pending.a = role;
                self.text_start(Txt::Contributor)
            }
            "creator" | "publisher" => {
                self.source = Some(Source::default());
                self.pending.d = Some(local.to_string());
                Ctx::Source
            }
            "property" => {
                let p = property(e, r)?;
                self.target().properties.push(p);
                Ctx::Done
            }
            "timeCoverage" => {
                let [calendar] = pick(e, r, [A::Plain("calendar")])?;
                self.tc = Some(TimeCoverage {
                    calendar,
                    ..Default::default()
                });
                Ctx::TimeCoverage
            }
            "geospatialCoverage" => {
                let [zpositive] = pick(e, r, [A::Plain("zpositive")])?;
                self.geo = Some(GeospatialCoverage {
                    zpositive,
                    ..Default::default()
                });
                Ctx::Geo
            }
            "variables" => {
                let [vocabulary] = pick(e, r, [A::Plain("vocabulary")])?;
                self.vars = Some(Variables {
                    vocabulary,
                    ..Default::default()
                });
                Ctx::Variables
            }
            "variableMap" => {
                let [href, title] = pick(e, r, [A::Xlink("href"), A::Xlink("title")])?;
                let v = Variables {
                    variable_map_href: href,
                    variable_map_title: title,
                    ..Default::default()
                };
                self.target().variables.push(v);
                Ctx::Done
            }
            _ => Ctx::Skip,
        })
    }
}
