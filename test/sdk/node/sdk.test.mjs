// Real-client tests: the official openai npm package against a running moat.
// internal/gateway's TestNodeSDK starts moat + simulator and runs this file
// with MOAT_URL set. Run by hand: MOAT_URL=http://127.0.0.1:8080 node --test
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AzureOpenAI, OpenAI, NotFoundError, BadRequestError } from 'openai';

const endpoint = process.env.MOAT_URL;
const apiKey = process.env.MOAT_API_KEY ?? 'any-key';
const apiVersion = '2024-10-21';
assert.ok(endpoint, 'MOAT_URL must be set');

const azure = (deployment) => new AzureOpenAI({ endpoint, apiKey, apiVersion, deployment, maxRetries: 0 });

test('AzureOpenAI chat completion', async () => {
  const r = await azure('gpt-4o-mini').chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 16,
  });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('AzureOpenAI streaming without include_usage sees no usage chunk', async () => {
  const stream = await azure('gpt-4o-mini').chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Stream please' }], max_tokens: 20, stream: true,
  });
  let text = '', usageChunks = 0, chunks = 0, finish = null;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usageChunks++;
    assert.ok(!('usage' in c) || c.usage === undefined, 'client did not ask for usage');
    for (const ch of c.choices) {
      text += ch.delta?.content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.ok(chunks > 2);
  assert.ok(text.length > 0);
  assert.equal(usageChunks, 0);
  assert.ok(finish === 'stop' || finish === 'length');
});

test('AzureOpenAI streaming with include_usage gets the usage chunk', async () => {
  const stream = await azure('gpt-4o-mini').chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count' }], max_tokens: 10, stream: true,
    stream_options: { include_usage: true },
  });
  let usage = null;
  for await (const c of stream) if (c.usage) usage = c.usage;
  assert.ok(usage, 'usage chunk expected');
  assert.ok(usage.completion_tokens > 0 && usage.completion_tokens <= 10);
});

test('AzureOpenAI embeddings', async () => {
  const r = await azure('text-embedding-3-small').embeddings.create({
    model: 'text-embedding-3-small', input: ['alpha', 'beta'],
  });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 1536);
  assert.ok(r.usage.prompt_tokens > 0);
});

test('unknown deployment is Azure DeploymentNotFound', async () => {
  await assert.rejects(
    azure('no-such-deployment').chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof NotFoundError && err.status === 404 && err.code === 'DeploymentNotFound'
      && typeof err.headers.get('apim-request-id') === 'string',
  );
});

test('unsupported api-version is 404 Resource not found', async () => {
  const c = new AzureOpenAI({ endpoint, apiKey, apiVersion: '1999-01-01', deployment: 'gpt-4o-mini', maxRetries: 0 });
  await assert.rejects(
    c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof NotFoundError && err.code === '404',
  );
});

test('OpenAI client on the v1 surface with Bearer key', async () => {
  const c = new OpenAI({ baseURL: `${endpoint}/openai/v1/`, apiKey, maxRetries: 0 });
  const r = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'v1' }], max_tokens: 8 });
  assert.equal(r.object, 'chat.completion');
  const models = await c.models.list();
  const ids = [];
  for await (const m of models) ids.push(m.id);
  assert.ok(ids.includes('gpt-4o-mini') && ids.includes('text-embedding-3-small'));
});

test('malformed body is a 400 the SDK surfaces', async () => {
  const res = await fetch(`${endpoint}/openai/deployments/gpt-4o-mini/chat/completions?api-version=${apiVersion}`, {
    method: 'POST', headers: { 'api-key': apiKey, 'content-type': 'application/json' }, body: '{"messages": [',
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.type, 'invalid_request_error');
});
