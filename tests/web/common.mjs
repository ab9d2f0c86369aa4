// What every browser test shares: the server tests/web/run started (its URL,
// the admin's password and token, the screenshot folder), Chromium's
// arguments, two API helpers for the data a test makes before it opens
// the page, and the browser page logged in as the admin.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const BASE = process.env.CVOPS_WEB_URL;
export const PASSWORD = process.env.CVOPS_WEB_PASSWORD;
export const TOKEN = process.env.CVOPS_WEB_TOKEN;
export const OUT = process.env.CVOPS_WEB_OUT;
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** An API call with the admin's token: JSON bodies as JSON, Buffers as raw bytes. */
export async function api(method, path, body, headers = {}) {
  const isBuf = body instanceof Buffer;
  const res = await fetch(BASE + '/api/v1' + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body && !isBuf ? { 'Content-Type': 'application/json' } : {}), ...(isBuf ? { 'Content-Type': 'application/octet-stream' } : {}), ...headers },
    body: body ? (isBuf ? body : JSON.stringify(body)) : undefined,
  });
  const text = await res.text();
  return { status: res.status, data: text ? JSON.parse(text) : null };
}

/** api() that must succeed: returns the answer's JSON. */
export async function ok(method, path, body, want = [200, 201, 202]) {
  const r = await api(method, path, body);
  assert.ok(want.includes(r.status), `${method} ${path}: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

/** Chromium with one page logged in as the admin; page errors are collected
 *  into `pageErrors` (a test's after() asserts there are none): a new array, or
 *  the suite's own (`opts.pageErrors`, when other pages add to it too).
 *  `opts.width` (1400), `opts.acceptDownloads`, and `opts.onContext(ctx)` to
 *  watch the context before the page opens. */
export async function openAdminPage(timeout, opts = {}) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  const ctx = await browser.newContext({ viewport: { width: opts.width ?? 1400, height: 1000 }, baseURL: BASE, reducedMotion: 'reduce', ...(opts.acceptDownloads === undefined ? {} : { acceptDownloads: opts.acceptDownloads }) });
  if (opts.onContext) opts.onContext(ctx);
  const page = await ctx.newPage();
  const pageErrors = opts.pageErrors ?? [];
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: /Welcome/ }).waitFor({ timeout });
  return { browser, page, pageErrors };
}
