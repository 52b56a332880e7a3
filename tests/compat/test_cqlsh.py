"""cqlsh -e against a real node: queries, schema statements and server-side DESCRIBE."""

import os
import subprocess
import sys

import pytest


def cqlsh(node, statements):
    binary = os.path.join(os.path.dirname(sys.executable), "cqlsh")
    out = subprocess.run(
        [binary, node.host, str(node.port), "-e", statements],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # cqlsh warns on stdout that it was built against another server version; drop that.
    stdout = "\n".join(l for l in out.stdout.splitlines() if not l.startswith("WARNING: cqlsh was built"))
    return out.returncode, stdout, out.stderr


def test_cqlsh_reads_system_local(node):
    code, out, err = cqlsh(node, "SELECT release_version FROM system.local")
    assert code == 0, err
    assert "4.1.3" in out


def test_cqlsh_creates_and_describes_a_schema(node):
    code, out, err = cqlsh(
        node,
        "CREATE KEYSPACE shell WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};"
        "CREATE TYPE shell.point (x double, y double);"
        "CREATE TABLE shell.t (k int, c text, p frozen<point>, PRIMARY KEY (k, c)) "
        "WITH CLUSTERING ORDER BY (c DESC);"
        "DESCRIBE KEYSPACE shell",
    )
    assert code == 0, err
    assert "CREATE KEYSPACE shell WITH replication" in out
    assert "CREATE TYPE shell.point" in out
    assert "CREATE TABLE shell.t" in out
    assert "CLUSTERING ORDER BY (c DESC)" in out

    code, out, err = cqlsh(node, "DESCRIBE KEYSPACES")
    assert code == 0, err
    assert "shell" in out.split()

    code, out, err = cqlsh(node, "USE shell; DESCRIBE TABLES")
    assert code == 0, err
    assert out.split() == ["t"]

    code, out, err = cqlsh(node, "DESCRIBE CLUSTER")
    assert code == 0, err
    assert "Murmur3Partitioner" in out


def test_cqlsh_reports_errors(node):
    code, out, err = cqlsh(node, "SELECT * FROM nosuchks.nosuchtable")
    assert code != 0
    assert "does not exist" in err


def test_cqlsh_inserts_and_selects_rows(node):
    code, out, err = cqlsh(
        node,
        "CREATE KEYSPACE shelldata WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};"
        "CREATE TABLE shelldata.t (k int, c int, v text, PRIMARY KEY (k, c));"
        "INSERT INTO shelldata.t (k, c, v) VALUES (1, 1, 'first');"
        "INSERT INTO shelldata.t (k, c, v) VALUES (1, 2, 'second');"
        "SELECT * FROM shelldata.t WHERE k = 1",
    )
    assert code == 0, err
    assert "first" in out and "second" in out
    assert "(2 rows)" in out
