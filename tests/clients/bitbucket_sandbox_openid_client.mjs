// openid-client (an OpenID Certified client library, v6) against the app's sandbox: the token
// requests of every grant the sandbox offers, with client_secret_basic, which form-encodes the
// client id and secret before base64 as RFC 6749 §2.3.1 says (`-` becomes `%2D`), and the error
// cases. Started by tests/app/client_libraries.rs with the app's address; exits 0 when all pass.
//
//   node tests/clients/bitbucket_sandbox_openid_client.mjs http://127.0.0.1:3000

import * as client from 'openid-client'
import assert from 'node:assert/strict'

const base = process.argv[2]
if (!base) {
  console.error('usage: node openid_client.mjs http://127.0.0.1:PORT')
  process.exit(2)
}
const sandbox = `${base}/sandbox`
const metadata = {
  issuer: sandbox,
  authorization_endpoint: `${sandbox}/site/oauth2/authorize`,
  token_endpoint: `${sandbox}/site/oauth2/access_token`,
}
const redirectUri = `${base}/oauth-callback`
/// A client of the sandbox: the app serves it over plain HTTP on loopback.
function configuration(id, secret) {
  const config = new client.Configuration(metadata, id, { redirect_uris: [redirectUri] }, client.ClientSecretBasic(secret))
  client.allowInsecureRequests(config)
  return config
}
const config = configuration('sandbox-consumer-key', 'sandbox-consumer-secret')

const results = []
async function step(name, run) {
  try {
    await run()
    results.push(`ok   ${name}`)
  } catch (error) {
    results.push(`FAIL ${name}: ${error?.stack ?? error}`)
  }
}

/// The OAuth error a request was refused with.
async function refusal(promise) {
  try {
    await promise
  } catch (error) {
    return { error: error.error ?? error.code, status: error.status }
  }
  throw new Error('the request was not refused')
}

const unescape = (html) =>
  html
    .replaceAll('&#34;', '"').replaceAll('&#39;', "'").replaceAll('&#60;', '<').replaceAll('&#62;', '>')
    .replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>')
    .replaceAll('&#38;', '&').replaceAll('&amp;', '&')

/// The hidden fields of the sandbox's page.
function hiddenFields(html) {
  return [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], unescape(m[2])])
}

/// Signs in as demo at the sandbox's authorization page and grants: where it sends the browser back.
async function authorizeAsDemo(url) {
  const signIn = await fetch(url)
  assert.equal(signIn.status, 200, await signIn.clone().text())
  const post = (fields) =>
    fetch(metadata.authorization_endpoint, { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' })
  const consent = await post([...hiddenFields(await signIn.text()), ['username', 'demo'], ['password', 'demo']])
  assert.equal(consent.status, 200)
  const back = await post([...hiddenFields(await consent.text()), ['decision', 'grant']])
  assert.equal(back.status, 303)
  return new URL(back.headers.get('location'))
}

async function codeFlow(verifierSent) {
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  })
  const callback = await authorizeAsDemo(url)
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifierSent ?? verifier,
    expectedState: state,
  })
}

let refreshToken
await step('authorization code with PKCE (client_secret_basic, %2D-encoded)', async () => {
  const tokens = await codeFlow()
  assert.ok(tokens.access_token)
  assert.equal(tokens.token_type, 'bearer')
  assert.ok(tokens.refresh_token)
  refreshToken = tokens.refresh_token
})
await step('refresh with rotation: a new refresh token, the old one refused', async () => {
  const tokens = await client.refreshTokenGrant(config, refreshToken)
  assert.ok(tokens.access_token)
  assert.ok(tokens.refresh_token)
  assert.notEqual(tokens.refresh_token, refreshToken)
  const again = await refusal(client.refreshTokenGrant(config, refreshToken))
  assert.equal(again.status, 400)
  assert.ok(['invalid_request', 'invalid_grant'].includes(again.error), JSON.stringify(again))
})
await step('client credentials', async () => {
  const tokens = await client.clientCredentialsGrant(config)
  assert.ok(tokens.access_token)
  assert.equal(tokens.refresh_token, undefined)
})
await step('password grant (generic grant request)', async () => {
  const tokens = await client.genericGrantRequest(config, 'password', { username: 'demo', password: 'demo' })
  assert.ok(tokens.access_token)
})
await step('a wrong code_verifier is refused with invalid_grant', async () => {
  const refused = await refusal(codeFlow('a-wrong-verifier-of-the-right-length-43-chars'))
  assert.deepEqual(refused, { error: 'invalid_grant', status: 400 })
})
await step('a wrong client secret is refused', async () => {
  const wrong = configuration('sandbox-consumer-key', 'sandbox-consumer-secret-wrong')
  const refused = await refusal(client.clientCredentialsGrant(wrong))
  assert.equal(refused.status, 400)
  assert.equal(refused.error, 'unauthorized_client')
})
await step('a public consumer is refused client credentials', async () => {
  const publicClient = configuration('sandbox-public-key', 'sandbox-public-secret')
  const refused = await refusal(client.clientCredentialsGrant(publicClient))
  assert.deepEqual(refused, { error: 'invalid_grant', status: 400 })
})

console.log(results.join('\n'))
const failed = results.filter((line) => line.startsWith('FAIL')).length
console.log(`${results.length - failed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
