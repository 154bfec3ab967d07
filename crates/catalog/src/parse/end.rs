//! End-tag handlers, text handling and finishing of the catalog builder.

use std::collections::HashMap;

use super::*;

impl Builder {
    pub(super) fn end(&mut self, c: Ctx, parent: Ctx) {
        match c {
            Ctx::Service => {
                let Some(s) = self.svc_stack.pop() else {
                    return;
                };
                self.note_service(&s);
                if parent == Ctx::Dataset {
                    self.dataset_services = true;
                }
                match parent {
                    Ctx::Service => match self.svc_stack.last_mut() {
                        Some(p) => p.children.push(s),
                        None => self.cat.services.push(s),
                    },
                    Ctx::Dataset => match self.ds_stack.last_mut() {
                        Some(d) => d.services.push(s),
                        None => self.cat.services.push(s),
                    },
                    _ => self.cat.services.push(s),
                }
            }
            Ctx::Dataset => {
                let Some(mut d) = self.ds_stack.pop() else {
                    return;
                };
                d.dynamic = dynamic::classify_dataset(&d);
                if d.dynamic.is_none() && d.is_leaf() {
                    self.flag_resolver(&mut d);
                }
                match self.ds_stack.last_mut() {
                    Some(p) => p.children.push(d),
                    None => self.cat.datasets.push(d),
                }
            }
            Ctx::Access => {
                if let Some(a) = self.access.take()
                    && let Some(d) = self.ds_stack.last_mut()
                {
                    push_small(&mut d.access, a);
                }
            }
            Ctx::Metadata => {
                if let Some(b) = self.block.take() {
                    match self.ds_stack.last_mut() {
                        Some(d) => d.metadata.push(b),
                        None => self.cat.metadata.push(b),
                    }
                }
            }
            Ctx::Source => {
                if let Some(s) = self.source.take() {
                    let kind = self.pending.d.take();
                    let t = self.target();
                    if kind.as_deref() == Some("publisher") {
                        t.publishers.push(s);
                    } else {
                        t.creators.push(s);
                    }
                }
            }
            Ctx::TimeCoverage => {
                if let Some(tc) = self.tc.take() {
                    let t = self.target();
                    if t.time_coverage.is_none() {
                        t.time_coverage = Some(Box::new(tc));
                    }
                }
            }
            Ctx::Geo => {
                if let Some(mut g) = self.geo.take() {
                    g.compute_bbox();
                    let t = self.target();
                    if t.geospatial_coverage.is_none() {
                        t.geospatial_coverage = Some(Box::new(g));
                    }
                }
            }
            Ctx::Axis(axis) => {
                if let (Some(r), Some(g)) = (self.axis.take(), self.geo.as_mut()) {
                    match axis {
                        Axis::NorthSouth => g.north_south = Some(r),
                        Axis::EastWest => g.east_west = Some(r),
                        Axis::UpDown => g.up_down = Some(r),
                    }
                }
            }
            Ctx::Variables => {
                if let Some(v) = self.vars.take() {
                    self.target().variables.push(v);
                }
            }
            Ctx::Text(t) => self.end_text(t),
            Ctx::Catalog | Ctx::CatalogRef | Ctx::Done | Ctx::DocInline | Ctx::Skip => {}
        }
    }

    /// Records whether a service name stands for a `Resolver`, for in-pass flagging. A name
    /// defined twice with different answers forces the (authoritative) post-pass, which uses
    /// the final first-definition-wins index.
    pub(super) fn note_service(&mut self, s: &Service) {
        let is_resolver = s.service_type == ServiceType::Resolver;
        match self.resolver_services.get(s.name.as_str()) {
            Some(&r) if r != is_resolver => self.resolver_post_pass = true,
            Some(_) => {}
            None => {
                self.resolver_services.insert(s.name.clone(), is_resolver);
            }
        }
    }

    /// Flags a leaf served through a `Resolver` service, using the services seen so far.
    pub(super) fn flag_resolver(&mut self, d: &mut Dataset) {
        let own = d.own.service_name.as_deref().or_else(|| {
            d.metadata
                .iter()
                .find_map(|b| b.content.service_name.as_deref())
        });
        let inherited = || {
            self.ds_stack.iter().rev().find_map(|a| {
                a.own.service_name.as_deref().or_else(|| {
                    a.metadata
                        .iter()
                        .filter(|b| b.inherited)
                        .find_map(|b| b.content.service_name.as_deref())
                })
            })
        };
        let catalog_level = || {
            self.cat
                .metadata
                .iter()
                .filter(|b| b.inherited)
                .find_map(|b| b.content.service_name.as_deref())
        };
        let effective = own.or_else(inherited).or_else(catalog_level);
        let mut unknown = false;
        let mut is_resolver = |name: &str| match self.resolver_services.get(name) {
            Some(r) => *r,
            None => {
                unknown = true;
                false
            }
        };
        let hit = effective.is_some_and(&mut is_resolver)
            || d.access
                .iter()
                .any(|a| a.service_name.as_deref().is_some_and(&mut is_resolver));
        if hit {
            d.dynamic = Some(DynamicKind::Resolver);
        }
        if unknown {
            self.resolver_post_pass = true;
        }
    }

    pub(super) fn end_text(&mut self, t: Txt) {
        let buf = std::mem::take(&mut self.text);
        self.end_text_with(t, buf.trim());
        self.text = buf;
        self.text.clear();
    }

    pub(super) fn end_text_with(&mut self, t: Txt, trimmed: &str) {
        let p = std::mem::take(&mut self.pending);
        // Numeric sizes: no allocation for the text.
        match t {
            Txt::DataSize => {
                let ds = DataSize::parse_owned(trimmed, p.a);
                set_first(&mut self.target().data_size, ds);
                return;
            }
            Txt::AccessDataSize => {
                let ds = DataSize::parse_owned(trimmed, p.a);
                if let Some(a) = self.access.as_mut() {
                    a.data_size = ds;
                }
                return;
            }
            _ => {}
        }
        let text = if trimmed.is_empty() {
            None
        } else {
            Some(trimmed.to_string())
        };
        match t {
            Txt::ServiceName => set_first(&mut self.target().service_name, text),
            Txt::DataType => set_first(&mut self.target().data_type, text),
            Txt::DataFormat => set_first(&mut self.target().data_format, text),
            Txt::Authority => set_first(&mut self.target().authority, text),
            Txt::DataSize | Txt::AccessDataSize => {}
            Txt::Date => {
                if let Some(v) = text {
                    let parsed = parse_date(&v);
                    push_small(
                        &mut self.target().dates,
                        DateTyped {
                            value: v,
                            date_type: p.a,
                            format: p.b,
                            parsed,
                        },
                    );
                }
            }
            Txt::Documentation => {
                if text.is_some() || p.b.is_some() || p.c.is_some() {
                    let d = Documentation {
                        doc_type: p.a,
                        href: p.b,
                        title: p.c,
                        text,
                    };
                    push_small(&mut self.target().documentation, d);
                }
            }
            Txt::Keyword | Txt::Project => {
                if let Some(v) = text {
                    let voc = Vocab {
                        value: v,
                        vocabulary: p.a,
                    };
                    let tgt = self.target();
                    if t == Txt::Keyword {
                        push_small(&mut tgt.keywords, voc)
                    } else {
                        push_small(&mut tgt.projects, voc)
                    }
                }
            }
            Txt::Contributor => {
                if let Some(v) = text {
                    self.target()
                        .contributors
                        .push(Contributor { name: v, role: p.a });
                }
            }
            Txt::SourceName => {
                if let Some(s) = self.source.as_mut() {
                    s.name = Vocab {
                        value: text.unwrap_or_default(),
                        vocabulary: p.a,
                    };
                }
                // keep the creator/publisher kind for the enclosing element
                self.pending.d = p.d;
            }
            Txt::TcStart | Txt::TcEnd => {
                if let (Some(tc), Some(v)) = (self.tc.as_mut(), text) {
                    let dv = Some(DateValue::parse(&v));
                    if t == Txt::TcStart {
                        tc.start = dv
                    } else {
                        tc.end = dv
                    }
                }
            }
            Txt::TcDuration | Txt::TcResolution => {
                if let (Some(tc), Some(v)) = (self.tc.as_mut(), text) {
                    let d = TimeDuration::parse(&v);
                    if t == Txt::TcDuration {
                        tc.duration = d
                    } else {
                        tc.resolution = d
                    }
                }
            }
            Txt::AxStart | Txt::AxSize | Txt::AxResolution | Txt::AxUnits => {
                if let (Some(r), Some(v)) = (self.axis.as_mut(), text) {
                    match t {
                        Txt::AxStart => r.start = parse_f64(&v),
                        Txt::AxSize => r.size = parse_f64(&v),
                        Txt::AxResolution => r.resolution = parse_f64(&v),
                        _ => r.units = Some(v),
                    }
                }
            }
            Txt::GeoName => {
                if let (Some(g), Some(v)) = (self.geo.as_mut(), text) {
                    g.names.push(Vocab {
                        value: v,
                        vocabulary: p.a,
                    });
                }
            }
            Txt::Variable => {
                if let Some(v) = self.vars.as_mut() {
                    v.variables.push(Variable {
                        name: p.a.unwrap_or_default(),
                        vocabulary_name: p.b,
                        units: p.c,
                        description: text,
                    });
                }
            }
        }
    }

    pub(super) fn finish(mut self) -> Catalog {
        // Unclosed stacks cannot happen for well-formed input; drain defensively.
        while let Some(d) = self.ds_stack.pop() {
            match self.ds_stack.last_mut() {
                Some(p) => p.children.push(d),
                None => self.cat.datasets.push(d),
            }
        }
        let mut index = HashMap::new();
        for s in &self.cat.services {
            index_service(&mut index, s, 0);
        }
        if self.dataset_services {
            for d in &self.cat.datasets {
                index_dataset_services(&mut index, d, 0);
            }
        }
        self.cat.service_index = index;
        if self.resolver_post_pass {
            dynamic::mark_resolver_datasets(&mut self.cat);
        }
        self.cat
    }
}
fn set_first<T>(slot: &mut Option<T>, v: Option<T>) {
    if slot.is_none() {
        *slot = v;
    }
}

fn index_service(index: &mut HashMap<String, Service>, s: &Service, depth: usize) {
    if depth > DEPTH_CEILING {
        return;
    }
    index.entry(s.name.clone()).or_insert_with(|| s.clone());
    for c in &s.children {
        index_service(index, c, depth + 1);
    }
}

fn index_dataset_services(index: &mut HashMap<String, Service>, d: &Dataset, depth: usize) {
    if depth > DEPTH_CEILING {
        return;
    }
    for s in &d.services {
        index_service(index, s, 0);
    }
    for c in &d.children {
        index_dataset_services(index, c, depth + 1);
    }
}
