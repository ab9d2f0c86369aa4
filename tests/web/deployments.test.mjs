// End-to-end test of the Deployments pages in a real browser, against the
// server started by tests/web/run. Made through the API: a model with two
// versions (champion and shadow), a monitor-mode deployment storing every
// image into a datalake, six reported predictions (generated PNGs, boxes with
// scores, latencies, shadow outputs: five agree), and two alert rules, one
// of which fires. The test checks the list, the dashboard (totals, charts,
// label and score distributions, alerts) at minute, hour and day
// resolution, the predictions grid and its filters, then reviews one
// prediction (relabel a box, delete one, draw a new one with the mouse,
// accept, save, submit), checking what the API recorded. Screenshots go to
// tests/out/web/deployments-*.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { png } from './images.mjs';
import { BASE, PASSWORD, TOKEN, OUT, api, ok, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const T = 10_000;

let browser, page, ids;
const pageErrors = [];
let shot = 0;

async function screenshot(name) {
  shot++;
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(OUT, `deployments-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function reportRaw(dep, image, predictions, latency, shadow) {
  const B = 'cvopsWebB';
  const parts = [
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="predictions"\r\n\r\n${JSON.stringify(predictions)}\r\n`),
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="latency_ms"\r\n\r\n${latency}\r\n`),
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="source"\r\n\r\ncamera-7\r\n`),
  ];
  if (shadow) parts.push(Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="shadow"\r\n\r\n${JSON.stringify(shadow)}\r\n`));
  parts.push(Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="image"; filename="cam.png"\r\nContent-Type: image/png\r\n\r\n`), image, Buffer.from(`\r\n--${B}--\r\n`));
  const r = await api('POST', `/deployments/${dep}/predictions`, Buffer.concat(parts), { 'Content-Type': `multipart/form-data; boundary=${B}` });
  assert.ok(r.status === 200 || r.status === 201, `report: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

const box = (x, y, w, h, label, score) => ({ x, y, w, h, label, score });

async function makeData() {
  const suffix = Date.now().toString(36);
  const model = await ok('POST', '/models', { name: `detector-${suffix}`, task_type: 'detection' });
  const v1 = await ok('POST', `/models/${model.id}/versions`, { labels: ['cat', 'dog'] });
  const v2 = await ok('POST', `/models/${model.id}/versions`, { labels: ['cat', 'dog'] });
  const lake = await ok('POST', '/datalakes', { name: `deplake-${suffix}` });
  const dep = await ok('POST', '/deployments', {
    name: `gate-camera-${suffix}`,
    mode: 'monitor',
    champion_version_id: v1.id,
    shadow_version_id: v2.id,
    datalake_id: lake.id,
    sample_rate: 1,
    min_score: 0,
  });
  await ok('POST', `/deployments/${dep.id}/alerts`, { name: 'slow', metric: 'latency_p99', op: '>', threshold: 100, window_minutes: 60 });
  await ok('POST', `/deployments/${dep.id}/alerts`, { name: 'flood', metric: 'count', op: '>', threshold: 100000, window_minutes: 60 });
  const preds = [
    { boxes: [box(10, 10, 60, 50, 'cat', 0.92), box(90, 30, 40, 40, 'dog', 0.55)] },
    { boxes: [box(20, 20, 50, 50, 'dog', 0.85)] },
    { boxes: [box(5, 5, 30, 30, 'cat', 0.35)] },
    { boxes: [box(40, 40, 70, 60, 'cat', 0.75), box(100, 10, 30, 30, 'cat', 0.6), box(0, 80, 30, 30, 'dog', 0.4)] },
    { boxes: [box(30, 30, 40, 40, 'dog', 0.95)] },
    { boxes: [] },
  ];
  const made = [];
  for (let i = 0; i < preds.length; i++) {
    const shadowTop = i === 1 ? 'cat' : preds[i].boxes[0]?.label;
    const shadow = shadowTop ? { boxes: [box(10, 10, 50, 50, shadowTop, 0.8)] } : { boxes: [] };
    made.push(await reportRaw(dep.id, png(160, 120, 900 + i), preds[i], [12, 25, 40, 30, 480, 18][i], shadow));
  }
  await ok('POST', `/deployments/${dep.id}/alerts/check`);
  return { dep: dep.id, name: dep.name, model: model.name, made };
}

before(async () => {
  ids = await makeData();
  ({ browser, page } = await openAdminPage(T, { pageErrors }));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

test('the list shows the deployment with its champion, shadow, predictions and firing alerts', async () => {
  await page.getByRole('navigation').getByRole('link', { name: 'Deployments' }).click();
  await page.getByRole('heading', { name: 'Deployments', level: 1 }).waitFor();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: ids.name }) });
  await row.getByRole('link', { name: `${ids.model} v1` }).waitFor();
  await row.getByRole('link', { name: `${ids.model} v2` }).waitFor();
  assert.match(await row.textContent(), /monitor/);
  assert.equal((await row.getByRole('cell').nth(4).textContent()).trim(), '6');
  assert.match(await row.textContent(), /1 firing/);
  await screenshot('list');
});

test('the dashboard: totals, charts, distributions and alerts at minute, hour and day resolution', async () => {
  await page.getByRole('link', { name: ids.name }).click();
  await page.getByRole('heading', { name: ids.name, level: 1 }).waitFor();
  const totals = page.getByLabel('Totals');
  const total = (name) => totals.locator('div').filter({ has: page.getByText(name, { exact: true }) }).locator('dd');
  await total('Requests').getByText('6', { exact: true }).waitFor();
  for (const m of ['Latency p50', 'Latency p95', 'Latency p99', 'Objects per image', 'Champion/shadow agreement']) {
    assert.notEqual((await total(m).textContent()).trim().replace(' ms', ''), '—', `${m} has a value`);
  }
  assert.equal((await total('Objects per image').textContent()).trim(), '1.33', '8 boxes over 6 images');
  // 5 of the 6 shadows agree (the empty output has no top label on either side)
  const agreement = (await total('Champion/shadow agreement').textContent()).trim();
  assert.match(agreement, /%$/);
  const p99 = Number((await total('Latency p99').textContent()).replace(/[^0-9.]/g, ''));
  const p50 = Number((await total('Latency p50').textContent()).replace(/[^0-9.]/g, ''));
  assert.ok(p99 > p50, `p99 ${p99} above p50 ${p50}`);
  // four charts, each a canvas with data
  for (const title of ['Requests', 'Latency (ms)', 'Objects per image and mean score', 'Champion/shadow agreement (%)']) {
    const card = page.locator('section.card').filter({ has: page.getByRole('heading', { name: title, exact: true }) });
    await card.locator('canvas').first().waitFor();
  }
  const latencyCard = page.locator('section.card').filter({ has: page.getByRole('heading', { name: 'Latency (ms)', exact: true }) });
  for (const s of ['p50', 'p95', 'p99']) await latencyCard.getByText(s, { exact: true }).first().waitFor();
  // label distribution: cat 5 boxes as top labels? the rollup counts top labels per image
  const labels = page.getByRole('table', { name: 'Top labels' });
  const rows = await labels.getByRole('row').allTextContents();
  assert.ok(rows.some((r) => /^cat\s*\d/.test(r.trim())), `cat among labels: ${rows}`);
  assert.ok(rows.some((r) => /^dog\s*\d/.test(r.trim())), `dog among labels: ${rows}`);
  const scoreRows = page.getByRole('table', { name: 'Top scores' }).getByRole('row');
  assert.equal(await scoreRows.count(), 10, 'ten score bins');
  const scores = await scoreRows.locator('td.num').allTextContents();
  const scoreSum = scores.map(Number).reduce((a, b) => a + b, 0);
  assert.ok(scoreSum >= 5, `the histogram counts the predictions: ${scoreSum}`);
  // alerts: the firing one first and announced
  await page.getByRole('alert').filter({ hasText: '1 alert firing: slow' }).waitFor();
  const rules = await page.getByRole('list', { name: 'Alert rules' }).getByRole('listitem').allTextContents();
  assert.match(rules[0], /firing\s*slow: latency_p99 > 100/);
  assert.match(rules[1], /ok\s*flood/);
  await screenshot('dashboard-minute');
  for (const res of ['Hour', 'Day']) {
    await page.getByRole('group', { name: 'Resolution' }).getByRole('button', { name: res }).click();
    await page.waitForURL(new RegExp(`res=${res.toLowerCase()}`));
    assert.equal(await page.getByRole('button', { name: res }).getAttribute('aria-pressed'), 'true');
    await page.getByText(`Per ${res.toLowerCase()}`).waitFor();
    await total('Requests').getByText('6', { exact: true }).waitFor();
  }
  await screenshot('dashboard-day');
  await page.getByRole('group', { name: 'Resolution' }).getByRole('button', { name: 'Minute' }).click();
  await page.getByText('Per minute').waitFor();
});

test('the predictions grid: thumbnails with boxes, filters in the URL', async () => {
  await page.goto(`/deployments/${ids.dep}/predictions`);
  const grid = page.getByRole('list', { name: 'Predictions' });
  await grid.getByRole('listitem').nth(5).waitFor();
  assert.equal(await grid.getByRole('listitem').count(), 6);
  // thumbnails loaded (the images were stored: sample_rate 1), boxes drawn over them
  await page.waitForFunction(() => [...document.querySelectorAll('.pred-thumb img')].filter((i) => i.complete && i.naturalWidth > 0).length === 6);
  assert.equal(await page.locator('.pred-thumb svg rect').count(), 8, 'every box drawn');
  await page.getByLabel('Top label').fill('dog');
  // a render before the filter is committed (here the router told of the same URL; in the
  // wild a page of results arriving) keeps what was typed
  const rerender = () => page.evaluate(() => window.dispatchEvent(new PopStateEvent('popstate')));
  await rerender();
  assert.equal(await page.getByLabel('Top label').inputValue(), 'dog');
  await page.getByLabel('Top label').press('Enter');
  await page.getByLabel('Top label').blur();
  await page.waitForURL(/label=dog/);
  await page.waitForFunction(() => document.querySelectorAll('.pred-cell').length === 2);
  await page.getByLabel('Min score').fill('0.9');
  await rerender();
  await page.getByLabel('Min score').blur();
  await page.waitForURL(/min=0.9/);
  await page.waitForFunction(() => document.querySelectorAll('.pred-cell').length === 1);
  assert.match(await grid.getByRole('listitem').textContent(), /dog\s*0\.95/);
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.waitForFunction(() => document.querySelectorAll('.pred-cell').length === 6);
  await page.getByLabel('Status').selectOption('submitted');
  await page.getByText('No prediction matches these filters.').waitFor();
  await page.getByLabel('Status').selectOption('to_review');
  await page.waitForFunction(() => document.querySelectorAll('.pred-cell').length === 6);
  // the query language: kept in the URL (q=), ANDed with the filters; a syntax error shows
  // the API's message under the box and leaves the grid as it was
  const qbox = page.getByRole('combobox', { name: 'Filter predictions with the query language' });
  await qbox.fill('objects >= 2 and label = cat');
  await page.keyboard.press('Enter');
  await page.waitForURL(/[?&]q=/);
  await page.waitForFunction(() => document.querySelectorAll('.pred-cell').length === 2);
  const want = (await ok('GET', `/deployments/${ids.dep}/predictions?q=${encodeURIComponent('objects >= 2 and label = cat')}&status=to_review`)).items.map((x) => x.id).sort();
  const shown = (await page.locator('.pred-cell').evaluateAll((els) => els.map((e) => Number(e.dataset.prediction)))).sort();
  assert.deepEqual(shown, want, 'the grid shows what the API answers for q');
  await qbox.fill('objects >=');
  await page.keyboard.press('Enter');
  const qerr = page.getByTestId('query-error');
  await qerr.waitFor();
  assert.match(await qerr.textContent(), /column/);
  assert.equal(await page.locator('.pred-cell').count(), 2, 'the grid is unchanged');
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.waitForFunction(() => document.querySelectorAll('.pred-cell').length === 6);
  assert.equal(await qbox.inputValue(), '', 'the box follows the URL');
  await screenshot('grid');
});

test('review: relabel, delete, draw a box, accept, save, submit', async () => {
  const first = ids.made[0].id;
  await page.goto(`/deployments/${ids.dep}/predictions?status=to_review`);
  await page.locator(`[data-prediction="${first}"] a`).click();
  await page.getByRole('heading', { name: `Prediction ${first}`, level: 1 }).waitFor();
  const boxes = page.getByRole('list', { name: 'Boxes' });
  await boxes.getByRole('listitem').nth(1).waitFor();
  assert.equal(await page.getByLabel('Label of box 1').inputValue(), 'cat');
  assert.equal((await page.getByLabel('Score of box 1').textContent()).trim(), '0.92');
  await page.waitForFunction(() => document.querySelector('.review-stage img')?.naturalWidth === 160);
  // relabel box 2 (dog .55) as fox, then delete box 1
  await page.getByLabel('Label of box 2').fill('fox');
  await page.getByLabel('Label of box 2').blur();
  await page.getByRole('button', { name: 'Delete box 1' }).click();
  assert.equal(await boxes.getByRole('listitem').count(), 1);
  assert.equal(await page.getByLabel('Label of box 1').inputValue(), 'fox');
  // draw a box with the mouse from image pixel (20, 60) to (60, 100)
  await page.getByLabel('Label for new boxes and classes').fill('bird');
  const svg = page.getByTestId('review-svg');
  const bb = await svg.boundingBox();
  // the SVG's viewBox is the image (160x120), fitted into its box (preserveAspectRatio meet)
  const k = Math.min(bb.width / 160, bb.height / 120);
  const at = (x, y) => [bb.x + (bb.width - 160 * k) / 2 + x * k, bb.y + (bb.height - 120 * k) / 2 + y * k];
  await page.mouse.move(...at(20, 60));
  await page.mouse.down();
  await page.mouse.move(...at(40, 80), { steps: 4 });
  await page.mouse.move(...at(60, 100), { steps: 4 });
  await page.mouse.up();
  await boxes.getByRole('listitem').nth(1).waitFor();
  assert.equal(await page.getByLabel('Label of box 2').inputValue(), 'bird');
  assert.equal((await page.getByLabel('Score of box 2').textContent()).trim(), 'accepted');
  // keyboard: select box 1, A accepts it, Ctrl+S saves
  await page.getByLabel('Score of box 1').click();
  // the key acts on the selected box: wait until the click has selected it
  await boxes.getByRole('listitem').nth(0).and(page.locator('.selected')).waitFor();
  await page.keyboard.press('a');
  await page.getByLabel('Score of box 1').getByText('accepted').waitFor();
  await screenshot('review');
  await page.keyboard.press('Control+s');
  await page.locator('.page-subtitle .badge').getByText('reviewed').waitFor();
  const p = await ok('GET', `/predictions/${first}`);
  assert.equal(p.status, 'reviewed');
  assert.equal(p.review.boxes.length, 2);
  const [fox, bird] = p.review.boxes;
  assert.equal(fox.label, 'fox');
  assert.ok(fox.score === undefined || fox.score === 1, `accepted: a person's box (score 1 or none) ${JSON.stringify(p.review)}`);
  assert.deepEqual([fox.x, fox.y, fox.w, fox.h], [90, 30, 40, 40]);
  assert.equal(bird.label, 'bird');
  for (const [got, want] of [[bird.x, 20], [bird.y, 60], [bird.w, 40], [bird.h, 40]]) assert.ok(Math.abs(got - want) <= 2, `drawn box ${JSON.stringify(bird)} within 2 px of 20,60,40,40`);
  assert.equal(p.output.boxes.length, 2, "the champion's output is kept as it was");
  // reloaded, the saved review is shown as accepted shapes
  await page.reload();
  await page.getByLabel('Label of box 2').waitFor();
  assert.equal(await page.getByLabel('Label of box 1').inputValue(), 'fox');
  assert.equal((await page.getByLabel('Score of box 1').textContent()).trim(), 'accepted');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Submitted: a submitted review is final.').waitFor();
  assert.equal((await ok('GET', `/predictions/${first}`)).status, 'submitted');
  assert.equal(await page.getByRole('button', { name: 'Save review' }).count(), 0, 'read-only once submitted');
  // the grid shows it under submitted
  await page.goto(`/deployments/${ids.dep}/predictions?status=submitted`);
  await page.locator(`[data-prediction="${first}"]`).waitFor();
  assert.equal(await page.locator('.pred-cell').count(), 1);
  assert.match(await page.locator('.pred-cell').textContent(), /submitted/);
});

test('create a deployment, change its champion and shadow, add an alert rule', async () => {
  await page.goto('/deployments');
  await page.getByRole('button', { name: 'New deployment' }).click();
  const dlg = page.getByRole('dialog', { name: 'New deployment' });
  const name = `new-dep-${Date.now().toString(36)}`;
  await dlg.getByLabel('Name').fill(name);
  await dlg.getByLabel('Mode').selectOption('monitor');
  await dlg.getByLabel('Champion').selectOption({ label: `${ids.model} v1` });
  await dlg.getByLabel('Sampling rate').fill('2');
  await dlg.getByRole('button', { name: 'Create deployment' }).click();
  await dlg.getByRole('alert').getByText("sample_rate must be a number from 0 to 1, got '2'.").waitFor();
  assert.ok(!(await ok('GET', '/deployments')).items.some((d) => d.name === name), 'nothing created');
  await dlg.getByLabel('Sampling rate').fill('0.5');
  await dlg.getByRole('button', { name: 'Create deployment' }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  const id = Number(/\/deployments\/(\d+)/.exec(page.url())[1]);
  let d = await ok('GET', `/deployments/${id}`);
  assert.equal(d.mode, 'monitor');
  assert.equal(d.sample_rate, 0.5);
  assert.equal(d.shadow_version_id, null);
  const champion1 = d.champion_version_id;
  assert.ok(champion1);
  // promote: champion v2, v1 as the shadow
  await page.getByRole('button', { name: 'Settings…' }).click();
  const sdlg = page.getByRole('dialog', { name: `Settings of ${name}` });
  await sdlg.getByLabel('Champion').selectOption({ label: `${ids.model} v2` });
  await sdlg.getByLabel('Shadow').selectOption({ label: `${ids.model} v1` });
  await sdlg.getByRole('button', { name: 'Save settings' }).click();
  await sdlg.waitFor({ state: 'hidden' });
  const settings = page.locator('section.card').filter({ has: page.getByRole('heading', { name: 'Settings', exact: true }) });
  await settings.getByRole('link', { name: `${ids.model} v2` }).waitFor();
  await settings.getByRole('link', { name: `${ids.model} v1` }).waitFor();
  d = await ok('GET', `/deployments/${id}`);
  assert.notEqual(d.champion_version_id, champion1);
  assert.equal(d.shadow_version_id, champion1);
  // and the shadow removed
  await page.getByRole('button', { name: 'Settings…' }).click();
  await sdlg.getByLabel('Shadow').selectOption('');
  await sdlg.getByRole('button', { name: 'Save settings' }).click();
  await sdlg.waitFor({ state: 'hidden' });
  await page.waitForFunction(() => [...document.querySelectorAll('dt')].some((dt) => dt.textContent === 'Shadow' && dt.nextElementSibling?.textContent === 'none'));
  assert.equal((await ok('GET', `/deployments/${id}`)).shadow_version_id, null);
  // an alert rule
  await page.getByRole('button', { name: 'Add alert rule…' }).click();
  const adlg = page.getByRole('dialog', { name: 'Add an alert rule' });
  await adlg.getByLabel('Name').fill('errors');
  await adlg.getByLabel('Metric').selectOption('error_rate');
  await adlg.getByLabel('Threshold').fill('lots');
  await adlg.getByRole('button', { name: 'Add rule' }).click();
  await adlg.getByRole('alert').getByText("threshold must be a number, got 'lots'.").waitFor();
  await adlg.getByLabel('Threshold').fill('0.5');
  await adlg.getByRole('button', { name: 'Add rule' }).click();
  await adlg.waitFor({ state: 'hidden' });
  await page.getByRole('list', { name: 'Alert rules' }).getByText(/errors: error_rate > 0\.5 over 5 min/).waitFor();
  const rules = (await ok('GET', `/deployments/${id}/alerts`)).items;
  assert.equal(rules.length, 1);
  assert.equal(rules[0].metric, 'error_rate');
  assert.equal(rules[0].threshold, 0.5);
});

/** A new browser context logged in as a new user with `role`. */
async function loginAs(username, role) {
  const password = `${username}-password-1`;
  const u = await api('POST', '/users', { username, password, role });
  assert.equal(u.status, 201, JSON.stringify(u.data));
  const c = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: BASE, reducedMotion: 'reduce' });
  c.setDefaultTimeout(T);
  const p = await c.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto('/');
  await p.getByLabel('Username').fill(username);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  return { c, p };
}

test('roles: a viewer looks at the operations pages and changes nothing; a labeler reviews but does not manage', async () => {
  const suffix = Date.now().toString(36);
  const pred = ids.made[1].id;
  const v = await loginAs(`opsviewer${suffix}`, 'viewer');
  const p = v.p;
  await p.goto('/deployments');
  await p.getByRole('link', { name: ids.name }).waitFor();
  assert.equal(await p.getByRole('button', { name: 'New deployment' }).count(), 0);
  await p.getByRole('link', { name: ids.name }).click();
  await p.getByRole('heading', { name: ids.name, level: 1 }).waitFor();
  await p.getByLabel('Totals').waitFor();
  for (const b of ['Settings…', 'Add alert rule…', 'Check now']) assert.equal(await p.getByRole('button', { name: b }).count(), 0, `no ${b}`);
  await p.goto(`/deployments/${ids.dep}/predictions`);
  await p.locator('.pred-cell').first().waitFor();
  assert.equal(await p.getByRole('button', { name: /Submit/ }).count(), 0);
  await p.goto(`/deployments/${ids.dep}/predictions/${pred}`);
  await p.getByLabel('Label of box 1').waitFor();
  assert.ok(await p.getByLabel('Label of box 1').isDisabled(), 'read-only');
  assert.equal(await p.getByRole('button', { name: /Save review|Delete box|Accept box/ }).count(), 0);
  const model = (await ok('GET', '/models')).items.find((m) => m.name === ids.model);
  await p.goto(`/models/${model.id}`);
  await p.getByRole('heading', { name: ids.model, level: 1 }).waitFor();
  assert.equal(await p.getByRole('button', { name: /Move/ }).count(), 0);
  await p.goto(`/models/${model.id}/versions/1`);
  await p.getByRole('heading', { name: `${ids.model} v1`, level: 1 }).waitFor();
  assert.equal(await p.getByRole('button', { name: /Status…|Set an alias…/ }).count(), 0);
  assert.equal(await p.getByRole('link', { name: 'Deploy…' }).count(), 0);
  await p.goto('/processings');
  await p.getByRole('heading', { name: 'augment', exact: true }).waitFor();
  assert.equal(await p.getByRole('link', { name: /^Launch / }).count(), 0);
  assert.equal(await p.getByRole('button', { name: 'New processing…' }).count(), 0);
  await v.c.close();
  // a labeler reviews: Save review is there, managing is not
  const l = await loginAs(`opslabeler${suffix}`, 'labeler');
  await l.p.goto(`/deployments/${ids.dep}/predictions/${pred}`);
  await l.p.getByRole('button', { name: 'Save review' }).waitFor();
  await l.p.getByRole('button', { name: 'Accept box 1' }).click();
  await l.p.getByRole('button', { name: 'Save review' }).click();
  await l.p.locator('.page-subtitle .badge').getByText('reviewed').waitFor();
  assert.equal((await ok('GET', `/predictions/${pred}`)).status, 'reviewed');
  await l.p.goto(`/deployments/${ids.dep}`);
  await l.p.getByLabel('Totals').waitFor();
  assert.equal(await l.p.getByRole('button', { name: 'Settings…' }).count(), 0);
  await l.c.close();
});
