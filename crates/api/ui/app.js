// threddex search page. Reads only the public API (/collections, /collections/{id},
// /collections/{id}/timeline, /index, /csw). Every string from the index comes from untrusted
// THREDDS catalogs: it is only ever set as textContent or as an attribute value, never as HTML,
// and links are made only from http(s) URLs.

const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const DAY = 86400e3;
const HOUR = 3600e3;
const PAGE = 50;
const GRANULE_PAGE = 25;

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** An http(s) URL from untrusted text, else null. */
function safeUrl(raw) {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** A link when `raw` is an http(s) URL, else plain text. */
function link(raw, text) {
  const href = safeUrl(raw);
  return href ? el('a', { href, rel: 'noopener noreferrer', text }) : el('span', { text });
}

/** How long the page waits for an answer before showing an error instead of "Loading…". */
const REQUEST_TIMEOUT_MS = 30000;

async function getJson(url) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
  let r;
  let body = null;
  try {
    r = await fetch(url, { headers: { Accept: 'application/json' }, signal: ctl.signal });
    try { body = await r.json(); } catch { /* not JSON */ }
    if (ctl.signal.aborted) throw new Error('aborted');
  } catch (e) {
    if (ctl.signal.aborted) throw new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  if (!r.ok) {
    const msg = body && body.error && body.error.message ? body.error.message : r.statusText;
    throw new Error(`${r.status}: ${msg}`);
  }
  return body;
}

const iso = (t) => new Date(t).toISOString().replace('.000Z', 'Z');
const day = (t) => (t ? new Date(t).toISOString().slice(0, 10) : '…');
function fmtTime(t, interval) {
  if (!t) return '…';
  const s = new Date(t).toISOString();
  if (interval === 'month') return s.slice(0, 7);
  if (interval === 'day') return s.slice(0, 10);
  return s.slice(0, 16).replace('T', ' ');
}
const num = (n) => Number(n).toLocaleString('en-US');
function bytes(n) {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i += 1; }
  return `${v < 10 && i ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}
const authority = (id) => (id.includes(':') ? id.slice(0, id.indexOf(':')) : '');

// ---------------------------------------------------------------- the world outline

let world = null;
async function worldRings() {
  if (!world) world = getJson('/ui/world.json').then((w) => w.rings).catch(() => []);
  return world;
}

async function drawWorld(svg) {
  svg.replaceChildren();
  const g = svgEl('g');
  for (let lon = -150; lon < 180; lon += 30) g.append(svgEl('line', { x1: lon, y1: -90, x2: lon, y2: 90, class: 'grat' }));
  for (let lat = -60; lat < 90; lat += 30) g.append(svgEl('line', { x1: -180, y1: lat, x2: 180, y2: lat, class: 'grat' }));
  svg.append(g);
  const rings = await worldRings();
  let d = '';
  for (const r of rings) {
    // Rings crossing the antimeridian reach past +-180 degrees: draw them once more, shifted.
    const lons = r.filter((_, i) => i % 2 === 0);
    const lo = Math.min(...lons);
    const hi = Math.max(...lons);
    for (const off of [-720, -360, 0, 360, 720]) {
      if (lo + off >= 180 || hi + off <= -180) continue;
      d += `M${r[0] + off} ${-r[1]}`;
      for (let i = 2; i < r.length; i += 2) d += `L${(r[i] + off).toFixed(1)} ${-r[i + 1]}`;
      d += 'Z';
    }
  }
  svg.append(svgEl('path', { d, class: 'land' }));
  const layer = svgEl('g', { class: 'footprints' });
  svg.append(layer);
  return layer;
}

/** Rectangles of a bbox (two when it crosses the antimeridian). */
function bboxRects(b, cls) {
  const rect = (w, e) => svgEl('rect', {
    x: w, y: -b.north, width: Math.max(e - w, 0.6), height: Math.max(b.north - b.south, 0.6), class: cls,
  });
  return b.west <= b.east ? [rect(b.west, b.east)] : [rect(b.west, 180), rect(-180, b.east)];
}

// ---------------------------------------------------------------- copyable commands

function commandBlock(title, text) {
  const pre = el('pre', { tabindex: 0 }, el('code', { text }));
  const status = el('span', { class: 'copied', role: 'status', 'aria-live': 'polite' });
  const button = el('button', {
    type: 'button',
    'aria-label': `Copy: ${title}`,
    text: 'Copy',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = 'copied';
      } catch {
        const range = document.createRange();
        range.selectNodeContents(pre);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        status.textContent = 'selected: press Ctrl+C';
      }
    },
  });
  return el('div', { class: 'cmd' }, el('div', { class: 'cmd-head' }, el('span', { text: title }), el('span', {}, status, ' ', button)), pre);
}

const shq = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const pyq = (s) => JSON.stringify(s);

function setCommands(details, blocks) {
  details.querySelector('.cmds').replaceChildren(...blocks.map(([t, c]) => commandBlock(t, c)));
}

// ---------------------------------------------------------------- find collections

const search = { q: '', start: '', end: '', bbox: null, next: null, hits: [], histHits: [], token: 0 };
let searchMapLayer = null;
let searchMapReady = null;
let drawnLayer = null;

function searchParams(withTime = true) {
  const p = new URLSearchParams();
  if (search.q) p.set('q', search.q);
  if (search.bbox) p.set('bbox', [search.bbox.west, search.bbox.south, search.bbox.east, search.bbox.north].join(','));
  if (withTime && search.start) p.set('start', search.start);
  if (withTime && search.end) p.set('end', search.end);
  return p;
}

function readForm() {
  search.q = $('q').value.trim();
  search.start = $('start').value;
  search.end = $('end').value;
  const v = ['west', 'south', 'east', 'north'].map((k) => $(k).value);
  if (v.every((x) => x !== '')) {
    const [west, south, east, north] = v.map(Number);
    search.bbox = { west, south, east, north };
  } else {
    search.bbox = null;
  }
}

function writeForm() {
  $('q').value = search.q;
  $('start').value = search.start;
  $('end').value = search.end;
  const b = search.bbox;
  for (const k of ['west', 'south', 'east', 'north']) $(k).value = b ? b[k] : '';
}

/** Put the search in the address (shareable) without a new history entry per keystroke. */
function syncHash() {
  const p = searchParams();
  const h = `#/${p.toString() ? `?${p}` : ''}`;
  $('back').setAttribute('href', h);
  if (location.hash !== h) history.replaceState(null, '', h);
}

let typingTimer = 0;
function scheduleSearch() {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => runSearch(), 250);
}

async function runSearch(histogramToo = true) {
  readForm();
  syncHash();
  const token = ++search.token;
  const status = $('result-status');
  status.classList.remove('error');
  status.textContent = 'Searching…';
  try {
    const p = searchParams();
    p.set('limit', PAGE);
    const page = await getJson(`/collections?${p}`);
    if (token !== search.token) return;
    search.hits = page.collections;
    search.next = page.next;
    renderResults(false);
    if (histogramToo) {
      const hp = searchParams(false);
      hp.set('limit', 1000);
      const all = await getJson(`/collections?${hp}`);
      if (token !== search.token) return;
      search.histHits = all.collections;
    }
    drawHistogram();
  } catch (e) {
    if (token !== search.token) return;
    status.classList.add('error');
    status.textContent = `Search failed: ${e.message}`;
  }
  updateSearchCommands();
}

async function moreResults() {
  if (!search.next) return;
  const p = searchParams();
  p.set('limit', PAGE);
  p.set('cursor', search.next);
  const page = await getJson(`/collections?${p}`);
  search.hits = search.hits.concat(page.collections);
  search.next = page.next;
  renderResults(true);
}

function renderResults(appended) {
  const list = $('results');
  const n = search.hits.length;
  $('result-status').textContent = n === 0
    ? 'No collection matches.'
    : `${num(n)}${search.next ? '+' : ''} collection${n === 1 ? '' : 's'} found.`;
  const start = appended ? list.children.length : 0;
  if (!appended) list.replaceChildren();
  for (const hit of search.hits.slice(start)) list.append(resultItem(hit));
  $('more').hidden = !search.next;
  drawFootprints();
  fillStatuses(search.hits.slice(start));
}

function resultItem(hit) {
  const href = `#/c/${encodeURIComponent(hit.id)}`;
  const status = el('dd', { class: 'live-status', text: '…' });
  const updated = el('dd', { class: 'updated', text: '…' });
  const li = el('li', { 'data-id': hit.id },
    el('h2', {}, el('a', { href, class: 'open' }, hit.title || hit.id)),
    el('div', { class: 'cid', text: hit.id }),
    el('dl', {},
      el('div', {}, el('dt', { text: 'Authority' }), el('dd', { text: authority(hit.id) || '—' })),
      el('div', {}, el('dt', { text: 'Extent' }), el('dd', { text: `${day(hit.start)} – ${day(hit.end)}` })),
      el('div', {}, el('dt', { text: 'Granules' }), el('dd', { class: 'count', text: num(hit.granules) })),
      el('div', {}, el('dt', { text: 'Status' }), status),
      el('div', {}, el('dt', { text: 'Updated' }), updated)));
  const hot = (on) => {
    for (const r of searchMapLayer ? searchMapLayer.querySelectorAll('rect') : []) {
      if (r.dataset.id === hit.id) r.classList.toggle('hot', on);
    }
  };
  li.addEventListener('mouseenter', () => hot(true));
  li.addEventListener('mouseleave', () => hot(false));
  li.addEventListener('focusin', () => hot(true));
  li.addEventListener('focusout', () => hot(false));
  return li;
}

/** Live (the catalog declares a rolling window, or granules up to the last two days) or
 *  archival, and when the collection last changed: from /collections/{id}. */
function liveOf(c) {
  if (c.rolling_window) return ['live', `live (rolling ${c.rolling_window})`];
  if (c.end && Date.now() - Date.parse(c.end) < 2 * DAY) return ['live', 'live'];
  return ['archival', 'archival'];
}

async function fillStatuses(hits) {
  const queue = hits.slice();
  const worker = async () => {
    while (queue.length) {
      const hit = queue.shift();
      let c;
      try {
        c = await getJson(`/collections/${encodeURIComponent(hit.id)}`);
      } catch {
        continue;
      }
      const li = [...$('results').children].find((x) => x.dataset.id === hit.id);
      if (!li) continue;
      const [cls, text] = liveOf(c);
      li.querySelector('.live-status').replaceChildren(el('span', { class: `badge ${cls}`, text }));
      li.querySelector('.updated').textContent = c.updated_at ? fmtTime(c.updated_at, 'hour') : '—';
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

function drawFootprints() {
  if (!searchMapLayer) return;
  searchMapLayer.replaceChildren();
  for (const hit of search.hits) {
    if (!hit.bbox) continue;
    for (const r of bboxRects(hit.bbox, 'footprint')) {
      r.dataset.id = hit.id;
      const t = svgEl('title');
      t.textContent = hit.title || hit.id;
      r.append(t);
      searchMapLayer.append(r);
    }
  }
  drawnLayer.replaceChildren(...(search.bbox ? bboxRects(search.bbox, 'drawn') : []));
}

/** Drag on the map to draw a box. */
function mapDrawing(svg) {
  let from = null;
  let shape = null;
  const at = (ev) => {
    const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return { lon: Math.max(-180, Math.min(180, p.x)), lat: Math.max(-90, Math.min(90, -p.y)) };
  };
  const box = (a, b) => ({
    west: +Math.min(a.lon, b.lon).toFixed(2), east: +Math.max(a.lon, b.lon).toFixed(2),
    south: +Math.min(a.lat, b.lat).toFixed(2), north: +Math.max(a.lat, b.lat).toFixed(2),
  });
  svg.addEventListener('pointerdown', (ev) => {
    from = at(ev);
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener('pointermove', (ev) => {
    if (!from) return;
    const b = box(from, at(ev));
    if (shape) shape.remove();
    [shape] = bboxRects(b, 'drawn');
    drawnLayer.replaceChildren(shape);
  });
  svg.addEventListener('pointerup', (ev) => {
    if (!from) return;
    const b = box(from, at(ev));
    from = null;
    shape = null;
    if (b.east - b.west < 0.5 || b.north - b.south < 0.5) return;
    search.bbox = b;
    writeForm();
    runSearch();
  });
}

/** Histogram of the collections' time extents (collections overlapping each bin), over the
 *  results of the search without its time range; drag across it to set the range. */
const hist = { lo: 0, hi: 0, bins: 60 };
function drawHistogram() {
  const svg = $('extent-hist');
  svg.replaceChildren();
  const hits = search.histHits.filter((h) => h.start);
  const axis = $('hist-axis');
  if (!hits.length) {
    axis.replaceChildren(el('span', { text: 'no time extents' }));
    return;
  }
  hist.lo = Math.min(...hits.map((h) => Date.parse(h.start)));
  hist.hi = Math.max(...hits.map((h) => Date.parse(h.end || h.start))) + 1;
  if (hist.hi - hist.lo < DAY) hist.hi = hist.lo + DAY;
  const width = (hist.hi - hist.lo) / hist.bins;
  const counts = new Array(hist.bins).fill(0);
  for (const h of hits) {
    const s = Math.floor((Date.parse(h.start) - hist.lo) / width);
    const e = Math.min(hist.bins - 1, Math.floor((Date.parse(h.end || h.start) - hist.lo) / width));
    for (let i = Math.max(0, s); i <= e; i += 1) counts[i] += 1;
  }
  const max = Math.max(...counts);
  const bw = 600 / hist.bins;
  counts.forEach((c, i) => {
    const h = (c / max) * 110;
    const r = svgEl('rect', { x: i * bw + 0.5, y: 120 - h, width: bw - 1, height: h, class: 'bar' });
    const t = svgEl('title');
    t.textContent = `${day(hist.lo + i * width)} – ${day(hist.lo + (i + 1) * width)}: ${c} collection${c === 1 ? '' : 's'}`;
    r.append(t);
    svg.append(r);
  });
  if (search.start || search.end) {
    const x0 = search.start ? Math.max(0, ((Date.parse(search.start) - hist.lo) / (hist.hi - hist.lo)) * 600) : 0;
    const x1 = search.end ? Math.min(600, ((Date.parse(search.end) - hist.lo) / (hist.hi - hist.lo)) * 600) : 600;
    if (x1 > x0) svg.append(svgEl('rect', { x: x0, y: 0, width: x1 - x0, height: 120, class: 'selection' }));
  }
  axis.replaceChildren(el('span', { text: day(hist.lo) }), el('span', { text: day(hist.hi) }));
}

function brush(svg, width, onDone) {
  let x0 = null;
  let sel = null;
  const x = (ev) => {
    const r = svg.getBoundingClientRect();
    return Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width));
  };
  svg.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    x0 = x(ev);
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener('pointermove', (ev) => {
    if (x0 === null) return;
    const a = Math.min(x0, x(ev));
    const b = Math.max(x0, x(ev));
    if (!sel) { sel = svgEl('rect', { y: 0, height: 1000, class: 'selection' }); svg.append(sel); }
    sel.setAttribute('x', a * width);
    sel.setAttribute('width', (b - a) * width);
  });
  svg.addEventListener('pointerup', (ev) => {
    if (x0 === null) return;
    const a = Math.min(x0, x(ev));
    const b = Math.max(x0, x(ev));
    x0 = null;
    if (sel) { sel.remove(); sel = null; }
    onDone(a, b);
  });
}

function updateSearchCommands() {
  const base = location.origin;
  const p = searchParams();
  const url = `${base}/collections${p.toString() ? `?${p}` : ''}`;
  const lines = [
    'from owslib.csw import CatalogueServiceWeb',
    'from owslib.fes import PropertyIsLike',
    '',
    `csw = CatalogueServiceWeb(${pyq(`${base}/csw`)})`,
  ];
  const cons = [];
  if (search.q) cons.push(`PropertyIsLike("csw:AnyText", ${pyq(`%${search.q}%`)})`);
  lines.push(`csw.getrecords2(constraints=[${cons.join(', ')}], maxrecords=50, esn="full")`);
  lines.push('for rec in csw.records.values():');
  lines.push('    print(rec.identifier, rec.title)');
  const blocks = [['curl (JSON)', `curl ${shq(url)}`], ['Python, OWSLib (CSW)', lines.join('\n')]];
  if (search.bbox || search.start || search.end) {
    blocks[1][1] += '\n# The area and time range of this search are applied by /collections above;\n# in CSW add an ows:BoundingBox or a TempExtent_begin/TempExtent_end filter.';
  }
  setCommands($('search-take-away'), blocks);
}

// ---------------------------------------------------------------- one collection

const view = {
  id: null, collection: null, interval: 'auto', start: null, end: null, stack: [],
  buckets: [], focus: -1, cursors: [], cursor: null, next: null, token: 0,
};
let cMapLayer = null;

function chooseInterval(start, end) {
  const span = end - start;
  if (span > 400 * DAY) return 'month';
  if (span > 400 * HOUR) return 'day';
  return 'hour';
}

function viewHash() {
  const p = new URLSearchParams();
  if (view.start !== null) p.set('start', iso(view.start));
  if (view.end !== null) p.set('end', iso(view.end));
  if (view.interval !== 'auto') p.set('interval', view.interval);
  return `#/c/${encodeURIComponent(view.id)}${p.toString() ? `?${p}` : ''}`;
}

async function openCollection(id, params) {
  const token = ++view.token;
  const same = view.id === id && view.collection;
  view.id = id;
  view.interval = params.get('interval') || 'auto';
  view.start = params.get('start') ? Date.parse(params.get('start')) : null;
  view.end = params.get('end') ? Date.parse(params.get('end')) : null;
  if (!same) {
    view.stack = [];
    $('c-title').textContent = 'Loading…';
    $('c-id').textContent = id;
    try {
      view.collection = await getJson(`/collections/${encodeURIComponent(id)}`);
    } catch (e) {
      $('c-title').textContent = 'Collection not available';
      $('tl-status').textContent = e.message;
      return;
    }
    if (token !== view.token) return;
    renderCollection();
  }
  await loadTimeline();
}

function renderCollection() {
  const c = view.collection;
  document.title = `${c.title || c.id}: threddex`;
  $('c-title').textContent = c.title || c.id;
  $('c-id').textContent = c.id;
  $('c-summary').textContent = c.summary || '';
  const meta = c.metadata || {};
  const variables = Array.isArray(meta.variables)
    ? meta.variables.map((v) => (typeof v === 'string' ? v : v.name || v.vocabulary_name || '')).filter(Boolean)
    : [];
  const [cls, live] = liveOf(c);
  const fact = (k, v) => el('div', {}, el('dt', { text: k }), el('dd', {}, v));
  $('c-facts').replaceChildren(
    fact('Authority', authority(c.id) || '—'),
    fact('Extent', `${fmtTime(c.start, 'hour')} – ${fmtTime(c.end, 'hour')}`),
    fact('Granules', num(c.granule_count)),
    fact('Status', el('span', { class: `badge ${cls}`, text: live })),
    fact('Updated', fmtTime(c.updated_at, 'hour')),
    fact('Keywords', (c.keywords || []).join(', ') || '—'),
    fact('Variables', variables.join(', ') || '—'),
    fact('Catalog', link(c.catalog_url, c.catalog_url)),
  );
  const enc = encodeURIComponent(c.id);
  const csw = `/csw?service=CSW&version=2.0.2&request=GetRecordById&elementSetName=full&outputSchema=${encodeURIComponent('http://www.isotc211.org/2005/gmd')}&id=${enc}`;
  $('c-links').replaceChildren(
    el('a', { href: `/collections/${enc}?f=iso`, text: 'ISO 19139 record' }),
    el('a', { href: `/collections/${enc}`, text: 'JSON' }),
    el('a', { href: csw, text: 'CSW record' }),
  );
  const views = c.views || [];
  $('views-section').hidden = views.length === 0;
  $('views').replaceChildren(...views.map((v) => el('li', {},
    el('strong', { text: v.name || v.id || 'view' }), ' ',
    el('span', { class: 'hint', text: `(${v.kind || 'view'})` }), ' ',
    ...(v.access || []).map((a) => (typeof a === 'string' ? link(a, 'access') : link(a.url, a.service || a.type || 'access'))),
    v.catalog_url ? link(v.catalog_url, 'listed in') : null)));
  drawWorld($('c-map')).then((layer) => {
    cMapLayer = layer;
    if (c.bbox) layer.append(...bboxRects(c.bbox, 'footprint'));
  });
}

async function loadTimeline() {
  const c = view.collection;
  const token = view.token;
  const status = $('tl-status');
  status.classList.remove('error');
  const start = view.start ?? (c.start ? Date.parse(c.start) : null);
  const end = view.end ?? (c.end ? Date.parse(c.end) + 1000 : null);
  if (start === null || end === null) {
    $('timeline').replaceChildren();
    status.textContent = 'No granule has a time.';
    view.buckets = [];
    await loadGranules(true);
    return;
  }
  const interval = view.interval === 'auto' ? chooseInterval(start, end) : view.interval;
  $('tl-interval').value = view.interval;
  $('tl-start').value = new Date(start).toISOString().slice(0, 19);
  $('tl-end').value = new Date(end).toISOString().slice(0, 19);
  status.textContent = 'Counting…';
  try {
    const p = new URLSearchParams({ interval, start: iso(start), end: iso(end) });
    const t = await getJson(`/collections/${encodeURIComponent(c.id)}/timeline?${p}`);
    if (token !== view.token) return;
    view.timeline = t;
    view.buckets = t.buckets;
    view.focus = -1;
    drawTimeline();
    const gaps = t.buckets.filter((b) => b[2] === 0).length;
    status.textContent = `${num(t.total)} granules in ${num(t.buckets.length)} ${interval} buckets from ${fmtTime(t.start, interval)} to ${fmtTime(t.end, interval)}; ${num(gaps)} empty.`;
  } catch (e) {
    status.classList.add('error');
    status.textContent = `Timeline: ${e.message}`;
  }
  view.cursors = [];
  view.cursor = null;
  await loadGranules();
  updateCollectionCommands();
}

function drawTimeline() {
  const svg = $('timeline');
  svg.replaceChildren();
  const b = view.buckets;
  const n = b.length;
  if (!n) return;
  const max = Math.max(1, ...b.map((x) => x[2]));
  const w = 800 / n;
  const interval = view.timeline.interval;
  b.forEach(([s, e, count], i) => {
    if (count === 0) {
      const gap = svgEl('rect', { x: i * w, y: 0, width: Math.max(w, 0.8), height: 160, class: 'gapband' });
      gap.dataset.i = i;
      const t = svgEl('title');
      t.textContent = `${fmtTime(s, interval)}: no granules`;
      gap.append(t);
      svg.append(gap);
      return;
    }
    const h = Math.max(1.5, (count / max) * 150);
    const r = svgEl('rect', {
      x: i * w + (w > 3 ? 0.5 : 0), y: 160 - h, width: Math.max(w - (w > 3 ? 1 : 0), 0.8), height: h,
      class: i === view.focus ? 'bar sel' : 'bar',
    });
    r.dataset.i = i;
    r.dataset.count = count;
    r.dataset.start = s;
    r.dataset.end = e;
    const t = svgEl('title');
    t.textContent = `${fmtTime(s, interval)}: ${num(count)} granule${count === 1 ? '' : 's'}`;
    r.append(t);
    svg.append(r);
  });
  $('tl-axis').replaceChildren(el('span', { text: fmtTime(b[0][0], interval) }), el('span', { text: fmtTime(b[n - 1][1], interval) }));
}

function zoomTo(start, end) {
  view.stack.push([view.start, view.end, view.interval]);
  view.start = start;
  view.end = end;
  view.interval = 'auto';
  location.hash = viewHash();
}

function zoomOut() {
  const prev = view.stack.pop();
  if (prev) {
    [view.start, view.end, view.interval] = prev;
  } else if (view.start !== null && view.end !== null) {
    const span = view.end - view.start;
    view.start -= span;
    view.end += span;
  }
  location.hash = viewHash();
}

function timelineKeys(ev) {
  const n = view.buckets.length;
  if (!n) return;
  const moves = { ArrowRight: 1, ArrowLeft: -1, PageDown: 10, PageUp: -10 };
  if (ev.key in moves) {
    view.focus = Math.max(0, Math.min(n - 1, (view.focus < 0 ? -1 : view.focus) + moves[ev.key]));
  } else if (ev.key === 'Home') {
    view.focus = 0;
  } else if (ev.key === 'End') {
    view.focus = n - 1;
  } else if (ev.key === 'Enter' && view.focus >= 0) {
    const [s, e] = view.buckets[view.focus];
    zoomTo(Date.parse(s), Date.parse(e));
    ev.preventDefault();
    return;
  } else if (ev.key === 'Escape') {
    zoomOut();
    return;
  } else {
    return;
  }
  ev.preventDefault();
  drawTimeline();
  const [s, , count] = view.buckets[view.focus];
  $('tl-status').textContent = `${fmtTime(s, view.timeline.interval)}: ${num(count)} granule${count === 1 ? '' : 's'} (Enter to zoom in)`;
}

/** The granule window: the focused bucket, else the timeline's window. */
function granuleWindow() {
  if (view.timeline && view.timeline.start) return [view.timeline.start, view.timeline.end];
  return [null, null];
}

function indexParams(extra = {}) {
  const p = new URLSearchParams({ collection: view.id });
  const [s, e] = granuleWindow();
  if (s) p.set('start', s);
  if (e) p.set('end', e);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

async function loadGranules() {
  const token = view.token;
  const status = $('g-status');
  status.classList.remove('error');
  status.textContent = 'Loading granules…';
  const p = indexParams({ limit: GRANULE_PAGE });
  if (view.cursor) p.set('cursor', view.cursor);
  let page;
  try {
    page = await getJson(`/index?${p}`);
  } catch (e) {
    status.classList.add('error');
    status.textContent = `Granules: ${e.message}`;
    return;
  }
  if (token !== view.token) return;
  view.next = page.next;
  const body = $('granules').tBodies[0];
  body.replaceChildren(...page.granules.map((g) => el('tr', {},
    el('td', { text: g.start ? fmtTime(g.start, 'hour').replace(' ', ' ') : '—' }),
    el('td', { class: 'name', text: g.name || g.id }),
    el('td', { text: bytes(g.size) }),
    el('td', { class: 'access' }, ...(g.access || []).map((a) => {
      const l = link(a.url, a.service || a.type);
      if (l.tagName === 'A') l.setAttribute('aria-label', `${a.service || a.type}: ${g.name || g.id}`);
      return l;
    })))));
  const pageNo = view.cursors.length + 1;
  let fresh;
  if (page.refreshed) fresh = 'refreshed from the server just now';
  else if (page.stale) fresh = `stale: the server was not re-read in time${page.indexed_through ? `; indexed through ${fmtTime(page.indexed_through, 'hour')}` : ''}`;
  else fresh = `from the index${page.indexed_through ? `, current through ${fmtTime(page.indexed_through, 'hour')}` : ''}`;
  status.textContent = page.granules.length
    ? `Page ${pageNo}: ${page.granules.length} granule${page.granules.length === 1 ? '' : 's'}${page.next ? ', more follow' : ''}; ${fresh}.`
    : `No granule in this window; ${fresh}.`;
  $('g-prev').disabled = view.cursors.length === 0;
  $('g-next').disabled = !page.next;
}

/** A CSV cell that a spreadsheet will not run as a formula. */
function csvCell(v) {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_MAX = 20000;
async function downloadCsv() {
  const status = $('g-status');
  const rows = [['id', 'name', 'start', 'end', 'size', 'service', 'url']];
  let cursor = null;
  let count = 0;
  status.textContent = 'Preparing CSV…';
  do {
    const p = indexParams({ limit: 1000 });
    if (cursor) p.set('cursor', cursor);
    // eslint-disable-next-line no-await-in-loop
    const page = await getJson(`/index?${p}`);
    for (const g of page.granules) {
      count += 1;
      const access = g.access && g.access.length ? g.access : [{}];
      for (const a of access) rows.push([g.id, g.name, g.start, g.end, g.size, a.service, a.url]);
    }
    cursor = page.next;
  } while (cursor && count < CSV_MAX);
  const text = `${rows.map((r) => r.map(csvCell).join(',')).join('\r\n')}\r\n`;
  const a = el('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: 'granules.csv' });
  document.body.append(a);
  a.click();
  a.remove();
  status.textContent = `CSV of ${num(count)} granule${count === 1 ? '' : 's'}${cursor ? ` (first ${num(CSV_MAX)}; use the curl command for all)` : ''} downloaded.`;
}

function updateCollectionCommands() {
  const base = location.origin;
  const c = view.collection;
  const p = indexParams();
  const [s, e] = granuleWindow();
  const tl = new URLSearchParams({ interval: view.timeline ? view.timeline.interval : 'day' });
  if (s) tl.set('start', s);
  if (e) tl.set('end', e);
  const py = [
    'import requests',
    '',
    `params = {"collection": ${pyq(c.id)}${s ? `, "start": ${pyq(s)}` : ''}${e ? `, "end": ${pyq(e)}` : ''}, "limit": 1000}`,
    'while True:',
    `    page = requests.get(${pyq(`${base}/index`)}, params=params, timeout=60).json()`,
    '    for g in page["granules"]:',
    '        print(g["start"], g["access"][0]["url"] if g["access"] else g["id"])',
    '    if not page["next"]:',
    '        break',
    '    params["cursor"] = page["next"]',
  ].join('\n');
  const ows = [
    'from owslib.csw import CatalogueServiceWeb',
    '',
    `csw = CatalogueServiceWeb(${pyq(`${base}/csw`)})`,
    `csw.getrecordbyid(id=[${pyq(c.id)}], esn="full")`,
    'for rec in csw.records.values():',
    '    print(rec.identifier, rec.title, rec.abstract)',
  ].join('\n');
  setCommands($('c-take-away'), [
    ['curl: granules of the window (JSON)', `curl ${shq(`${base}/index?${p}`)}`],
    ['curl: the same as CSV', `curl ${shq(`${base}/index?${p}&format=csv`)}`],
    ['curl: the timeline', `curl ${shq(`${base}/collections/${encodeURIComponent(c.id)}/timeline?${tl}`)}`],
    ['Python, requests: every granule of the window', py],
    ['Python, OWSLib: the collection record (CSW)', ows],
  ]);
}

// ---------------------------------------------------------------- routing

function route() {
  const h = location.hash || '#/';
  const m = h.match(/^#\/c\/([^?]*)(?:\?(.*))?$/);
  if (m) {
    $('search-view').hidden = true;
    $('collection-view').hidden = false;
    let id;
    try { id = decodeURIComponent(m[1]); } catch { id = m[1]; }
    openCollection(id, new URLSearchParams(m[2] || ''));
    return;
  }
  $('collection-view').hidden = true;
  $('search-view').hidden = false;
  document.title = 'threddex: find THREDDS data';
  const q = h.indexOf('?') >= 0 ? new URLSearchParams(h.slice(h.indexOf('?') + 1)) : new URLSearchParams();
  search.q = q.get('q') || '';
  search.start = q.get('start') || '';
  search.end = q.get('end') || '';
  const b = (q.get('bbox') || '').split(',').map(Number);
  search.bbox = b.length === 4 && b.every(Number.isFinite) ? { west: b[0], south: b[1], east: b[2], north: b[3] } : null;
  writeForm();
  searchMapReady.then(() => runSearch());
}

function init() {
  searchMapReady = drawWorld($('map')).then((layer) => {
    searchMapLayer = layer;
    drawnLayer = svgEl('g');
    $('map').append(drawnLayer);
  });
  mapDrawing($('map'));
  brush($('extent-hist'), 600, (a, b) => {
    if (!hist.hi || b - a < 0.005) return;
    const span = hist.hi - hist.lo;
    search.start = day(hist.lo + a * span);
    search.end = day(hist.lo + b * span + DAY);
    writeForm();
    runSearch(false);
  });
  $('q').addEventListener('input', scheduleSearch);
  $('start').addEventListener('change', () => runSearch(false));
  $('end').addEventListener('change', () => runSearch(false));
  $('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); runSearch(); });
  $('clear').addEventListener('click', () => {
    search.q = ''; search.start = ''; search.end = ''; search.bbox = null;
    writeForm();
    runSearch();
  });
  $('more').addEventListener('click', moreResults);

  brush($('timeline'), 800, (a, b) => {
    const t = view.timeline;
    if (!t || !t.start || b - a < 0.003) {
      // A click: zoom into the bucket under the pointer.
      if (t && t.buckets.length) {
        const i = Math.min(t.buckets.length - 1, Math.floor(a * t.buckets.length));
        zoomTo(Date.parse(t.buckets[i][0]), Date.parse(t.buckets[i][1]));
      }
      return;
    }
    const s = Date.parse(t.start);
    const span = Date.parse(t.end) - s;
    zoomTo(Math.floor(s + a * span), Math.ceil(s + b * span));
  });
  $('timeline').addEventListener('keydown', timelineKeys);
  $('tl-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const s = $('tl-start').value;
    const e = $('tl-end').value;
    view.stack.push([view.start, view.end, view.interval]);
    view.start = s ? Date.parse(`${s}Z`) : null;
    view.end = e ? Date.parse(`${e}Z`) : null;
    view.interval = $('tl-interval').value;
    location.hash = viewHash();
  });
  $('tl-out').addEventListener('click', zoomOut);
  $('tl-all').addEventListener('click', () => {
    view.stack = [];
    view.start = null;
    view.end = null;
    view.interval = 'auto';
    location.hash = viewHash();
  });
  $('g-next').addEventListener('click', () => {
    if (!view.next) return;
    view.cursors.push(view.cursor);
    view.cursor = view.next;
    loadGranules();
  });
  $('g-prev').addEventListener('click', () => {
    if (!view.cursors.length) return;
    view.cursor = view.cursors.pop();
    loadGranules();
  });
  $('g-csv').addEventListener('click', () => downloadCsv().catch((e) => { $('g-status').textContent = `CSV: ${e.message}`; }));
  window.addEventListener('hashchange', route);
  route();
}

init();
