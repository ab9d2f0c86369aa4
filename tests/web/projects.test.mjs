// End-to-end tests of the Projects section (experiment tracking) in a real
// browser, against the server started by tests/web/run. A Python script
// (tests/web/track_runs.py, with the repository's clients/python) logs two
// runs as a training script would; the tests then go through the dashboard:
// the project list, the experiment table (columns, sort, filter), the
// charts (the canvas drew, tooltip values equal what was logged, zoom asks
// the API for a narrower view, reset), logs (confusion matrix cells, images
// by step, tables), live output and status, artifacts, and the comparison of
// the two runs (both series, the parameter diff). Screenshots of every page
// go to tests/out/web/projects-*.png.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { BASE, PASSWORD, TOKEN, OUT, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const T = 10_000;


// the formulas of track_runs.py
const loss = (s, run) => 2 * Math.exp(-s / (400 + 200 * run)) + 0.05 + 0.02 * Math.sin(s / 7);
const CM = [[50, 3, 1], [4, 45, 2], [0, 5, 40]];
// the chart's number format (components/LineChart.tsx)
const fmt = (v) => (v === 0 ? '0' : Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4 ? v.toExponential(4) : String(Number(v.toPrecision(6))));

let browser, page, run;
const project = `vision-e2e-${Date.now().toString(36)}`;
const pageErrors = [];
const requests = [];
let shot = 0;

async function screenshot(p, name) {
  shot++;
  await p.waitForTimeout(150);
  await p.screenshot({ path: join(OUT, `projects-${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function apiCall(method, path, body) {
  const res = await fetch(BASE + '/api/v1' + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, data: text ? JSON.parse(text) : null };
}

const idOf = (name) => run.runs.find((r) => r.name === name).id;

before(async () => {
  const t0 = Date.now();
  const out = execFileSync('python3', [join(HERE, 'track_runs.py'), project], {
    env: { ...process.env, PYTHONPATH: join(ROOT, 'clients', 'python'), PYTHONDONTWRITEBYTECODE: '1', CVOPS_SERVER: BASE, CVOPS_TOKEN: TOKEN },
    encoding: 'utf8',
  });
  run = JSON.parse(out.trim().split('\n').pop());
  console.log(`track_runs.py logged ${run.runs.length} runs in ${Date.now() - t0} ms`);
  ({ browser, page } = await openAdminPage(T, { pageErrors, width: 1440, onContext: (ctx) => ctx.on('request', (r) => requests.push(r.url())) }));
});

after(async () => {
  await browser?.close();
});

test('the project list shows the project the script logged to', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Projects' }).waitFor({ timeout: T });
  const row = page.getByRole('row', { name: new RegExp(project) });
  await row.waitFor({ timeout: T });
  assert.equal((await row.getByRole('cell').nth(2).textContent()).trim(), '2', 'two experiments');
  await screenshot(page, 'list');
  await row.getByRole('link', { name: project }).click();
  await page.getByRole('heading', { level: 1, name: project }).waitFor({ timeout: T });
  assert.equal(new URL(page.url()).pathname, `/projects/${run.project_id}`);
});

test('experiment table: parameters and latest metrics as columns, sort, filter, column chooser', async () => {
  const table = page.locator('table.exp-table');
  await table.getByRole('link', { name: 'baseline' }).waitFor({ timeout: T });
  await table.getByRole('link', { name: 'tuned' }).waitFor({ timeout: T });
  // the first page is one request, the API doing the sorting and the columns
  const listCalls = requests.filter((u) => u.includes(`/api/v1/projects/${run.project_id}/experiments?`));
  assert.equal(listCalls.length, 1, listCalls.join('\n'));
  assert.match(listCalls[0], /limit=50/);
  // columns chosen by default: the first parameter and metric names
  for (const h of ['lr', 'loss']) await table.locator('thead').getByRole('button', { name: new RegExp(`^${h}\\b`) }).waitFor({ timeout: T });
  const base = await apiCall('GET', `/experiments/${idOf('baseline')}`);
  const lastLoss = base.data.metrics.find((m) => m.name === 'loss').last;
  await table.getByRole('row', { name: /baseline/ }).getByText(fmt(lastLoss), { exact: true }).waitFor({ timeout: T });

  // sort by lr: ascending puts tuned (0.003) first, again descending
  await table.getByRole('button', { name: /^lr/ }).click();
  await page.waitForURL(/order=param%3Alr|order=param:lr/, { timeout: T });
  await page.waitForFunction(() => document.querySelector('table.exp-table tbody tr a')?.textContent === 'tuned', null, { timeout: T });
  assert.equal(await table.locator('th[aria-sort]').getAttribute('aria-sort'), 'ascending');
  await table.getByRole('button', { name: /^lr/ }).click();
  await page.waitForFunction(() => document.querySelector('table.exp-table tbody tr a')?.textContent === 'baseline', null, { timeout: T });

  // filter by tag (from the project's keys), then clear
  await page.getByLabel('Tag').selectOption('tuned');
  await page.waitForFunction(() => document.querySelectorAll('table.exp-table tbody tr').length === 1, null, { timeout: T });
  await table.getByRole('link', { name: 'tuned' }).waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await table.getByRole('link', { name: 'baseline' }).waitFor({ timeout: T });

  // the column chooser: add the parameter optimizer
  await page.getByRole('button', { name: 'Columns…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Columns' });
  await dialog.getByLabel('optimizer').check();
  await dialog.getByRole('button', { name: 'Show columns' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await page.waitForURL(/params=[^&]*optimizer/, { timeout: T });
  await table.getByRole('row', { name: /tuned/ }).getByText('sgd', { exact: true }).waitFor({ timeout: T });
  await screenshot(page, 'table');
});

test('metrics: the charts draw the logged series, the tooltip gives the logged values, zoom re-requests a narrower view', async () => {
  await page.locator('table.exp-table').getByRole('link', { name: 'baseline' }).click();
  await page.getByRole('heading', { level: 1, name: 'baseline' }).waitFor({ timeout: T });
  await page.getByRole('navigation', { name: 'Experiment' }).getByRole('link', { name: /Metrics/ }).click();
  await page.waitForURL(/\/metrics$/, { timeout: T });
  const card = page.locator('section[data-metric="loss"]');
  const plot = card.locator('.chart-plot');
  await page.waitForFunction(() => Number(document.querySelector('section[data-metric="loss"] .chart-plot')?.dataset.points) > 100, null, { timeout: T });
  assert.equal(await page.locator('section[data-metric]').count(), 2, 'a chart per metric');
  assert.equal(await card.locator('.legend-item').count(), 1, 'one series in the legend');
  assert.equal(await plot.getAttribute('data-series'), '1');

  // the canvas drew the series in its colour
  const coloured = await card.locator('canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 47) < 40 && Math.abs(d[i + 1] - 111) < 40 && Math.abs(d[i + 2] - 219) < 40 && d[i + 3] > 100) n++;
    return n;
  });
  assert.ok(coloured > 300, `series pixels drawn (${coloured})`);

  // the view asked for is sized to the chart, not to the series
  const first = requests.filter((u) => u.includes(`/experiments/${idOf('baseline')}/points?`) && u.includes('name=loss'));
  assert.ok(first.length >= 1);
  const q0 = new URL(first[0]).searchParams;
  const box = await plot.boundingBox();
  assert.ok(Number(q0.get('points')) >= box.width * 0.7 && Number(q0.get('points')) <= box.width + 50, `points=${q0.get('points')} for a ${box.width} px chart`);
  assert.equal(q0.get('from'), null);

  // tooltip at a step: the value logged at that step
  await page.mouse.move(box.x + 58 + (box.width - 72) * 0.37, box.y + box.height / 2);
  const tip = card.getByTestId('chart-tooltip');
  await tip.waitFor({ timeout: T });
  const step = Number((await tip.getByTestId('tooltip-step').textContent()).replace(/,/g, ''));
  const shown = (await tip.getByTestId('tooltip-value').textContent()).trim();
  const logged = (await apiCall('GET', `/experiments/${idOf('baseline')}/points?name=loss&from=${step}&to=${step}`)).data.values[0];
  assert.equal(shown, fmt(logged), `step ${step}`);
  assert.ok(Math.abs(logged - loss(step, 0)) < 1e-12, 'the script logged the formula');
  assert.equal(shown, fmt(loss(step, 0)));
  await screenshot(page, 'metrics-tooltip');

  // drag across 30%..50% of the plot: a request for that range (padded), fewer points in it
  const narrower = page.waitForResponse((r) => r.url().includes('name=loss') && r.url().includes('from='), { timeout: T });
  const x0 = box.x + 58 + (box.width - 72) * 0.3;
  const x1 = box.x + 58 + (box.width - 72) * 0.5;
  await page.mouse.move(x0, box.y + 80);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, box.y + 90, { steps: 4 });
  await page.mouse.move(x1, box.y + 100, { steps: 4 });
  await page.mouse.up();
  const res = await narrower;
  const q = new URL(res.url()).searchParams;
  const [from, to] = [Number(q.get('from')), Number(q.get('to'))];
  assert.ok(from > 300 && to < 1300 && to - from < 1000, `a narrower range: ${from}..${to}`);
  const view = await res.json();
  assert.ok(view.total < 2000 && view.total === to - from + 1, `the view covers ${view.total} points`);
  const [v0, v1] = (await plot.getAttribute('data-view')).split('-').map(Number);
  assert.ok(v0 >= 500 && v0 <= 640 && v1 >= 900 && v1 <= 1060, `view ${v0}-${v1}`);
  await card.getByRole('button', { name: 'Reset zoom' }).waitFor({ state: 'visible', timeout: T });
  assert.equal(await card.getByRole('button', { name: 'Reset zoom' }).isEnabled(), true);
  await screenshot(page, 'metrics-zoomed');

  // keyboard: + zooms in further (another request), 0 resets (the whole series again)
  await plot.focus();
  const deeper = page.waitForResponse((r) => r.url().includes('name=loss') && r.url().includes('from='), { timeout: T });
  await page.keyboard.press('+');
  const deepRes = await deeper;
  const q2 = new URL(deepRes.url()).searchParams;
  assert.ok(Number(q2.get('to')) - Number(q2.get('from')) < to - from, 'zooming in narrows the request');
  // Ctrl+wheel zooms out around the pointer (another request)
  const wheeled = page.waitForResponse((r) => r.url().includes('name=loss') && r.url().includes('from=') && r.url() !== deepRes.url(), { timeout: T });
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, 120);
  await page.keyboard.up('Control');
  const q3 = new URL((await wheeled).url()).searchParams;
  assert.ok(Number(q3.get('to')) - Number(q3.get('from')) > Number(q2.get('to')) - Number(q2.get('from')), 'the wheel zooms out');
  const whole = page.waitForResponse((r) => r.url().includes('name=loss') && !r.url().includes('from='), { timeout: T });
  await plot.focus();
  await page.keyboard.press('0');
  await whole;
  await page.waitForFunction(() => document.querySelector('section[data-metric="loss"] .chart-plot')?.dataset.view === '0-1999', null, { timeout: T });
  // keyboard reading: Home goes to the first point, the live region reads it
  await page.keyboard.press('Home');
  await card.getByText(`step 0: baseline ${fmt(loss(0, 0))}`).waitFor({ timeout: T });

  // smoothing and log scale redraw without errors; the tooltip then also gives the smoothed value
  await card.getByLabel('Log scale').check();
  assert.match(await plot.getAttribute('aria-label'), /log scale/);
  await card.locator('.chart-smoothing input').fill('0.9');
  await page.mouse.move(box.x + 58 + (box.width - 72) * 0.6, box.y + box.height / 2);
  await tip.getByText(/smoothed/).waitFor({ timeout: T });
  await screenshot(page, 'metrics-smoothed-log');
});

test('logs: the confusion matrix shows the logged values, images by step, tables', async () => {
  await page.getByRole('navigation', { name: 'Experiment' }).getByRole('link', { name: 'Logs' }).click();
  await page.waitForURL(/\/logs$/, { timeout: T });
  const cm = page.locator('section[data-log="val/cm"]');
  await cm.locator('td.heatmap-cell').first().waitFor({ timeout: T });
  const cells = await cm.locator('td.heatmap-cell').allTextContents();
  assert.deepEqual(cells.map((c) => c.trim()), CM.flat().map(String));
  assert.deepEqual((await cm.locator('th[scope=row]').allTextContents()).map((s) => s.trim()), ['cat', 'dog', 'bird']);
  await cm.locator('td[data-row="dog"][data-col="cat"]').hover();
  await cm.getByText('actual dog, predicted cat: 4 (7.8% of the row)').waitFor({ timeout: T });
  await cm.getByLabel('Show % of each row').check();
  assert.equal((await cm.locator('td[data-row="cat"][data-col="cat"]').textContent()).trim(), `${((100 * 50) / 54).toFixed(1)}%`);

  // the image at the last step, then the first
  const img = page.locator('section[data-log="predictions"]');
  await img.getByTestId('log-step').getByText('step 1,999').waitFor({ timeout: T });
  await img.getByRole('slider').focus();
  await page.keyboard.press('Home');
  await img.getByTestId('log-step').getByText('step 0').waitFor({ timeout: T });
  await img.locator('figcaption', { hasText: 'step 0' }).waitFor({ timeout: T });
  await page.waitForFunction(() => document.querySelector('section[data-log="predictions"] img')?.naturalWidth === 96, null, { timeout: T });

  const table = page.locator('section[data-log="errors"]');
  await table.getByRole('cell', { name: 'b.jpg' }).waitFor({ timeout: T });
  assert.equal(await table.locator('tbody tr').count(), 3);
  await page.locator('section[data-log="classes"]').getByRole('cell', { name: 'bird' }).waitFor({ timeout: T });
  await page.locator('section[data-log="best_accuracy"]').getByText(fmt(1 - Math.exp(-1999 / 500)), { exact: true }).waitFor({ timeout: T });
  await screenshot(page, 'logs');
});

test('output and artifacts of a finished run', async () => {
  await page.getByRole('navigation', { name: 'Experiment' }).getByRole('link', { name: /Output/ }).click();
  const out = page.getByTestId('exp-output');
  await out.getByText('training of baseline finished').waitFor({ timeout: T });
  await out.getByText(/epoch 1\/3 baseline loss=/).waitFor({ timeout: T });
  await page.getByTestId('output-state').getByText(/complete/).waitFor({ timeout: T });
  await screenshot(page, 'output');

  await page.getByRole('navigation', { name: 'Experiment' }).getByRole('link', { name: 'Artifacts' }).click();
  const row = page.getByRole('row', { name: /config\/run\.json/ });
  await row.waitFor({ timeout: T });
  const href = await row.getByRole('link', { name: 'Download config/run.json' }).getAttribute('href');
  const body = await page.evaluate(async (u) => (await fetch(u)).json(), href);
  assert.deepEqual(body, { run: 'baseline', lr: 0.01 });
  await screenshot(page, 'artifacts');

  await page.getByRole('navigation', { name: 'Experiment' }).getByRole('link', { name: 'Overview' }).click();
  const params = page.getByTestId('params-table');
  await params.getByRole('row', { name: /model\.depth\s*18/ }).waitFor({ timeout: T });
  await screenshot(page, 'overview');
});

test('a running experiment: output lines and the status arrive live', async () => {
  const created = await apiCall('POST', `/projects/${run.project_id}/experiments`, { name: 'live', status: 'running', params: { lr: 0.1 } });
  assert.equal(created.status, 201);
  const id = created.data.id;
  await page.goto(`/projects/${run.project_id}/experiments/${id}/output`);
  const out = page.getByTestId('exp-output');
  await out.getByText('Waiting for the first line…').waitFor({ timeout: T });
  assert.equal((await page.getByTestId('exp-status').textContent()).trim(), 'running');
  await apiCall('POST', `/experiments/${id}/output`, { lines: ['step 1 loss=0.9', 'step 2 loss=0.8'] });
  await out.getByText('step 2 loss=0.8').waitFor({ timeout: 5000 }); // the long poll, no reload
  await apiCall('POST', `/experiments/${id}/points`, { points: [{ name: 'loss', step: 1, value: 0.9 }, { name: 'loss', step: 2, value: 0.8 }] });
  await apiCall('PATCH', `/experiments/${id}`, { status: 'succeeded' });
  await page.getByTestId('exp-status').getByText('succeeded').waitFor({ timeout: T });
  await page.getByTestId('output-state').getByText(/complete/).waitFor({ timeout: T });
  // the metric appeared with the record
  await page.getByRole('navigation', { name: 'Experiment' }).getByRole('link', { name: /Metrics\s*1/ }).waitFor({ timeout: T });
  await screenshot(page, 'live');
});

test('compare two runs: both series overlaid, the parameter diff', async () => {
  await page.goto(`/projects/${run.project_id}`);
  const table = page.locator('table.exp-table');
  await table.getByRole('link', { name: 'tuned' }).waitFor({ timeout: T });
  await page.getByLabel('Select baseline').check();
  await page.getByLabel('Select tuned').check();
  await page.getByTestId('selection-count').getByText('2 selected').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Compare 2' }).click();
  await page.waitForURL(/\/compare\?ids=/, { timeout: T });
  await page.getByRole('heading', { level: 1, name: 'Compare 2 experiments' }).waitFor({ timeout: T });

  const diff = page.getByTestId('param-diff');
  await diff.locator('tr[data-param="lr"]').waitFor({ timeout: T });
  for (const p of ['lr', 'optimizer', 'batch']) {
    const r = diff.locator(`tr[data-param="${p}"]`);
    assert.match(await r.getAttribute('class'), /row-differs/, p);
    await r.getByText('differs').waitFor({ timeout: T });
  }
  assert.match(await diff.locator('tr[data-param="lr"]').textContent(), /0\.01.*0\.003/);
  assert.equal(await diff.locator('tr[data-param="model.depth"]').count(), 0, 'equal parameters hidden by default');
  await page.getByLabel(/Only differences/).uncheck();
  await diff.locator('tr[data-param="model.depth"]').waitFor({ timeout: T });
  assert.doesNotMatch((await diff.locator('tr[data-param="model.depth"]').getAttribute('class')) ?? '', /row-differs/);

  const card = page.locator('section[data-metric="loss"]');
  const plot = card.locator('.chart-plot');
  await page.waitForFunction(() => document.querySelector('section[data-metric="loss"] .chart-plot')?.dataset.series === '2' && Number(document.querySelector('section[data-metric="loss"] .chart-plot')?.dataset.points) > 200, null, { timeout: T });
  assert.deepEqual((await card.locator('.legend-item').allTextContents()).map((s) => s.trim()), ['baseline', 'tuned']);
  await plot.scrollIntoViewIfNeeded();
  const box = await plot.boundingBox();
  await page.mouse.move(box.x + 58 + (box.width - 72) * 0.5, box.y + box.height / 2);
  const tip = card.getByTestId('chart-tooltip');
  await tip.waitFor({ timeout: T });
  const rows = tip.locator('.chart-tooltip-row');
  assert.equal(await rows.count(), 2, 'both runs at the step');
  const step = Number((await tip.getByTestId('tooltip-step').textContent()).replace(/,/g, ''));
  const tunedRow = tip.locator('.chart-tooltip-row[data-series="tuned"]');
  const tunedText = await tunedRow.textContent();
  const at = /at ([\d,]+)/.exec(tunedText);
  const tunedStep = at ? Number(at[1].replace(/,/g, '')) : step;
  assert.equal((await tunedRow.getByTestId('tooltip-value').textContent()).trim(), fmt(loss(tunedStep, 1)));
  await screenshot(page, 'compare');

  // a legend entry hides its series
  await card.getByRole('button', { name: 'tuned' }).click();
  assert.equal(await card.getByRole('button', { name: 'tuned' }).getAttribute('aria-pressed'), 'false');
  await page.waitForFunction(() => document.querySelector('section[data-metric="loss"] .chart-plot')?.dataset.series === '1', null, { timeout: T });
});

test('no page asked any host but the server, and no script error happened', () => {
  const origin = new URL(BASE).origin;
  const outside = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});
