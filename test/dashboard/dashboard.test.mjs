// Drives moat's dashboard in a real browser (Debian's Chromium through
// playwright-core) against a server that internal/dashboard's browser test
// starts over a seeded request log. Environment:
//   DASHBOARD_URL         the page, e.g. http://127.0.0.1:PORT/dashboard/
//   DASHBOARD_KEY         an api-key the server accepts
//   DASHBOARD_EXPECT      JSON with the figures of the seeded traffic
//   DASHBOARD_SCREENSHOT  where to save a full-page PNG (optional)
//   CHROMIUM_PATH         the browser (default /usr/bin/chromium)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.DASHBOARD_URL;
const key = process.env.DASHBOARD_KEY;
const expect = JSON.parse(process.env.DASHBOARD_EXPECT || '{}');
const shot = process.env.DASHBOARD_SCREENSHOT;
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('dashboard shows the seeded traffic and runs KQL', { timeout: 90000 }, async () => {
  assert.ok(url && key, 'DASHBOARD_URL and DASHBOARD_KEY must be set');
  const profile = mkdtempSync(join(tmpdir(), 'moat-chromium-'));
  // launchPersistentContext passes the fresh profile as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args: ARGS, viewport: { width: 1360, height: 900 }, timeout: 60000,
  });
  const problems = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(20000);
    page.on('console', m => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
    page.on('pageerror', e => problems.push('page error: ' + e.message));
    page.on('requestfailed', r => problems.push('request failed: ' + r.url()));
    page.on('request', r => {
      if (!r.url().startsWith(new URL(url).origin)) problems.push('request to another origin: ' + r.url());
    });

    await page.goto(url);

    // The page asks for a key; a wrong one is refused with the server's message.
    await page.locator('#key-dialog[open]').waitFor();
    await page.fill('#key-input', 'not-the-key');
    await page.click('#key-save');
    await page.locator('#key-message:not([hidden])').waitFor();
    assert.match(await page.textContent('#key-message'), /invalid subscription key/);

    await page.fill('#key-input', key);
    await page.click('#key-save');
    await page.locator('body[data-summary="ready"]').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('moat.dashboard.apiKey')), key);

    // Headline figures.
    assert.equal(await page.textContent('#total-calls'), expect.calls);
    assert.equal(await page.textContent('#total-tokens'), expect.tokens);
    assert.equal(await page.textContent('#total-throttled'), expect.throttled);
    assert.equal(await page.textContent('#total-errors'), expect.errors);

    // Panels drawn as SVG: the calls chart and a deployment's token bar.
    assert.ok(await page.locator('#chart-calls svg.chart polyline').count() >= 1, 'calls chart has a line');
    const bar = page.locator(`#tokens-deployment g.bar-row[data-label="${expect.deployment}"]`);
    const barText = await bar.textContent();
    assert.ok(barText.includes(expect.deploymentTokens), `bar for ${expect.deployment} reads ${barText}`);
    assert.match(await page.textContent('#latency'), new RegExp(expect.deployment));
    assert.match(await page.textContent('#errors-reason'), /upstream_rate_limit/);
    assert.equal(await page.locator('#recent tbody tr').count(), expect.recentRows);
    await page.locator('#upstreams .badge.open').waitFor();
    assert.match(await page.textContent('#upstreams'), /swedencentral/);

    // A timechart query renders as a chart.
    await page.fill('#kql', 'MoatGatewayLogs\n| summarize Calls = count() by bin(TimeGenerated, 5m)\n| render timechart');
    await page.click('#kql-run');
    await page.locator('body[data-query="done"]').waitFor();
    assert.equal(await page.locator('#kql-chart svg.chart.time').count(), 1);
    assert.ok(await page.locator('#kql-chart svg.chart polyline').count() >= 1, 'query chart has a line');

    // A table query renders its rows.
    await page.fill('#kql', 'MoatGatewayLogs | where ResponseCode == 429 | project TimeGenerated, CallerId, DeploymentName | order by TimeGenerated asc');
    await page.press('#kql', 'Control+Enter');
    await page.locator('body[data-query="done"]').waitFor();
    assert.equal(await page.locator('#kql-chart svg').count(), 0);
    assert.equal(await page.locator('#kql-result table tbody tr').count(), expect.throttledRows);
    assert.match(await page.textContent('#kql-result'), /carol/);

    // A mistake shows the compiler's position.
    await page.fill('#kql', 'MoatGatewayLogs | where Nope == 1');
    await page.click('#kql-run');
    await page.locator('body[data-query="error"]').waitFor();
    assert.match(await page.textContent('#kql-error'), /line 1, col 25: unknown column "Nope"/);

    // Leave a chart on screen for the screenshot.
    await page.fill('#kql', 'MoatGatewayLogs\n| summarize Tokens = sum(TotalTokens) by CallerId\n| render barchart');
    await page.click('#kql-run');
    await page.locator('body[data-query="done"]').waitFor();
    assert.equal(await page.locator('#kql-chart svg.chart.bar').count(), 1);
    if (shot) await page.screenshot({ path: shot, fullPage: true });

    // The refused key (401) and the mistaken query (400) log failed loads;
    // nothing else may.
    const unexpected = problems.filter(p => !/status of 40[01]/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
