// End-to-end tests of the Datalake section in a real browser (Debian's
// chromium through npm playwright-core), against the `cvops serve` started
// by tests/web/run. In order, like a person: create a datalake, drop photos
// and a text file on the page, pick a folder, search with the query
// language (autocomplete, an error marked in the box), select by click and
// shift-click, tag and untag, select all matching and tag, open an image
// (dimensions, EXIF, similar images, previous/next), delete with a
// confirmation; then a datalake of a few hundred items checks that the grid
// reads its pages lazily, in keyset order, and renders only visible cells.
// Screenshots go to tests/out/web/datalake-*.png.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { multipart, png } from './images.mjs';
import { BASE, PASSWORD, TOKEN, OUT, CHROMIUM_ARGS } from './common.mjs';

const TMP = process.env.CVOPS_WEB_TMP;
assert.ok(BASE && PASSWORD && TOKEN && OUT && TMP, 'run this through tests/web/run');

const T = 10_000;
const PHOTOS = '/usr/share/darknet/data';
const PHOTO_NAMES = ['dog.jpg', 'eagle.jpg', 'giraffe.jpg', 'horses.jpg', 'person.jpg', 'scream.jpg'];

let browser, ctx, page;
let lakeId;
const requests = [];
const pageErrors = [];
let shot = 0;

async function screenshot(p, name) {
  shot++;
  // toasts of earlier steps would cover the page
  if (!(await p.locator('dialog[open]').count()))
    for (const b of await p.locator('.toast').getByRole('button', { name: 'Dismiss' }).all()) await b.click({ timeout: 1000 }).catch(() => {});
  await p.waitForTimeout(150);
  await p.screenshot({ path: join(OUT, `datalake-${String(shot).padStart(2, '0')}-${name}.png`) });
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

const count = async (q) => (await api('GET', `/datalakes/${lakeId}/data/count?q=${encodeURIComponent(q)}`)).data.count;

/** Drops files on `selector` as a user dragging them from the desktop would. */
async function dropFiles(p, selector, files, extra = {}) {
  const dt = await p.evaluateHandle(
    async ({ files, extra }) => {
      const dt = new DataTransfer();
      for (const f of files) {
        const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
        dt.items.add(new File([bytes], f.name, { type: f.type }));
      }
      if (extra.resizedCopyOf) {
        // a re-encoded, resized copy of a photo, made by the browser: a near-duplicate
        const src = files.find((f) => f.name === extra.resizedCopyOf);
        const bmp = await createImageBitmap(new Blob([Uint8Array.from(atob(src.b64), (c) => c.charCodeAt(0))]));
        const c = new OffscreenCanvas(Math.round(bmp.width / 2), Math.round(bmp.height / 2));
        c.getContext('2d').drawImage(bmp, 0, 0, c.width, c.height);
        const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
        dt.items.add(new File([blob], extra.as, { type: 'image/jpeg' }));
      }
      return dt;
    },
    { files: files.map((f) => ({ name: f.name, type: f.type ?? '', b64: f.bytes.toString('base64') })), extra },
  );
  await p.dispatchEvent(selector, 'dragenter', { dataTransfer: dt });
  await p.dispatchEvent(selector, 'dragover', { dataTransfer: dt });
  await p.dispatchEvent(selector, 'drop', { dataTransfer: dt });
}

before(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: BASE, reducedMotion: 'reduce' });
  ctx.on('request', (r) => requests.push(r.url()));
  ctx.on('page', (p) => p.on('pageerror', (e) => pageErrors.push(e.message)));
  page = await ctx.newPage();
  await page.goto('/');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
});

after(async () => {
  await browser?.close();
});

test('datalake: create the first one from the empty page', async () => {
  await page.goto('/datalake');
  await page.getByText('No datalake yet').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Create a datalake' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create a datalake' });
  await dialog.getByLabel('Name').fill('photos');
  await dialog.getByRole('button', { name: 'Create datalake' }).click();
  await page.getByText('This datalake is empty').waitFor({ timeout: T });
  const lakes = (await api('GET', '/datalakes')).data.items;
  lakeId = lakes.find((l) => l.name === 'photos').id;
  assert.match(page.url(), new RegExp(`lake=${lakeId}`));
});

test('upload: drop photos and a text file; per-file results, the API reason, the grid updates', async () => {
  const photos = PHOTO_NAMES.map((name) => ({ name, type: 'image/jpeg', bytes: readFileSync(join(PHOTOS, name)) }));
  const pngs = [1, 2, 3].map((i) => ({ name: `generated-${i}.png`, type: 'image/png', bytes: png(48 + i * 8, 40, i) }));
  const text = { name: 'notes.txt', type: 'text/plain', bytes: Buffer.from('these are not pixels\n') };
  const reason = (await api('POST', `/datalakes/${lakeId}/data?filename=notes.txt`, text.bytes, { 'Content-Type': 'application/octet-stream' })).data.error.message;
  assert.match(reason, /not an image/);

  // tags for the upload are set in the dialog first
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  let dialog = page.getByRole('dialog', { name: /Upload to/ });
  await dialog.getByLabel('Tag the next uploads with').fill('e2e, batch1');
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });

  await dropFiles(page, '.datalake', [...photos, ...pngs, text], { resizedCopyOf: 'dog.jpg', as: 'dog-small.jpg' });
  dialog = page.getByRole('dialog', { name: /Upload to/ });
  await dialog.waitFor({ timeout: T });
  await dialog.getByTestId('upload-summary').getByText(/^11 of 11 files/).waitFor({ timeout: 20_000 });
  const rejected = dialog.locator('.upload-row[data-state=rejected]');
  assert.equal(await rejected.count(), 1);
  assert.match(await rejected.locator('.upload-path').textContent(), /notes\.txt/);
  assert.equal((await rejected.locator('.upload-msg').textContent()).trim(), reason, 'the API reason, word for word');
  assert.equal(await dialog.locator('.upload-row[data-state=created]').count(), 10);
  assert.match(await dialog.locator('.upload-counts').textContent(), /10 uploaded.*0 already there.*1 rejected/);
  await screenshot(page, 'upload-dialog');
  assert.equal(await count('tag = e2e and tag = batch1'), 10, 'the tags of the dialog went with the files');

  // the same photo again: "already there"
  await dropFiles(page, '[data-testid=upload-drop]', [photos[0]]);
  await dialog.getByTestId('upload-summary').getByText(/^12 of 12 files/).waitFor({ timeout: T });
  assert.equal(await dialog.locator('.upload-row[data-state=duplicate]').count(), 1);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });

  await page.getByTestId('match-count').getByText('10 images').waitFor({ timeout: T });
  await page.locator('.dl-grid').getByRole('gridcell', { name: /^dog-small\.jpg/ }).waitFor({ timeout: T });
  await page.waitForFunction(() => [...document.querySelectorAll('.dl-grid img')].length >= 10 && [...document.querySelectorAll('.dl-grid img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: T });
  await screenshot(page, 'grid');
});

test('upload: a folder from the picker (dot files skipped, as the CLI does)', async () => {
  const dir = join(TMP, 'folder-upload');
  mkdirSync(join(dir, 'day2'), { recursive: true });
  writeFileSync(join(dir, 'a.png'), png(30, 30, 41));
  writeFileSync(join(dir, 'day2', 'b.png'), png(30, 30, 42));
  writeFileSync(join(dir, '.DS_Store'), 'junk');
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: /Upload to/ });
  await dialog.getByRole('button', { name: 'Clear list' }).click();
  await dialog.getByLabel('Tag the next uploads with').fill('');
  await dialog.getByTestId('pick-folder').setInputFiles(dir);
  await dialog.getByTestId('upload-summary').getByText(/^2 of 2 files/).waitFor({ timeout: T });
  const paths = await dialog.locator('.upload-row .upload-path').allTextContents();
  assert.deepEqual(paths.sort(), ['folder-upload/a.png', 'folder-upload/day2/b.png']);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await page.getByTestId('match-count').getByText('12 images').waitFor({ timeout: T });
});

test('search: autocomplete from the API, results narrow, a typo shows the API error at its column', async () => {
  const box = page.getByRole('combobox', { name: 'Search with the query language' });
  await page.locator('.dl-grid').focus();
  await page.keyboard.press('/'); // `/` goes to the search box
  await page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'combobox', null, { timeout: T });
  await page.keyboard.type('wi');
  const list = page.getByRole('listbox', { name: 'Suggestions' });
  await list.getByRole('option', { name: /^width/ }).waitFor({ timeout: T });
  await screenshot(page, 'search-autocomplete');
  await page.keyboard.press('Tab'); // takes the suggestion
  assert.equal(await box.inputValue(), 'width ');
  await list.getByRole('option', { name: /^>=/ }).waitFor({ timeout: T }); // then the operators
  await page.keyboard.type('>= 700');
  await page.keyboard.press('Enter');
  await page.waitForURL(/q=width/, { timeout: T });
  const n = await count('width >= 700');
  assert.ok(n > 0 && n < 12);
  await page.getByTestId('match-count').getByText(`${n} matching`).waitFor({ timeout: T });
  await page.waitForFunction((n) => document.querySelectorAll('.dl-grid [role=gridcell]').length === n, n, { timeout: T });

  // values of a field: tags after `tag = "`
  await box.fill('');
  await box.pressSequentially('tag = "');
  await list.getByRole('option', { name: /^"batch1"/ }).waitFor({ timeout: T });
  await list.getByRole('option', { name: /^"e2e"/ }).waitFor({ timeout: T });
  await page.keyboard.press('Escape');

  // a typo: the API's message under the box, the column marked, the results unchanged
  const expected = (await api('GET', `/datalakes/${lakeId}/data/count?q=${encodeURIComponent('widht > 3')}`)).data.error.message;
  assert.match(expected, /column 1/);
  await box.fill('widht > 3');
  await page.keyboard.press('Enter');
  const err = page.getByTestId('query-error');
  await err.waitFor({ timeout: T });
  assert.equal((await err.textContent()).trim(), expected);
  assert.equal(await box.getAttribute('aria-invalid'), 'true');
  assert.equal((await page.getByTestId('query-mark').textContent()).trim(), 'widht');
  await page.getByTestId('match-count').getByText(`${n} matching`).waitFor({ timeout: T });
  await screenshot(page, 'search-error');
  // a later column: the mark moves there
  const e2 = (await api('GET', `/datalakes/${lakeId}/data/count?q=${encodeURIComponent('width > 1 height < 2')}`)).data.error.message;
  await box.fill('width > 1 height < 2');
  await page.keyboard.press('Enter');
  await err.getByText(e2).waitFor({ timeout: T });
  assert.equal((await page.getByTestId('query-mark').textContent()).trim(), 'height');

  await page.getByRole('button', { name: 'Clear', exact: true }).click();
  await page.getByTestId('match-count').getByText('12 images').waitFor({ timeout: T });
});

test('select: click and shift-click, tag, see the tags on the image, untag', async () => {
  const cells = page.locator('.dl-grid [role=gridcell]');
  await cells.nth(0).click();
  await cells.nth(2).click({ modifiers: ['Shift'] });
  await page.getByTestId('selection-count').getByText('3 selected').waitFor({ timeout: T });
  const names = (await Promise.all([0, 1, 2].map((i) => cells.nth(i).getAttribute('aria-label')))).map((s) => s.split(',')[0]);
  assert.equal(await page.locator('.dl-grid [aria-selected=true]').count(), 3);

  await page.getByRole('button', { name: 'Tag…', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Tag images' });
  await dialog.getByLabel('Tags to add').fill('night, reviewed');
  await dialog.getByRole('button', { name: 'Add tags' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await page.getByText(/Tagged 3 selected items with “night”, “reviewed”/).waitFor({ timeout: T });
  assert.equal(await count('tag = night'), 3);
  await cells.nth(0).locator('.chip', { hasText: 'night' }).waitFor({ timeout: T });

  // open one (Enter on the active cell) and see its tags; Esc comes back to it
  await page.locator('.dl-grid').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/datalake\/data\/\d+/, { timeout: T });
  await page.getByTestId('item-tags').getByText('night').waitFor({ timeout: T });
  assert.ok(names.includes(await page.locator('main h1').textContent()));
  await page.keyboard.press('Escape');
  await page.waitForURL(/\/datalake\?/, { timeout: T });
  await page.getByTestId('selection-count').getByText('3 selected').waitFor({ timeout: T }); // the selection is kept
  await page.waitForFunction(() => document.activeElement?.classList.contains('dl-grid'), null, { timeout: T }); // and the focus

  await page.getByRole('button', { name: 'Untag…' }).click();
  const un = page.getByRole('dialog', { name: 'Remove tags' });
  await un.getByRole('button', { name: /^night/ }).click(); // offered: the selection's tags
  assert.equal(await un.getByLabel('Tags to remove').inputValue(), 'night');
  await un.getByRole('button', { name: 'Remove tags' }).click();
  await un.waitFor({ state: 'hidden', timeout: T });
  await page.getByText(/Removed “night” from 3 selected items/).waitFor({ timeout: T });
  assert.equal(await count('tag = night'), 0);
  assert.equal(await count('tag = reviewed'), 3);
  await page.waitForFunction(() => ![...document.querySelectorAll('.dl-grid .chip')].some((c) => c.textContent === 'night'), null, { timeout: T });
});

test('select all matching a query, tag them in one request; delete with a confirmation', async () => {
  const box = page.getByRole('combobox', { name: 'Search with the query language' });
  await box.fill('format = png');
  await page.keyboard.press('Enter');
  const n = await count('format = png');
  assert.equal(n, 5);
  await page.getByTestId('match-count').getByText(`${n} matching`).waitFor({ timeout: T });
  // back from an image (above), the grid took the focus when it first showed; the grid of
  // the new query leaves it in the box (it took it two frames after it showed)
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'combobox');
  const bodies = [];
  const onReq = (r) => r.method() === 'POST' && r.url().endsWith(`/datalakes/${lakeId}/tags`) && bodies.push(r.postDataJSON());
  page.on('request', onReq);
  await page.getByRole('button', { name: `Select all ${n} matching` }).click();
  await page.getByTestId('selection-count').getByText(`All ${n} selected`).waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Tag…', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Tag images' });
  await dialog.getByLabel('Tags to add').fill('generated');
  await dialog.getByRole('button', { name: 'Add tags' }).click();
  await page.getByText(/Tagged all 5 items matching “format = png”/).waitFor({ timeout: T });
  page.off('request', onReq);
  assert.deepEqual(bodies, [{ q: 'format = png', add: ['generated'], remove: [] }], 'the query is sent, not ids');
  assert.equal(await count('tag = generated'), 5);

  // delete one of them, after a confirmation (Cancel first: nothing happens)
  const cells = page.locator('.dl-grid [role=gridcell]');
  await cells.first().click();
  const victim = (await cells.first().getAttribute('aria-label')).split(',')[0];
  await page.getByTestId('selection-count').getByText('1 selected').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Delete…' }).click();
  let confirm = page.getByRole('dialog', { name: 'Delete 1 item?' });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await count('format = png'), 5);
  await page.getByRole('button', { name: 'Delete…' }).click();
  confirm = page.getByRole('dialog', { name: 'Delete 1 item?' });
  await screenshot(page, 'delete-confirm');
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await page.getByText('Deleted 1 item.').waitFor({ timeout: T });
  await page.getByTestId('match-count').getByText('4 matching').waitFor({ timeout: T });
  assert.equal(await count(`filename = "${victim}"`), 0);
  await page.getByRole('button', { name: 'Clear', exact: true }).click();
  await page.getByTestId('match-count').getByText('11 images').waitFor({ timeout: T });

  // "Create dataset version" takes the selection or the query (tests/web/datasets.test.mjs uses it)
  const dsv = page.getByRole('button', { name: 'Create dataset version…' });
  assert.ok(await dsv.isEnabled());
  assert.match(await dsv.getAttribute('title'), /dataset version/);
});

test('table view: sortable columns, the same selection model', async () => {
  await page.getByRole('button', { name: 'Table', exact: true }).click();
  await page.waitForURL(/view=table/, { timeout: T });
  const rows = page.locator('.dl-rows [role=gridcell]');
  await rows.first().waitFor({ timeout: T });
  assert.equal(await rows.count(), 11);
  await page.getByRole('button', { name: 'Size' }).click(); // largest first
  await page.waitForURL(/order=-size/, { timeout: T });
  const biggest = (await api('GET', `/datalakes/${lakeId}/data?order_by=-size&limit=1`)).data.items[0].filename;
  await page.waitForFunction((b) => document.querySelector('.dl-rows [role=gridcell]')?.getAttribute('aria-label')?.startsWith(b + ','), biggest, { timeout: T });
  await screenshot(page, 'table');
  await page.getByRole('button', { name: 'Grid', exact: true }).click();
  await page.getByLabel('Order').selectOption('-created');
  await page.waitForFunction(() => !location.search.includes('order') && !location.search.includes('view'), null, { timeout: T });
});

test('image page: dimensions, EXIF, similar images, previous and next', async () => {
  const dog = (await api('GET', `/datalakes/${lakeId}/data?q=${encodeURIComponent('filename = "dog.jpg"')}`)).data.items[0];
  await page.locator('.dl-grid').getByRole('gridcell', { name: /^dog\.jpg/ }).dblclick();
  await page.waitForURL(BASE + `/datalake/data/${dog.id}`, { timeout: T });
  await page.getByRole('heading', { level: 1, name: 'dog.jpg' }).waitFor({ timeout: T });
  assert.equal((await page.getByTestId('dimensions').textContent()).trim(), '768 × 576 px');
  assert.equal((await page.getByTestId('camera').textContent()).trim(), 'Canon PowerShot S95');
  const exif = page.getByTestId('exif');
  await exif.getByText('fnumber').waitFor({ timeout: T });
  assert.match(await exif.textContent(), /makeCanon/);
  // the browser-made half-size copy is a near-duplicate
  const similar = page.getByTestId('similar');
  await similar.getByRole('link', { name: /^dog-small\.jpg, distance \d+$/ }).waitFor({ timeout: T });
  await page.getByText('No dataset version uses this image.', { exact: false }).waitFor({ timeout: T });
  await page.waitForFunction(() => document.querySelector('.viewer-img')?.complete && document.querySelector('.viewer-img').naturalWidth === 768, null, { timeout: T });
  await screenshot(page, 'image-detail');

  // arrow keys step through the search it was opened from (dog.jpg may be first or last: uploads run 4 at a time)
  const pos = await page.locator('.item-pos').textContent();
  const [there, back] = (await page.getByRole('button', { name: 'Next →' }).isEnabled()) ? ['ArrowRight', 'ArrowLeft'] : ['ArrowLeft', 'ArrowRight'];
  await page.keyboard.press(there);
  await page.waitForFunction((d) => !['dog.jpg', 'Loading…'].includes(document.querySelector('main h1')?.textContent), null, { timeout: T });
  assert.notEqual(await page.locator('.item-pos').textContent(), pos);
  await page.keyboard.press(back);
  await page.getByRole('heading', { level: 1, name: 'dog.jpg' }).waitFor({ timeout: T });
  assert.equal(await page.locator('.item-pos').textContent(), pos);

  // metadata: edit as JSON, then find it with the query language
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await page.getByLabel('Metadata (JSON)').fill('{"weather": "rain", "altitude": 120}');
  await page.getByRole('button', { name: 'Save metadata' }).click();
  await page.locator('.card', { hasText: 'Metadata' }).getByText('rain').waitFor({ timeout: T });
  assert.equal(await count('meta.weather = "rain" and meta.altitude > 100'), 1);
});

test('paging: a few hundred items are read page by page, in keyset order, rendering only visible cells', async () => {
  const r = await api('POST', '/datalakes', { name: 'many' });
  assert.equal(r.status, 201);
  const many = r.data.id;
  const N = 240;
  const files = Array.from({ length: N }, (_, i) => ({ name: `item-${String(i).padStart(4, '0')}.png`, bytes: png(16, 16, 1000 + i) }));
  // four batches at once: the server ingests them on parallel connections
  const t0 = Date.now();
  const batches = await Promise.all(
    [0, 1, 2, 3].map((k) => {
      const mp = multipart(files.filter((_, i) => i % 4 === k));
      return api('POST', `/datalakes/${many}/data/batch`, mp.body, { 'Content-Type': mp.contentType });
    }),
  );
  assert.deepEqual(batches.map((b) => b.status), [200, 200, 200, 200]);
  assert.equal(batches.reduce((a, b) => a + b.data.created, 0), N);
  const tUpload = Date.now() - t0;

  const order = (await api('GET', `/datalakes/${many}/data?limit=1000`)).data.items.map((x) => x.filename);
  const cell = (name) => page.locator('.dl-grid').getByRole('gridcell', { name: new RegExp(`^${name.replace('.', '\\.')},`) });
  const pages = []; // [{cursor, limit, next}]
  const onResp = async (res) => {
    const u = new URL(res.url());
    if (u.pathname !== `/api/v1/datalakes/${many}/data`) return;
    const body = await res.json();
    pages.push({ cursor: u.searchParams.get('cursor'), limit: Number(u.searchParams.get('limit')), n: body.items.length, next: body.next_cursor, first: body.items[0]?.filename });
  };
  page.on('response', onResp);
  await page.goto(`/datalake?lake=${many}`);
  await page.getByTestId('match-count').getByText(`${N} images`).waitFor({ timeout: T });
  await cell(order[0]).waitFor({ timeout: T }); // newest first
  await page.waitForTimeout(200);
  assert.equal(pages.length, 2, 'the first screen reads page 0 and one page ahead');

  // scroll to the end a screen at a time, counting cells on the way
  const maxCells = await page.evaluate(async () => {
    const el = document.querySelector('.dl-grid');
    let max = 0;
    while (el.scrollTop + el.clientHeight < el.scrollHeight - 2) {
      el.scrollTop += el.clientHeight * 0.8;
      await new Promise((r) => setTimeout(r, 60));
      max = Math.max(max, document.querySelectorAll('.dl-grid [role=gridcell]').length);
    }
    return max;
  });
  await cell(order[N - 1]).waitFor({ timeout: T }); // the oldest, last
  await page.waitForFunction(() => ![...document.querySelectorAll('.dl-grid [role=gridcell]')].some((c) => c.getAttribute('aria-label') === 'Loading'), null, { timeout: T });
  page.off('response', onResp);
  // flinging skips thumbnails; once it settles every cell in view has its image
  await page.waitForFunction(() => [...document.querySelectorAll('.dl-grid [role=gridcell][data-id]')].every((c) => c.querySelector('img')), null, { timeout: T });
  console.log(`datalake paging: ${N} items uploaded in 4 parallel batches in ${tUpload} ms, ${pages.length} page requests (${pages.map((p) => p.n).join(', ')} items), at most ${maxCells} cells in the DOM`);
  assert.ok(maxCells < 80, `only visible cells are rendered (${maxCells})`);
  assert.equal(pages[0].cursor, null, 'the first page starts at the beginning');
  for (let i = 1; i < pages.length; i++) assert.equal(pages[i].cursor, pages[i - 1].next, `page ${i} starts where page ${i - 1} ended`);
  assert.equal(pages.reduce((a, p) => a + p.n, 0), N, 'every item read exactly once');
  assert.equal(pages.at(-1).next, null);
  // the cells show the API's order
  const shown = await page.evaluate(() => [...document.querySelectorAll('.dl-grid [role=gridcell]')].map((c) => [Number(c.dataset.index), c.getAttribute('aria-label').split(',')[0]]));
  for (const [i, name] of shown) assert.equal(name, order[i], `cell ${i}`);

  // Home jumps back: pages still cached, no request
  const before = pages.length;
  await page.locator('.dl-grid').focus();
  await page.keyboard.press('Home');
  await cell(order[0]).waitFor({ timeout: T });
  assert.equal(pages.length, before);
});

test('upload: progress while sending, 4 at a time, and Cancel stops the rest', async () => {
  const many = (await api('GET', '/datalakes')).data.items.find((l) => l.name === 'many');
  await page.goto(`/datalake?lake=${many.id}`);
  await page.getByTestId('match-count').getByText(`${many.count} images`).waitFor({ timeout: T });
  // a slow link (200 KB/s up) so that uploads are caught in flight
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 200 * 1024 });
  const files = Array.from({ length: 8 }, (_, i) => ({ name: `big-${i}.png`, type: 'image/png', bytes: png(256, 256, 7000 + i, true) }));
  await dropFiles(page, '.datalake', files);
  const dialog = page.getByRole('dialog', { name: /Upload to/ });
  await page.waitForFunction(() => {
    const v = Number(document.querySelector('[role=dialog] [role=progressbar], dialog [role=progressbar]')?.getAttribute('aria-valuenow'));
    return v > 0 && v < 100;
  }, null, { timeout: T });
  assert.equal(await dialog.locator('.upload-row[data-state=uploading]').count(), 4, 'four files in flight');
  assert.ok((await dialog.locator('.upload-row[data-state=queued]').count()) >= 3);
  await screenshot(page, 'upload-progress');
  await dialog.getByRole('button', { name: 'Cancel uploads' }).click();
  await dialog.getByRole('button', { name: 'Clear list' }).waitFor({ timeout: T });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await cdp.detach();
  const created = await dialog.locator('.upload-row[data-state=created]').count();
  const canceled = await dialog.locator('.upload-row[data-state=canceled]').count();
  assert.equal(created + canceled, 8);
  assert.ok(canceled >= 4, `canceled ${canceled}`);
  const after = (await api('GET', '/datalakes')).data.items.find((l) => l.name === 'many').count;
  assert.equal(after, many.count + created, 'canceled files left nothing behind');
  await dialog.getByRole('button', { name: 'Done' }).click();
});

test('a viewer sees the images but no upload, tag or delete', async () => {
  await api('POST', '/users', { username: 'vera', password: 'vera-password-1', role: 'viewer' });
  const c = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: BASE });
  c.on('request', (r) => requests.push(r.url()));
  const p = await c.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto('/');
  await p.getByLabel('Username').fill('vera');
  await p.getByLabel('Password').fill('vera-password-1');
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  await p.goto(`/datalake?lake=${lakeId}`);
  await p.getByTestId('match-count').getByText('11 images').waitFor({ timeout: T });
  for (const name of ['Upload', 'Tag…', 'Delete…', 'New datalake']) assert.equal(await p.getByRole('button', { name, exact: true }).count(), 0, name);
  await c.close();
});

test('datalake pages asked no other host and raised no script error', () => {
  const origin = new URL(BASE).origin;
  const outside = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});
