"""examples/local-cluster runs: a node dies, QUORUM keeps working, hints bring it up to date."""

import os
import subprocess
import sys

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.join(_os.path.dirname(__file__), "..", "..", "tests", "compat"))
from conftest import _binary  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "examples", "local-cluster", "local_cluster.py")


def test_local_cluster_example_replays_hints_to_the_restarted_node():
    out = subprocess.run(
        [sys.executable, SCRIPT, "--bin", _binary(), "--rows", "60",
         "--native-port", "19042", "--storage-port", "17000", "--admin-port", "17199"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "returns all 60 rows written while it was down" in out.stdout
