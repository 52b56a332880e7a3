"""examples/feature-store runs against a real node and its roll-ups check out."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "examples", "feature-store", "feature_store.py")


def test_feature_store_example_scans_every_event_once_and_rolls_up(node):
    out = subprocess.run(
        [
            sys.executable, SCRIPT,
            "--host", node.host, "--port", str(node.port),
            "--events", "3000", "--entities", "60", "--splits", "8", "--workers", "3",
        ],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr + node.log()
    assert "roll-ups match the events written" in out.stdout
    assert "events scanned" in out.stdout
    assert "real-time reads during the batch job" in out.stdout
