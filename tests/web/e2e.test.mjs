// End-to-end tests of the web UI in a real browser (Debian's chromium driven
// by npm playwright-core), against a real `cvops serve` started by
// tests/web/run. The tests run in order and share one logged-in page, like a
// person going through the product: log in, visit every section, create a
// token and a member, follow a job live and cancel it, switch organization,
// log out. Every page is saved as a screenshot under tests/out/web/.
//
// Environment (set by tests/web/run): CVOPS_WEB_URL, CVOPS_WEB_PASSWORD (the
// admin's), CVOPS_WEB_TOKEN (an admin API token), CVOPS_WEB_OUT, CVOPS_WEB_DIST.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { BASE, PASSWORD, TOKEN, OUT } from './common.mjs';

const DIST = process.env.CVOPS_WEB_DIST;
assert.ok(BASE && PASSWORD && TOKEN && OUT && DIST, 'run this through tests/web/run');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const T = 10_000; // default wait for anything to appear

let browser, ctx, page;
const requests = []; // every URL any page of the test asked for
const pageErrors = [];
let shot = 0;

// launch() gives chromium a fresh --user-data-dir of its own (a new temporary
// profile, removed on close); passing one in args is refused by playwright.
async function launch() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

async function newContext(viewport = { width: 1280, height: 800 }) {
  const c = await browser.newContext({ viewport, baseURL: BASE, reducedMotion: 'reduce' });
  c.on('request', (r) => requests.push(r.url()));
  c.on('page', (p) => p.on('pageerror', (e) => pageErrors.push(e.message)));
  return c;
}

async function screenshot(p, name) {
  shot++;
  await p.waitForTimeout(150); // let transitions settle
  await p.screenshot({ path: join(OUT, `${String(shot).padStart(2, '0')}-${name}.png`) });
}

/** The admin's API, used to prepare and to check what the UI did. */
async function apiCall(method, path, body, token = TOKEN) {
  const res = await fetch(BASE + '/api/v1' + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json();
  return { status: res.status, data };
}

async function heading(p) {
  return (await p.locator('main h1').first().textContent()).trim();
}

async function login(p, username, password) {
  await p.getByLabel('Username').fill(username);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Log in' }).click();
}

before(async () => {
  browser = await launch();
  ctx = await newContext();
  page = await ctx.newPage();
});

after(async () => {
  await browser?.close();
});

test('the built bundle names no outside host', () => {
  // XML namespace names are identifiers, never fetched.
  const allowed = new Set([
    'http://www.w3.org/2000/svg',
    'http://www.w3.org/1999/xhtml',
    'http://www.w3.org/1999/xlink',
    'http://www.w3.org/1998/Math/MathML',
    'http://www.w3.org/XML/1998/namespace',
  ]);
  const files = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(DIST);
  assert.ok(files.some((f) => f.endsWith('index.html')), 'web/dist has index.html');
  assert.ok(files.some((f) => /\/assets\/index-[\w-]+\.js$/.test(f)), 'scripts have hashed names under /assets/');
  const bad = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/https?:\/\/[^\s"'`)<>\\]+/g)) if (!allowed.has(m[0])) bad.push(`${f}: ${m[0]}`);
    // protocol-relative URLs and CSS imports of anything but our own files
    for (const m of text.matchAll(/(?:src|href|url)\s*[=(]\s*["']?\/\/[^\s"')]+/g)) bad.push(`${f}: ${m[0]}`);
  }
  assert.deepEqual(bad, [], 'URLs of other hosts in web/dist');
});

test('index.html is served with no-cache, hashed assets as immutable', async () => {
  const res = await fetch(BASE + '/');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const html = await res.text();
  const js = /src="(\/assets\/[^"]+\.js)"/.exec(html);
  assert.ok(js, 'index.html loads a hashed script');
  const a = await fetch(BASE + js[1]);
  assert.equal(a.status, 200);
  assert.match(a.headers.get('cache-control'), /immutable/);
  await a.arrayBuffer(); // an unread body would hold the connection open
  const deep = await fetch(BASE + '/jobs/123');
  assert.equal(deep.status, 200, 'a deep link gets the app');
  assert.equal(await deep.text(), html);
});

test('login: a wrong password shows the API message; the right one lands on the home page', async () => {
  await page.goto('/');
  await page.getByRole('heading', { name: 'Log in' }).waitFor({ timeout: T });
  await screenshot(page, 'login');
  const expected = (
    await (
      await fetch(BASE + '/api/v1/auth/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'not-the-password' }),
      })
    ).json()
  ).error.message;
  await login(page, 'admin', 'not-the-password');
  const alert = page.locator('.form-error');
  await alert.waitFor({ timeout: T });
  assert.equal((await alert.textContent()).trim(), expected);
  await screenshot(page, 'login-error');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  assert.equal(new URL(page.url()).pathname, '/');
  assert.match(await page.locator('#org-menu-button').textContent(), /default/);
  await screenshot(page, 'home');
});

test('navigation reaches every section, by mouse and by keyboard', async () => {
  const sections = [
    ['Datalake', '/datalake', 'Datalake'],
    ['Datasets', '/datasets', 'Datasets'],
    ['Projects', '/projects', 'Projects'],
    ['Models', '/models', 'Models'],
    ['Deployments', '/deployments', 'Deployments'],
    ['Jobs', '/jobs', 'Jobs'],
    ['Settings', '/settings/members', 'Settings · Members'],
  ];
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const [link, path, title] of sections) {
    await nav.getByRole('link', { name: link, exact: true }).click();
    await page.waitForURL(BASE + path, { timeout: T });
    await page.getByRole('heading', { level: 1, name: title }).waitFor({ timeout: T });
    assert.equal(await nav.getByRole('link', { name: link, exact: true }).getAttribute('aria-current'), 'page');
    await screenshot(page, path.slice(1).replace(/\//g, '-'));
  }
  // the operations sections are real pages now (tests/web/models.test.mjs, deployments.test.mjs)
  await page.goto('/models');
  await page.getByText(/The registry: every model/).waitFor({ timeout: T });

  // keyboard: Tab from the top reaches the skip link, then the navigation; Enter follows a link
  await page.goto('/');
  await page.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Skip to content');
  const datasets = nav.getByRole('link', { name: 'Datasets', exact: true });
  await datasets.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(BASE + '/datasets', { timeout: T });
  await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor({ timeout: T });
  // focus moved to the new page's heading
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1', null, { timeout: T });

  // an unknown page says so
  await page.goto('/no-such-page');
  await page.getByRole('heading', { name: 'No page here' }).waitFor({ timeout: T });
});

test('menus and dialogs work from the keyboard: arrows, Esc, focus return', async () => {
  await page.goto('/settings/tokens');
  await page.getByRole('heading', { level: 1, name: 'Settings · API tokens' }).waitFor({ timeout: T });
  const button = page.locator('#user-menu-button');
  await button.focus();
  await page.keyboard.press('Enter');
  const menu = page.getByRole('menu');
  await menu.waitFor({ timeout: T });
  await page.waitForFunction(() => document.activeElement?.textContent.trim() === 'Profile and password', null, { timeout: T });
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'API tokens');
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'detached', timeout: T });
  await page.waitForFunction(() => document.activeElement?.id === 'user-menu-button', null, { timeout: T });

  const create = page.getByRole('button', { name: 'Create token' });
  await create.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Create an API token' });
  await dialog.waitFor({ timeout: T });
  await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'name', null, { timeout: T }); // focus starts in the first field
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await page.waitForFunction(() => document.activeElement?.textContent.trim() === 'Create token', null, { timeout: T }); // focus returns to the opener
});

test('API tokens: create one, see the secret once, find it listed, and it works', async () => {
  await page.goto('/settings/tokens');
  await page.getByRole('button', { name: 'Create token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create an API token' });
  // an empty name is caught before the request, next to the field
  await dialog.getByRole('button', { name: 'Create token' }).click();
  await dialog.getByText('This field is required.').waitFor({ timeout: T });
  await dialog.getByLabel('Name').fill('e2e laptop');
  // an API error that names a field is shown under that field, word for word
  const expected = (await apiCall('POST', '/tokens', { name: 'x', expires_in_days: 0 })).data.error.message;
  await dialog.getByLabel(/Expires after/).fill('0');
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const fieldError = dialog.locator('.field-error');
  await fieldError.waitFor({ timeout: T });
  assert.equal((await fieldError.textContent()).trim(), expected);
  assert.equal(await dialog.getByLabel(/Expires after/).getAttribute('aria-invalid'), 'true');
  await screenshot(page, 'token-field-error');
  await dialog.getByLabel(/Expires after/).fill('');
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const secretDialog = page.getByRole('dialog', { name: 'Your new API token' });
  await secretDialog.waitFor({ timeout: T });
  const secret = await secretDialog.getByTestId('token-secret').inputValue();
  assert.match(secret, /^cvops_/);
  await secretDialog.getByRole('button', { name: 'Copy' }).click();
  await secretDialog.getByRole('button', { name: 'Copied' }).waitFor({ timeout: T });
  await screenshot(page, 'token-created');
  await secretDialog.getByRole('button', { name: 'Done' }).click();
  const row = page.getByRole('row', { name: /e2e laptop/ });
  await row.waitFor({ timeout: T });
  assert.match(await row.textContent(), /active/);
  assert.equal(await page.getByText(secret).count(), 0, 'the secret is not shown again');
  await screenshot(page, 'settings-tokens');

  const me = await apiCall('GET', '/me', null, secret);
  assert.equal(me.status, 200);
  assert.equal(me.data.user.username, 'admin');

  // revoke it after a confirmation
  await row.getByRole('button', { name: 'Revoke token e2e laptop' }).click();
  await page.getByRole('dialog', { name: /Revoke token/ }).getByRole('button', { name: 'Revoke token' }).click();
  await page.getByRole('row', { name: /e2e laptop.*revoked/ }).waitFor({ timeout: T });
  assert.equal((await apiCall('GET', '/me', null, secret)).status, 401);
});

test('members: create a user, see the API error for a taken name, change the role', async () => {
  await page.goto('/settings/members');
  await page.getByRole('button', { name: 'Create user' }).click();
  let dialog = page.getByRole('dialog', { name: 'Create a user' });
  await dialog.getByLabel('Username').fill('carol');
  await dialog.getByLabel('Password').fill('carol-password-1');
  await dialog.getByLabel('Role').selectOption('member');
  await screenshot(page, 'member-create-dialog');
  await dialog.getByRole('button', { name: 'Create user' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  const row = page.getByRole('row', { name: /carol/ });
  await row.waitFor({ timeout: T });

  // the same name again: the API's conflict message, word for word
  const expected = (await apiCall('POST', '/users', { username: 'carol', password: 'carol-password-1' })).data.error.message;
  await page.getByRole('button', { name: 'Create user' }).click();
  dialog = page.getByRole('dialog', { name: 'Create a user' });
  await dialog.getByLabel('Username').fill('carol');
  await dialog.getByLabel('Password').fill('carol-password-1');
  await dialog.getByRole('button', { name: 'Create user' }).click();
  await dialog.locator('.form-error').waitFor({ timeout: T });
  assert.equal((await dialog.locator('.form-error').textContent()).trim(), expected);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });

  await row.getByLabel('Role of carol').selectOption('viewer');
  await page.getByText('carol is now viewer.').waitFor({ timeout: T });
  const users = (await apiCall('GET', '/users')).data.items;
  assert.equal(users.find((u) => u.username === 'carol').role, 'viewer');
  await screenshot(page, 'settings-members');
});

let diagnosticJob; // the job of the next test (other test files run jobs before this one)

test('jobs: a job started from a dialog shows live progress and log, and can be canceled', async () => {
  await page.goto('/jobs');
  await page.getByRole('button', { name: 'Run diagnostic job' }).click();
  const dialog = page.getByRole('dialog', { name: 'Run a diagnostic job' });
  await dialog.getByLabel('Duration (seconds)').fill('30');
  await dialog.getByLabel('Steps').fill('60');
  // one planned, retried failure: the log then gains lines while we watch
  await dialog.getByLabel('Fail the first attempts').fill('1');
  await dialog.getByRole('button', { name: 'Start job' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });

  // it is on the jobs page at once, and the toast links to it
  const jobs = (await apiCall('GET', '/jobs?limit=1')).data.items;
  const id = (diagnosticJob = jobs[0].id);
  await page.getByRole('row', { name: new RegExp(`#${id}\\b`) }).waitFor({ timeout: T });
  await screenshot(page, 'jobs-running');
  await page.getByRole('status').getByRole('link', { name: 'View job' }).first().click();
  await page.waitForURL(BASE + `/jobs/${id}`, { timeout: T });

  const log = page.getByTestId('job-log');
  await log.getByText('attempt 1 will be retried').waitFor({ timeout: T });
  // after the retry backoff the next lines arrive by the long poll, without reload
  await log.getByText(/attempt 2 started/).waitFor({ timeout: 15_000 });
  const progress = page.getByTestId('job-progress');
  await page.waitForFunction(() => /step \d+ of 60/.test(document.querySelector('[data-testid=job-progress]')?.textContent ?? ''), null, { timeout: T });
  const p1 = await progress.textContent();
  await page.waitForFunction((before) => document.querySelector('[data-testid=job-progress]')?.textContent !== before, p1, { timeout: T });
  const p2 = await progress.textContent();
  assert.notEqual(p1, p2, 'progress moves without a reload');
  await screenshot(page, 'job-detail-running');

  await page.getByRole('button', { name: `Cancel job ${id}` }).click();
  await page.getByTestId('job-state').getByText('canceled').waitFor({ timeout: T });
  await log.getByText('attempt 2 canceled').waitFor({ timeout: T });
  assert.equal((await apiCall('GET', `/jobs/${id}`)).data.state, 'canceled');
  await page.getByRole('button', { name: `Retry job ${id}` }).waitFor({ timeout: T });
  await screenshot(page, 'job-detail-canceled');
});

test('jobs: a job started elsewhere (API, CLI) appears on the jobs page live', async () => {
  await page.goto('/jobs');
  await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor({ timeout: T });
  await page.locator('tbody tr').first().waitFor({ timeout: T });
  const r = await apiCall('POST', '/jobs', { kind: 'system.sleep', payload: { ms: 1500, steps: 3 } });
  assert.equal(r.status, 202);
  const row = page.getByRole('row', { name: new RegExp(`#${r.data.id}\\b`) });
  await row.waitFor({ timeout: T });
  await row.getByText('succeeded').waitFor({ timeout: T });
  // filters live in the URL
  await page.getByLabel('State').selectOption('canceled');
  await page.waitForURL(/state=canceled/, { timeout: T });
  await page.waitForFunction(() => [...document.querySelectorAll('tbody .badge')].every((b) => b.textContent === 'canceled'), null, { timeout: T });
  await screenshot(page, 'jobs-filtered');
});

test('organizations: create one, switch to it and back', async () => {
  await page.goto('/settings/organizations');
  await page.getByRole('button', { name: 'Create organization' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create an organization' });
  await dialog.getByLabel('Name').fill('e2e-lab');
  await dialog.getByRole('button', { name: 'Create organization' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await page.getByRole('row', { name: /e2e-lab/ }).waitFor({ timeout: T });
  await screenshot(page, 'settings-organizations');

  // switch with the header's menu, by keyboard. The menu focuses its first item on the
  // frame after it opens, unless the focus is in the menu by then: an item focused before
  // that frame keeps it (this test raced that frame, and Enter chose 'default')
  await page.locator('#org-menu-button').focus();
  const kept = await page.evaluate(async () => {
    const b = document.querySelector('#org-menu-button');
    b.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    // Preact renders in a microtask: after a few, the list is there and no frame has run
    for (let k = 0; k < 5; k++) await Promise.resolve();
    const it = [...document.querySelectorAll('#org-menu [role="menuitemradio"]')].find((x) => x.textContent.includes('e2e-lab'));
    if (!it) return 'the menu was not rendered within a few microtasks';
    it.focus();
    await new Promise((r) => setTimeout(r, 300)); // the menu's frame has run
    return document.activeElement === it ? 'kept' : 'the menu moved the focus from e2e-lab to its first item';
  });
  assert.equal(kept, 'kept');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#org-menu-button')?.textContent.includes('e2e-lab'), null, { timeout: T });
  await page.goto('/jobs');
  await page.getByText('No jobs yet.').waitFor({ timeout: T }); // the new organization has none
  await screenshot(page, 'jobs-other-org');

  await page.locator('#org-menu-button').click();
  await page.getByRole('menuitemradio', { name: /default/ }).click();
  await page.waitForFunction(() => document.querySelector('#org-menu-button')?.textContent.includes('default'), null, { timeout: T });
  await page.locator('tbody tr a').first().waitFor({ timeout: T }); // its jobs are back
});

test('a viewer can follow jobs but sees no cancel, retry or member buttons', async () => {
  const c = await newContext();
  const p = await c.newPage();
  await p.goto('/');
  await login(p, 'carol', 'carol-password-1');
  await p.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  await p.goto('/jobs');
  await p.locator('tbody tr a').first().waitFor({ timeout: T });
  await p.getByText('Your role (viewer) can follow jobs but not cancel or retry them.').waitFor({ timeout: T });
  assert.equal(await p.getByRole('button', { name: /^(Cancel|Retry) job/ }).count(), 0);
  assert.equal(await p.getByRole('button', { name: 'Run diagnostic job' }).count(), 0);
  await p.goto('/settings/members');
  await p.getByRole('row', { name: /carol/ }).waitFor({ timeout: T });
  assert.equal(await p.getByRole('button', { name: 'Create user' }).count(), 0);
  await screenshot(p, 'viewer-members');
  await c.close();
});

test('virtual grid: 100,000 items, only the visible rows in the DOM, smooth scrolling', async () => {
  await page.goto('/dev/grid?n=100000');
  const grid = page.getByRole('grid', { name: 'Synthetic items' });
  await grid.waitFor({ timeout: T });
  await page.getByText('Item 1', { exact: true }).waitFor({ timeout: T });
  const cells = () => page.locator('.vgrid-cell').count();
  const n0 = await cells();
  assert.ok(n0 > 0 && n0 < 120, `renders a screenful, not 100,000 (${n0} cells)`);
  await screenshot(page, 'virtual-grid');

  // scroll through it frame by frame and time the frames
  const stats = await page.evaluate(async () => {
    const el = document.querySelector('.vgrid');
    const times = [];
    let last = performance.now();
    let maxCells = 0;
    for (let i = 0; i < 120; i++) {
      el.scrollTop += 900;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
      maxCells = Math.max(maxCells, document.querySelectorAll('.vgrid-cell').length);
    }
    times.sort((a, b) => a - b);
    const shown = [...document.querySelectorAll('.vgrid-cell')].map((c) => /Item ([\d,]+)/.exec(c.textContent)).filter(Boolean).map((m) => Number(m[1].replace(/,/g, '')));
    return { median: times[60], p95: times[114], maxCells, top: el.scrollTop, firstShown: shown.length ? Math.min(...shown) : null };
  });
  console.log(`virtual grid: 120 scroll frames, median ${stats.median.toFixed(1)} ms, p95 ${stats.p95.toFixed(1)} ms, at most ${stats.maxCells} cells`);
  assert.ok(stats.maxCells < 120, `cells stay bounded while scrolling (${stats.maxCells})`);
  // behaviour, not timings (the machine is shared; the figures are printed above): the grid
  // scrolled 108,000 px and what it renders is the items down there, not the first ones
  assert.ok(stats.top >= 100000, `scrolled to ${stats.top}`);
  assert.ok(stats.firstShown > 1000, `rendering items from ${stats.firstShown} after scrolling`);

  // keyboard: End goes to the last item, Space selects, Home goes back
  await grid.focus();
  await page.keyboard.press('End');
  await page.getByText('Item 100,000', { exact: true }).waitFor({ timeout: T });
  // onRangeChange reports the rendered items (what a page would fetch)
  await page.getByText(/rendering \d+–100000$/).waitFor({ timeout: T });
  await page.keyboard.press(' ');
  await page.getByText(/1 selected · active 100,000/).waitFor({ timeout: T });
  assert.equal(await page.locator('[aria-selected=true]').count(), 1);
  await page.keyboard.press('Home');
  await page.getByText('Item 1', { exact: true }).waitFor({ timeout: T });
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.getByText(/opened \d+/).waitFor({ timeout: T });
  assert.ok((await cells()) < 120);
});

test('large screen: 1920x1080 screenshots, light and dark', async () => {
  const c = await newContext({ width: 1920, height: 1080 });
  const p = await c.newPage();
  await p.goto('/');
  await login(p, 'admin', PASSWORD);
  await p.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  await screenshot(p, 'home-1920');
  await p.goto('/jobs');
  await p.locator('tbody tr a').first().waitFor({ timeout: T });
  await screenshot(p, 'jobs-1920');
  await p.emulateMedia({ colorScheme: 'dark' });
  await p.goto(`/jobs/${diagnosticJob}`);
  await p.getByTestId('job-log').getByText('attempt 2 canceled').waitFor({ timeout: T });
  await screenshot(p, 'job-detail-1920-dark');
  await c.close();
});

test('logout ends the session', async () => {
  await page.goto('/');
  await page.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout: T });
  await page.locator('#user-menu-button').click();
  await page.getByTestId('logout').click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor({ timeout: T });
  await page.getByText('You have logged out.').waitFor({ timeout: T });
  const status = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
  assert.equal(status, 401);
  await screenshot(page, 'logged-out');
});

test('no page asked any host but the server, and no script error happened', () => {
  const origin = new URL(BASE).origin;
  const outside = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.ok(requests.length > 20, `requests were recorded (${requests.length})`);
  assert.deepEqual(outside, [], 'requests to other hosts');
  assert.deepEqual(pageErrors, [], 'uncaught errors in pages');
});
