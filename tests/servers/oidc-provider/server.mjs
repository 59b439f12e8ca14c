// A real OpenID Connect / OAuth 2.0 authorization server (panva's
// oidc-provider, from npm) for the Rust sample app's integration tests.
//
//   node tests/servers/oidc-provider/server.mjs --port PORT \
//        --redirect-uri URI [--redirect-uri URI ...] [--verbose]
//
// --port 0 binds a free port; the real one is in the READY line, which is the
// only thing ever written to stdout:
//   READY http://127.0.0.1:PORT
// Everything else (oidc-provider's development-mode notices, errors with
// --verbose) goes to stderr. Exits 0 on SIGTERM / SIGINT.
// See tests/servers/README.md for credentials, endpoints and observed behaviour.

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

// Keep stdout for the READY line only: oidc-provider prints its notices with
// console.info (stdout) and console.warn (stderr).
const quiet = () => {};
const toStderr = (...args) => process.stderr.write(`${args.join(' ')}\n`);

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    verbose: { type: 'boolean', default: false },
  },
});

if (values.port === undefined || !values['redirect-uri']?.length) {
  process.stderr.write('usage: server.mjs --port PORT --redirect-uri URI [--redirect-uri URI ...] [--verbose]\n');
  process.exit(2);
}

console.log = values.verbose ? toStderr : quiet;
console.info = values.verbose ? toStderr : quiet;
console.warn = values.verbose ? toStderr : quiet;

const { default: Provider, errors } = await import('oidc-provider');

const ACCOUNT = {
  sub: 'alice',
  name: 'Alice Liddell',
  given_name: 'Alice',
  family_name: 'Liddell',
  preferred_username: 'alice',
  email: 'alice@example.com',
  email_verified: true,
};

// Bind first so that --port 0 resolves to a real port before the issuer
// (which must contain it) is built.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(values.port), '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: 'oidc-client',
      client_secret: 'oidc-secret',
      client_name: 'Rust sample app (test client)',
      redirect_uris: values['redirect-uri'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials',
        'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid profile email offline_access',
    },
    {
      // Same registration, but a secret full of characters that RFC 6749
      // section 2.3.1 makes the client form-urlencode before base64 in HTTP
      // Basic (oidc-provider decodes '+' as space, then percent-escapes).
      client_id: 'oidc-odd-client',
      client_secret: 's3cr+t%2F:/ x',
      client_name: 'Rust sample app (odd-secret test client)',
      redirect_uris: values['redirect-uri'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid profile email offline_access',
    },
  ],
  // Any login name typed on the dev login page is accepted and maps to the
  // same fixed account (sub "alice"); the password field is ignored.
  async findAccount(ctx, id) {
    return {
      accountId: ACCOUNT.sub,
      async claims(use, scope, claims, rejected) {
        return { ...ACCOUNT };
      },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  features: {
    devInteractions: { enabled: true }, // built-in login + consent pages
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    // RFC 7662 and RFC 8628, as oidc-provider's documentation enables them (features.introspection,
    // features.deviceFlow); the device flow's verification pages are its development defaults.
    introspection: { enabled: true },
    deviceFlow: { enabled: true },
  },
  // Fixed, non-secret keys: this server is for tests only.
  cookies: { keys: ['test-only-cookie-key-1'] },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
  },
  // rotateRefreshToken, pkce.required, issueRefreshToken: oidc-provider's
  // defaults (see README "Observed behaviour").
  renderError(ctx, out, error) {
    ctx.type = 'html';
    const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>oops! something went wrong</title></head><body><h1>oops! something went wrong</h1>${
      Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('')}</body></html>`;
  },
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;

if (values.verbose) {
  for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'revocation.error']) {
    provider.on(ev, (ctx, err) => toStderr(`[${ev}]`, err?.name, err?.message, err?.error_description ?? ''));
  }
}

server.on('request', provider.callback());

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`READY ${issuer}\n`);
void errors;
