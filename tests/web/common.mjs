// What every browser test shares: the server tests/web/run started (its URL,
// the admin's password and token, the screenshot folder), Chromium's
// arguments, and two API helpers for the data a test makes before it opens
// the page.
import assert from 'node:assert/strict';

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
