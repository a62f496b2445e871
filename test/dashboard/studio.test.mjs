// Drives moat's studio in a real browser (Debian's Chromium through
// playwright-core) against `moat serve` and `moat idp` processes that
// internal/studio's browser test starts. Environment:
//   STUDIO_URL        the studio on a private management listener, e.g. http://127.0.0.1:P/studio/
//   STUDIO_PUBLIC_URL the studio on a public management listener (allow_public off)
//   DATA_URL          the data plane, e.g. http://127.0.0.1:P
//   ADMIN_UPN         a user holding Moat Administrator at the idp
//   PLAIN_UPN         a user with no role at all
//   PLAIN_OBJECT      that user's object ID
//   STUDIO_SCREENSHOT where to save a full-page PNG (optional)
//   CHROMIUM_PATH     the browser (default /usr/bin/chromium)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.STUDIO_URL;
const publicURL = process.env.STUDIO_PUBLIC_URL;
const dataURL = process.env.DATA_URL;
const adminUPN = process.env.ADMIN_UPN;
const plainUPN = process.env.PLAIN_UPN;
const plainObject = process.env.PLAIN_OBJECT;
const shot = process.env.STUDIO_SCREENSHOT;
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function browser() {
  const profile = mkdtempSync(join(tmpdir(), 'moat-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args: ARGS, viewport: { width: 1360, height: 900 }, timeout: 60000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  const problems = [];
  page.on('pageerror', e => problems.push('page error: ' + e.message));
  page.on('console', m => {
    // The refusals this test provokes on purpose are logged by Chromium as failed loads.
    if (m.type() === 'error' && !/status of 40[013]/.test(m.text())) problems.push('console: ' + m.text());
  });
  const close = async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); };
  return { context, page, problems, close };
}

// signIn goes through the OIDC code flow: the studio's sign-in button, the
// idp's page (pick the user), back to the studio.
async function signIn(page, upn) {
  await page.goto(url);
  await page.locator('#signin:not([hidden])').waitFor();
  assert.equal(await page.locator('#signin-key').isVisible(), true, 'API-key sign-in is offered');
  await page.click('#signin-oidc-link');
  await page.locator(`button[data-upn="${upn}"]`).click();
  await page.waitForURL(url);
  await page.locator('body[data-state="ready"]').waitFor();
}

async function dataCall(key) {
  const res = await fetch(dataURL + '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', {
    method: 'POST', headers: { 'api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi from a studio key' }], max_tokens: 8 }),
  });
  await res.arrayBuffer();
  return res.status;
}

// reloadCalls applies the range until a row matching sel appears (the
// request log is written in batches).
async function waitForCall(page, sel) {
  for (let i = 0; i < 40; i++) {
    await page.click('#calls-apply');
    await page.locator('body[data-calls="ready"]').waitFor();
    if (await page.locator(sel).count() > 0) return;
    await page.waitForTimeout(250);
  }
  assert.fail('no call row ' + sel);
}

test('an administrator signs in, plays, manages keys and roles, reads calls', { timeout: 180000 }, async () => {
  assert.ok(url && dataURL && adminUPN, 'STUDIO_URL, DATA_URL and ADMIN_UPN must be set');
  const { page, problems, close } = await browser();
  const origin = new URL(url).origin;
  const idpOrigins = new Set();
  page.on('request', r => {
    const o = new URL(r.url()).origin;
    if (o !== origin) idpOrigins.add(o);
  });
  try {
    await signIn(page, adminUPN);
    assert.match(await page.textContent('#principal'), new RegExp(adminUPN.replace('.', '\\.')));
    const cookies = await page.context().cookies(url);
    const sc = cookies.find(c => c.name === 'moat_studio');
    assert.ok(sc && sc.httpOnly && sc.sameSite === 'Strict', 'session cookie is HttpOnly and SameSite=Strict: ' + JSON.stringify(sc));

    // Playground: a streamed call through the data plane.
    await page.locator('#pg-deployment option[value="gpt-4o-mini"]').waitFor({ state: 'attached' });
    await page.fill('#pg-system', 'You are terse.');
    await page.fill('#pg-user', 'Say hello from the studio');
    assert.equal(await page.isChecked('#pg-stream'), true);
    await page.click('#pg-send');
    await page.locator('body[data-playground="done"]').waitFor();
    assert.equal(await page.locator('#pg-error').isHidden(), true, await page.textContent('#pg-error'));
    const answer = await page.textContent('#pg-transcript li.assistant .content');
    assert.ok(answer.length > 0, 'the assistant answered');
    const requestId = await page.getAttribute('#pg-meta', 'data-request-id');
    assert.ok(requestId, 'the request ID is shown');
    assert.match(await page.textContent('#pg-headers'), /apim-request-id/);

    // The call is in the calls list, and opens into its detail.
    await page.click('#tab-calls');
    await waitForCall(page, `#calls-table tr[data-request-id="${requestId}"]`);
    const row = page.locator(`#calls-table tr[data-request-id="${requestId}"]`);
    assert.equal(await row.getAttribute('data-outcome'), 'ok');
    assert.ok(await page.locator('#latency-chart svg.chart').count() === 1, 'latency chart drawn');
    await row.locator('button').click();
    await page.locator('#call-detail[open]').waitFor();
    const detail = await page.textContent('#call-detail-body');
    assert.match(detail, new RegExp(requestId));
    assert.match(detail, /gpt-4o-mini/);
    assert.match(detail, /Streamed\s*true/);
    assert.match(await page.textContent('#call-attempts'), /sim 200/);
    // Its headers, from the request log's allow-listed Headers column.
    assert.match(await page.textContent('#call-headers-resp'), new RegExp('apim-request-id: ' + requestId));
    assert.match(await page.textContent('#call-headers-req'), /content-type: application\/json/);
    await page.click('#call-detail-close');

    // A failed query replaces only the result it belongs to.
    await page.route('**/studio/api/query', async route => {
      if (route.request().postData().includes('percentile')) {
        await route.fulfill({ status: 400, contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'BadRequest', message: 'line 2, col 3: injected KQL error' } }) });
      } else {
        await route.continue();
      }
    });
    await page.click('#calls-apply');
    await page.locator('body[data-calls="ready"]').waitFor();
    assert.match(await page.textContent('#latency-error'), /injected KQL error/);
    assert.equal(await page.locator('#latency-chart svg').count(), 0, 'no stale chart under the error');
    assert.ok(await page.locator('#calls-table tbody tr').count() > 0, 'the calls list still shows');
    assert.equal(await page.locator('#calls-error').isHidden(), true);
    await page.unroute('**/studio/api/query');
    await page.click('#calls-apply');
    await page.locator('body[data-calls="ready"]').waitFor();
    assert.equal(await page.locator('#latency-error').isHidden(), true);
    assert.equal(await page.locator('#latency-chart svg').count(), 1);

    // Keys: create (the secret is shown once), use it, revoke it.
    await page.click('#tab-keys');
    await page.fill('#key-name', 'team-blue');
    await page.fill('#key-deployments', 'gpt-4o-mini');
    await page.fill('#key-operations', 'chat');
    await page.click('#key-form button[type=submit]');
    await page.locator('#key-secret:not([hidden])').waitFor();
    const secret = (await page.textContent('#key-secret-value')).trim();
    assert.match(secret, /^moat_/);
    const keyRow = page.locator('#keys-table tr[data-key-name="team-blue"]');
    await keyRow.waitFor();
    const keyId = await keyRow.getAttribute('data-key-id');
    assert.equal(await dataCall(secret), 200, 'the new key calls its deployment');

    // Its call shows the key's name, not its ID.
    await page.click('#tab-calls');
    await waitForCall(page, `#calls-table td.caller:text("team-blue (${keyId})")`);
    // It opens with its headers, but never the api-key it was made with.
    await page.locator(`#calls-table tr:has(td.caller:text("team-blue (${keyId})")) button`).first().click();
    await page.locator('#call-detail[open]').waitFor();
    assert.match(await page.textContent('#call-headers-resp'), /x-request-id: /);
    assert.match(await page.textContent('#call-headers-req'), /content-type: application\/json/);
    const keyDetail = await page.textContent('#call-detail');
    assert.ok(!keyDetail.includes(secret), 'the api-key is not in the call detail');
    assert.ok(!/api-key/i.test(keyDetail), 'no api-key header in the call detail');
    await page.click('#call-detail-close');

    // Regenerate with a grace period: a new secret, shown once; the old key is "revoking".
    await page.click('#tab-keys');
    page.once('dialog', d => d.accept('3600'));
    await keyRow.locator('button.regenerate').click();
    await page.locator(`#keys-table tr[data-key-id="${keyId}"] td.status.revoking`).waitFor();
    const newSecret = (await page.textContent('#key-secret-value')).trim();
    assert.ok(newSecret.startsWith('moat_') && newSecret !== secret, 'the regenerated secret is shown');
    assert.equal(await page.locator('#keys-table tr[data-key-name="team-blue"]').count(), 2);
    assert.equal(await dataCall(newSecret), 200, 'the new key works');
    assert.equal(await dataCall(secret), 200, 'the old key works during its grace period');

    page.once('dialog', d => d.accept());
    await page.locator(`#keys-table tr[data-key-id="${keyId}"] button.revoke`).click();
    await page.locator(`#keys-table tr[data-key-id="${keyId}"] td.status.revoked`).waitFor();
    let status = 0;
    for (let i = 0; i < 20 && status !== 401; i++) {
      status = await dataCall(secret);
      if (status !== 401) await page.waitForTimeout(250);
    }
    assert.equal(status, 401, 'the revoked key is refused on the data plane');

    // Roles: add an assignment for the plain user, then remove it.
    await page.click('#tab-roles');
    await page.locator('#assign-role option').first().waitFor({ state: 'attached' });
    await page.selectOption('#assign-role', 'Cognitive Services OpenAI User');
    await page.fill('#assign-principal', 'object:' + plainObject);
    await page.fill('#assign-scope', '/deployments/gpt-4o-mini');
    await page.click('#assign-form button[type=submit]');
    const asRow = page.locator(`#assign-table tr[data-principal="object:${plainObject}"]`);
    await asRow.waitFor();
    assert.match(await asRow.textContent(), new RegExp(adminUPN.replace('.', '\\.')));
    page.once('dialog', d => d.accept());
    await asRow.locator('button.remove').click();
    await asRow.waitFor({ state: 'detached' });

    // Audit log: every change above, and a verified chain.
    await page.click('#tab-audit');
    await page.locator('#audit-verify[data-ok="true"]').waitFor();
    const audit = await page.textContent('#audit-table');
    for (const a of ['key.create', 'key.revoke', 'role.assign', 'role.remove']) assert.ok(audit.includes(a), 'audit has ' + a);
    assert.ok(audit.includes(adminUPN), 'audit names the signed-in user');

    // Deployments and upstreams.
    await page.click('#tab-deployments');
    await page.locator('#dep-table tr[data-deployment="gpt-4o-mini"]').waitFor();
    assert.match(await page.textContent('#dep-facts'), /[0-9a-f]{8}/);

    // A state change without the CSRF token is refused, from this very page.
    const csrf = await page.evaluate(async () => {
      const r = await fetch('api/admin/keys', { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Moat-Request': '1' }, body: JSON.stringify({ name: 'no-csrf' }) });
      return r.status;
    });
    assert.equal(csrf, 403, 'a state change without the CSRF token is refused');

    // Japanese.
    await page.selectOption('#lang', 'ja');
    assert.equal(await page.textContent('#tab-playground'), 'プレイグラウンド');
    assert.equal(await page.getAttribute('html', 'lang'), 'ja');
    await page.selectOption('#lang', 'en');

    if (shot) await page.screenshot({ path: shot, fullPage: true });

    // Sign out ends the session.
    await page.click('#signout');
    await page.locator('#signin:not([hidden])').waitFor();
    const after = await page.evaluate(async () => (await fetch('api/admin/keys')).status);
    assert.equal(after, 401);
    for (const o of idpOrigins) assert.ok(!o.startsWith('https://'), 'the page reached out to ' + o);
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('a principal without the admin role cannot reach key management', { timeout: 90000 }, async () => {
  const { page, close } = await browser();
  try {
    await signIn(page, plainUPN);
    assert.equal(await page.locator('#tab-keys').isHidden(), true, 'the keys tab is hidden');
    const r = await page.evaluate(async () => {
      const s = await (await fetch('api/session')).json();
      const list = await fetch('api/admin/keys');
      const create = await fetch('api/admin/keys', { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Moat-Request': '1', 'X-CSRF-Token': s.csrf },
        body: JSON.stringify({ name: 'not-allowed' }) });
      return { list: list.status, create: create.status, body: await create.text() };
    });
    assert.equal(r.list, 403);
    assert.equal(r.create, 403);
    assert.match(r.body, /PermissionDenied|lacks/);
  } finally {
    await close();
  }
});

test('the studio is refused on a public management listener', { timeout: 60000 }, async () => {
  const { page, close } = await browser();
  try {
    const res = await page.goto(publicURL);
    assert.equal(res.status(), 403);
    assert.match(await page.textContent('body'), /not served on public listeners/);
  } finally {
    await close();
  }
});
