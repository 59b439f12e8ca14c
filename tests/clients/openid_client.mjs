// openid-client (v6, an OpenID Certified relying-party library by Filip Skokan) and its
// oauth4webapi, against the built-in standard server: discovery (OpenID and RFC 8414), the
// authorization code grant with PKCE, the ID token's signature checked against the JWKS, the JWT
// access token validated as RFC 9068 says, userinfo, refresh with rotation, revocation and
// introspection. The sign-in and consent pages are driven by HTTP, as a browser would: manual
// redirects and a cookie map.
//
//   node tests/clients/openid_client.mjs http://127.0.0.1:PORT/sandbox/oidc
//
// Prints one line per check and `N passed, 0 failed`; exits 1 if any check failed.

import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';

const issuer = process.argv[2];
if (!issuer) {
  console.error('usage: node openid_client.mjs ISSUER');
  process.exit(2);
}
const CLIENT_ID = 'standard-client';
const CLIENT_SECRET = 'standard-secret';
const REDIRECT_URI = 'http://127.0.0.1:9/oauth-callback';

let passed = 0;
let failed = 0;
async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error?.stack ?? error}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// A browser, reduced to what the pages need: cookies by name, redirects not followed.
const cookies = new Map();
async function browse(url, init = {}) {
  const headers = new Headers(init.headers ?? {});
  if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const at = pair.indexOf('=');
    cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  return response;
}
const unescape = (s) =>
  s.replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
// The page's form: its action and hidden fields.
function form(html, pageUrl) {
  const action = html.match(/<form method="post" action="([^"]*)"/);
  assert(action, `no form on the page:\n${html}`);
  const fields = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields.append(unescape(name), unescape(value));
  }
  return { action: new URL(unescape(action[1]), pageUrl), fields };
}
async function submit(page, pageUrl, extra) {
  const { action, fields } = form(page, pageUrl);
  for (const [k, v] of Object.entries(extra)) fields.append(k, v);
  return browse(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: fields.toString(),
  });
}

const options = { execute: [client.allowInsecureRequests] };
let config;
let tokens;
let refreshed;

await check('OpenID discovery names the issuer and every endpoint', async () => {
  config = await client.discovery(new URL(issuer), CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic(), options);
  const metadata = config.serverMetadata();
  assert(metadata.issuer === issuer, `issuer ${metadata.issuer}`);
  for (const endpoint of ['authorization', 'token', 'userinfo', 'revocation', 'introspection', 'device_authorization']) {
    assert(metadata[`${endpoint}_endpoint`]?.startsWith(issuer), `${endpoint}_endpoint`);
  }
  assert(metadata.supportsPKCE(), 'PKCE S256 not advertised');
  client.enableNonRepudiationChecks(config); // the ID token's signature is checked against jwks_uri
});

await check('RFC 8414 discovery (path insertion) finds the same server', async () => {
  const oauth2 = await client.discovery(new URL(issuer), CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic(), {
    ...options,
    algorithm: 'oauth2',
  });
  assert(oauth2.serverMetadata().issuer === issuer, 'issuer');
  assert(oauth2.serverMetadata().token_endpoint === config.serverMetadata().token_endpoint, 'token_endpoint');
});

await check('authorization code grant with PKCE, nonce and state, through the sign-in and consent pages', async () => {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    prompt: 'consent',
  });
  let response = await browse(authorizationUrl);
  assert(response.status === 200, `sign-in page: ${response.status}`);
  let page = await response.text();
  response = await submit(page, authorizationUrl, { username: 'demo', password: 'demo' });
  assert(response.status === 200, `consent page: ${response.status}`);
  page = await response.text();
  assert(page.includes('offline_access'), 'the consent page names the scopes');
  response = await submit(page, authorizationUrl, { decision: 'grant' });
  assert(response.status === 303, `after consent: ${response.status}`);
  const callback = new URL(response.headers.get('location'));
  assert(callback.href.startsWith(REDIRECT_URI), `sent back to ${callback}`);
  tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert(claims.sub === 'demo-user-0001', `sub ${claims.sub}`);
  assert(claims.nonce === nonce, 'nonce');
  assert(tokens.refresh_token, 'no refresh token for offline_access');
  assert(tokens.token_type.toLowerCase() === 'bearer', tokens.token_type);
});

await check('the access token is a JWT that validates as RFC 9068 says, against the JWKS', async () => {
  const request = new Request(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(config.serverMetadata(), request, `${issuer}/userinfo`, {
    [oauth.allowInsecureRequests]: true,
  });
  assert(claims.client_id === CLIENT_ID, `client_id ${claims.client_id}`);
  assert(claims.scope.split(' ').includes('email'), `scope ${claims.scope}`);
});

await check('userinfo returns the standard claims for the scopes', async () => {
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  assert(userinfo.name === 'Demo User', `name ${userinfo.name}`);
  assert(userinfo.preferred_username === 'demo', 'preferred_username');
  assert(userinfo.email === 'demo@example.com' && userinfo.email_verified === true, 'email');
});

await check('refresh returns new tokens and rotates the refresh token', async () => {
  refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert(refreshed.access_token && refreshed.access_token !== tokens.access_token, 'new access token');
  assert(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated refresh token');
  const userinfo = await client.fetchUserInfo(config, refreshed.access_token, tokens.claims().sub);
  assert(userinfo.sub === 'demo-user-0001', 'userinfo with the refreshed token');
});

await check('introspection says active, then inactive after revocation', async () => {
  const before = await client.tokenIntrospection(config, refreshed.access_token);
  assert(before.active === true && before.sub === 'demo-user-0001' && before.client_id === CLIENT_ID, 'active');
  await client.tokenRevocation(config, refreshed.access_token);
  const after = await client.tokenIntrospection(config, refreshed.access_token);
  assert(after.active === false, 'still active after revocation');
});

await check('the rotated-out refresh token is refused, and its reuse revokes the grant (RFC 9700 §4.14.2)', async () => {
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (error) {
    assert(error.error === 'invalid_grant', `error ${error.error}`);
    const current = await client.tokenIntrospection(config, refreshed.refresh_token);
    assert(current.active === false, 'the current refresh token of the grant is still active');
    return;
  }
  throw new Error('the old refresh token still worked');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
