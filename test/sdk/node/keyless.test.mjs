// Keyless calls with the npm openai package: a token provider reads the App
// Service managed-identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER), as
// @azure/identity's ManagedIdentityCredential does, and AzureOpenAI sends it
// as Authorization: Bearer. Run by internal/gateway's TestNodeSDKKeyless.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AzureOpenAI, AuthenticationError } from 'openai';

const endpoint = process.env.MOAT_URL;
const identityEndpoint = process.env.IDENTITY_ENDPOINT;
const identityHeader = process.env.IDENTITY_HEADER;
const objectId = process.env.MOAT_TEST_OBJECT_ID;
assert.ok(endpoint && identityEndpoint && identityHeader && objectId, 'env not set');

let fetched = 0;
async function azureADTokenProvider() {
  const u = new URL(identityEndpoint);
  u.searchParams.set('api-version', '2019-08-01');
  u.searchParams.set('resource', 'https://cognitiveservices.azure.com');
  const res = await fetch(u, { headers: { 'X-IDENTITY-HEADER': identityHeader } });
  assert.equal(res.status, 200);
  fetched++;
  return (await res.json()).access_token;
}

const client = (deployment) => new AzureOpenAI({ endpoint, apiVersion: '2024-10-21', deployment, azureADTokenProvider, maxRetries: 0 });

test('token on the assigned deployment', async () => {
  const r = await client('gpt-4o-mini').chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'keyless' }], max_tokens: 8,
  });
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(fetched >= 1);
});

test('token on another deployment is PermissionDenied naming the principal', async () => {
  await assert.rejects(
    client('gpt-4o').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof AuthenticationError && err.status === 401 && err.code === 'PermissionDenied'
      && err.message.includes(`The principal \`${objectId}\``),
  );
});
