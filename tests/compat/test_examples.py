"""The example applications, run as their README says against a real node."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_the_python_crud_example_runs_every_step_against_a_node(node):
    app = os.path.join(ROOT, "examples", "python-crud", "app.py")
    done = subprocess.run(
        [sys.executable, app, "--host", node.host, "--port", str(node.port), "--keyspace", "crud_example"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{out}\nstderr:\n{done.stderr}"
    for line in [
        "schema ready in keyspace crud_example",
        "read by key: Ada <ada@example.com> age 36",
        "updated: Ada <ada@lovelace.org>",
        "batch applied: 10 events and an update",
        "range read (minutes 3..6): ['session 5', 'session 4', 'session 3']",
        "TTL row expired",
        "deleted a column and a row",
        "caught SyntaxException for a syntax error",
        "caught InvalidRequest for an unknown table",
        "caught InvalidRequest for an unknown column",
        "caught InvalidRequest for a missing partition key",
        "caught InvalidRequest for a value of the wrong type",
        "caught TypeError for a bound value of the wrong type",
        "dropped keyspace crud_example",
        "all steps succeeded",
    ]:
        assert line in out, f"missing {line!r} in:\n{out}"
