// Plays a hostile web page against moat's management plane in development
// mode (authentication disabled), in Debian's Chromium through
// playwright-core. Run by internal/gateway's TestCSRFFromBrowser, which
// serves the page from another origin and checks afterwards that nothing
// was created. Environment:
//   CSRF_PAGE_URL   the attacker's page (another origin than moat)
//   MGMT_ORIGIN     moat's management origin, e.g. http://127.0.0.1:PORT
//   CHROMIUM_PATH   the browser (default /usr/bin/chromium)
// It prints one line "CSRF_RESULT <json>": what the page saw of each
// attempt and the status moat answered each request to its origin with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const pageURL = process.env.CSRF_PAGE_URL;
const mgmt = process.env.MGMT_ORIGIN;
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('a page on another origin cannot change moat', { timeout: 90000 }, async () => {
  assert.ok(pageURL && mgmt, 'CSRF_PAGE_URL and MGMT_ORIGIN must be set');
  const profile = mkdtempSync(join(tmpdir(), 'moat-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args: ARGS, timeout: 60000,
  });
  const answers = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(20000);
    // The protocol sees moat's answers even where the page may not.
    context.on('response', r => {
      if (r.url().startsWith(mgmt)) answers.push({ method: r.request().method(), url: r.url(), status: r.status() });
    });
    await page.goto(pageURL);
    await page.locator('body[data-done="1"]').waitFor();
    const seen = JSON.parse(await page.textContent('#results'));
    console.log('CSRF_RESULT ' + JSON.stringify({ seen, answers }));
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
