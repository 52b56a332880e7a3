"""A small application on Ilion with the DataStax Python driver (cassandra-driver).

It does what most applications do with a wide-column store: a keyspace and a table, INSERT,
UPDATE, DELETE, reads by key and by a clustering range within a partition, prepared
statements, a batch, a TTL, and handling the errors a wrong statement gets.

    python app.py [--host 127.0.0.1] [--port 9042] [--keyspace crud_demo]

Exits 0 when every step did what it should, 1 otherwise.
"""

import argparse
import datetime
import sys
import time
import uuid

from cassandra import InvalidRequest
from cassandra.cluster import Cluster
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, BatchType


def check(condition, what):
    """Stops the application when a step did not do what it should."""
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--keyspace", default="crud_demo")
    args = parser.parse_args()

    cluster = Cluster([args.host], port=args.port, connect_timeout=10)
    session = cluster.connect()
    try:
        run(session, args.keyspace)
    finally:
        cluster.shutdown()
    print("all steps succeeded")


def run(session, ks):
    # 1. Schema: a keyspace, a users table, and a table of each user's events, newest first.
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {ks} "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.set_keyspace(ks)
    session.execute(
        "CREATE TABLE IF NOT EXISTS users ("
        " user_id uuid PRIMARY KEY, name text, email text, age int)"
    )
    session.execute(
        "CREATE TABLE IF NOT EXISTS user_events ("
        " user_id uuid, at timestamp, kind text, detail text,"
        " PRIMARY KEY (user_id, at)) WITH CLUSTERING ORDER BY (at DESC)"
    )
    print(f"schema ready in keyspace {ks}")

    # 2. Insert with a simple statement (values bound by the driver).
    ada = uuid.uuid4()
    session.execute(
        "INSERT INTO users (user_id, name, email, age) VALUES (%s, %s, %s, %s)",
        (ada, "Ada", "ada@example.com", 36),
    )
    # 3. Prepared statements: parsed once by the node, executed many times.
    insert_user = session.prepare("INSERT INTO users (user_id, name, email, age) VALUES (?, ?, ?, ?)")
    get_user = session.prepare("SELECT name, email, age FROM users WHERE user_id = ?")
    grace = uuid.uuid4()
    session.execute(insert_user, (grace, "Grace", "grace@example.com", 45))
    row = session.execute(get_user, (ada,)).one()
    check(row is not None and row.name == "Ada" and row.age == 36, "read Ada by key")
    print(f"read by key: {row.name} <{row.email}> age {row.age}")

    # 4. Update one column; the others keep their values.
    session.execute("UPDATE users SET email = %s WHERE user_id = %s", ("ada@lovelace.org", ada))
    row = session.execute(get_user, (ada,)).one()
    check(row.email == "ada@lovelace.org" and row.name == "Ada", "update Ada's email")
    print(f"updated: {row.name} <{row.email}>")

    # 5. A batch: the user's events and a change to the user, all applied or none.
    insert_event = session.prepare(
        "INSERT INTO user_events (user_id, at, kind, detail) VALUES (?, ?, ?, ?)"
    )
    start = datetime.datetime(2024, 1, 1, 12, 0, 0)
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    for minute in range(10):
        batch.add(insert_event, (ada, start + datetime.timedelta(minutes=minute), "login", f"session {minute}"))
    batch.add("UPDATE users SET age = %s WHERE user_id = %s", (37, ada))
    session.execute(batch)
    check(session.execute(get_user, (ada,)).one().age == 37, "batch updated Ada's age")
    print("batch applied: 10 events and an update")

    # 6. Read a clustering range within one partition (newest first, as the table orders).
    in_range = session.prepare(
        "SELECT at, detail FROM user_events WHERE user_id = ? AND at >= ? AND at < ?"
    )
    rows = list(
        session.execute(
            in_range, (ada, start + datetime.timedelta(minutes=3), start + datetime.timedelta(minutes=6))
        )
    )
    details = [r.detail for r in rows]
    check(details == ["session 5", "session 4", "session 3"], f"range read, got {details}")
    print(f"range read (minutes 3..6): {details}")
    latest = session.execute("SELECT detail FROM user_events WHERE user_id = %s LIMIT 2", (ada,))
    print(f"two latest events: {[r.detail for r in latest]}")

    # 7. A TTL: a row that removes itself (TTLs count whole seconds: with TTL 1 a read that
    # crosses a second boundary may already miss the row).
    temp = uuid.uuid4()
    session.execute(
        "INSERT INTO users (user_id, name) VALUES (%s, %s) USING TTL 3", (temp, "Temporary")
    )
    check(session.execute(get_user, (temp,)).one() is not None, "the TTL row exists at first")
    deadline = time.monotonic() + 10
    while session.execute(get_user, (temp,)).one() is not None:
        check(time.monotonic() < deadline, "the TTL row expired within 10 s")
        time.sleep(0.2)
    print("TTL row expired")

    # 8. Delete a column, then a whole row.
    session.execute("DELETE email FROM users WHERE user_id = %s", (grace,))
    row = session.execute(get_user, (grace,)).one()
    check(row.email is None and row.name == "Grace", "delete Grace's email")
    session.execute("DELETE FROM users WHERE user_id = %s", (grace,))
    check(session.execute(get_user, (grace,)).one() is None, "delete Grace")
    print("deleted a column and a row")

    # 9. Statements that are wrong: the driver raises, the application decides what to do.
    mistakes = [
        ("a syntax error", "SELEC name FROM users"),
        ("an unknown table", "SELECT * FROM no_such_table WHERE user_id = 5b6962dd-3f90-4c93-8f61-eabfa4a803e2"),
        ("an unknown column", "INSERT INTO users (user_id, nickname) VALUES (5b6962dd-3f90-4c93-8f61-eabfa4a803e2, 'x')"),
        ("a missing partition key", "UPDATE users SET age = 1 WHERE name = 'Ada'"),
        ("a value of the wrong type", "INSERT INTO users (user_id, age) VALUES (5b6962dd-3f90-4c93-8f61-eabfa4a803e2, 'old')"),
    ]
    for what, statement in mistakes:
        try:
            session.execute(statement)
        except (InvalidRequest, SyntaxException) as e:
            print(f"caught {type(e).__name__} for {what}: {e}")
        else:
            check(False, f"{what} was accepted: {statement}")
    try:
        session.execute(insert_user, (uuid.uuid4(), "Bad", "bad@example.com", "forty"))
    except TypeError as e:
        # The driver checks bound values against the prepared statement's types before sending.
        print(f"caught TypeError for a bound value of the wrong type: {e}")
    else:
        check(False, "a bound value of the wrong type was accepted")

    # 10. Clean up.
    session.execute(f"DROP KEYSPACE {ks}")
    print(f"dropped keyspace {ks}")


if __name__ == "__main__":
    main()
