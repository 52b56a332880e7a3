"""examples/local-cluster runs: a node dies, QUORUM keeps working, hints bring it up to date."""

import os
import subprocess
import sys

from conftest import _binary
from test_cluster import _port_free_everywhere

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "examples", "local-cluster", "local_cluster.py")


def test_local_cluster_example_replays_hints_to_the_restarted_node():
    ports = set()
    while len(ports) < 3:
        ports.add(_port_free_everywhere())
    native, storage, admin = sorted(ports)
    out = subprocess.run(
        [sys.executable, SCRIPT, "--bin", _binary(), "--rows", "60",
         "--native-port", str(native), "--storage-port", str(storage),
         "--admin-port", str(admin)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "returns all 60 rows written while it was down" in out.stdout
