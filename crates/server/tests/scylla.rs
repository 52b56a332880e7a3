//! The `scylla` Rust driver against the real `ilion` binary: connect, schema, prepared writes
//! and reads, a batch, paging, and an error the application sees.

use std::ops::ControlFlow;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::response::PagingState;
use scylla::statement::batch::{Batch, BatchType};

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The node process, killed when the test ends however it ends.
struct Node {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_ilion"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--native-port", &port.to_string()])
        .args(["--storage-port", &free_port().to_string()])
        .args(["--admin-port", &free_port().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Node {
        child,
        port,
        _dir: dir,
    }
}

async fn connect(port: u16) -> Session {
    // The node takes a moment to listen; retry for a bounded time.
    let mut last = None;
    for _ in 0..100 {
        match SessionBuilder::new()
            .known_node(format!("127.0.0.1:{port}"))
            .connection_timeout(Duration::from_secs(5))
            .build()
            .await
        {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the scylla driver could not connect: {last:?}");
}

async fn drive(session: &Session) {
    session
        .query_unpaged(
            "CREATE KEYSPACE sc WITH replication = \
             {'class': 'SimpleStrategy', 'replication_factor': 1}",
            &[],
        )
        .await
        .unwrap();
    session
        .query_unpaged(
            "CREATE TABLE sc.t (k int, c int, v text, PRIMARY KEY (k, c))",
            &[],
        )
        .await
        .unwrap();
    session.await_schema_agreement().await.unwrap();

    // Prepared inserts and a prepared select.
    let insert = session
        .prepare("INSERT INTO sc.t (k, c, v) VALUES (?, ?, ?)")
        .await
        .unwrap();
    for c in 0..25i32 {
        session
            .execute_unpaged(&insert, (1i32, c, format!("v{c}")))
            .await
            .unwrap();
    }
    let one = session
        .prepare("SELECT c, v FROM sc.t WHERE k = ? AND c = ?")
        .await
        .unwrap();
    let rows = session
        .execute_unpaged(&one, (1i32, 7i32))
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let got: Vec<(i32, String)> = rows
        .rows::<(i32, String)>()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, vec![(7, "v7".to_owned())]);

    // A logged batch of a prepared and a simple statement.
    let mut batch = Batch::new(BatchType::Logged);
    batch.append_statement(insert.clone());
    batch.append_statement("UPDATE sc.t SET v = ? WHERE k = ? AND c = ?");
    session
        .batch(&batch, ((2i32, 1i32, "batched"), ("updated", 1i32, 0i32)))
        .await
        .unwrap();
    let rows = session
        .query_unpaged("SELECT v FROM sc.t WHERE k = 2 AND c = 1", &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let (v,): (String,) = rows.single_row().unwrap();
    assert_eq!(v, "batched");

    // Paging through a partition, 7 rows a page.
    let mut all = session
        .prepare("SELECT c, v FROM sc.t WHERE k = ?")
        .await
        .unwrap();
    all.set_page_size(7);
    let mut state = PagingState::start();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (result, next) = session
            .execute_single_page(&all, (1i32,), state)
            .await
            .unwrap();
        pages += 1;
        let rows = result.into_rows_result().unwrap();
        for row in rows.rows::<(i32, String)>().unwrap() {
            seen.push(row.unwrap());
        }
        match next.into_paging_control_flow() {
            ControlFlow::Break(()) => break,
            ControlFlow::Continue(s) => state = s,
        }
        assert!(pages < 20, "paging does not end");
    }
    assert!(pages >= 4, "25 rows in pages of 7 came in {pages} pages");
    let expected: Vec<(i32, String)> = (0..25)
        .map(|c| {
            (
                c,
                if c == 0 {
                    "updated".into()
                } else {
                    format!("v{c}")
                },
            )
        })
        .collect();
    assert_eq!(seen, expected);

    // An error the application sees: Invalid, with the node's message.
    let err = session
        .query_unpaged("SELECT * FROM sc.missing WHERE k = 1", &[])
        .await
        .unwrap_err();
    match err {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(DbError::Invalid, msg)) => {
            assert!(msg.contains("missing"), "{msg}");
        }
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scylla_driver_connects_writes_reads_batches_and_pages() {
    let node = start_node();
    let session = connect(node.port).await;
    tokio::time::timeout(Duration::from_secs(120), drive(&session))
        .await
        .expect("the scylla driver session took over two minutes");
}
