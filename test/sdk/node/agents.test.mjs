// Agent-style clients against moat and its built-in simulator: tools (plain
// and streamed), a tool-result round trip, structured output with the npm
// openai package, and LangChain's AzureChatOpenAI (bindTools,
// withStructuredOutput by JSON schema and by function calling).
// The Responses chain (previous_response_id, retrieve, input_items, delete)
// and a batch job (file upload, create, poll, output download) run too.
// internal/gateway's TestNodeAgents runs this file with MOAT_URL set, once
// against the built-in simulator and once against a pool of two simulated
// Azure resources, where every follow-up must reach the member holding its
// object (a wrong member answers 404: the resources share nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AzureOpenAI, OpenAI, toFile } from 'openai';
import { AzureChatOpenAI } from '@langchain/openai';

const endpoint = process.env.MOAT_URL;
const apiKey = process.env.MOAT_API_KEY ?? 'any-key';
const apiVersion = '2024-10-21';
assert.ok(endpoint, 'MOAT_URL must be set');

const client = new AzureOpenAI({ endpoint, apiKey, apiVersion, deployment: 'gpt-4o-mini', maxRetries: 0 });
const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: {
      type: 'object', additionalProperties: false, required: ['city', 'unit'],
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    },
  },
};
const reviewSchema = {
  type: 'object', additionalProperties: false, required: ['title', 'rating', 'tags'],
  properties: {
    title: { type: 'string' },
    rating: { type: 'integer', minimum: 1, maximum: 5 },
    tags: { type: 'array', items: { type: 'string' } },
  },
};

test('openai: a tool call, its result, then the answer', async () => {
  const messages = [{ role: 'user', content: 'What is the weather in Tokyo?' }];
  const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools: [weather] });
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  const call = choice.message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.ok(typeof args.city === 'string' && ['celsius', 'fahrenheit'].includes(args.unit));
  messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' });
  const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools: [weather] });
  assert.equal(second.choices[0].finish_reason, 'stop');
  assert.ok(second.choices[0].message.content.length > 0);
});

test('openai: streamed tool calls reassemble', async () => {
  const stream = client.chat.completions.stream({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'get_weather for Osaka' }], tools: [weather],
    stream_options: { include_usage: true },
  });
  const done = await stream.finalChatCompletion();
  const call = done.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.ok(JSON.parse(call.function.arguments).city);
  assert.ok(done.usage.completion_tokens > 0);
});

test('openai: structured output follows the schema', async () => {
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Review moat' }],
    response_format: { type: 'json_schema', json_schema: { name: 'review', strict: true, schema: reviewSchema } },
  });
  const v = JSON.parse(r.choices[0].message.content);
  assert.deepEqual(Object.keys(v).sort(), ['rating', 'tags', 'title']);
  assert.ok(Number.isInteger(v.rating) && v.rating >= 1 && v.rating <= 5);
  assert.ok(Array.isArray(v.tags));
});

const lc = () => new AzureChatOpenAI({
  azureOpenAIEndpoint: endpoint, azureOpenAIApiKey: apiKey, azureOpenAIApiDeploymentName: 'gpt-4o-mini',
  azureOpenAIApiVersion: apiVersion, model: 'gpt-4o-mini', maxRetries: 0,
});

test('langchain: bindTools yields tool calls', async () => {
  const msg = await lc().bindTools([weather]).invoke('What is the weather in Kyoto?');
  assert.equal(msg.tool_calls.length, 1);
  assert.equal(msg.tool_calls[0].name, 'get_weather');
  assert.ok(typeof msg.tool_calls[0].args.city === 'string');
});

for (const method of ['jsonSchema', 'functionCalling']) {
  test(`langchain: withStructuredOutput (${method})`, async () => {
    const v = await lc().withStructuredOutput(reviewSchema, { name: 'review', method }).invoke('Review moat');
    assert.ok(typeof v.title === 'string' && Number.isInteger(v.rating) && Array.isArray(v.tags), JSON.stringify(v));
  });
}

test('langchain: streaming text', async () => {
  let text = '';
  for await (const chunk of await lc().stream('Say something')) text += chunk.content;
  assert.ok(text.length > 0);
});

test('openai: Responses with previous_response_id, plain and streamed', async () => {
  const v1 = new OpenAI({ baseURL: `${endpoint}/openai/v1/`, apiKey, maxRetries: 0 });
  const first = await v1.responses.create({ model: 'gpt-4o-mini', input: 'Describe moat.', instructions: 'Be brief.' });
  assert.equal(first.status, 'completed');
  assert.ok(first.output_text.length > 0);
  const stream = await v1.responses.create({
    model: 'gpt-4o-mini', input: 'More, please.', previous_response_id: first.id, stream: true,
  });
  let text = '', done = null;
  for await (const ev of stream) {
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') done = ev.response;
  }
  assert.ok(done, 'response.completed expected');
  assert.equal(done.previous_response_id, first.id);
  assert.equal(done.output[0].content[0].text, text);
  assert.ok(done.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens);
});

test('openai: Responses tool call and function_call_output', async () => {
  const v1 = new OpenAI({ baseURL: `${endpoint}/openai/v1/`, apiKey, maxRetries: 0 });
  const tools = [{ type: 'function', name: 'get_weather', parameters: weather.function.parameters, strict: true }];
  const first = await v1.responses.create({ model: 'gpt-4o-mini', input: 'Weather in Nagoya?', tools });
  const call = first.output.find((o) => o.type === 'function_call');
  assert.ok(call && call.name === 'get_weather', JSON.stringify(first.output));
  const second = await v1.responses.create({
    model: 'gpt-4o-mini', previous_response_id: first.id, tools,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'cloudy' }],
  });
  assert.ok(second.output_text.length > 0);
});

test('openai: a Responses chain is retrieved, listed and deleted where it lives', async () => {
  const v1 = new OpenAI({ baseURL: `${endpoint}/openai/v1/`, apiKey, maxRetries: 0 });
  let prev = await v1.responses.create({ model: 'gpt-4o-mini', input: 'Start a story.' });
  for (let i = 0; i < 4; i++) {
    prev = await v1.responses.create({ model: 'gpt-4o-mini', input: `Part ${i + 2}.`, previous_response_id: prev.id });
  }
  const got = await v1.responses.retrieve(prev.id);
  assert.equal(got.id, prev.id);
  assert.equal(got.output_text, prev.output_text);
  const items = await v1.responses.inputItems.list(prev.id);
  assert.ok(items.data.length > 0);
  // The dated surface reaches the same response.
  const dated = new AzureOpenAI({ endpoint, apiKey, apiVersion: '2025-04-01-preview', maxRetries: 0 });
  assert.equal((await dated.responses.retrieve(prev.id)).id, prev.id);
  await v1.responses.delete(prev.id);
  await assert.rejects(v1.responses.retrieve(prev.id), (err) => err.status === 404);
});

test('openai: a batch job from file upload to results', async () => {
  const v1 = new OpenAI({ baseURL: `${endpoint}/openai/v1/`, apiKey, maxRetries: 0 });
  const lines = ['Hello', 'Goodbye', 'Thanks'].map((text, i) => JSON.stringify({
    custom_id: `req-${i}`, method: 'POST', url: '/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], max_tokens: 8 },
  }));
  const file = await v1.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'batch.jsonl'), purpose: 'batch' });
  assert.equal(file.purpose, 'batch');
  let batch = await v1.batches.create({ input_file_id: file.id, endpoint: '/chat/completions', completion_window: '24h' });
  const dated = new AzureOpenAI({ endpoint, apiKey, apiVersion: '2025-04-01-preview', maxRetries: 0 });
  for (let i = 0; !['completed', 'failed', 'cancelled', 'expired'].includes(batch.status); i++) {
    assert.ok(i < 300, `batch stuck in ${batch.status}`);
    await sleep(50);
    batch = await (i % 2 ? dated : v1).batches.retrieve(batch.id);
  }
  assert.equal(batch.status, 'completed');
  assert.deepEqual(batch.request_counts, { total: 3, completed: 3, failed: 0 });
  const out = (await (await v1.files.content(batch.output_file_id)).text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(out.map((l) => l.custom_id).sort(), ['req-0', 'req-1', 'req-2']);
  for (const l of out) {
    assert.equal(l.response.status_code, 200);
    assert.ok(l.response.body.choices[0].message.content.length > 0);
  }
  assert.equal((await dated.files.retrieve(file.id)).id, file.id);
  // Lists merge every pool member's objects; limit 1 makes the SDK page with after.
  const files = [];
  for await (const f of v1.files.list()) files.push(f.id);
  assert.ok(files.includes(file.id) && files.includes(batch.output_file_id), `files listed: ${files}`);
  const batches = [];
  for await (const b of dated.batches.list({ limit: 1 })) batches.push(b.id);
  assert.ok(batches.includes(batch.id), `batches listed: ${batches}`);
  assert.equal(new Set(batches).size, batches.length, 'a batch listed twice');
  await v1.files.delete(file.id);
});
