// End-to-end tests of the Datasets section and the annotation tool in a real
// browser (Debian's chromium through npm playwright-core), against the
// `cvops serve` started by tests/web/run. In order, like a person: log in,
// drop images on the Datalake page, search them with the query language,
// tag them, create a dataset version from the query; add labels (one with a
// skeleton); open an image in the annotation tool, draw a rectangle and a
// polygon with the mouse, see them saved, undo and redo, reload and find
// them; place keypoints; meet another editor's save (409: said, nothing
// overwritten); review predictions with the score slider; step to the next
// image; see the shapes over the thumbnails; split; export COCO and read the
// downloaded file; fork and lock; the image page lists the versions. Then a
// generated 4000x3000 JPEG measures how fast the tool opens and how smooth
// panning and zooming are. Last, the editing gestures on a version of their
// own: label search and creation, polyline, resize, arrow keys, vertices,
// image tags, undo. Screenshots go to tests/out/web/datasets-*.png.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { png } from './images.mjs';
import { BASE, PASSWORD, TOKEN, OUT, CHROMIUM_ARGS } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');

const T = 10_000;
const PHOTOS = '/usr/share/darknet/data';
const PHOTO_NAMES = ['dog.jpg', 'eagle.jpg', 'giraffe.jpg', 'horses.jpg', 'person.jpg'];

let browser, ctx, page;
let lakeId, dsId, vId;
const requests = [];
const pageErrors = [];
let shot = 0;
const timings = {};

async function screenshot(p, name) {
  shot++;
  if (!(await p.locator('dialog[open]').count()))
    for (const b of await p.locator('.toast').getByRole('button', { name: 'Dismiss' }).all()) await b.click({ timeout: 1000 }).catch(() => {});
  await p.waitForTimeout(120);
  await p.screenshot({ path: join(OUT, `datasets-${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function api(method, path, body, headers = {}) {
  const isBuf = body instanceof Buffer;
  const res = await fetch(BASE + '/api/v1' + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body && !isBuf ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body ? (isBuf ? body : JSON.stringify(body)) : undefined,
  });
  return { status: res.status, data: await res.json() };
}

/** Drops files on `selector` as a user dragging them from the desktop would. */
async function dropFiles(p, selector, files) {
  const dt = await p.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    return dt;
  }, files.map((f) => ({ name: f.name, type: f.type, b64: f.bytes.toString('base64') })));
  await p.dispatchEvent(selector, 'dragenter', { dataTransfer: dt });
  await p.dispatchEvent(selector, 'dragover', { dataTransfer: dt });
  await p.dispatchEvent(selector, 'drop', { dataTransfer: dt });
}

/** The canvas box and the view the tool fits an image with (stage.ts: fitView, 16 px margin). */
async function fit(p, w, h) {
  const box = await p.getByTestId('annot-canvas').boundingBox();
  const scale = Math.min((box.width - 32) / w, (box.height - 32) / h);
  const tx = box.x + (box.width - w * scale) / 2, ty = box.y + (box.height - h * scale) / 2;
  return { box, scale, at: (x, y) => [tx + x * scale, ty + y * scale] };
}

const annotation = async (assetId) => (await api('GET', `/assets/${assetId}/annotation`)).data;

async function waitSaved(p, revision) {
  await p.waitForFunction((r) => {
    const s = document.querySelector('[data-testid=save-state]');
    return s?.getAttribute('data-state') === 'saved' && s.textContent.includes(`revision ${r}`);
  }, revision, { timeout: T });
}

before(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, baseURL: BASE, reducedMotion: 'reduce', acceptDownloads: true });
  ctx.setDefaultTimeout(T);
  ctx.on('request', (r) => requests.push(r.url()));
  ctx.on('page', (p) => p.on('pageerror', (e) => pageErrors.push(e.message)));
  page = await ctx.newPage();
  await page.goto('/');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  const r = await api('POST', '/datalakes', { name: 'streets' });
  assert.equal(r.status, 201, JSON.stringify(r.data));
  lakeId = r.data.id;
});

after(async () => {
  if (Object.keys(timings).length) console.log('annotation tool timings:', JSON.stringify(timings));
  await browser?.close();
});

test('datalake: drop images, search with the query language, tag, create a dataset version from the query', async () => {
  await page.goto(`/datalake?lake=${lakeId}`);
  await page.getByText('This datalake is empty').waitFor({ timeout: T });
  const files = [
    ...PHOTO_NAMES.map((name) => ({ name, type: 'image/jpeg', bytes: readFileSync(join(PHOTOS, name)) })),
    { name: 'street-1.png', type: 'image/png', bytes: png(320, 240, 101) },
    { name: 'street-2.png', type: 'image/png', bytes: png(320, 240, 102) },
  ];
  await dropFiles(page, '.datalake', files);
  const dialog = page.getByRole('dialog', { name: /Upload to/ });
  await dialog.getByTestId('upload-summary').getByText(/^7 of 7 files/).waitFor({ timeout: 20_000 });
  await dialog.getByRole('button', { name: 'Done' }).click();
  await page.getByTestId('match-count').getByText('7 images').waitFor({ timeout: T });

  // search: the photos wider than 400 px (the two PNGs are 320 wide)
  const box = page.getByRole('combobox', { name: 'Search with the query language' });
  await box.fill('width > 400 and format = jpeg');
  await box.press('Enter');
  await page.getByTestId('match-count').getByText('5 matching').waitFor({ timeout: T });

  // tag them all (the request carries the query)
  await page.getByRole('button', { name: 'Select all 5 matching' }).click();
  await page.getByRole('button', { name: 'Tag…', exact: true }).click();
  const tag = page.getByRole('dialog', { name: 'Tag images' });
  await tag.getByLabel('Tags to add').fill('photo');
  await tag.getByRole('button', { name: 'Add tags' }).click();
  await page.getByText(/Tagged all 5 items/).waitFor({ timeout: T });
  assert.equal((await api('GET', `/datalakes/${lakeId}/data/count?q=tag%3Dphoto`)).data.count, 5);
  await screenshot(page, 'datalake-tagged');

  // a dataset version from the query: a new dataset, its first version
  await page.getByRole('button', { name: 'Clear selection' }).click();
  await box.fill('tag = photo');
  await box.press('Enter');
  await page.getByTestId('match-count').getByText('5 matching').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Create dataset version…' }).click();
  const cv = page.getByRole('dialog', { name: 'Create a dataset version' });
  await cv.getByText('all 5 images matching “tag = photo”').waitFor({ timeout: T });
  await cv.getByLabel('New dataset name').fill('street scenes');
  await screenshot(page, 'create-version-dialog');
  await cv.getByRole('button', { name: 'Create version' }).click();
  await page.waitForURL(/\/datasets\/\d+\/versions\/\d+$/, { timeout: T });
  [, dsId, vId] = /\/datasets\/(\d+)\/versions\/(\d+)/.exec(page.url()).map(Number);
  await page.getByTestId('match-count').getByText('5 images').waitFor({ timeout: T });
  const v = (await api('GET', `/dataset-versions/${vId}`)).data;
  assert.equal(v.name, 'v1');
  assert.equal(v.assets, 5);
});

test('datasets list and labels: a plain label and one with a skeleton', async () => {
  await page.getByRole('button', { name: 'Labels…' }).click();
  const d = page.getByRole('dialog', { name: 'Labels of v1' });
  const form = d.getByRole('form', { name: 'New label' });
  await form.getByLabel('Name').fill('car');
  await form.getByRole('button', { name: 'Add label' }).click();
  await d.getByTestId('labels-table').getByRole('cell', { name: 'car', exact: true }).waitFor({ timeout: T });
  await form.getByLabel('Name').fill('person');
  await form.getByLabel('Keypoints').fill('head, left_hand, right_hand');
  await form.getByLabel('Skeleton').fill('1-2, 1-3');
  await form.getByRole('button', { name: 'Add label' }).click();
  await d.getByTestId('labels-table').getByText('head, left_hand, right_hand').waitFor({ timeout: T });
  // the API's own words for a duplicate
  await form.getByLabel('Name').fill('car');
  await form.getByRole('button', { name: 'Add label' }).click();
  await d.getByRole('alert').getByText(/already/).waitFor({ timeout: T });
  await screenshot(page, 'labels-dialog');
  await d.getByRole('button', { name: 'Close', exact: true }).first().click();
  const labels = (await api('GET', `/dataset-versions/${vId}/labels`)).data.items;
  assert.deepEqual(labels.map((l) => l.name), ['car', 'person']);
  assert.deepEqual(labels[1].skeleton, [[1, 2], [1, 3]]);

  await page.goto('/datasets');
  await page.getByRole('link', { name: 'street scenes' }).waitFor({ timeout: T });
  await screenshot(page, 'list');
  await page.getByRole('link', { name: 'street scenes' }).click();
  await page.getByTestId('versions').getByRole('link', { name: 'v1' }).waitFor({ timeout: T });
  await page.getByTestId('stats').waitFor({ timeout: T });
  await screenshot(page, 'dataset');
});

let first; // the asset drawn on

test('annotation tool: draw a rectangle and a polygon with the mouse; autosave; undo, redo; reload', async () => {
  await page.goto(`/datasets/${dsId}/versions/${vId}?q=${encodeURIComponent('data.filename = "dog.jpg"')}`);
  await page.getByTestId('match-count').getByText('1 matching').waitFor({ timeout: T });
  await page.locator('.vs-grid [role=gridcell]').first().dblclick();
  await page.waitForURL(/\/annotate\/\d+/, { timeout: T });
  const assetId = Number(/annotate\/(\d+)/.exec(page.url())[1]);
  first = (await api('GET', `/assets/${assetId}`)).data;
  assert.equal(first.filename, 'dog.jpg');
  await page.waitForFunction(() => document.querySelector('.annot-canvas')?.getAttribute('data-painted') === 'original', null, { timeout: T });
  const f = await fit(page, first.width, first.height);

  // a rectangle: label 1 (car), R, drag
  await page.keyboard.press('1');
  await page.keyboard.press('r');
  let [x, y] = f.at(100, 120);
  await page.mouse.move(x, y);
  await page.mouse.down();
  [x, y] = f.at(300, 260);
  await page.mouse.move(x, y, { steps: 8 });
  await page.mouse.up();
  await waitSaved(page, 1);
  let a = await annotation(assetId);
  assert.equal(a.shapes.length, 1);
  assert.equal(a.shapes[0].kind, 'box');
  assert.equal(a.shapes[0].label, 'car');
  const tol = 1.5 / f.scale + 0.5;
  for (const [got, want] of a.shapes[0].box.map((v, i) => [v, [100, 120, 200, 140][i]])) assert.ok(Math.abs(got - want) <= tol, `box ${a.shapes[0].box}`);

  // a polygon: P, four clicks, a click on the first vertex closes it
  await page.keyboard.press('p');
  const poly = [
    [420, 200],
    [560, 230],
    [540, 380],
    [430, 350],
  ];
  for (const [px, py] of poly) await page.mouse.click(...f.at(px, py));
  await page.getByText('Polygon: 4 vertices').waitFor({ timeout: T });
  await page.mouse.click(...f.at(...poly[0]));
  await waitSaved(page, 2);
  a = await annotation(assetId);
  assert.deepEqual(a.shapes.map((s) => s.kind), ['box', 'polygon']);
  const pts = a.shapes[1].rings[0];
  assert.equal(pts.length, 8);
  poly.flat().forEach((v, i) => assert.ok(Math.abs(pts[i] - v) <= tol, `polygon ${pts}`));
  assert.equal((await page.getByTestId('shape-list').locator('li').count()), 2);
  await screenshot(page, 'annotate-drawn');

  // undo takes the polygon away (and saves that), redo brings it back
  await page.keyboard.press('Control+z');
  await waitSaved(page, 3);
  assert.deepEqual((await annotation(assetId)).shapes.map((s) => s.kind), ['box']);
  await page.keyboard.press('Control+Shift+z');
  await waitSaved(page, 4);
  assert.deepEqual((await annotation(assetId)).shapes.map((s) => s.kind), ['box', 'polygon']);

  // move the box with the mouse (select tool), then accept the image
  await page.keyboard.press('v');
  await page.mouse.move(...f.at(200, 190));
  await page.mouse.down();
  await page.mouse.move(...f.at(230, 200), { steps: 5 });
  await page.mouse.up();
  await waitSaved(page, 5);
  const moved = (await annotation(assetId)).shapes[0].box;
  assert.ok(Math.abs(moved[0] - 130) <= tol && Math.abs(moved[1] - 130) <= tol, `moved box ${moved}`);
  await page.keyboard.press('Shift+A');
  await waitSaved(page, 6);
  assert.equal((await annotation(assetId)).status, 'accepted');

  // reload: the shapes come back from the server
  await page.reload();
  await page.getByTestId('shape-list').locator('li').nth(1).waitFor({ timeout: T });
  assert.deepEqual(await page.getByTestId('shape-list').locator('li').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind'))), ['box', 'polygon']);
  await page.getByRole('button', { name: 'accepted', pressed: true }).waitFor({ timeout: T });
  await page.waitForFunction(() => document.querySelector('.annot-canvas')?.getAttribute('data-painted') === 'original', null, { timeout: T });
  await screenshot(page, 'annotate-reloaded');
});

test('annotation tool: keypoints along the skeleton, copy and paste, delete', async () => {
  const f = await fit(page, first.width, first.height);
  await page.keyboard.press('2'); // person: 3 keypoints
  await page.keyboard.press('k');
  await page.mouse.click(...f.at(600, 100));
  await page.getByText(/click “left_hand” \(2 of 3\)/).waitFor({ timeout: T });
  await page.keyboard.down('Shift'); // Shift-click: hidden
  await page.mouse.click(...f.at(570, 160));
  await page.keyboard.up('Shift');
  await page.mouse.click(...f.at(640, 160));
  await waitSaved(page, 7);
  let a = await annotation(first.id);
  const kp = a.shapes.find((s) => s.kind === 'keypoints');
  assert.deepEqual(kp.keypoints.filter((_, i) => i % 3 === 2), [2, 1, 2]);
  // copy the keypoints, paste them (offset), delete the copy
  await page.keyboard.press('Control+c');
  await page.keyboard.press('Control+v');
  await waitSaved(page, 8);
  a = await annotation(first.id);
  assert.equal(a.shapes.filter((s) => s.kind === 'keypoints').length, 2);
  await page.keyboard.press('Delete');
  await waitSaved(page, 9);
  assert.equal((await annotation(first.id)).shapes.length, 3);
  // the help overlay lists the shortcuts
  await page.keyboard.press('Escape');
  await page.keyboard.press('?');
  const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await help.getByText('Rectangle (drag)').waitFor({ timeout: T });
  await screenshot(page, 'annotate-help');
  await page.keyboard.press('Escape');
  await help.waitFor({ state: 'hidden', timeout: T });
});

test('annotation tool: another editor saved meanwhile: said, nothing overwritten, reload theirs', async () => {
  const now = await annotation(first.id);
  const theirs = await api('PUT', `/assets/${first.id}/annotation`, { shapes: [{ kind: 'box', label: 'car', box: [10, 10, 50, 50] }], status: 'rejected', base_revision: now.revision });
  assert.equal(theirs.status, 200);
  const f = await fit(page, first.width, first.height);
  await page.keyboard.press('o'); // a point
  await page.mouse.click(...f.at(50, 400));
  const banner = page.getByTestId('conflict');
  await banner.waitFor({ timeout: T });
  assert.match(await banner.textContent(), new RegExp(`saved by someone else meanwhile \\(revision ${theirs.data.revision} by admin`));
  const after = await annotation(first.id);
  assert.equal(after.revision, theirs.data.revision, 'nothing was overwritten');
  assert.equal(after.shapes.length, 1);
  await screenshot(page, 'annotate-conflict');
  await banner.getByRole('button', { name: 'Reload their revision' }).click();
  await banner.waitFor({ state: 'hidden', timeout: T });
  await page.getByRole('button', { name: 'rejected', pressed: true }).waitFor({ timeout: T });
  assert.equal(await page.getByTestId('shape-list').locator('li').count(), 1);
  // our shapes went to the clipboard: paste them back, and it saves on top of theirs
  await page.keyboard.press('Control+v');
  await waitSaved(page, theirs.data.revision + 1);
  const merged = await annotation(first.id);
  assert.deepEqual(merged.shapes.map((s) => s.kind).sort(), ['box', 'box', 'keypoints', 'point', 'polygon']);
});

test('annotation tool: predictions with scores, the slider hides low ones; next image', async () => {
  // pre-annotations with scores on the next image (as a model would leave them)
  const next = (await api('GET', `/dataset-versions/${vId}/assets?q=${encodeURIComponent(`id > ${first.id}`)}&limit=1`)).data.items[0];
  await api('PUT', `/assets/${next.id}/annotation`, {
    shapes: [
      { kind: 'box', label: 'car', box: [20, 20, 120, 80], score: 0.92 },
      { kind: 'box', label: 'car', box: [200, 150, 60, 60], score: 0.31 },
    ],
    status: 'pending',
  });
  await page.goto(`/datasets/${dsId}/versions/${vId}`);
  await page.getByTestId('match-count').getByText('5 images').waitFor({ timeout: T });
  await page.locator(`.vs-grid [role=gridcell][data-id="${first.id}"]`).dblclick();
  await page.waitForURL(new RegExp(`/annotate/${first.id}$`), { timeout: T });
  await page.getByTestId('annot-pos').getByText(/of 5/).waitFor({ timeout: T });
  // 'f' goes to the next image once the tool knows it (its button is enabled then); pressed
  // earlier it only says "this is the last image"
  await page.waitForSelector('button[title="Next image (F)"]:not([disabled])', { timeout: T });
  await page.keyboard.press('f'); // next image
  await page.waitForURL(new RegExp(`/annotate/${next.id}$`), { timeout: T });
  await page.getByText('1 of 2 shown').waitFor({ timeout: T });
  const slider = page.getByLabel('Score threshold');
  await slider.fill('0.2');
  await page.getByText('2 of 2 shown').waitFor({ timeout: T });
  await screenshot(page, 'annotate-predictions');
  await slider.fill('0.5');
  // accept the good prediction: it becomes an annotation (no score)
  await page.getByTestId('shape-list').locator('li').first().getByRole('button', { name: 'accept' }).click();
  await waitSaved(page, 2);
  const a = await annotation(next.id);
  assert.equal(a.shapes.filter((s) => s.score === undefined || s.score === null).length, 1);
  await page.waitForSelector('button[title="Previous image (D)"]:not([disabled])', { timeout: T });
  await page.keyboard.press('d'); // back to the first
  await page.waitForURL(new RegExp(`/annotate/${first.id}$`), { timeout: T });
});

test('version page: shapes over the thumbnails, filters by label and status, split, statistics', async () => {
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'v1' }).click();
  await page.waitForURL(new RegExp(`/versions/${vId}$`), { timeout: T });
  const cell = page.locator(`.vs-grid [role=gridcell][data-id="${first.id}"]`);
  await cell.locator('svg.vs-overlay').waitFor({ timeout: T });
  assert.equal(await cell.locator('svg.vs-overlay').getAttribute('data-shapes'), '5');
  assert.equal(await cell.locator('svg.vs-overlay rect').count(), 2);
  assert.equal(await cell.locator('svg.vs-overlay path').count() >= 1, true);
  const filters = page.getByRole('group', { name: 'Filters' });
  await filters.getByLabel('Label').selectOption('person');
  await page.getByTestId('match-count').getByText('1 matching').waitFor({ timeout: T });
  await filters.getByLabel('Status').selectOption('none');
  await page.getByTestId('match-count').getByText('0 matching').waitFor({ timeout: T });
  // back from the tool, the grid took the focus when it first showed; shown again by
  // "Clear filters" (a new grid), it must leave the focus in the query box the user went
  // to meanwhile (it took it two frames later, and the typing below went to the grid)
  const box = page.getByRole('combobox', { name: 'Filter with the query language' });
  // the moment the grid is in the page again, the box takes the focus; 300 ms later the
  // focus must still be there
  await box.evaluate((el) => {
    window.__focusKept = null;
    const mo = new MutationObserver(() => {
      if (!document.querySelector('.vs-grid')) return;
      mo.disconnect();
      el.focus();
      setTimeout(() => (window.__focusKept = document.activeElement === el ? 'kept' : `the focus went to ${document.activeElement?.className}`), 300);
    });
    mo.observe(document.body, { childList: true, subtree: true });
  });
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.getByTestId('match-count').getByText('5 images').waitFor({ timeout: T });
  await page.waitForFunction(() => window.__focusKept !== null, null, { timeout: T });
  assert.equal(await page.evaluate(() => window.__focusKept), 'kept');
  // the query language, with suggestions from the version (labels)
  await box.pressSequentially('label = ');
  await page.getByRole('listbox', { name: 'Suggestions' }).getByRole('option', { name: /"person"/ }).waitFor({ timeout: T });
  await box.pressSequentially('car and objects >= 3');
  await box.press('Enter');
  await page.getByTestId('match-count').getByText('1 matching').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.getByTestId('match-count').getByText('5 images').waitFor({ timeout: T });
  await screenshot(page, 'version-grid');

  // split 80/10/10 (seeded): the parts become asset tags and show in the statistics
  await page.getByRole('button', { name: 'Split…' }).click();
  const sd = page.getByRole('dialog', { name: 'Split v1' });
  await sd.getByRole('button', { name: 'Split', exact: true }).click();
  await sd.getByTestId('split-result').getByText('5 images split').waitFor({ timeout: T });
  await screenshot(page, 'split-result');
  await sd.getByRole('button', { name: 'Done' }).click();
  const tags = (await api('GET', `/dataset-versions/${vId}/tags`)).data.items;
  assert.equal(tags.reduce((s, t) => s + t.count, 0), 5);
  await page.getByTestId('stats').getByText(/train \d/).waitFor({ timeout: T });
  await page.getByTestId('label-histogram').getByText('car').waitFor({ timeout: T });
  await filters.getByLabel('Split / tag').selectOption('train');
  await page.waitForURL(/split=train/, { timeout: T });
  await filters.getByLabel('Split / tag').selectOption('');
});

test('export COCO: the job is followed, the file downloaded holds the drawn shapes; import it elsewhere', async () => {
  await page.getByRole('button', { name: 'Export…' }).click();
  const d = page.getByRole('dialog', { name: /^Export street scenes/ });
  await d.getByLabel(/^COCO/).check();
  await d.getByRole('button', { name: 'Start export' }).click();
  await d.getByTestId('export-done').waitFor({ timeout: 20_000 });
  assert.match(await d.getByTestId('export-skipped').textContent(), /1 point shape/);
  await screenshot(page, 'export-done');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: T }), d.getByRole('link', { name: /^Download / }).click()]);
  assert.equal(download.suggestedFilename(), 'street scenes-v1-coco.json');
  const coco = JSON.parse(readFileSync(await download.path(), 'utf8'));
  const img = coco.images.find((i) => i.file_name === 'dog.jpg');
  assert.ok(img, 'dog.jpg is in the export');
  const anns = coco.annotations.filter((x) => x.image_id === img.id);
  const cat = Object.fromEntries(coco.categories.map((c) => [c.id, c.name]));
  const mine = await annotation(first.id);
  const poly = mine.shapes.find((s) => s.kind === 'polygon');
  const withSeg = anns.find((x) => Array.isArray(x.segmentation) && x.segmentation.length && !x.keypoints);
  assert.ok(withSeg, 'the polygon is there');
  assert.deepEqual(withSeg.segmentation[0], poly.rings[0]);
  assert.equal(cat[withSeg.category_id], 'car');
  const boxes = anns.filter((x) => !x.segmentation?.length && !x.keypoints).map((x) => x.bbox);
  for (const b of mine.shapes.filter((s) => s.kind === 'box')) assert.ok(boxes.some((x) => x.every((v, i) => Math.abs(v - b.box[i]) < 1e-6)), `box ${b.box} in ${JSON.stringify(boxes)}`);
  assert.ok(anns.some((x) => x.keypoints?.length === 9 && cat[x.category_id] === 'person'), 'the keypoints are there');
  await d.getByRole('button', { name: 'Close', exact: true }).last().click();

  // import the file into a new version: the job is followed, its report shown
  const nv = (await api('POST', `/datasets/${dsId}/versions`, { name: 'from-coco', task: 'multi' })).data;
  await page.goto(`/datasets/${dsId}/versions/${nv.id}`);
  await page.getByText('This version has no images yet').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Import…' }).click();
  const imp = page.getByRole('dialog', { name: 'Import into from-coco' });
  await imp.getByLabel('Annotation file', { exact: true }).setInputFiles(await download.path());
  await imp.getByRole('button', { name: 'Import', exact: true }).click();
  const report = imp.getByTestId('import-report');
  await report.getByText(`Imported 5 images and ${coco.annotations.length} shapes`, { exact: false }).waitFor({ timeout: 20_000 });
  await screenshot(page, 'import-done');
  await imp.getByRole('button', { name: 'Close', exact: true }).last().click();
  await page.getByTestId('match-count').getByText('5 images').waitFor({ timeout: T });
  const got = (await api('GET', `/dataset-versions/${nv.id}`)).data;
  assert.equal(got.shapes, coco.annotations.length);
  await page.goto(`/datasets/${dsId}/versions/${vId}`);
  await page.getByTestId('match-count').getByText('5 images').waitFor({ timeout: T });
});

test('fork, lock: a locked version is read-only in the tool; the image page lists the versions', async () => {
  await page.getByRole('button', { name: 'Fork…' }).click();
  const fd = page.getByRole('dialog', { name: 'Fork street scenes / v1' });
  assert.equal(await fd.getByLabel('New version name').inputValue(), 'v2');
  await fd.getByRole('button', { name: 'Fork', exact: true }).click();
  // the page is already on a version URL (v1's): wait for the fork's
  await page.waitForURL((u) => { const m = /\/versions\/(\d+)$/.exec(u.pathname); return !!m && Number(m[1]) !== vId; }, { timeout: T });
  const v2 = Number(/versions\/(\d+)$/.exec(page.url())[1]);
  assert.notEqual(v2, vId);
  await page.getByTestId('match-count').getByText('5 images').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Lock', exact: true }).click();
  await page.getByTestId('locked').waitFor({ timeout: T });
  assert.equal((await api('GET', `/dataset-versions/${v2}`)).data.locked, true);
  await page.getByRole('button', { name: 'View', exact: true }).click();
  await page.waitForURL(/\/annotate\//, { timeout: T });
  await page.getByText(/is locked by admin: you can look, not change/).waitFor({ timeout: T });
  assert.ok(await page.getByRole('button', { name: 'Rectangle (R)' }).isDisabled());
  await screenshot(page, 'annotate-locked');
  // the dataset page: both versions, v2 locked
  await page.goto(`/datasets/${dsId}`);
  await page.getByTestId('versions').locator('tr[data-version=v2]').getByText('locked').waitFor({ timeout: T });
  // the datalake image page lists both versions and the status in each
  await page.goto(`/datalake/data/${first.data_id}`);
  const uses = page.getByTestId('dataset-versions');
  await uses.getByRole('link', { name: 'street scenes / v1' }).waitFor({ timeout: T });
  await uses.getByRole('link', { name: 'street scenes / v2' }).waitFor({ timeout: T });
  await screenshot(page, 'image-versions');
});

test('performance: a 4000x3000 image opens fast and pans and zooms smoothly', async () => {
  // a 4000x3000 JPEG made by the browser (gradients and shapes), uploaded through the API
  const b64 = await page.evaluate(async () => {
    const c = new OffscreenCanvas(4000, 3000);
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, 4000, 3000);
    grad.addColorStop(0, '#335');
    grad.addColorStop(1, '#dc8');
    g.fillStyle = grad;
    g.fillRect(0, 0, 4000, 3000);
    for (let i = 0; i < 400; i++) {
      g.fillStyle = `hsl(${(i * 37) % 360} 60% 50%)`;
      g.fillRect((i * 523) % 3900, (i * 331) % 2900, 40 + (i % 90), 30 + (i % 70));
    }
    const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  });
  const up = await api('POST', `/datalakes/${lakeId}/data?filename=big-4000x3000.jpg`, Buffer.from(b64, 'base64'), { 'Content-Type': 'application/octet-stream' });
  assert.equal(up.status, 201, JSON.stringify(up.data));
  await api('POST', `/dataset-versions/${vId}/assets`, { data_ids: [up.data.id] });
  const big = (await api('GET', `/dataset-versions/${vId}/assets?q=${encodeURIComponent(`data_id = ${up.data.id}`)}`)).data.items[0];
  const boxes = Array.from({ length: 60 }, (_, i) => ({ kind: 'box', label: 'car', box: [(i * 397) % 3700, (i * 211) % 2800, 120 + (i % 5) * 20, 90] }));
  await api('PUT', `/assets/${big.id}/annotation`, { shapes: boxes });

  // opening from the grid (in-app navigation): time to the first image on the canvas, then the original
  await page.goto(`/datasets/${dsId}/versions/${vId}?q=${encodeURIComponent('data.width = 4000')}`);
  await page.getByTestId('match-count').getByText('1 matching').waitFor({ timeout: T });
  const grid = page.locator('.vs-grid');
  await grid.locator('img').first().waitFor({ timeout: T });
  await grid.focus();
  await page.evaluate(() => (window.__t0 = performance.now()));
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => performance.getEntriesByName('cvops:annotate:original').length > 0, null, { timeout: 20_000 });
  const inApp = await page.evaluate(() => ({
    image: performance.getEntriesByName('cvops:annotate:image')[0].startTime - window.__t0,
    original: performance.getEntriesByName('cvops:annotate:original')[0].startTime - window.__t0,
  }));
  // a cold start: the URL typed in (the app, the session, the tool's chunk, the asset, the thumbnail)
  await page.reload();
  await page.waitForFunction(() => performance.getEntriesByName('cvops:annotate:original').length > 0, null, { timeout: 20_000 });
  const cold = await page.evaluate(() => ({
    image: performance.getEntriesByName('cvops:annotate:image')[0].startTime,
    original: performance.getEntriesByName('cvops:annotate:original')[0].startTime,
  }));
  // pyramid levels are made in the background: let them finish before measuring frames
  await page.waitForTimeout(400);

  // pan (drag with the select tool on empty space) and zoom (wheel), recording frame intervals
  const f = await fit(page, 4000, 3000);
  const cx = f.box.x + f.box.width / 2, cy = f.box.y + f.box.height / 2;
  const record = () =>
    page.evaluate(() => {
      window.__frames = [];
      let last = performance.now();
      const tick = (t) => {
        window.__frames.push(t - last);
        last = t;
        if (window.__frames.length < 100000 && !window.__stop) requestAnimationFrame(tick);
      };
      window.__stop = false;
      requestAnimationFrame(tick);
    });
  const stop = () =>
    page.evaluate(() => {
      window.__stop = true;
      const xs = window.__frames.slice(2).sort((a, b) => a - b);
      const q = (p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
      return { frames: xs.length, p50: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +xs[xs.length - 1].toFixed(1) };
    });
  await record();
  await page.mouse.move(cx, cy);
  await page.mouse.down({ button: 'middle' });
  for (let i = 0; i < 40; i++) await page.mouse.move(cx + Math.sin(i / 6) * 300, cy + Math.cos(i / 6) * 200);
  await page.mouse.up({ button: 'middle' });
  const pan = await stop();
  const zoomFit = await page.getByTestId('zoom').textContent();
  await record();
  for (let i = 0; i < 15; i++) await page.mouse.wheel(0, -120);
  await page.getByTestId('zoom').filter({ hasNotText: zoomFit }).waitFor({ timeout: T });
  for (let i = 0; i < 15; i++) await page.mouse.wheel(0, 120);
  const zoom = await stop();
  // zoomed in (1:1), panning the original's pixels
  await page.keyboard.press('z');
  await record();
  await page.mouse.move(cx, cy);
  await page.mouse.down({ button: 'middle' });
  for (let i = 0; i < 30; i++) await page.mouse.move(cx + Math.sin(i / 5) * 300, cy + Math.cos(i / 5) * 200);
  await page.mouse.up({ button: 'middle' });
  const pan11 = await stop();
  await screenshot(page, 'annotate-4000x3000');
  Object.assign(timings, { openInApp: inApp, openCold: cold, pan, zoom, pan11 });
  console.log(`4000x3000: first image ${inApp.image.toFixed(0)} ms after Enter in the grid, original ${inApp.original.toFixed(0)} ms; cold load: ${cold.image.toFixed(0)} / ${cold.original.toFixed(0)} ms; frames panning p50 ${pan.p50} p95 ${pan.p95} max ${pan.max} ms, zooming p50 ${zoom.p50} p95 ${zoom.p95}, panning at 1:1 p50 ${pan11.p50} p95 ${pan11.p95}`);
  // behaviour only (timings are reported above and in docs/web.md, not asserted: the machine is
  // shared and frame times vary by a factor of two between runs)
  assert.ok(inApp.image <= inApp.original && cold.image <= cold.original, 'the thumbnail is painted no later than the original');
  assert.equal(await page.locator('.annot-canvas').getAttribute('data-painted'), 'original');
  assert.ok(pan.frames > 0 && zoom.frames > 0 && pan11.frames > 0, JSON.stringify({ pan, zoom, pan11 }));
  assert.equal(await page.getByTestId('zoom').textContent(), '100%');
});

test('annotation tool: label search creates a label; polyline; resize by a corner; arrow keys; add, drag and delete vertices; image tags; undo', async () => {
  // a version of its own (one image, two labels), so the figures the tests above check stay put
  const ev = (await api('POST', `/datasets/${dsId}/versions`, { name: 'editing', task: 'multi' })).data;
  for (const name of ['car', 'tree']) assert.equal((await api('POST', `/dataset-versions/${ev.id}/labels`, { name })).status, 201);
  await api('POST', `/dataset-versions/${ev.id}/assets`, { data_ids: [first.data_id] });
  const asset = (await api('GET', `/dataset-versions/${ev.id}/assets`)).data.items[0];
  await page.goto(`/datasets/${dsId}/versions/${ev.id}/annotate/${asset.id}`);
  await page.waitForFunction(() => document.querySelector('.annot-canvas')?.getAttribute('data-painted') === 'original', null, { timeout: T });
  await page.getByTestId('labels').getByRole('button', { name: /tree/ }).waitFor({ timeout: T });
  const f = await fit(page, asset.width, asset.height);
  const tol = 1.5 / f.scale + 0.5;
  const near = (got, want, what) => want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= tol, `${what}: ${got} vs ${want}`));
  const shapes = async () => (await annotation(asset.id)).shapes;
  const labelButton = (name) => page.getByTestId('labels').getByRole('button', { name: new RegExp(`^${name}`) });
  let rev = 0;
  const saved = async () => waitSaved(page, ++rev);

  // "/" focuses the label search; a name no label has + Enter creates it (and picks it)
  await page.getByTestId('annot-canvas').focus();
  await page.keyboard.press('/');
  await page.keyboard.type('bicycle');
  await page.keyboard.press('Enter');
  await labelButton('bicycle').and(page.locator('[aria-pressed=true]')).waitFor({ timeout: T });
  assert.deepEqual((await api('GET', `/dataset-versions/${ev.id}/labels`)).data.items.map((l) => l.name), ['car', 'tree', 'bicycle']);
  // a part of a name + Enter picks the first match
  await page.keyboard.press('/');
  await page.keyboard.type('re');
  await page.keyboard.press('Enter');
  await labelButton('tree').and(page.locator('[aria-pressed=true]')).waitFor({ timeout: T });
  await page.keyboard.press('3'); // number keys pick labels: bicycle

  // a polyline: L, three clicks, Enter
  await page.keyboard.press('l');
  const line = [[60, 300], [160, 250], [260, 320]];
  for (const pt of line) await page.mouse.click(...f.at(...pt));
  await page.getByText('Polyline: 3 vertices').waitFor({ timeout: T });
  await page.keyboard.press('Enter');
  await saved();
  let a = await shapes();
  assert.equal(a.length, 1);
  assert.equal(a[0].kind, 'polyline');
  assert.equal(a[0].label, 'bicycle');
  near(a[0].points, line.flat(), 'polyline');

  // a triangle (car), closed with Enter; then a box. The new polyline is selected, and a number
  // key would relabel it: Esc first
  await page.keyboard.press('Escape');
  await page.keyboard.press('1');
  await page.keyboard.press('p');
  const tri = [[400, 100], [600, 100], [500, 260]];
  for (const pt of tri) await page.mouse.click(...f.at(...pt));
  await page.keyboard.press('Enter');
  await saved();
  await page.keyboard.press('r');
  await page.mouse.move(...f.at(100, 100));
  await page.mouse.down();
  await page.mouse.move(...f.at(200, 180), { steps: 6 });
  await page.mouse.up();
  await saved();
  a = await shapes();
  assert.deepEqual(a.map((s) => s.kind), ['polyline', 'polygon', 'box']);
  near(a[2].box, [100, 100, 100, 80], 'box');

  // the new box is selected: drag its bottom-right handle to resize it
  await page.keyboard.press('v');
  await page.mouse.move(...f.at(200, 180));
  await page.mouse.down();
  await page.mouse.move(...f.at(260, 220), { steps: 6 });
  await page.mouse.up();
  await saved();
  near((await shapes())[2].box, [100, 100, 160, 120], 'resized box');
  // arrow keys move the selection: 1 px, Shift 10 px
  await page.keyboard.press('ArrowRight');
  await saved();
  await page.keyboard.press('Shift+ArrowDown');
  await saved();
  near((await shapes())[2].box, [101, 110, 160, 120], 'nudged box');
  assert.equal(await page.getByTestId('shape-list').locator('li[data-kind=box]').getByText('160×120').count(), 1);

  // the triangle: select it, double-click the middle of an edge to add a vertex
  await page.mouse.click(...f.at(500, 150));
  await page.getByTestId('shape-list').locator('li[data-kind=polygon]').getByRole('button', { pressed: true }).waitFor({ timeout: T });
  await page.mouse.dblclick(...f.at(500, 100));
  await saved();
  let ring = (await shapes())[1].rings[0];
  assert.equal(ring.length, 8, `a vertex added: ${ring}`);
  near(ring, [400, 100, 500, 100, 600, 100, 500, 260], 'polygon with the added vertex');
  // drag the new vertex up, then Alt+click the apex to delete it
  await page.mouse.move(...f.at(500, 100));
  await page.mouse.down();
  await page.mouse.move(...f.at(500, 60), { steps: 5 });
  await page.mouse.up();
  await saved();
  ring = (await shapes())[1].rings[0];
  near(ring, [400, 100, 500, 60, 600, 100, 500, 260], 'polygon with the vertex dragged');
  await page.keyboard.down('Alt');
  await page.mouse.click(...f.at(500, 260));
  await page.keyboard.up('Alt');
  await saved();
  ring = (await shapes())[1].rings[0];
  near(ring, [400, 100, 500, 60, 600, 100], 'polygon with the apex deleted');
  // a polygon keeps 3 vertices: one more Alt+click says so and changes nothing
  await page.keyboard.down('Alt');
  await page.mouse.click(...f.at(400, 100));
  await page.keyboard.up('Alt');
  await page.getByText('A polygon keeps at least 3 vertices').first().waitFor({ timeout: T });
  assert.equal((await shapes())[1].rings[0].length, 6);

  // classification: Esc clears the selection (so picking a label relabels nothing), 2 picks
  // tree, T tags the whole image; the tag shows pressed in "Image tags", not in the shape list
  await page.keyboard.press('Escape');
  await page.keyboard.press('2');
  await page.keyboard.press('t');
  await saved();
  a = await shapes();
  assert.deepEqual(a.filter((s) => s.kind === 'class').map((s) => s.label), ['tree']);
  assert.deepEqual(a.filter((s) => s.kind !== 'class').map((s) => s.label), ['bicycle', 'car', 'car'], 'no shape was relabelled');
  const tags = page.getByRole('group', { name: 'Whole-image labels (classification)' });
  await tags.getByRole('button', { name: 'tree', pressed: true }).waitFor({ timeout: T });
  assert.equal(await page.getByTestId('shape-list').locator('li').count(), 3);
  await screenshot(page, 'annotate-edited');
  // the chip toggles it too: bicycle on
  await tags.getByRole('button', { name: 'bicycle' }).click();
  await saved();
  assert.deepEqual((await shapes()).filter((s) => s.kind === 'class').map((s) => s.label).sort(), ['bicycle', 'tree']);

  // undo walks back: the bicycle tag, the tree tag, then the deleted apex comes back
  await page.getByTestId('annot-canvas').focus();
  await page.keyboard.press('Control+z');
  await saved();
  await page.keyboard.press('Control+z');
  await saved();
  assert.deepEqual((await shapes()).filter((s) => s.kind === 'class'), []);
  await page.keyboard.press('Control+z');
  await saved();
  assert.equal((await shapes())[1].rings[0].length, 8);

  // reload: what was saved comes back
  await page.reload();
  await page.getByTestId('shape-list').locator('li').nth(2).waitFor({ timeout: T });
  assert.deepEqual(await page.getByTestId('shape-list').locator('li').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind'))), ['polyline', 'polygon', 'box']);
  assert.equal(await page.getByRole('group', { name: 'Whole-image labels (classification)' }).getByRole('button', { pressed: true }).count(), 0);
  await page.getByTestId('save-state').getByText(`revision ${rev}`).waitFor({ timeout: T });
});

/** A new browser context logged in as a new user with `role`. */
async function loginAs(username, role) {
  const password = `${username}-password-1`;
  const u = await api('POST', '/users', { username, password, role });
  assert.equal(u.status, 201, JSON.stringify(u.data));
  const c = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: BASE, reducedMotion: 'reduce' });
  c.setDefaultTimeout(T);
  c.on('request', (r) => requests.push(r.url()));
  const p = await c.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto('/');
  await p.getByLabel('Username').fill(username);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  return { c, p };
}

test('roles: a viewer can look (View, Export, labels listed) but change nothing; a labeler annotates but does not manage', async () => {
  const before = await annotation(first.id);
  const { c, p } = await loginAs('dsviewer', 'viewer');
  await p.goto(`/datasets/${dsId}/versions/${vId}`);
  await p.getByTestId('match-count').getByText(/\d images/).waitFor({ timeout: T });
  await p.getByRole('button', { name: 'View', exact: true }).waitFor({ timeout: T });
  for (const name of ['Annotate', 'Add images…', 'Split…', 'Import…', 'Fork…', 'Lock']) assert.equal(await p.getByRole('button', { name, exact: true }).count(), 0, name);
  assert.equal(await p.getByRole('button', { name: 'Export…', exact: true }).count(), 1, 'reading includes exporting');
  // the labels are listed, with no form and no delete, and the dialog says why
  await p.getByRole('button', { name: 'Labels…' }).click();
  const d = p.getByRole('dialog', { name: 'Labels of v1' });
  await d.getByTestId('labels-table').getByRole('cell', { name: 'car', exact: true }).waitFor({ timeout: T });
  assert.match(await d.getByTestId('labels-readonly').textContent(), /Your role \(viewer\) can see the labels but not change them/);
  assert.equal(await d.getByRole('form', { name: 'New label' }).count(), 0);
  assert.equal(await d.getByRole('button', { name: 'Delete' }).count(), 0);
  assert.ok(await d.getByLabel('Colour of car').isDisabled());
  await screenshot(p, 'viewer-labels');
  await p.keyboard.press('Escape');
  // the tool opens read-only, says why, and keys change nothing
  await p.goto(`/datasets/${dsId}/versions/${vId}/annotate/${first.id}`);
  await p.getByText('Your role (viewer) can look at annotations but not change them.').waitFor({ timeout: T });
  await p.getByTestId('shape-list').locator('li').first().waitFor({ timeout: T });
  assert.ok(await p.getByRole('button', { name: 'Rectangle (R)' }).isDisabled());
  assert.ok(await p.getByRole('button', { name: 'accepted', exact: true }).isDisabled());
  assert.equal(await p.getByTestId('shape-list').getByRole('button', { name: /^Delete / }).count(), 0);
  await p.getByTestId('annot-canvas').focus();
  await p.keyboard.press('Control+a');
  await p.keyboard.press('Delete');
  await p.keyboard.press('Shift+R');
  await p.getByText('Read only', { exact: true }).waitFor({ timeout: T });
  await p.waitForTimeout(1200); // longer than the autosave delay
  const after = await annotation(first.id);
  assert.equal(after.revision, before.revision, 'nothing was saved');
  assert.equal(after.shapes.length, before.shapes.length);
  await screenshot(p, 'viewer-annotate');
  await c.close();

  // a labeler: Annotate (not View), no Split, Import, Fork or Lock; no label form
  const l = await loginAs('dslabeler', 'labeler');
  await l.p.goto(`/datasets/${dsId}/versions/${vId}`);
  await l.p.getByRole('button', { name: 'Annotate', exact: true }).waitFor({ timeout: T });
  for (const name of ['Add images…', 'Split…', 'Import…', 'Fork…', 'Lock']) assert.equal(await l.p.getByRole('button', { name, exact: true }).count(), 0, name);
  await l.p.getByRole('button', { name: 'Labels…' }).click();
  await l.p.getByRole('dialog', { name: 'Labels of v1' }).getByTestId('labels-readonly').getByText(/Your role \(labeler\)/).waitFor({ timeout: T });
  await l.c.close();
});

/** Polls fn until it returns true (the API catching up with the page), then returns. */
async function until(fn, what) {
  const end = Date.now() + T;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('annotation tool: a change made just before leaving the image is saved (next image, breadcrumb); copy on one image, paste on the next', async () => {
  const next = (await api('GET', `/dataset-versions/${vId}/assets?q=${encodeURIComponent(`id > ${first.id}`)}&limit=1`)).data.items[0];
  const n0 = (await annotation(first.id)).shapes.length;
  const m0 = (await annotation(next.id)).shapes?.length ?? 0;
  await page.goto(`/datasets/${dsId}/versions/${vId}/annotate/${first.id}`);
  await page.waitForFunction(() => document.querySelector('.annot-canvas')?.getAttribute('data-painted') === 'original', null, { timeout: T });
  await page.getByRole('button', { name: 'Next →' }).and(page.locator(':enabled')).waitFor({ timeout: T });
  const drawBox = async (w, h) => {
    const f = await fit(page, w, h);
    await page.keyboard.press('Escape');
    await page.keyboard.press('1');
    await page.keyboard.press('r');
    await page.mouse.move(...f.at(20, 20));
    await page.mouse.down();
    await page.mouse.move(...f.at(60, 50), { steps: 3 });
    await page.mouse.up();
  };
  // draw (the new box is selected: copy it), and at once (well within the autosave delay) go to
  // the next image
  await drawBox(first.width, first.height);
  await page.keyboard.press('Control+c');
  await page.waitForSelector('button[title="Next image (F)"]:not([disabled])', { timeout: T });
  await page.keyboard.press('f');
  await page.waitForURL(new RegExp(`/annotate/${next.id}$`), { timeout: T });
  await until(async () => (await annotation(first.id)).shapes.length === n0 + 1, 'the box drawn before "next" to be saved');
  const drawn = (await annotation(first.id)).shapes.at(-1).box;
  // on another image, Ctrl+V pastes in place
  await page.waitForFunction(() => document.querySelector('.annot-canvas')?.getAttribute('data-painted') === 'original', null, { timeout: T });
  await page.getByTestId('save-state').waitFor({ timeout: T });
  await page.keyboard.press('Control+v');
  await until(async () => ((await annotation(next.id)).shapes?.length ?? 0) === m0 + 1, 'the pasted box to be saved');
  assert.deepEqual((await annotation(next.id)).shapes.at(-1).box, drawn, 'pasted in place');
  // draw, and at once leave by the breadcrumb
  await drawBox(next.width, next.height);
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'v1' }).click();
  await page.waitForURL(new RegExp(`/versions/${vId}$`), { timeout: T });
  await until(async () => ((await annotation(next.id)).shapes?.length ?? 0) === m0 + 2, 'the box drawn before leaving to be saved');
  assert.equal(await page.locator('.toast').getByText(/were not saved/).count(), 0);
});

test('annotation tool view: fit, 1:1, + and −, a key for every tool (and in the help), pinch with two fingers, Space+drag pans (a point lands where clicked)', async () => {
  const vv = (await api('POST', `/datasets/${dsId}/versions`, { name: 'view', task: 'detection' })).data;
  await api('POST', `/dataset-versions/${vv.id}/labels`, { name: 'car' });
  await api('POST', `/dataset-versions/${vv.id}/assets`, { data_ids: [first.data_id] });
  const asset = (await api('GET', `/dataset-versions/${vv.id}/assets`)).data.items[0];
  await page.goto(`/datasets/${dsId}/versions/${vv.id}/annotate/${asset.id}`);
  await page.waitForFunction(() => document.querySelector('.annot-canvas')?.getAttribute('data-painted') === 'original', null, { timeout: T });
  const f = await fit(page, asset.width, asset.height);
  const zoom = page.getByTestId('zoom');
  const fitText = `${Math.round(f.scale * 100)}%`;
  await zoom.getByText(fitText, { exact: true }).waitFor({ timeout: T });
  await page.getByTestId('annot-canvas').focus();
  for (const [key, want] of [['z', '100%'], ['+', '125%'], ['-', '100%'], ['0', fitText]]) {
    await page.keyboard.press(key);
    await zoom.getByText(want, { exact: true }).waitFor({ timeout: T });
  }
  // every tool has its key, shown on its button and in the help overlay
  await page.keyboard.press('?');
  const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await help.waitFor({ timeout: T });
  const keysInHelp = await help.locator('th kbd').allTextContents();
  await page.keyboard.press('Escape');
  await help.waitFor({ state: 'hidden', timeout: T });
  for (const [name, key] of [['Rectangle', 'R'], ['Polygon', 'P'], ['Polyline', 'L'], ['Point', 'O'], ['Keypoints', 'K'], ['Select', 'V']]) {
    await page.keyboard.press(key.toLowerCase());
    await page.getByRole('toolbar', { name: 'Tools' }).getByRole('button', { name: `${name} (${key})`, pressed: true }).waitFor({ timeout: T });
    assert.ok(keysInHelp.includes(key), `${key} in the help overlay (${keysInHelp})`);
  }
  for (const key of ['T', 'F', 'D', 'H', 'Z', '0']) assert.ok(keysInHelp.includes(key), `${key} in the help overlay`);

  // pinch: two touch points moving apart from 80 to 240 px zoom in about threefold
  const cx = f.box.x + f.box.width / 2, cy = f.box.y + f.box.height / 2;
  const cdp = await ctx.newCDPSession(page);
  const touch = (type, d) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: d === null ? [] : [{ x: cx - d, y: cy, id: 1 }, { x: cx + d, y: cy, id: 2 }] });
  await touch('touchStart', 40);
  for (let d = 50; d <= 120; d += 10) await touch('touchMove', d);
  await touch('touchEnd', null);
  await cdp.detach();
  const pinched = parseInt(await zoom.textContent(), 10);
  assert.ok(pinched > 2.5 * f.scale * 100 && pinched < 3.5 * f.scale * 100, `pinched to ${pinched}% from ${fitText}`);
  await page.keyboard.press('0');
  await zoom.getByText(fitText, { exact: true }).waitFor({ timeout: T });

  // Space+drag pans by (120, 60) screen pixels: a point clicked at the screen spot of image
  // (300, 200) lands 120/scale, 60/scale image pixels up and left of it
  await page.mouse.move(cx, cy);
  await page.keyboard.down(' ');
  await page.mouse.down();
  await page.mouse.move(cx + 120, cy + 60, { steps: 6 });
  await page.mouse.up();
  await page.keyboard.up(' ');
  await page.keyboard.press('1');
  await page.keyboard.press('o');
  await page.mouse.click(...f.at(300, 200));
  await waitSaved(page, 1);
  const pt = (await annotation(asset.id)).shapes[0].point;
  const tol = 1.5 / f.scale + 0.5;
  assert.ok(Math.abs(pt[0] - (300 - 120 / f.scale)) <= tol && Math.abs(pt[1] - (200 - 60 / f.scale)) <= tol, `point at ${pt}, scale ${f.scale}`);
});

test('datasets pages asked no other host and raised no script error', () => {
  const origin = new URL(BASE).origin;
  const outside = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});
