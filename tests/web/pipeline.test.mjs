// End-to-end test of a deployment's Pipeline tab and the drift/supervised
// panels of its dashboard, against the server started by tests/web/run. Made
// through the API: a classification model version, a serving deployment
// storing every image into a datalake, a dataset of that datalake (the
// feedback target) and one of another datalake (refused). The test sets the
// pipeline through the form, checking the API's errors land under their
// field, then starts a run with "Train now". Screenshots go to
// tests/out/web/pipeline-*.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { multipart, png } from './images.mjs';
import { BASE, PASSWORD, TOKEN, OUT, api, ok, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const T = 10_000;

let browser, page, ids, pageErrors;
let shot = 0;

async function screenshot(name) {
  shot++;
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(OUT, `pipeline-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function makeData() {
  const suffix = Date.now().toString(36);
  const model = await ok('POST', '/models', { name: `pipe-model-${suffix}`, task_type: 'classification' });
  // a .safetensors file makes it a base model a launch accepts (its bytes are not weights: the run fails)
  const sha = (await api('PUT', '/files', Buffer.from('not weights'))).data.sha256;
  const v1 = await ok('POST', `/models/${model.id}/versions`, { labels: ['h', 'v'], files: [{ path: 'model.safetensors', sha256: sha }] });
  const lake = await ok('POST', '/datalakes', { name: `pipelake-${suffix}` });
  const other = await ok('POST', '/datalakes', { name: `otherlake-${suffix}` });
  const ds = await ok('POST', '/datasets', { name: `pipeds-${suffix}`, datalake_id: lake.id });
  const dv = await ok('POST', `/datasets/${ds.id}/versions`, { name: 'v1', task: 'classification' });
  const mp = multipart([0, 1, 2, 3].map((i) => ({ name: `ref-${i}.png`, bytes: png(32, 32, 900 + i) })));
  const up = await api('POST', `/datalakes/${lake.id}/data/batch`, mp.body, { 'Content-Type': mp.contentType });
  assert.equal(up.status, 200, JSON.stringify(up.data));
  await ok('POST', `/dataset-versions/${dv.id}/assets`, { q: '' });
  const ods = await ok('POST', '/datasets', { name: `otherds-${suffix}`, datalake_id: other.id });
  const odv = await ok('POST', `/datasets/${ods.id}/versions`, { name: 'v1', task: 'classification' });
  const proj = await ok('POST', '/projects', { name: `pipeproj-${suffix}` });
  const dep = await ok('POST', '/deployments', { name: `pipe-dep-${suffix}`, mode: 'monitor', champion_version_id: v1.id, datalake_id: lake.id, sample_rate: 1 });
  return { dep: dep.id, name: dep.name, lake: lake.id, other: other.id, dv: dv.id, odv: odv.id, project: proj.id };
}

before(async () => {
  ids = await makeData();
  ({ browser, page, pageErrors } = await openAdminPage(T));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

const fieldError = (label) => page.locator('.field').filter({ has: page.getByLabel(label, { exact: true }) }).locator('.field-error');

test('the Pipeline tab: set up with errors under their field, counters, Train now and its run', async () => {
  await page.goto(`/deployments/${ids.dep}`);
  await page.getByRole('navigation', { name: 'Deployment' }).getByRole('link', { name: 'Pipeline' }).click();
  await page.getByRole('heading', { name: `${ids.name}: pipeline`, level: 1 }).waitFor();
  await page.getByText('No pipeline yet').waitFor();
  await page.getByText('No run yet.').waitFor();
  const form = page.getByRole('form', { name: 'Pipeline settings' });
  // a version of another datalake: refused, the API's message under "Feedback version"
  await form.getByLabel('Dataset versions by alias').fill(`train=${ids.odv}`);
  await form.getByRole('button', { name: 'Create pipeline' }).click();
  await fieldError('Feedback version').getByText(`belongs to datalake ${ids.other}`, { exact: false }).waitFor();
  await screenshot('feedback-error');
  // a typo in the aliases is caught before the round trip
  await form.getByLabel('Dataset versions by alias').fill(`train:${ids.dv}`);
  await form.getByRole('button', { name: 'Create pipeline' }).click();
  await fieldError('Dataset versions by alias').getByText('is not alias=version id').waitFor();
  // continuous training without a project: under "Project"
  await form.getByLabel('Dataset versions by alias').fill(`train=${ids.dv}, test=${ids.dv}`);
  await form.getByLabel('Reviews to train').fill('5');
  await form.getByRole('button', { name: 'Create pipeline' }).click();
  await fieldError('Project').getByText('needs the project_id').waitFor();
  assert.equal(await fieldError('Feedback version').count(), 0, 'the older error is gone');
  // a bad margin (outside -1..1): under "Margin"
  await form.getByLabel('Project').fill(String(ids.project));
  await form.getByLabel('Policy').selectOption('champion');
  await form.getByLabel('Margin').fill('3');
  await form.getByRole('button', { name: 'Create pipeline' }).click();
  await fieldError('Margin').getByText("field 'margin'").waitFor();
  await form.getByLabel('Margin').fill('0.02');
  await form.getByLabel('Feedback tags').fill('train, feedback');
  await form.getByRole('button', { name: 'Create pipeline' }).click();
  await page.getByText('Pipeline saved.').waitFor();
  const counters = page.getByLabel('Feedback counters');
  await counters.getByText('0 of 5 to start training').waitFor();
  const saved = await ok('GET', `/deployments/${ids.dep}/pipeline`);
  assert.deepEqual(saved.datasets, { train: ids.dv, test: ids.dv });
  assert.deepEqual(saved.feedback_tags, ['train', 'feedback']);
  assert.equal(saved.policy, 'champion');
  assert.equal(saved.margin, 0.02);
  assert.equal(saved.project_id, ids.project);
  // reloaded, the form shows what was stored
  await page.reload();
  await page.getByRole('button', { name: 'Save pipeline' }).waitFor();
  assert.equal(await page.getByLabel('Dataset versions by alias').inputValue(), `test=${ids.dv}, train=${ids.dv}`);
  assert.equal(await page.getByLabel('Policy').inputValue(), 'champion');
  // Train now: a run appears with its experiment
  await page.getByRole('button', { name: 'Train now' }).click();
  await page.getByText(/Pipeline run \d+ started/).waitFor();
  const runs = page.getByRole('table', { name: 'Pipeline runs' });
  const row = runs.getByRole('row').nth(1);
  await row.getByRole('link', { name: /experiment \d+/ }).waitFor();
  const href = await row.getByRole('link', { name: /experiment \d+/ }).getAttribute('href');
  assert.match(href, new RegExp(`^/projects/${ids.project}/experiments/\\d+$`));
  // the run's training fails (the base model's file is no checkpoint): the list follows it, with the reason
  await row.getByText('failed', { exact: true }).waitFor({ timeout: 90_000 });
  assert.notEqual((await row.getByRole('cell').nth(5).textContent()).trim(), '', 'a failed run says why');
  await screenshot('runs');
});

async function report(dep, image, label) {
  const B = 'cvopsPipeB';
  const body = Buffer.concat([
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="predictions"\r\n\r\n${JSON.stringify({ classes: [{ label, score: 0.9 }] })}\r\n`),
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="image"; filename="cam.png"\r\nContent-Type: image/png\r\n\r\n`),
    image,
    Buffer.from(`\r\n--${B}--\r\n`),
  ]);
  const r = await api('POST', `/deployments/${dep}/predictions`, body, { 'Content-Type': `multipart/form-data; boundary=${B}` });
  assert.ok(r.status === 200 || r.status === 201, `report: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

test('the dashboard shows drift per feature and labels, the supervised metrics; the grid filters out-of-range', async () => {
  // three reported images of another size than the 32x32 reference: width and height drift, all out of range
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await report(ids.dep, png(64, 48, 950 + i), 'h'));
  await ok('PUT', `/predictions/${made[0].id}/review`, { output: { classes: [{ label: 'h' }] } });
  await ok('PUT', `/predictions/${made[1].id}/review`, { output: { classes: [{ label: 'v' }] } });
  await page.goto(`/deployments/${ids.dep}`);
  const drift = page.getByRole('table', { name: 'Drift per feature' });
  const width = drift.getByRole('row').filter({ hasText: /^width/ });
  await width.waitFor();
  assert.match(await width.textContent(), /drifted/);
  assert.equal((await width.getByRole('cell').nth(1).textContent()).trim(), '1', 'KS D of disjoint widths is 1');
  assert.equal((await width.getByRole('cell').nth(3).textContent()).trim(), '32');
  assert.equal((await width.getByRole('cell').nth(4).textContent()).trim(), '64');
  await drift.getByRole('row').filter({ hasText: /^labels/ }).waitFor();
  const outliers = page.getByLabel('Outliers');
  await outliers.getByText('3 predictions with a feature outside').waitFor();
  const sup = page.getByRole('table', { name: 'Champion vs shadow' });
  const acc = sup.getByRole('row').filter({ hasText: 'Accuracy' });
  assert.equal((await acc.getByRole('cell').nth(1).textContent()).trim(), '50.0%', 'one of the two reviews agrees');
  await page.getByText('2 reviewed predictions').waitFor();
  await screenshot('drift');
  await page.getByRole('navigation', { name: 'Deployment' }).getByRole('link', { name: /Predictions/ }).click();
  const filters = page.getByRole('form', { name: 'Filters' });
  await filters.getByLabel('Out of range').selectOption('1');
  // the unfiltered grid also shows 3: wait for the filter to be in the URL and its grid drawn
  await page.waitForURL(/[?&]oor=1/);
  await page.getByText('3 predictions shown').waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll('.pred-cell .badge')].filter((b) => b.textContent === 'out of range').length === 3);
  assert.equal(await page.getByRole('list', { name: 'Predictions' }).getByText('out of range').count(), 3);
  await filters.getByLabel('Out of range').selectOption('0');
  await page.getByText('No prediction matches these filters.').waitFor();
  await screenshot('filtered');
});

test('a viewer sees the pipeline read-only: its settings, no form, no Train now', async () => {
  const username = `pipeviewer${Date.now().toString(36)}`;
  const password = `${username}-password-1`;
  const u = await api('POST', '/users', { username, password, role: 'viewer' });
  assert.equal(u.status, 201, JSON.stringify(u.data));
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: BASE, reducedMotion: 'reduce' });
  ctx.setDefaultTimeout(T);
  const p = await ctx.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto('/');
  await p.getByLabel('Username').fill(username);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByRole('heading', { name: /Welcome/ }).waitFor();
  await p.goto(`/deployments/${ids.dep}/pipeline`);
  const facts = p.getByLabel('Pipeline settings');
  await facts.getByText(`test=${ids.dv}, train=${ids.dv}`).waitFor();
  await facts.getByText('champion, when accuracy beats it by 0.02').waitFor();
  await p.getByRole('table', { name: 'Pipeline runs' }).waitFor();
  assert.equal(await p.getByRole('button', { name: /Save pipeline|Train now|Remove pipeline/ }).count(), 0);
  await ctx.close();
});

test('Remove pipeline…: after a confirmation the pipeline is gone, its runs stay listed', async () => {
  await page.goto(`/deployments/${ids.dep}/pipeline`);
  await page.getByRole('button', { name: 'Remove pipeline…' }).click();
  const confirm = page.getByRole('dialog', { name: 'Remove the pipeline?' });
  await confirm.getByRole('button', { name: 'Remove' }).click();
  await page.getByText('No pipeline yet').waitFor();
  await page.getByRole('button', { name: 'Create pipeline' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Train now' }).count(), 0);
  assert.equal(await page.getByRole('table', { name: 'Pipeline runs' }).getByRole('row').count(), 2, 'the header and the run');
  assert.equal((await api('GET', `/deployments/${ids.dep}/pipeline`)).status, 404);
});
