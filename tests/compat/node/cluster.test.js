'use strict';
// Three real nodes on 127.0.0.1-3 and the Node.js cassandra-driver: discovery, the token map
// and token-aware routing, a node killed and brought back.

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');
const cassandra = require('cassandra-driver');
const { CLUSTER_ADDRESSES, RF1, startCluster, clientOptions, pinnedClient, waitUntil } = require('./ilion');

const { types, errors, policies } = cassandra;

/** The ring as node `n` reports it (system.local and system.peers): sorted tokens and owners. */
async function readRing(n) {
  const c = pinnedClient(n);
  try {
    await c.connect();
    const owner = new Map();
    const local = (await c.execute('SELECT rpc_address, tokens FROM system.local')).first();
    for (const t of local.tokens) owner.set(BigInt(t), local.rpc_address.toString());
    for (const peer of (await c.execute('SELECT rpc_address, tokens FROM system.peers')).rows) {
      for (const t of peer.tokens) owner.set(BigInt(t), peer.rpc_address.toString());
    }
    const tokens = [...owner.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      tokens,
      /** The node owning token t: the one with the smallest token >= t, wrapping. */
      ownerOf(t) {
        const next = tokens.find((x) => x >= t);
        return owner.get(next === undefined ? tokens[0] : next);
      },
    };
  } finally {
    await c.shutdown();
  }
}

const hostAddress = (h) => h.address.split(':')[0];

describe('three nodes', () => {
  let nodes;
  let client;

  before(async () => {
    nodes = await startCluster();
    client = new cassandra.Client(clientOptions(nodes[0], {
      policies: {
        loadBalancing: new policies.loadBalancing.TokenAwarePolicy(
          new policies.loadBalancing.DCAwareRoundRobinPolicy('datacenter1')),
      },
    }));
    await client.connect();
  });

  after(async () => {
    if (client) await client.shutdown();
    for (const n of nodes || []) await n.kill();
  });

  it('discovers every node and connects to each', async () => {
    await waitUntil('three hosts up with an open pool each', 30000, () => {
      const hosts = client.hosts.values();
      return hosts.length === 3 && hosts.every((h) => h.isUp());
    });
    const hosts = client.hosts.values();
    assert.deepEqual(hosts.map(hostAddress).sort(), CLUSTER_ADDRESSES);
    for (const h of hosts) {
      assert.equal(h.datacenter, 'datacenter1');
      assert.equal(h.rack, 'rack1');
      assert.equal(h.cassandraVersion, '4.1.3');
      assert.equal(h.tokens.length, 16);
    }
  });

  it('builds the token map the nodes report and routes each key to its replica', async () => {
    const ring = await readRing(nodes[0]);
    assert.equal(ring.tokens.length, 48);
    for (const n of nodes.slice(1)) {
      assert.deepEqual((await readRing(n)).tokens, ring.tokens, `${n.address} sees another ring`);
    }
    const ranges = client.metadata.getTokenRanges();
    assert.equal(ranges.size, 48);

    await client.execute(`CREATE KEYSPACE routed WITH replication = ${RF1}`);
    await client.execute('CREATE TABLE routed.t (k int PRIMARY KEY, v int)');
    await waitUntil('schema agreement', 30000, () => client.metadata.checkSchemaAgreement());
    await waitUntil('the keyspace in the driver metadata', 10000, () => client.metadata.keyspaces.routed);

    const owners = new Map();
    for (let k = 0; k < 60; k++) {
      await client.execute('INSERT INTO routed.t (k, v) VALUES (?, ?)', [k, k], { prepare: true });
      const rs = await client.execute('SELECT token(k) AS t, v FROM routed.t WHERE k = ?', [k], { prepare: true });
      const token = BigInt(rs.first().t.toString());
      const want = ring.ownerOf(token);
      // The driver's Murmur3 agrees with the node's token().
      const key = Buffer.alloc(4);
      key.writeInt32BE(k);
      assert.equal(BigInt(client.metadata.newToken(key).getValue().toString()), token, `token of ${k}`);
      // Its replica map names the owner, and the query went there.
      const replicas = client.metadata.getReplicas('routed', key);
      assert.deepEqual(replicas.map(hostAddress), [want], `replicas of ${k}`);
      assert.equal(rs.info.queriedHost.split(':')[0], want, `key ${k} (token ${token})`);
      owners.set(want, (owners.get(want) || 0) + 1);
    }
    assert.equal(owners.size, 3, `60 keys reached only ${[...owners.keys()]}`);
  });

  it('goes on at QUORUM with a node killed, refuses ALL, and reconnects when it is back', async () => {
    await client.execute("CREATE KEYSPACE rf3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
    await client.execute('CREATE TABLE rf3.t (k int PRIMARY KEY, v text)');
    await waitUntil('schema agreement', 30000, () => client.metadata.checkSchemaAgreement());
    const quorum = { prepare: true, consistency: types.consistencies.quorum };
    for (let k = 0; k < 50; k++) {
      await client.execute('INSERT INTO rf3.t (k, v) VALUES (?, ?)', [k, 'before'], quorum);
    }
    const dead = nodes[2];
    const deadHost = () => client.hosts.values().find((h) => hostAddress(h) === dead.address);
    await dead.kill();
    await waitUntil('the driver to mark the killed node down', 40000, () => !deadHost().isUp());
    for (let k = 0; k < 50; k++) {
      const row = (await client.execute('SELECT v FROM rf3.t WHERE k = ?', [k], quorum)).first();
      assert.equal(row.v, 'before', `key ${k}`);
      await client.execute('UPDATE rf3.t SET v = ? WHERE k = ?', ['during', k], quorum);
    }
    // Once the nodes' failure detectors convict it, ALL is refused up front.
    const err = await waitUntil('ALL to be unavailable', 40000, async () => {
      try {
        await client.execute('SELECT v FROM rf3.t WHERE k = 1', [], { prepare: true, consistency: types.consistencies.all });
        return null;
      } catch (e) {
        if (e instanceof errors.ResponseError && e.code === types.responseErrorCodes.unavailableException) return e;
        throw e;
      }
    });
    assert.deepEqual([err.required, err.alive], [3, 2]);

    await dead.start();
    await waitUntil('the driver to see the restarted node up', 60000, () => deadHost().isUp());
    await waitUntil('reads at ALL to succeed again', 60000, async () => {
      for (let k = 0; k < 50; k++) {
        const row = (await client.execute('SELECT v FROM rf3.t WHERE k = ?', [k],
          { prepare: true, consistency: types.consistencies.all })).first();
        if (row.v !== 'during') throw new Error(`key ${k} reads ${row.v} at ALL`);
      }
      return true;
    });
    // Queries reach the restarted node again.
    await waitUntil('a query served by the restarted node', 20000, async () => {
      for (let k = 0; k < 50; k++) {
        const rs = await client.execute('SELECT v FROM rf3.t WHERE k = ?', [k], { prepare: true, consistency: types.consistencies.one });
        if (rs.info.queriedHost.split(':')[0] === dead.address) return true;
      }
      return false;
    });
  });
});
