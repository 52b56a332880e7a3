'use strict';
// One real node and the Node.js cassandra-driver: connection, schema lifecycle, every type,
// prepared statements, paging, batches, TTL, error classes, schema metadata, and reconnection
// after a restart.

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');
const cassandra = require('cassandra-driver');
const { RF1, startNode, clientOptions, waitUntil } = require('./ilion');

const { types, errors } = cassandra;
const codes = types.responseErrorCodes;

/** Asserts that `promise` rejects with a ResponseError of `code`; returns the error. */
async function rejectsWith(promise, code) {
  let err;
  await assert.rejects(promise, (e) => {
    err = e;
    return true;
  });
  assert.ok(err instanceof errors.ResponseError, `want a ResponseError, got ${err && err.stack}`);
  assert.equal(err.code, code, `code 0x${err.code.toString(16)}: ${err.message}`);
  return err;
}

describe('one node', () => {
  let node;
  let client;

  before(async () => {
    node = await startNode();
    client = new cassandra.Client(clientOptions(node));
    await client.connect();
  });

  after(async () => {
    if (client) await client.shutdown();
    if (node) await node.kill();
  });

  it('connects with protocol v4 and negotiated', async () => {
    // cassandra-driver 4.x speaks up to v4 (its v5 is DSE-only), so negotiation settles on v4.
    // Ilion serves v4 and v5 only (docs/DESIGN), so v3 is not tried.
    for (const maxVersion of [4, undefined]) {
      const c = new cassandra.Client(clientOptions(node, { protocolOptions: maxVersion ? { maxVersion } : {} }));
      try {
        await c.connect();
        const rs = await c.execute('SELECT release_version, cql_version, partitioner, rpc_address FROM system.local');
        const row = rs.first();
        assert.equal(row.release_version, '4.1.3');
        assert.equal(row.cql_version, '3.4.6');
        assert.equal(row.partitioner, 'org.apache.cassandra.dht.Murmur3Partitioner');
        assert.equal(row.rpc_address.toString(), node.address);
        // The gossip generation: seconds since the epoch when the node started gossiping.
        const generation = (await c.execute('SELECT gossip_generation FROM system.local')).first().gossip_generation;
        const now = Math.floor(Date.now() / 1000);
        assert.ok(generation > now - 3600 && generation <= now, `gossip_generation ${generation}, now ${now}`);
        assert.equal(c.controlConnection.protocolVersion, maxVersion || 4);
        const hosts = c.hosts.values();
        assert.equal(hosts.length, 1);
        assert.equal(hosts[0].cassandraVersion, '4.1.3');
        assert.equal(hosts[0].datacenter, 'datacenter1');
        assert.equal(hosts[0].rack, 'rack1');
      } finally {
        await c.shutdown();
      }
    }
  });

  it('runs a schema lifecycle the metadata follows', async () => {
    await client.execute("CREATE KEYSPACE life WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false");
    await client.execute('CREATE TYPE life.point (x int, y int)');
    await client.execute("CREATE TABLE life.t (k int, c text, v frozen<point>, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC) AND comment = 'lifecycle'");
    await client.execute('ALTER TABLE life.t ADD extra bigint');

    await waitUntil('the keyspace in the metadata', 10000, () => client.metadata.keyspaces.life);
    const ks = client.metadata.keyspaces.life;
    assert.equal(ks.durableWrites, false);
    assert.equal(ks.strategy, 'org.apache.cassandra.locator.SimpleStrategy');
    assert.equal(ks.strategyOptions.replication_factor, '1');

    const table = await waitUntil('the added column', 10000, async () => {
      const t = await client.metadata.getTable('life', 't');
      return t && t.columnsByName.extra ? t : null;
    });
    assert.deepEqual(table.partitionKeys.map((c) => c.name), ['k']);
    assert.deepEqual(table.clusteringKeys.map((c) => c.name), ['c']);
    assert.deepEqual(table.clusteringOrder, ['DESC']);
    assert.equal(table.comment, 'lifecycle');
    assert.equal(table.columnsByName.extra.type.code, types.dataTypes.bigint);
    assert.equal(table.columnsByName.v.type.code, types.dataTypes.udt);
    const udt = await client.metadata.getUdt('life', 'point');
    assert.deepEqual(udt.fields.map((f) => [f.name, f.type.code]), [['x', types.dataTypes.int], ['y', types.dataTypes.int]]);

    await client.execute('ALTER TABLE life.t DROP extra');
    await waitUntil('the dropped column to leave the metadata', 10000, async () => {
      const t = await client.metadata.getTable('life', 't');
      return t && !t.columnsByName.extra;
    });
    await client.execute('DROP TABLE life.t');
    await client.execute('DROP TYPE life.point');
    await waitUntil('the dropped table to leave the metadata', 10000, async () =>
      (await client.metadata.getTable('life', 't')) === null && (await client.metadata.getUdt('life', 'point')) === null);
    await client.execute('DROP KEYSPACE life');
    await waitUntil('the dropped keyspace to leave the metadata', 10000, () => !client.metadata.keyspaces.life);
  });

  it('loads schema metadata: keyspaces, tables, types, views, indexes, functions', async () => {
    await client.execute(`CREATE KEYSPACE meta WITH replication = ${RF1}`);
    await client.execute('CREATE TYPE meta.addr (street text, num int)');
    await client.execute('CREATE TABLE meta.people (id uuid PRIMARY KEY, name text, home frozen<addr>, tags set<text>)');
    await client.execute('CREATE TABLE meta.events (a int, b int, at timestamp, body text, PRIMARY KEY ((a, b), at)) WITH default_time_to_live = 60 AND gc_grace_seconds = 3600');

    await client.metadata.refreshKeyspaces();
    for (const name of ['system', 'system_schema', 'system_auth', 'meta']) {
      assert.ok(client.metadata.keyspaces[name], `keyspace ${name}`);
    }
    // Every system_schema table loads through the driver's parser, the views table included.
    for (const name of ['keyspaces', 'tables', 'columns', 'column_masks', 'dropped_columns', 'triggers', 'views', 'types', 'functions', 'aggregates', 'indexes']) {
      const t = await client.metadata.getTable('system_schema', name);
      assert.ok(t, `system_schema.${name}`);
    }
    const views = await client.metadata.getTable('system_schema', 'views');
    for (const col of ['dclocal_read_repair_chance', 'read_repair_chance', 'memtable', 'allow_auto_snapshot', 'incremental_backups']) {
      assert.ok(views.columnsByName[col], `system_schema.views.${col}`);
    }

    const events = await client.metadata.getTable('meta', 'events');
    assert.deepEqual(events.partitionKeys.map((c) => c.name), ['a', 'b']);
    assert.deepEqual(events.clusteringKeys.map((c) => c.name), ['at']);
    assert.equal(events.defaultTtl, 60);
    assert.equal(events.gcGraceSeconds, 3600);
    assert.equal(events.readRepairChance, 0);
    assert.equal(events.localReadRepairChance, 0);
    assert.equal(events.bloomFilterFalsePositiveChance, 0.01);
    assert.equal(events.compactionClass, 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy');
    assert.deepEqual(events.indexes, []);
    assert.equal(events.cdc, false);
    assert.equal(events.virtual, false);

    const people = await client.metadata.getTable('meta', 'people');
    assert.equal(people.columnsByName.tags.type.code, types.dataTypes.set);
    assert.equal(people.columnsByName.home.type.code, types.dataTypes.udt);
    assert.equal(people.columnsByName.home.type.info.name, 'addr');
    assert.equal((await client.metadata.getUdt('meta', 'addr')).fields.length, 2);
    assert.equal(await client.metadata.getMaterializedView('meta', 'no_view'), null);
    assert.deepEqual(await client.metadata.getFunctions('meta', 'f'), []);
    assert.deepEqual(await client.metadata.getAggregates('meta', 'a'), []);

    // The driver-only columns hold Cassandra's values.
    const rs = await client.execute("SELECT dclocal_read_repair_chance, read_repair_chance, memtable FROM system_schema.tables WHERE keyspace_name = 'meta' AND table_name = 'people'");
    assert.deepEqual([rs.first().dclocal_read_repair_chance, rs.first().read_repair_chance, rs.first().memtable], [0, 0, null]);
  });

  it('round-trips every type', async () => {
    await client.execute(`CREATE KEYSPACE types WITH replication = ${RF1}`);
    await client.execute('CREATE TYPE types.addr (street text, num int, tags frozen<set<text>>)');
    await client.execute(`CREATE TABLE types.every (k int PRIMARY KEY,
      c_ascii ascii, c_bigint bigint, c_blob blob, c_boolean boolean, c_date date,
      c_decimal decimal, c_double double, c_duration duration, c_float float, c_inet inet,
      c_int int, c_smallint smallint, c_text text, c_time time, c_timestamp timestamp,
      c_timeuuid timeuuid, c_tinyint tinyint, c_uuid uuid, c_varchar varchar, c_varint varint,
      c_list list<int>, c_set set<text>, c_map map<text, bigint>,
      c_frozen frozen<list<frozen<map<int, text>>>>, c_tuple tuple<int, text>, c_udt frozen<addr>,
      c_udts list<frozen<addr>>)`);
    const values = {
      c_ascii: 'plain ascii',
      c_bigint: types.Long.fromString('-4611686018427387904'),
      c_blob: Buffer.from([0, 0xff, 0x62]),
      c_boolean: true,
      c_date: types.LocalDate.fromString('2024-02-29'),
      c_decimal: types.BigDecimal.fromString('-12345678901234567890.0125'),
      c_double: 2.5e-300,
      c_duration: new types.Duration(14, 3, types.Long.fromString('3600000000001')),
      c_float: 1.5,
      c_inet: types.InetAddress.fromString('2001:db8::1'),
      c_int: -2147483648,
      c_smallint: 32767,
      c_text: "héllo 'wörld'",
      c_time: types.LocalTime.fromString('13:14:15.123456'),
      c_timestamp: new Date('2011-02-03T04:05:06.789Z'),
      c_timeuuid: types.TimeUuid.fromString('9f8e1b40-3c2a-11ef-9a8b-0242ac120002'),
      c_tinyint: -128,
      c_uuid: types.Uuid.fromString('123e4567-e89b-42d3-a456-556642440000'),
      c_varchar: 'varchar',
      c_varint: types.Integer.fromString('123456789012345678901234567890'),
      c_list: [3, 1, 2, 1],
      c_set: ['a', 'b', 'c'],
      c_map: { x: types.Long.fromNumber(1), y: types.Long.fromNumber(-2) },
      c_frozen: [{ 1: 'one' }, { 2: 'two', 3: 'three' }],
      c_tuple: new types.Tuple(7, 'seven'),
      c_udt: { street: 'Main St', num: 12, tags: ['home', 'work'] },
      c_udts: [{ street: 'A', num: 1, tags: [] }, { street: 'B', num: 2, tags: ['x'] }],
    };
    const cols = Object.keys(values);
    await client.execute(
      `INSERT INTO types.every (k, ${cols.join(', ')}) VALUES (?${', ?'.repeat(cols.length)})`,
      [1, ...cols.map((c) => values[c])],
      { prepare: true });
    const row = (await client.execute('SELECT * FROM types.every WHERE k = ?', [1], { prepare: true })).first();

    const same = (col, got, want) => assert.ok(got.equals(want), `${col}: ${got} != ${want}`);
    assert.equal(row.c_ascii, values.c_ascii);
    same('c_bigint', row.c_bigint, values.c_bigint);
    assert.deepEqual(row.c_blob, values.c_blob);
    assert.equal(row.c_boolean, true);
    same('c_date', row.c_date, values.c_date);
    assert.equal(row.c_decimal.toString(), '-12345678901234567890.0125');
    assert.equal(row.c_double, 2.5e-300);
    same('c_duration', row.c_duration, values.c_duration);
    assert.equal(row.c_float, 1.5);
    same('c_inet', row.c_inet, values.c_inet);
    assert.equal(row.c_int, -2147483648);
    assert.equal(row.c_smallint, 32767);
    assert.equal(row.c_text, values.c_text);
    same('c_time', row.c_time, values.c_time);
    assert.equal(row.c_timestamp.getTime(), values.c_timestamp.getTime());
    same('c_timeuuid', row.c_timeuuid, values.c_timeuuid);
    assert.equal(row.c_tinyint, -128);
    same('c_uuid', row.c_uuid, values.c_uuid);
    assert.equal(row.c_varchar, 'varchar');
    same('c_varint', row.c_varint, values.c_varint);
    assert.deepEqual(row.c_list, [3, 1, 2, 1]);
    assert.deepEqual(row.c_set, ['a', 'b', 'c']);
    assert.deepEqual(Object.keys(row.c_map), ['x', 'y']);
    same('c_map.y', row.c_map.y, values.c_map.y);
    assert.deepEqual(row.c_frozen, values.c_frozen);
    assert.deepEqual(row.c_tuple.values(), [7, 'seven']);
    assert.deepEqual(row.c_udt, values.c_udt);
    // The driver sends an empty array as null (its encoder's rule), so the empty set reads null.
    assert.deepEqual(row.c_udts, [{ street: 'A', num: 1, tags: null }, { street: 'B', num: 2, tags: ['x'] }]);

    // The same values as CQL literals (no prepare), read back through the unprepared path.
    await client.execute("INSERT INTO types.every (k, c_text, c_int, c_set) VALUES (2, 'lit', 42, {'z', 'y'})");
    const lit = (await client.execute('SELECT c_text, c_int, c_set, c_uuid FROM types.every WHERE k = 2')).first();
    assert.deepEqual([lit.c_text, lit.c_int, lit.c_set, lit.c_uuid], ['lit', 42, ['y', 'z'], null]);

  });

  it('binds and reuses prepared statements', async () => {
    await client.execute(`CREATE KEYSPACE prep WITH replication = ${RF1}`);
    await client.execute('CREATE TABLE prep.kv (k int, c int, v text, PRIMARY KEY (k, c))');
    const insert = 'INSERT INTO prep.kv (k, c, v) VALUES (?, ?, ?)';
    for (let i = 0; i < 200; i++) {
      await client.execute(insert, [i % 4, i, `v${i}`], { prepare: true });
    }
    const count = (await client.execute('SELECT count(*) FROM prep.kv WHERE k = ?', [1], { prepare: true })).first().count;
    assert.equal(count.toNumber(), 50);
    const rs = await client.execute('SELECT c, v FROM prep.kv WHERE k = ? AND c >= ? AND c < ? LIMIT ?', [2, 10, 100, 5], { prepare: true });
    assert.deepEqual(rs.rows.map((r) => [r.c, r.v]), [[10, 'v10'], [14, 'v14'], [18, 'v18'], [22, 'v22'], [26, 'v26']]);
    // Named parameters, a bound null and an unset value.
    await client.execute('UPDATE prep.kv SET v = :v WHERE k = :k AND c = :c', { k: 0, c: 0, v: null }, { prepare: true });
    await client.execute('UPDATE prep.kv SET v = ? WHERE k = ? AND c = ?', [types.unset, 0, 4], { prepare: true });
    const v0 = (await client.execute('SELECT v FROM prep.kv WHERE k = 0 AND c = 0')).first().v;
    const v4 = (await client.execute('SELECT v FROM prep.kv WHERE k = 0 AND c = 4')).first().v;
    assert.deepEqual([v0, v4], [null, 'v4']);
    // The result metadata of a prepared SELECT * follows a column added afterwards.
    await client.execute('ALTER TABLE prep.kv ADD w int');
    await client.execute('UPDATE prep.kv SET w = ? WHERE k = ? AND c = ?', [9, 3, 3], { prepare: true });
    const w = (await client.execute('SELECT w FROM prep.kv WHERE k = ? AND c = ?', [3, 3], { prepare: true })).first().w;
    assert.equal(w, 9);
  });

  it('pages through 10,000 rows', async () => {
    await client.execute(`CREATE KEYSPACE paging WITH replication = ${RF1}`);
    await client.execute('CREATE TABLE paging.rows (p int, c int, v int, PRIMARY KEY (p, c))');
    // 100 partitions of 100 rows, one unlogged batch per partition, 8 at once.
    const insert = 'INSERT INTO paging.rows (p, c, v) VALUES (?, ?, ?)';
    const partitions = Array.from({ length: 100 }, (_, p) => p);
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < partitions.length; i += 8) {
        const p = partitions[i];
        const queries = Array.from({ length: 100 }, (_, c) => ({ query: insert, params: [p, c, p * 100 + c] }));
        await client.batch(queries, { prepare: true, logged: false });
      }
    });
    await Promise.all(workers);

    // The driver follows the paging state by itself (an async iterator over the rows).
    const seen = new Set();
    for await (const row of client.stream('SELECT v FROM paging.rows', [], { fetchSize: 1000, prepare: true })) {
      assert.ok(!seen.has(row.v), `row ${row.v} twice`);
      seen.add(row.v);
    }
    assert.equal(seen.size, 10000);

    // Page by page with an explicit paging state: 10 pages of 999, then the rest.
    let pageState;
    let pages = 0;
    let rows = 0;
    do {
      const rs = await client.execute('SELECT p, c FROM paging.rows', [], { fetchSize: 999, pageState, prepare: true });
      assert.ok(rs.rowLength <= 999);
      rows += rs.rowLength;
      pages++;
      pageState = rs.pageState;
      assert.ok(pages <= 20, 'paging does not end');
    } while (pageState);
    assert.deepEqual([rows, pages], [10000, 11]);

    // Within one partition, in clustering order, across pages of 7.
    const cs = [];
    for await (const row of client.stream('SELECT c FROM paging.rows WHERE p = ?', [42], { fetchSize: 7, prepare: true })) {
      cs.push(row.c);
    }
    assert.deepEqual(cs, Array.from({ length: 100 }, (_, i) => i));
  });

  it('runs logged and unlogged batches', async () => {
    await client.execute(`CREATE KEYSPACE batches WITH replication = ${RF1}`);
    await client.execute('CREATE TABLE batches.users (id int PRIMARY KEY, name text)');
    await client.execute('CREATE TABLE batches.by_name (name text PRIMARY KEY, id int)');

    const logged = [];
    for (let i = 0; i < 10; i++) {
      logged.push({ query: 'INSERT INTO batches.users (id, name) VALUES (?, ?)', params: [i, `user${i}`] });
      logged.push({ query: 'INSERT INTO batches.by_name (name, id) VALUES (?, ?)', params: [`user${i}`, i] });
    }
    await client.batch(logged, { prepare: true });
    assert.equal((await client.execute("SELECT id FROM batches.by_name WHERE name = 'user7'")).first().id, 7);

    await client.batch([
      { query: 'UPDATE batches.users SET name = ? WHERE id = ?', params: ['renamed', 3] },
      { query: 'DELETE FROM batches.users WHERE id = ?', params: [4] },
    ], { prepare: true, logged: false });
    assert.equal((await client.execute('SELECT name FROM batches.users WHERE id = 3')).first().name, 'renamed');
    assert.equal((await client.execute('SELECT name FROM batches.users WHERE id = 4')).rowLength, 0);

    // A timestamp given to the batch applies to each statement in it.
    await client.batch([{ query: 'INSERT INTO batches.users (id, name) VALUES (?, ?)', params: [100, 'old'] }],
      { prepare: true, timestamp: types.Long.fromNumber(1000000) });
    const wt = (await client.execute('SELECT WRITETIME(name) AS wt FROM batches.users WHERE id = 100')).first().wt;
    assert.equal(wt.toNumber(), 1000000);

    // A batch with a statement on a missing table is refused whole.
    await rejectsWith(client.batch([
      { query: 'INSERT INTO batches.users (id, name) VALUES (?, ?)', params: [200, 'never'] },
      { query: 'INSERT INTO batches.no_such_table (id) VALUES (?)', params: [200] },
    ], { prepare: false }), codes.invalid);
    assert.equal((await client.execute('SELECT name FROM batches.users WHERE id = 200')).rowLength, 0);
  });

  it('expires rows by TTL', async () => {
    await client.execute(`CREATE KEYSPACE ttl WITH replication = ${RF1}`);
    await client.execute('CREATE TABLE ttl.cache (k int PRIMARY KEY, v text)');
    await client.execute('CREATE TABLE ttl.short (k int PRIMARY KEY, v text) WITH default_time_to_live = 2');
    await client.execute('INSERT INTO ttl.cache (k, v) VALUES (?, ?) USING TTL ?', [1, 'gone soon', 2], { prepare: true });
    await client.execute('INSERT INTO ttl.cache (k, v) VALUES (?, ?) USING TTL ?', [2, 'stays', 3600], { prepare: true });
    await client.execute('INSERT INTO ttl.short (k, v) VALUES (?, ?)', [1, 'default ttl'], { prepare: true });
    const ttl = (await client.execute('SELECT TTL(v) AS t FROM ttl.cache WHERE k = 2')).first().t;
    assert.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl}`);
    const dflt = (await client.execute('SELECT TTL(v) AS t FROM ttl.short WHERE k = 1')).first().t;
    assert.ok(dflt > 0 && dflt <= 2, `default ttl ${dflt}`);
    await waitUntil('the rows with a 2 s TTL to expire', 10000, async () =>
      (await client.execute('SELECT v FROM ttl.cache WHERE k = 1')).rowLength === 0 &&
      (await client.execute('SELECT v FROM ttl.short WHERE k = 1')).rowLength === 0);
    assert.equal((await client.execute('SELECT v FROM ttl.cache WHERE k = 2')).first().v, 'stays');
  });

  it('reports each error with its class and code', async () => {
    await client.execute(`CREATE KEYSPACE errs WITH replication = ${RF1}`);
    await client.execute('CREATE TABLE errs.t (k int PRIMARY KEY, v int)');
    await rejectsWith(client.execute('SELEC * FROM errs.t'), codes.syntaxError);
    await rejectsWith(client.execute('SELECT * FROM errs.no_such_table'), codes.invalid);
    await rejectsWith(client.execute("INSERT INTO errs.t (k, v) VALUES (1, 'text')"), codes.invalid);
    await rejectsWith(client.execute('SELECT nope FROM errs.t WHERE k = ?', [1], { prepare: true }), codes.invalid);
    const exists = await rejectsWith(client.execute('CREATE TABLE errs.t (k int PRIMARY KEY)'), codes.alreadyExists);
    assert.equal(exists.keyspace, 'errs');
    assert.equal(exists.table, 't');

    // Three replicas wanted, one node alive: QUORUM cannot be met.
    await client.execute("CREATE KEYSPACE errs3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
    await client.execute('CREATE TABLE errs3.t (k int PRIMARY KEY, v int)');
    const unavailable = await rejectsWith(
      // The default retry policy would try another host and wrap the error; fall through.
      client.execute('INSERT INTO errs3.t (k, v) VALUES (1, 1)', [],
        { consistency: types.consistencies.quorum, retry: new cassandra.policies.retry.FallthroughRetryPolicy() }),
      codes.unavailableException);
    assert.equal(unavailable.consistencies, types.consistencies.quorum);
    assert.equal(unavailable.required, 2);
    assert.equal(unavailable.alive, 1);

    // A wrongly typed parameter is refused by the driver before it is sent.
    await assert.rejects(client.execute('SELECT v FROM errs.t WHERE k = ?', ['not an int'], { prepare: true }), TypeError);
  });

  it('reconnects after the node restarts', async () => {
    const own = await startNode();
    const c = new cassandra.Client(clientOptions(own));
    try {
      await c.connect();
      await c.execute(`CREATE KEYSPACE again WITH replication = ${RF1}`);
      await c.execute('CREATE TABLE again.t (k int PRIMARY KEY, v text)');
      await c.execute("INSERT INTO again.t (k, v) VALUES (1, 'before')");
      // A clean restart (SIGTERM); the cluster test kills a node outright.
      await own.stop();
      await assert.rejects(c.execute('SELECT v FROM again.t WHERE k = 1'), errors.NoHostAvailableError);
      await own.start();
      const row = await waitUntil('the client to reconnect', 30000, async () =>
        (await c.execute('SELECT v FROM again.t WHERE k = 1')).first());
      assert.equal(row.v, 'before');
      await c.execute("INSERT INTO again.t (k, v) VALUES (2, 'after')");
    } finally {
      await c.shutdown();
      await own.kill();
    }
  });
});
