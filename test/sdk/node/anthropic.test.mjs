// Real-client tests of the Anthropic Messages API: the official
// @anthropic-ai/sdk npm package against a simulator or a moat in front of
// one. internal/proctest's RunNode runs this file; by hand:
//
//   ANTHROPIC_TEST_URL=http://127.0.0.1:8000 node --test anthropic.test.mjs
//
// ANTHROPIC_TEST_URL  base URL the client uses: http://host:port for
//                     Anthropic's /v1/messages, http://host:port/anthropic for
//                     Azure AI Foundry's /anthropic/v1/messages (required)
// ANTHROPIC_TEST_KEY  API key sent as x-api-key (default any-key)
// ANTHROPIC_TEST_TOKEN a bearer token (a Foundry Entra token, `moat idp`)
//                     sent instead of the key when set
// ANTHROPIC_TEST_MODEL the Claude deployment (default claude-sonnet-4-6)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, { NotFoundError, BadRequestError } from '@anthropic-ai/sdk';

const baseURL = process.env.ANTHROPIC_TEST_URL;
const token = process.env.ANTHROPIC_TEST_TOKEN;
const model = process.env.ANTHROPIC_TEST_MODEL ?? 'claude-sonnet-4-6';
assert.ok(baseURL, 'ANTHROPIC_TEST_URL must be set');

const client = token
  ? new Anthropic({ baseURL, apiKey: null, authToken: token, maxRetries: 0 })
  : new Anthropic({ baseURL, apiKey: process.env.ANTHROPIC_TEST_KEY ?? 'any-key', maxRetries: 0 });

const weather = {
  name: 'get_weather',
  description: 'Current weather at a place',
  input_schema: {
    type: 'object',
    properties: {
      location: { type: 'string' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    },
    required: ['location', 'unit'],
  },
};

test('plain message', async () => {
  const m = await client.messages.create({
    model, max_tokens: 128, system: 'You are terse.',
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/);
  assert.equal(m.stop_reason, 'end_turn');
  assert.equal(m.content[0].type, 'text');
  assert.ok(m.content[0].text.length > 0);
  assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);
  assert.equal(typeof m.usage.cache_read_input_tokens, 'number');
});

test('max_tokens stops the answer', async () => {
  const m = await client.messages.create({ model, max_tokens: 4, messages: [{ role: 'user', content: 'Tell a long story' }] });
  assert.equal(m.stop_reason, 'max_tokens');
  assert.ok(m.usage.output_tokens <= 4);
});

test('streamed message: raw events and the accumulated message', async () => {
  const params = { model, max_tokens: 128, messages: [{ role: 'user', content: 'Stream please' }] };
  const raw = await client.messages.create({ ...params, stream: true });
  const types = [];
  let text = '';
  for await (const ev of raw) {
    if (types.at(-1) !== ev.type) types.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
  }
  assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);

  const stream = client.messages.stream(params);
  let streamed = '';
  stream.on('text', (t) => { streamed += t; });
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, streamed);
  assert.equal(streamed, text);
  assert.ok(final.usage.output_tokens > 0 && final.usage.input_tokens > 0);
  assert.equal(final.stop_reason, 'end_turn');
});

test('tools: tool_use, then text after the tool_result', async () => {
  const messages = [{ role: 'user', content: 'What is the weather in Paris? Use get_weather.' }];
  const first = await client.messages.create({ model, max_tokens: 512, tools: [weather], messages });
  assert.equal(first.stop_reason, 'tool_use');
  const uses = first.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, 'get_weather');
  assert.match(uses[0].id, /^toolu_/);
  assert.equal(typeof uses[0].input.location, 'string');
  assert.ok(['celsius', 'fahrenheit'].includes(uses[0].input.unit));

  messages.push({ role: 'assistant', content: first.content });
  messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: '18 degrees' }] });
  const second = await client.messages.create({ model, max_tokens: 512, tools: [weather], messages });
  assert.equal(second.stop_reason, 'end_turn');
  assert.equal(second.content[0].type, 'text');
});

test('tools streamed: input_json_delta builds the input', async () => {
  const stream = client.messages.stream({
    model, max_tokens: 512, tools: [weather], tool_choice: { type: 'tool', name: 'get_weather' },
    messages: [{ role: 'user', content: 'Anything' }],
  });
  let partial = '';
  stream.on('inputJson', (delta) => { partial += delta; });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  assert.equal(final.content[0].type, 'tool_use');
  assert.deepEqual(JSON.parse(partial), final.content[0].input);
});

test('count_tokens matches the usage of the same prompt', async () => {
  const messages = [{ role: 'user', content: 'How many tokens is this?' }];
  const c = await client.messages.countTokens({ model, messages });
  const m = await client.messages.create({ model, max_tokens: 8, messages });
  assert.ok(c.input_tokens > 0);
  assert.equal(c.input_tokens, m.usage.input_tokens);
});

test('errors: unknown model and a bad request', async () => {
  await assert.rejects(
    client.messages.create({ model: 'claude-no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof NotFoundError && err.status === 404 && err.type === 'not_found_error'
      && typeof err.requestID === 'string' && err.requestID.length > 0,
  );
  await assert.rejects(
    client.messages.create({ model, max_tokens: 8, messages: [{ role: 'system', content: 'hi' }] }),
    (err) => err instanceof BadRequestError && err.status === 400 && err.type === 'invalid_request_error'
      && /messages\.0\.role/.test(err.message),
  );
});
