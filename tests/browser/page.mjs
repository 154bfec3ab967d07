// Drives the search page of a running `threddex serve` in Debian's headless Chromium.
// Run by tests/tests/it/page.rs:
//   BASE=http://127.0.0.1:PORT SIM=http://127.0.0.1:SIMPORT QUERY=FTG [SHOTS=docs/screenshots] [PAGE_TRACE=FILE] node page.mjs
// Prints one JSON line with what it checked; exits 1 with the reason on the first failure and
// the log of the page's API requests (PAGE_TRACE=FILE also writes that log after a success).
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE;
const SIM = process.env.SIM;
const QUERY = process.env.QUERY || 'FTG';
const SHOTS = process.env.SHOTS || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!BASE || !SIM) throw new Error('BASE and SIM must be set');

const report = { steps: [] };
// The page's API requests (path, start and end in ms from launch, status), printed on failure.
const requests = [];
const launched = Date.now();
const requestLog = () => requests.map((r) => `  ${r.start}-${r.end ?? '…'} ${r.status ?? ''} ${r.path}`).join('\n');
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  report.steps.push(what);
}
async function api(path) {
  const r = await fetch(BASE + path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}
const enc = encodeURIComponent;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  // (The simulated server serves catalogs, not data: the followed access link answers 404.)
  page.on('console', (m) => {
    if (m.type() === 'error' && !(m.location().url || '').startsWith(SIM)) problems.push(`console: ${m.text()} at ${m.location().url}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const external = [];
  const pending = new Map();
  page.on('request', (r) => {
    if (r.url().startsWith(BASE)) {
      const e = { path: r.url().slice(BASE.length), start: Date.now() - launched };
      pending.set(r, e);
      requests.push(e);
    }
  });
  const ended = (r, status) => {
    const e = pending.get(r);
    if (e) { e.end = Date.now() - launched; e.status = status; pending.delete(r); }
  };
  page.on('requestfinished', (r) => {
    const e = pending.get(r);
    ended(r, '');
    r.response().then(async (x) => {
      if (!e || !x) return;
      e.status = x.status();
      if (e.path.startsWith('/index?')) {
        const b = await x.json();
        e.status += ` ${b.granules.length} granules refreshed=${b.refreshed} stale=${b.stale} through=${b.indexed_through}`;
      }
    }).catch(() => {});
  });
  page.on('requestfailed', (r) => ended(r, `failed: ${r.failure()?.errorText}`));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(BASE) && !u.startsWith(SIM) && !u.startsWith('blob:') && !u.startsWith('data:')) external.push(u);
  });

  // Every asset comes from the binary, with a CSP.
  const t0 = Date.now();
  const response = await page.goto(`${BASE}/`);
  check(response.status() === 200, 'GET / is 200');
  check((response.headers()['content-security-policy'] || '').includes("default-src 'none'"), 'the page has a CSP');
  await page.waitForSelector('#results li');
  report.first_results_ms = Date.now() - t0;
  const allHits = (await api('/collections?limit=1000')).collections.length;
  check(await page.locator('#results li').count() === Math.min(allHits, 50), 'unfiltered results listed');
  check(await page.locator('#map path.land').count() === 1, 'world outline drawn');
  await page.waitForFunction(() => document.querySelectorAll('#map .footprints rect').length > 0);
  await page.waitForFunction(() => [...document.querySelectorAll('.live-status')].every((x) => x.textContent !== '…'));
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/search-1280.png` });

  // Search as you type.
  await page.fill('#q', '');
  await page.locator('#q').pressSequentially(QUERY, { delay: 30 });
  const expected = (await api(`/collections?q=${enc(QUERY)}&limit=1000`)).collections.map((c) => c.id).sort();
  check(expected.length > 0 && expected.length < allHits, `the query ${QUERY} narrows the collections`);
  await page.waitForFunction((n) => document.querySelectorAll('#results li').length === n
    && location.hash.includes('q='), expected.length);
  const shown = (await page.locator('#results li').evaluateAll((lis) => lis.map((li) => li.dataset.id))).sort();
  check(JSON.stringify(shown) === JSON.stringify(expected), 'typed query shows what /collections?q= finds');

  // Draw a box on the map (over North America), which fills the W/S/E/N fields.
  const box = await page.evaluate(() => {
    const svg = document.getElementById('map');
    const m = svg.getScreenCTM();
    const pt = (lon, lat) => { const p = new DOMPoint(lon, -lat).matrixTransform(m); return [p.x, p.y]; };
    return [pt(-130, 55), pt(-60, 20)];
  });
  await page.mouse.move(...box[0]);
  await page.mouse.down();
  await page.mouse.move((box[0][0] + box[1][0]) / 2, (box[0][1] + box[1][1]) / 2, { steps: 4 });
  await page.mouse.move(...box[1], { steps: 4 });
  await page.mouse.up();
  await page.waitForFunction(() => location.hash.includes('bbox='));
  const bbox = await page.evaluate(() => ['west', 'south', 'east', 'north'].map((k) => Number(document.getElementById(k).value)));
  check(Math.abs(bbox[0] + 130) < 1.5 && Math.abs(bbox[1] - 20) < 1.5 && Math.abs(bbox[2] + 60) < 1.5 && Math.abs(bbox[3] - 55) < 1.5,
    `drawn box read back as ${bbox.join(',')}`);
  const inBox = (await api(`/collections?q=${enc(QUERY)}&bbox=${bbox.join(',')}&limit=1000`)).collections.length;
  await page.waitForFunction((n) => document.querySelectorAll('#results li').length === n, inBox);
  check(inBox > 0, 'the box keeps the collections it covers');
  check(await page.locator('#map .drawn').count() >= 1, 'the drawn box stays on the map');

  // A time range: drag on the histogram, then exact dates in the fields.
  await page.locator('#extent-hist').scrollIntoViewIfNeeded();
  const hist = await page.locator('#extent-hist').boundingBox();
  await page.mouse.move(hist.x + hist.width * 0.1, hist.y + hist.height / 2);
  await page.mouse.down();
  await page.mouse.move(hist.x + hist.width * 0.9, hist.y + hist.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => document.getElementById('start').value && document.getElementById('end').value);
  check(true, 'a drag on the extent histogram sets both dates');
  const first = (await api(`/collections?q=${enc(QUERY)}&limit=1`)).collections[0];
  const start = first.start.slice(0, 10);
  const endDay = new Date(Date.parse(first.end) + 86400e3).toISOString().slice(0, 10);
  await page.fill('#start', start);
  await page.dispatchEvent('#start', 'change');
  await page.fill('#end', endDay);
  await page.dispatchEvent('#end', 'change');
  await page.waitForFunction((s) => location.hash.includes(`start=${s}`), start);
  const inTime = (await api(`/collections?q=${enc(QUERY)}&bbox=${bbox.join(',')}&start=${start}&end=${endDay}&limit=1000`)).collections.length;
  await page.waitForFunction((n) => document.querySelectorAll('#results li').length === n, inTime);
  check(inTime > 0, 'time range applied');
  report.commands = { search: await page.locator('#search-take-away pre').allTextContents() };
  const curl = report.commands.search[0];
  check(curl.startsWith('curl ') && curl.includes(`q=${enc(QUERY)}`) && curl.includes('bbox='), 'the search curl command reproduces the view');

  // Open a collection.
  await page.locator('#results li a.open').first().click();
  await page.waitForSelector('#collection-view:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#timeline rect.bar').length > 0
    && document.querySelectorAll('#granules tbody tr').length > 0);
  const id = await page.locator('#c-id').textContent();
  const coll = await api(`/collections/${enc(id)}`);
  report.collection = id;
  report.granules = coll.granule_count;
  await page.waitForFunction(() => document.querySelectorAll('#c-take-away pre').length === 5);
  report.commands.collection = await page.locator('#c-take-away pre').allTextContents();
  check((await page.locator('#c-title').textContent()) === (coll.title || coll.id), 'collection title shown');
  const links = await page.locator('#c-links a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  check(links.some((h) => h.endsWith('?f=iso')) && links.some((h) => h.startsWith('/csw?')), 'ISO, JSON and CSW links');
  for (const h of links) {
    const r = await fetch(BASE + h);
    check(r.ok, `link ${h} answers 200`);
  }

  // Timeline counts against /index.
  const bars = await page.locator('#timeline rect.bar').evaluateAll((rs) => rs.map((r) => [r.dataset.start, r.dataset.end, Number(r.dataset.count)]));
  let checked = 0;
  for (const [s, e, n] of bars.slice(0, 3).concat(bars.slice(-2))) {
    const idx = await api(`/index?collection=${enc(id)}&start=${enc(s)}&end=${enc(e)}&limit=10000`);
    const starting = idx.granules.filter((g) => g.start && g.start >= s && g.start < e).length;
    check(starting === n, `bucket ${s}: ${n} granules, /index lists ${starting} starting in it`);
    checked += 1;
  }
  report.buckets_checked = checked;
  const tlTotal = await page.evaluate(() => [...document.querySelectorAll('#timeline rect.bar')].reduce((a, r) => a + Number(r.dataset.count), 0));
  check(tlTotal === coll.granule_count, `timeline total ${tlTotal} = the collection's ${coll.granule_count} granules`);
  if (SHOTS) {
    await page.screenshot({ path: `${SHOTS}/collection-1280.png`, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1080 } });
    await page.evaluate(() => { document.getElementById('c-take-away').open = true; });
    await page.locator('#c-take-away').screenshot({ path: `${SHOTS}/commands-1280.png` });
    await page.evaluate(() => { document.getElementById('c-take-away').open = false; });
  }

  // Zoom by a drag on the timeline: finer buckets, the granule list follows.
  await page.locator('#timeline').scrollIntoViewIfNeeded();
  const tl = await page.locator('#timeline').boundingBox();
  const hashBefore = await page.evaluate(() => location.hash);
  // The zoomed window's granule page is the next /index answer.
  const zoomedList = page.waitForResponse((r) => r.url().startsWith(`${BASE}/index?`), { timeout: 30000 });
  await page.mouse.move(tl.x + tl.width * 0.55, tl.y + tl.height / 2);
  await page.mouse.down();
  await page.mouse.move(tl.x + tl.width * 0.95, tl.y + tl.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((h) => location.hash !== h && location.hash.includes('start='), hashBefore);
  await page.waitForFunction(() => !document.getElementById('tl-status').textContent.startsWith('Counting'));
  check(true, 'a drag on the timeline zooms in');

  // The granule list: access links point at the simulated server; follow one. The list is
  // read once the zoomed window's page has arrived and been drawn (the timeline's counts
  // arrive first, while the previous window's rows are still shown).
  const zoomed = await zoomedList;
  check(zoomed.ok(), `the zoomed window's granules load (${zoomed.status()} ${zoomed.url()})`);
  const zoomedRows = (await zoomed.json()).granules.length;
  await page.waitForFunction((n) => document.querySelectorAll('#granules tbody tr').length === n
    && !document.getElementById('g-status').textContent.startsWith('Loading'), zoomedRows, { timeout: 30000 });
  const hrefs = await page.locator('#granules td.access a').evaluateAll((as) => as.map((a) => a.href));
  check(hrefs.length > 0 && hrefs.every((h) => h.startsWith(`${SIM}/`)), 'every access link points at the simulated server');
  const gStatus = await page.locator('#g-status').textContent();
  check(/refreshed|stale|from the index/.test(gStatus), `freshness shown: ${gStatus}`);
  const csvCmd = await page.locator('#c-take-away pre').nth(1).textContent();
  check(csvCmd.includes('format=csv') && csvCmd.includes(`collection=${enc(id)}`), 'the CSV curl command names the collection');

  // CSV of the window.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#g-csv')]);
  const stream = await download.createReadStream();
  let csv = '';
  for await (const chunk of stream) csv += chunk;
  const rows = csv.trim().split('\r\n');
  check(rows[0] === 'id,name,start,end,size,service,url' && rows.length > 1, `CSV download with ${rows.length - 1} rows`);

  const follow = hrefs.find((h) => h.includes('/fileServer/')) || hrefs[0];
  const [nav] = await Promise.all([
    page.waitForEvent('requestfinished', (r) => r.url() === follow).catch(() => null),
    page.locator(`#granules td.access a[href="${follow}"]`).first().click(),
  ]);
  report.followed = follow;
  check(nav !== null, `followed ${follow}`);

  // Keyboard: from the top of the search page to a collection and through its timeline.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/#/?q=${enc(QUERY)}`);
  await page.waitForFunction((n) => document.querySelectorAll('#results li').length === n, expected.length);
  await page.waitForFunction(() => [...document.querySelectorAll('.live-status')].every((x) => x.textContent !== '…'));
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/search-390.png`, fullPage: true });
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.className === 'skip'), 'first Tab reaches the skip link');
  let reached = false;
  for (let i = 0; i < 40 && !reached; i += 1) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.classList.contains('open'));
  }
  check(reached, 'Tab reaches a result link');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#collection-view:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#timeline rect.bar').length > 0);
  await page.focus('#timeline');
  const before = await page.evaluate(() => location.hash);
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  const focused = await page.evaluate(() => document.getElementById('tl-status').textContent);
  check(/Enter to zoom in/.test(focused), `arrow keys move through the buckets (${focused})`);
  await page.keyboard.press('Enter');
  await page.waitForFunction((h) => location.hash !== h, before);
  await page.waitForFunction(() => document.querySelectorAll('#timeline rect.bar').length > 0);
  check(true, 'Enter zooms into the bucket');
  await page.keyboard.press('Escape');
  await page.waitForFunction((h) => location.hash === h, before);
  check(true, 'Escape zooms out again');
  await page.waitForFunction(() => document.querySelectorAll('#granules tbody tr').length > 0
    && !document.getElementById('g-status').textContent.startsWith('Loading'));
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/collection-390.png`, fullPage: true, clip: { x: 0, y: 0, width: 390, height: 1500 } });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no horizontal scrolling at 390 px (${overflow} px)`);

  // Virtual views of a model collection, with their access URLs.
  await page.setViewportSize({ width: 1280, height: 900 });
  const model = (await api('/collections?q=GFS&limit=1')).collections[0];
  const views = (await api(`/collections/${enc(model.id)}`)).views;
  check(views.length > 0, 'the model collection has views');
  await page.goto(`${BASE}/#/c/${enc(model.id)}`);
  await page.waitForFunction((n) => document.querySelectorAll('#views > li').length === n, views.length);
  const viewLinks = await page.locator('#views a').evaluateAll((as) => as.map((a) => a.href));
  check(viewLinks.length >= views.length && viewLinks.every((h) => h.startsWith(`${SIM}/`)), 'virtual views listed with their access links');

  // Markup in the index is text, never HTML; javascript: URLs are never links.
  if (process.env.HOSTILE_TITLE) {
    await page.goto(`${BASE}/#/?q=Hostile`);
    await page.waitForFunction(() => document.querySelectorAll('#results li').length === 1);
    const title = await page.locator('#results li a.open').textContent();
    check(title === process.env.HOSTILE_TITLE && await page.locator('main img, main b, main script, main u').count() === 0,
      'markup from the index is shown as text');
    await page.locator('#results li a.open').click();
    await page.waitForFunction(() => document.querySelectorAll('#granules tbody tr').length === 1);
    check((await page.locator('#c-summary').textContent()) === process.env.HOSTILE_SUMMARY
      && await page.locator('#collection-view script, #collection-view svg:not(#c-map):not(#timeline), #collection-view i, #collection-view b, #collection-view u').count() === 0, 'the summary and granule names are text');
    check(await page.locator('a[href^="javascript:"]').count() === 0
      && (await page.locator('#granules td.access').textContent()).includes('<i>svc</i>'), 'a javascript: access URL is not a link');
    check((await page.title()) === `${process.env.HOSTILE_TITLE}: threddex`, 'no script from the index ran');
  }

  check(problems.length === 0, `no console errors: ${problems.join('; ')}`);
  check(external.length === 0, `no request leaves loopback: ${external.join(' ')}`);
  if (process.env.PAGE_TRACE) writeFileSync(process.env.PAGE_TRACE, requestLog());
  console.log(JSON.stringify(report));
} catch (e) {
  e.message = `${e.message}\nthe page's API requests (ms since launch, status, path):\n${requestLog()}`;
  throw e;
} finally {
  await browser.close();
}
