//! Helpers shared by the coordinator's integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;

use ilion_coordinator::{Coordinator, CoordinatorConfig, Error, Session};
use ilion_cql::protocol::{Consistency, CqlType, QueryParameters, ResultBody, Value};

/// Replication of a single-node keyspace.
pub const RF1: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

pub fn open(dir: &Path) -> Coordinator {
    Coordinator::open(CoordinatorConfig {
        cluster_name: "test".into(),
        listen_address: [127, 0, 0, 1].into(),
        native_address: [127, 0, 0, 1].into(),
        native_port: 9042,
        storage_port: 7000,
        data_center: "dc1".into(),
        rack: "r1".into(),
        num_tokens: 4,
        data_dir: dir.to_owned(),
    })
    .unwrap()
}

pub fn run(c: &Coordinator, text: &str) -> Result<ResultBody, Error> {
    c.query(
        &Session::default(),
        text,
        &QueryParameters::new(Consistency::One),
    )
}

/// The rows of a SELECT, decoded.
pub fn select(c: &Coordinator, text: &str) -> Vec<Vec<Option<Value>>> {
    let ResultBody::Rows(rows) = run(c, text).unwrap() else {
        panic!("{text}: not rows")
    };
    let types: Vec<CqlType> = rows
        .metadata
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.ty.clone())
        .collect();
    rows.rows()
        .map(|r| {
            r.iter()
                .zip(&types)
                .map(|(v, t)| v.as_ref().map(|b| t.decode(b).unwrap()))
                .collect()
        })
        .collect()
}
