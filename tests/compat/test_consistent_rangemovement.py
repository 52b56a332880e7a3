"""A join while a replica is down (`consistent_rangemovement`, Cassandra's
-Dcassandra.consistent.rangemovement): two nodes hold a keyspace at RF 2, node 2 dies, node 3
tries to join. By default it is refused and says why; started again with
`consistent_rangemovement: false` it streams the ranges node 2 gives up from node 1 instead,
and afterwards holds them itself (read through node 3 alone at ONE with node 1 stopped).
"""

import struct

from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

from test_bootstrap import cluster_nodes, session_on, status
from test_cluster import ADDRESSES, wait_until

ROWS = 600


def test_a_join_with_a_source_down_is_refused_unless_inconsistent_sources_are_allowed():
    with cluster_nodes("ilion-rangemovement-", 3, yaml="ring_delay_ms: 6000\n") as (nodes, clusters):
        n1, n2, n3 = nodes
        n1.start()
        n2.start()
        wait_until("both nodes up and normal",
                   lambda: status(n1) == {ADDRESSES[0]: "UN", ADDRESSES[1]: "UN"}, 30)
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE rm WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        s1.execute("CREATE TABLE rm.t (k int PRIMARY KEY, v text)")
        insert = s1.prepare("INSERT INTO rm.t (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.ALL
        for k in range(ROWS):
            s1.execute(insert, (k, f"v{k}"))
        n2.kill()
        wait_until("node 1 to see node 2 down", lambda: status(n1).get(ADDRESSES[1]) == "DN", 60)

        # Consistent (the default): refused, with the reason and the way out.
        n3.spawn()
        assert n3.proc.wait(timeout=120) != 0
        log = n3.log()
        assert f"{ADDRESSES[1]} is not up (yet)" in log, log
        assert "with consistent_rangemovement: true every member must be up" in log, log

        # Allowed to stream from another replica: node 3 joins.
        with open(n3.config, "a") as f:
            f.write("consistent_rangemovement: false\n")
        n3.start(timeout=120)
        wait_until("node 3 up and normal on node 1",
                   lambda: status(n1).get(ADDRESSES[2]) == "UN", 30)

        # The rows node 3 now replicates, from the driver's token map.
        c_map, _ = session_on(n1)
        clusters.append(c_map)
        wait_until("the driver to see the three nodes' tokens",
                   lambda: len(c_map.metadata.token_map.token_to_host_owner) == 48, 30)
        owned = [k for k in range(ROWS)
                 if ADDRESSES[2] in {h.address for h in
                                     c_map.metadata.get_replicas("rm", struct.pack(">i", k))}]
        assert len(owned) > ROWS // 5, f"node 3 replicates {len(owned)} of {ROWS} rows"

        # Node 3 alone, at ONE: it holds them itself.
        n1.stop()
        c3, s3 = session_on(n3)
        clusters.append(c3)
        one = SimpleStatement("SELECT v FROM rm.t WHERE k = %s", consistency_level=ConsistencyLevel.ONE)
        lost = [k for k in owned if (lambda r: r is None or r.v != f"v{k}")(s3.execute(one, (k,)).one())]
        assert not lost, f"node 3 lacks {len(lost)} of the {len(owned)} rows it replicates: {lost[:10]}"
