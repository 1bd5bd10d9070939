// A real OpenID Connect provider (panva's `oidc-provider`) for the template's end-to-end tests.
//
//   node provider.mjs [PORT]      (or PORT=...; 0 or nothing: a free port)
//
// Binds 127.0.0.1 only and prints one line, the issuer URL, once it serves; logs go to stderr.
// The tests talk to it as any client would (discovery, /token, /auth), plus a small control API
// under /_control/ that no OpenID Connect client would use:
//   POST /_control/rotate  new signing keys in front (they sign from now on), previous ones still
//                          published behind them, as the provider's docs recommend; returns kids
//   GET  /_control/stats   requests received per path (how the service found and fetched the keys)
//
// Clients (secret `e2e-secret`, client_secret_basic): `e2e-<ALG>` for ALG in ALGORITHMS, each
// allowed client_credentials and authorization_code; its access tokens and ID tokens are signed
// with ALG. Resources: `api://e2e` and `api://other`, both with scopes `read admin`, issuing JWT
// access tokens whose `aud` is the resource. The authorization endpoint logs in `e2e-user` and
// consents to what was asked without any page, so a test can run the code flow with plain HTTP.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { readFileSync } from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';
const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
const CLIENT_SECRET = 'e2e-secret';
const ACCOUNT = 'e2e-user';
const REDIRECT_URI = 'http://127.0.0.1/callback'; // never requested: the test reads the code off it
const RESOURCES = {
  'api://e2e': 'read admin',
  'api://other': 'read admin',
};
const TOKEN_TTL = 300;

const { version } = JSON.parse(
  readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url), 'utf8'),
);

let generation = 0;

// One private JWK per key family; RSA serves RS256 and PS256, like most providers' RSA keys.
function newKeys() {
  generation += 1;
  const pairs = [
    ['rsa', { modulusLength: 2048 }],
    ['ec', { namedCurve: 'P-256' }],
    ['ed25519', {}],
  ];
  return pairs.map(([type, options]) => {
    const { privateKey } = crypto.generateKeyPairSync(type, options);
    return { ...privateKey.export({ format: 'jwk' }), kid: `${type}-${generation}`, use: 'sig' };
  });
}

function configuration(jwks) {
  return {
    jwks: { keys: jwks },
    clients: ALGORITHMS.map((alg) => ({
      client_id: `e2e-${alg}`,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      id_token_signed_response_alg: alg,
      'urn:e2e:access_token_alg': alg,
    })),
    extraClientMetadata: { properties: ['urn:e2e:access_token_alg'] },
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return { sub }; } };
    },
    cookies: { keys: ['e2e-cookie-key'] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // A code flow that asked for one resource gets its access token without naming it again.
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resource, client) {
          if (!(resource in RESOURCES)) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: RESOURCES[resource],
            accessTokenFormat: 'jwt',
            accessTokenTTL: TOKEN_TTL,
            jwt: { sign: { alg: client['urn:e2e:access_token_alg'] } },
          };
        },
      },
    },
    ttl: {
      AccessToken: TOKEN_TTL,
      ClientCredentials: TOKEN_TTL,
      IdToken: TOKEN_TTL,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 600,
      Grant: 600,
    },
  };
}

// Log in the fixed account, then consent to whatever the request is missing.
async function interact(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: ACCOUNT } }, {
      mergeWithLastSubmission: false,
    });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const requested = new Map();
let issuer;
let keys;
let provider;
let handler;

function install(jwks) {
  keys = jwks;
  provider = new Provider(issuer, configuration(jwks));
  handler = provider.callback();
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  requested.set(path, (requested.get(path) ?? 0) + 1);
  try {
    if (path === '/_control/stats' && req.method === 'GET') {
      return json(res, 200, { requests: Object.fromEntries(requested) });
    }
    if (path === '/_control/rotate' && req.method === 'POST') {
      const fresh = newKeys();
      install([...fresh, ...keys]);
      return json(res, 200, { kids: fresh.map((key) => key.kid) });
    }
    if (path.startsWith('/interaction/')) {
      return await interact(provider, req, res);
    }
    return handler(req, res);
  } catch (error) {
    console.error(error);
    return json(res, 500, { error: String(error) });
  }
});

const requestedPort = Number(process.argv[2] ?? process.env.PORT ?? 0);
server.listen(requestedPort, HOST, () => {
  issuer = `http://${HOST}:${server.address().port}`;
  install(newKeys());
  console.error(`oidc-provider ${version} serving ${issuer}`);
  process.stdout.write(`${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
