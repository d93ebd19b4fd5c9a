// A real OpenID Connect provider (panva's oidc-provider) on loopback, for Beacon's single
// sign-on tests (incidents/tests/test_sso.py, docs/sso.md). Started by the tests as
//
//   node tests/oidc/provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// It prints "ready <issuer>" once it listens on 127.0.0.1:PORT. Everything it knows lives in
// memory. Besides the provider's own endpoints (/auth, /token, /me, /jwks, discovery) it has:
//
//   GET  /interaction/:uid          the sign-in form (login, password); consent is granted at once
//   POST /interaction/:uid/login    checks the password of a known account, else the form again
//   PUT  /_test/accounts/:id        (JSON) create or replace an account: password, email,
//                                   email_verified, name, preferred_username, groups
//   DELETE /_test/accounts/:id      the provider no longer knows the account
//   PUT  /_test/tamper              (JSON {"mode": ...}) the next ID tokens are re-signed with the
//                                   provider's own key but a wrong audience ("aud"), already
//                                   expired ("exp") or a wrong issuer ("iss"), or signed with a
//                                   key the provider never published ("sig"); null: honest again
//
// The /_test/ routes change the provider's behaviour; they exist only in this test script.
import { createServer } from 'node:http';

import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !redirectUri) {
  console.error('usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const accounts = new Map();
let tamper = null;

async function signingKey(kid) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}
const key = await signingKey('beacon-test-1');
// Same kid as the published key, so only the signature itself can give it away.
const strangerKey = await signingKey('beacon-test-1');

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [key] },
  cookies: { keys: ['beacon-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const { password, ...claims } = accounts.get(id) ?? account;
        return { sub: id, ...claims };
      },
    };
  },
  pkce: { required: () => false },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Error</title><h1>${out.error}</h1><p>${out.error_description ?? ''}</p>`;
  },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(uid, message) {
  return `<!doctype html><title>Test provider sign-in</title>
<form method="post" action="/interaction/${uid}/login">
${message ? `<p class="error">${escape(message)}</p>` : ''}
<input name="login" autocomplete="username"><input name="password" type="password">
<button type="submit">Sign in</button></form>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function grantConsent(req, res, details) {
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function interactions(req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== match[1]) throw new Error('interaction mismatch');
  if (details.prompt.name === 'consent') return grantConsent(req, res, details);
  if (req.method === 'POST' && match[2]) {
    const form = new URLSearchParams(await readBody(req));
    const login = form.get('login') ?? '';
    const account = accounts.get(login);
    if (!account || account.password !== form.get('password')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(loginForm(details.uid, 'Unknown account or wrong password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  return res.end(loginForm(details.uid));
}

async function control(req, res, url) {
  const body = req.method === 'PUT' ? JSON.parse((await readBody(req)) || 'null') : null;
  const account = url.pathname.match(/^\/_test\/accounts\/([^/]+)$/);
  if (account && req.method === 'PUT') accounts.set(decodeURIComponent(account[1]), body);
  else if (account && req.method === 'DELETE') accounts.delete(decodeURIComponent(account[1]));
  else if (url.pathname === '/_test/tamper' && req.method === 'PUT') tamper = body.mode;
  else {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(204);
  return res.end();
}

// Re-sign the ID token of a token response the way a broken or hostile provider might.
provider.use(async (ctx, next) => {
  await next();
  if (!tamper || ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const claims = decodeJwt(ctx.body.id_token);
  const header = decodeProtectedHeader(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  if (tamper === 'aud') claims.aud = 'some-other-application';
  if (tamper === 'exp') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (tamper === 'iss') claims.iss = 'http://127.0.0.1:1/not-the-issuer';
  const signWith = await importJWK(tamper === 'sig' ? strangerKey : key, 'RS256');
  ctx.body = { ...ctx.body, id_token: await new SignJWT(claims).setProtectedHeader(header).sign(signWith) };
});

const callback = provider.callback();
createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/interaction/')) return await interactions(req, res, url);
    if (url.pathname.startsWith('/_test/')) return await control(req, res, url);
    return callback(req, res);
  } catch (error) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    return res.end(String(error));
  }
}).listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
