'use strict';
// Real `ilion` processes for the Node.js driver tests (a mirror of tests/compat/conftest.py).
//
// The binary comes from $ILION_BIN (`cargo xtask drivers node` sets it to the debug build the
// Rust tests made). Every node gets a fresh temporary data directory, free ports for every
// listener (admin included) and a process group of its own; every node this process started is
// killed when it exits, whatever the outcome, and on SIGINT/SIGTERM.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const cassandra = require('cassandra-driver');

const CLUSTER_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
const RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

const running = new Set();
const tempDirs = [];

function cleanUp() {
  for (const n of running) {
    n.killNow();
  }
  for (const d of tempDirs.splice(0)) {
    fs.rmSync(d, { recursive: true, force: true });
  }
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

function binary() {
  const bin = process.env.ILION_BIN;
  if (!bin) {
    throw new Error('ILION_BIN is not set: run `cargo xtask drivers node`, or point it at an ilion binary');
  }
  if (!fs.existsSync(bin)) {
    throw new Error(`ilion binary not found at ${bin}`);
  }
  return bin;
}

function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilion-compat-node-'));
  tempDirs.push(dir);
  return dir;
}

function listen(address, port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, address, () => {
      const got = server.address().port;
      server.close(() => resolve(got));
    });
  });
}

/** A TCP port free on every one of `addresses`, different from each of `avoid`. */
async function freePort(addresses, avoid = []) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listen(addresses[0], 0);
    if (avoid.includes(port)) continue;
    let free = true;
    for (const a of addresses.slice(1)) {
      try {
        await listen(a, port);
      } catch {
        free = false;
        break;
      }
    }
    if (free) return port;
  }
  throw new Error(`no port free on all of ${addresses}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` every 200 ms until it resolves truthy; throws its last failure after `timeoutMs`. */
async function waitUntil(what, timeoutMs, f) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last && (last.stack || last)}`);
}

/** One ilion process: start, stop, kill, and start again on the same data and ports. */
class Node {
  constructor({ address, nativePort, storagePort, adminPort, dir, args = [] }) {
    Object.assign(this, { address, nativePort, storagePort, adminPort, dir, args });
    this.proc = null;
    this.exited = null;
  }

  get logPath() {
    return path.join(this.dir, 'ilion.log');
  }

  async start(timeoutMs = 30000) {
    fs.mkdirSync(this.dir, { recursive: true });
    const log = fs.openSync(this.logPath, 'a');
    const proc = spawn(binary(), [
      '--data-dir', path.join(this.dir, 'data'),
      '--listen-address', this.address,
      '--native-port', String(this.nativePort),
      '--storage-port', String(this.storagePort),
      '--admin-port', String(this.adminPort),
      ...this.args,
    ], {
      stdio: ['ignore', log, log],
      // Its own process group: a Ctrl-C meant for the test runner never reaches the node,
      // which only this module stops.
      detached: true,
    });
    fs.closeSync(log);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', resolve));
    running.add(this);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        running.delete(this);
        throw new Error(`ilion on ${this.address} exited (${proc.exitCode ?? proc.signalCode}):\n${this.log()}`);
      }
      const accepted = await new Promise((resolve) => {
        const s = net.connect({ host: this.address, port: this.nativePort });
        s.setTimeout(500);
        s.once('connect', () => { s.destroy(); resolve(true); });
        s.once('error', () => resolve(false));
        s.once('timeout', () => { s.destroy(); resolve(false); });
      });
      if (accepted) return this;
      await sleep(50);
    }
    await this.kill();
    throw new Error(`ilion on ${this.address} did not accept CQL connections in ${timeoutMs} ms:\n${this.log()}`);
  }

  /** SIGKILL to the process group, at once (also used from the exit handler). */
  killNow() {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    running.delete(this);
  }

  async kill() {
    this.killNow();
    if (this.exited) await this.exited;
  }

  /** SIGTERM, the clean shutdown path; killed after 30 s. */
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGTERM');
    let timer;
    const stopped = await Promise.race([
      this.exited.then(() => true),
      new Promise((resolve) => { timer = setTimeout(() => resolve(false), 30000); }),
    ]);
    // A pending timer would keep the test process alive after its last test.
    clearTimeout(timer);
    running.delete(this);
    if (!stopped) {
      await this.kill();
      throw new Error(`ilion on ${this.address} did not stop in 30 s after SIGTERM:\n${this.log()}`);
    }
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  }
}

/** A running single node on 127.0.0.1. */
async function startNode() {
  const addrs = CLUSTER_ADDRESSES.slice(0, 1);
  const nativePort = await freePort(addrs);
  const storagePort = await freePort(addrs, [nativePort]);
  const adminPort = await freePort(addrs, [nativePort, storagePort]);
  return new Node({ address: addrs[0], nativePort, storagePort, adminPort, dir: tempDir() }).start();
}

/**
 * Three nodes on 127.0.0.1-3 (node 1 the seed), the same ports on each address, fast failure
 * detection, started and formed: each lists the other two in system.peers.
 */
async function startCluster() {
  const nativePort = await freePort(CLUSTER_ADDRESSES);
  const storagePort = await freePort(CLUSTER_ADDRESSES, [nativePort]);
  const adminPort = await freePort(CLUSTER_ADDRESSES, [nativePort, storagePort]);
  const root = tempDir();
  const nodes = [];
  for (const [i, address] of CLUSTER_ADDRESSES.entries()) {
    const dir = path.join(root, `node${i + 1}`);
    fs.mkdirSync(dir, { recursive: true });
    const config = path.join(dir, 'ilion.yaml');
    // Fast failure detection (docs/gossip.md): a killed node is DOWN in about 10 s.
    fs.writeFileSync(config, 'phi_convict_threshold: 3.5\ngossip_fanout: 3\n');
    const node = new Node({
      address, nativePort, storagePort, adminPort, dir,
      args: ['--config', config, '--cluster-name', 'compat-node', '--seeds', CLUSTER_ADDRESSES[0]],
    });
    nodes.push(await node.start());
  }
  await waitUntil('every node to list the other two in system.peers', 60000, async () => {
    for (const n of nodes) {
      const c = pinnedClient(n);
      try {
        await c.connect();
        const rs = await c.execute('SELECT peer FROM system.peers');
        const peers = rs.rows.map((r) => r.peer.toString()).sort();
        const want = nodes.filter((m) => m !== n).map((m) => m.address).sort();
        if (JSON.stringify(peers) !== JSON.stringify(want)) return false;
      } finally {
        await c.shutdown();
      }
    }
    return true;
  });
  return nodes;
}

/** Client options for nodes listening on `port`, with bounded timeouts. */
function clientOptions(node, extra = {}) {
  return {
    contactPoints: [node.address],
    localDataCenter: 'datacenter1',
    ...extra,
    protocolOptions: { port: node.nativePort, ...(extra.protocolOptions || {}) },
    socketOptions: { connectTimeout: 10000, readTimeout: 15000, ...(extra.socketOptions || {}) },
    policies: {
      // Try DOWN hosts again every second, so a restarted node is back in a test's time.
      reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(1000),
      ...(extra.policies || {}),
    },
  };
}

/** A client that talks to `node` alone (no discovery of the others). */
function pinnedClient(node) {
  return new cassandra.Client(clientOptions(node, {
    policies: { loadBalancing: new cassandra.policies.loadBalancing.AllowListPolicy(
      new cassandra.policies.loadBalancing.RoundRobinPolicy(), [`${node.address}:${node.nativePort}`]) },
    isMetadataSyncEnabled: false,
  }));
}

module.exports = {
  CLUSTER_ADDRESSES, RF1, Node, startNode, startCluster, clientOptions, pinnedClient, waitUntil, sleep,
};
