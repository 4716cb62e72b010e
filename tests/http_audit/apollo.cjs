// Apollo Client's own persisted-query link against a running Cartera: the hash alone, the
// server's PERSISTED_QUERY_NOT_FOUND, the link's retry with the query, then the hash alone
// again; over POST, over GET (useGETForHashedQueries) and for a mutation. Every request the
// link sends and every answer is recorded, and the exchange must be exactly that.
// Usage: node apollo.cjs http://127.0.0.1:8000/graphql <bearer token>   (run.sh does it all)
const assert = require('node:assert/strict');
const { createHash } = require('node:crypto');
const { ApolloClient, InMemoryCache, HttpLink, gql } = require('@apollo/client/core');
const { createPersistedQueryLink } = require('@apollo/client/link/persisted-queries');

const [url, token] = process.argv.slice(2);
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function client({ useGET }) {
  const wire = [];
  const recording = async (uri, options) => {
    const response = await fetch(uri, options);
    const body = await response.clone().json();
    const sent = options.method === 'GET' ? Object.fromEntries(new URL(uri).searchParams) : JSON.parse(options.body);
    const extensions = typeof sent.extensions === 'string' ? JSON.parse(sent.extensions) : sent.extensions;
    wire.push({
      method: options.method,
      withQuery: typeof sent.query === 'string',
      hash: extensions?.persistedQuery?.sha256Hash,
      query: sent.query,
      status: response.status,
      cacheControl: response.headers.get('cache-control'),
      code: body.errors?.[0]?.extensions?.code ?? null,
      data: body.data ?? null,
    });
    return response;
  };
  const link = createPersistedQueryLink({ sha256, useGETForHashedQueries: useGET }).concat(
    new HttpLink({ uri: url, fetch: recording, headers: { authorization: `Bearer ${token}` } }),
  );
  return { apollo: new ApolloClient({ link, cache: new InMemoryCache() }), wire };
}

// Unique per run: a server started before (or another process on its Redis) may know older hashes.
const tag = `${process.pid}-${Date.now()}`;
const ME = gql(`query Me${tag.replace(/\W/g, '_')} { me { id name role } }`);
const ME_BY_GET = gql(`query MeByGet${tag.replace(/\W/g, '_')} { me { id email } }`);
const CREATE_TEAM = gql(
  `mutation CreateTeam${tag.replace(/\W/g, '_')}($name: String!) { createTeam(input: {name: $name}) { team { name } userErrors { code } } }`,
);

async function main() {
  // POST: the first client registers the query, a second one (nothing cached) finds it by hash.
  const first = client({ useGET: false });
  const me = await first.apollo.query({ query: ME, fetchPolicy: 'network-only' });
  assert.equal(me.data.me.role, 'ADMIN');
  assert.deepEqual(
    first.wire.map(({ method, withQuery, code }) => [method, withQuery, code]),
    [['POST', false, 'PERSISTED_QUERY_NOT_FOUND'], ['POST', true, null]],
  );
  const [notFound, registered] = first.wire;
  assert.equal(notFound.status, 200);
  assert.equal(notFound.hash, registered.hash);
  assert.equal(registered.hash, sha256(registered.query));
  assert.equal(registered.cacheControl, 'no-store');

  const second = client({ useGET: false });
  const again = await second.apollo.query({ query: ME, fetchPolicy: 'network-only' });
  assert.deepEqual(again.data, me.data);
  assert.deepEqual(second.wire.map(({ method, withQuery, code }) => [method, withQuery, code]), [['POST', false, null]]);

  // GET for hashed queries: this hash is known now, so it is one GET, cacheable by the browser.
  const viaGet = client({ useGET: true });
  const got = await viaGet.apollo.query({ query: ME, fetchPolicy: 'network-only' });
  assert.deepEqual(got.data, me.data);
  assert.deepEqual(viaGet.wire.map(({ method, withQuery, code }) => [method, withQuery, code]), [['GET', false, null]]);
  assert.match(viaGet.wire[0].cacheControl, /^private, max-age=\d+$/);
  // An unknown hash by GET: the retry with the query is a POST, and the hash works by GET after.
  for (let i = 0; i < 2; i++) {
    const byGet = await viaGet.apollo.query({ query: ME_BY_GET, fetchPolicy: 'network-only' });
    assert.equal(byGet.data.me.email, 'apq@example.com');
  }
  assert.deepEqual(
    viaGet.wire.slice(1).map(({ method, withQuery, code }) => [method, withQuery, code]),
    [['GET', false, 'PERSISTED_QUERY_NOT_FOUND'], ['POST', true, null], ['GET', false, null]],
  );
  assert.equal(viaGet.wire[1].cacheControl, 'no-store');

  // A mutation goes by POST whatever useGETForHashedQueries says, and by hash once registered.
  const writer = client({ useGET: true });
  for (const name of [`Apollo ${tag}`, `Apollo again ${tag}`]) {
    const created = await writer.apollo.mutate({ mutation: CREATE_TEAM, variables: { name } });
    assert.deepEqual(created.data.createTeam.userErrors, []);
    assert.equal(created.data.createTeam.team.name, name);
  }
  assert.deepEqual(
    writer.wire.map(({ method, withQuery, code }) => [method, withQuery, code]),
    [['POST', false, 'PERSISTED_QUERY_NOT_FOUND'], ['POST', true, null], ['POST', false, null]],
  );
  console.log('Apollo persisted-query link: %d requests, every one as the protocol says', [first, second, viaGet, writer].reduce((n, c) => n + c.wire.length, 0));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
