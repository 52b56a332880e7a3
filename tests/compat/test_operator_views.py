"""What operators see (issue #23): `ilion ring`, `ilion describering` and `ilion info` against
the driver's own view of the cluster.

Real processes on 127.0.0.1 (the seed) and 127.0.0.2 (joined by bootstrap), in their own
process groups and always killed. With a keyspace at RF 2, the token ring `ilion ring` prints
is the driver's token map (same tokens, same owners, sorted, the last token first), every
range `ilion describering` lists has the owner of its end token first and both nodes as
replicas, and `ilion info` names each node's host id, datacenter, rack and tokens as the
driver knows them. An unknown keyspace is refused with Cassandra's words and a non-zero exit.
"""

import re
import subprocess

from test_bootstrap import session_on, status, two_nodes
from test_cluster import ADDRESSES, wait_until

TOKEN_LINE = re.compile(
    r"^(?P<address>\d+\.\d+\.\d+\.\d+)\s+(?P<rack>\S+)\s+(?P<status>Up|Down)\s+"
    r"(?P<state>Normal|Joining|Leaving)\s+(?P<load>\S+ \S+)\s+(?P<owns>\S+)\s+(?P<token>-?\d+)\s*$")
RANGE_LINE = re.compile(
    r"^\tTokenRange\(start_token:(?P<start>-?\d+), end_token:(?P<end>-?\d+), "
    r"endpoints:\[(?P<endpoints>[^\]]*)\], rpc_endpoints:\[(?P<rpc>[^\]]*)\], "
    r"endpoint_details:\[(?P<details>.*)\]\)$")


def ilion(node, *args):
    return subprocess.run(
        [node.binary, *args, "--host", f"{node.address}:{node.storage_port}"],
        capture_output=True, text=True, timeout=60)


def ring_lines(out):
    return [m.groupdict() for m in map(TOKEN_LINE.match, out.splitlines()) if m]


def test_ring_describering_and_info_match_the_drivers_view_of_the_cluster():
    with two_nodes("ilion-views-") as (n1, n2, clusters):
        n1.start()
        n2.start()
        wait_until("both nodes up and normal",
                   lambda: status(n1) == {ADDRESSES[0]: "UN", ADDRESSES[1]: "UN"}, 30)
        cluster, s = session_on(n1)
        clusters.append(cluster)
        s.execute("CREATE KEYSPACE views WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        s.execute("CREATE TABLE views.t (k int PRIMARY KEY, v text)")

        # The driver's token map: token -> owner address, and each host's id, dc and rack.
        def token_owners():
            cluster.refresh_nodes()
            tm = cluster.metadata.token_map
            owners = {t.value: h.address for t, h in tm.token_to_host_owner.items()} if tm else {}
            return owners if set(owners.values()) == set(ADDRESSES[:2]) else None

        owners = wait_until("the driver to see both nodes' tokens", token_owners, 30)
        hosts = {a: cluster.metadata.get_host(a) for a in ADDRESSES[:2]}
        tokens = sorted(owners)

        # ilion ring: one line per token, sorted, owned as the driver says; the last token
        # stands alone on the line before them (where the first range starts).
        out = ilion(n1, "ring")
        assert out.returncode == 0, out.stderr
        lines = ring_lines(out.stdout)
        assert [(int(l["token"]), l["address"]) for l in lines] == \
            [(t, owners[t]) for t in tokens], out.stdout
        text = out.stdout.splitlines()
        header = next(i for i, l in enumerate(text) if l.startswith("Address"))
        assert text[header - 2] == "Datacenter: " + hosts[ADDRESSES[0]].datacenter
        assert text[header + 1].strip() == str(tokens[-1]), out.stdout
        for l in lines:
            assert (l["status"], l["state"]) == ("Up", "Normal"), l
            assert l["rack"] == hosts[l["address"]].rack, l
        # Raw ownership: the node's shares add up to the whole ring, and nodetool's note.
        raw = {l["address"]: float(l["owns"].rstrip("%")) for l in lines}
        assert abs(sum(raw.values()) - 100.0) < 0.1, raw
        assert "Note: Ownership information does not include topology" in out.stdout

        # With the keyspace: RF 2 on two nodes, each holds a replica of the whole ring.
        out = ilion(n1, "ring", "views")
        assert out.returncode == 0, out.stderr
        assert {l["owns"] for l in ring_lines(out.stdout)} == {"100.00%"}, out.stdout
        assert "Note:" not in out.stdout

        # ilion describering: the schema version the driver reads, then one range per token,
        # each ending at a token, its owner first, both nodes replicas.
        version = str(s.execute("SELECT schema_version FROM system.local").one()[0])
        out = ilion(n2, "describering", "views")
        assert out.returncode == 0, out.stderr
        text = out.stdout.splitlines()
        assert text[0] == f"Schema Version:{version}", out.stdout
        assert text[1] == "TokenRange: "
        ranges = [RANGE_LINE.match(l) for l in text[2:]]
        assert all(ranges), out.stdout
        assert [int(r["end"]) for r in ranges] == tokens, out.stdout
        assert [int(r["start"]) for r in ranges] == [tokens[-1]] + tokens[:-1]
        for r in ranges:
            endpoints = r["endpoints"].split(", ")
            assert endpoints[0] == owners[int(r["end"])], r.group(0)
            assert sorted(endpoints) == ADDRESSES[:2], r.group(0)
            assert r["rpc"].split(", ") == endpoints
            dc, rack = hosts[endpoints[0]].datacenter, hosts[endpoints[0]].rack
            assert r["details"].startswith(
                f"EndpointDetails(host:{endpoints[0]}, datacenter:{dc}, rack:{rack})")

        # ilion info: each node as the driver knows it.
        for node in (n1, n2):
            host = hosts[node.address]
            mine = [t for t in tokens if owners[t] == node.address]
            out = ilion(node, "info")
            assert out.returncode == 0, out.stderr
            fields = dict(l.split(": ", 1) for l in out.stdout.splitlines())
            fields = {k.strip(): v for k, v in fields.items()}
            assert fields["ID"] == str(host.host_id), out.stdout
            assert fields["Gossip active"] == "true"
            assert fields["Native Transport active"] == "true"
            assert fields["Data Center"] == host.datacenter
            assert fields["Rack"] == host.rack
            assert int(fields["Uptime (seconds)"]) >= 0
            assert fields["Token"] == f"(invoke with -T/--tokens to see all {len(mine)} tokens)"
            out = ilion(node, "info", "-T")
            listed = [int(l.split(": ", 1)[1]) for l in out.stdout.splitlines()
                      if l.startswith("Token ")]
            assert listed == mine, out.stdout

        # An unknown keyspace: Cassandra's words, a non-zero exit.
        out = ilion(n1, "describering", "nosuchks")
        assert out.returncode == 2, out
        assert out.stderr.strip() == "error: No such keyspace: nosuchks", out.stderr
        out = ilion(n1, "ring", "nosuchks")
        assert out.returncode == 1, out
        assert "Error: The keyspace nosuchks, does not exist" in out.stdout, out.stdout

        # cleanup still ends with its line (its progress goes to stderr).
        out = ilion(n1, "cleanup", "views")
        assert out.returncode == 0, out.stderr
        assert "cleanup finished: 1 tables" in out.stdout, out.stdout
