// A real OpenID Connect provider (panva/node-oidc-provider) for the console sign-in
// tests in tests/api/oidc.rs. It is started by the test harness, not by hand:
//
//   OIDC_REDIRECT_URI=http://127.0.0.1:PORT/console/sign-in/callback node provider.mjs
//
// It listens on a free loopback port and prints `listening <port>` once it serves. It
// exits when its standard input closes, so it never outlives the test process.
//
// One confidential client, `pathway-console` (client_secret_basic, PKCE required), a
// second client `other-client` (to obtain a code that was not issued to pathway), and the
// provider's development login and consent forms (any login is accepted; the login names
// the account, see ACCOUNTS below).

import http from 'node:http';
import Provider from 'oidc-provider';

const redirectUri = process.env.OIDC_REDIRECT_URI;
if (!redirectUri) {
  console.error('OIDC_REDIRECT_URI is required');
  process.exit(2);
}

// Each login name is an account whose ID token carries these claims (scope `pathway`
// gives `roles`, `area` and `org`; the console asks for it as its extra scope).
const ACCOUNTS = {
  officer: {
    name: 'Pat Officer', email: 'pat.officer@police.example',
    roles: ['prevent_officer'], area: 'E08000035', org: 'West Yorkshire Police',
  },
  // Roles under another claim name, for a deployment whose provider says `groups`.
  grouped: {
    name: 'Gerry Grouped', email: 'gerry.grouped@council.example',
    groups: ['channel_chair'], area: 'E08000035', org: 'Leeds City Council',
  },
  noroles: {
    name: 'Nell Noroles', email: 'nell.noroles@council.example',
    roles: ['not_a_pathway_role'], area: 'E08000035',
  },
  badarea: {
    name: 'Bea Badarea', email: 'bea.badarea@council.example',
    roles: ['channel_chair'], area: 'Leeds',
  },
  national: {
    name: 'Nat National', email: 'nat.national@homeoffice.example',
    roles: ['auditor', 'prevent_officer'], area: 'national',
  },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'pathway-console',
        client_secret: 'pathway-console-test-secret',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'other-client',
        client_secret: 'other-client-test-secret',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    // Every client must use PKCE, confidential or not.
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'pathway'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      pathway: ['roles', 'groups', 'area', 'org'],
    },
    // The granted scopes' claims go into the ID token itself, as Entra ID and Keycloak
    // put them there; the console reads only the ID token.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['pathway-test-provider-cookie-key'] },
    async findAccount(ctx, id) {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, email_verified: true, ...account };
        },
      };
    },
  });
  server.on('request', provider.callback());
  console.log(`listening ${port}`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
