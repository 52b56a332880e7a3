//! Helpers shared by the coordinator's integration tests.
#![allow(dead_code)] // each test binary uses its own subset

pub mod net;

use std::path::Path;

use ilion_coordinator::{Coordinator, CoordinatorConfig, Error, Member, MemberStatus, Session};
use ilion_cql::protocol::{Consistency, CqlType, QueryParameters, ResultBody, Value};

/// Replication of a single-node keyspace.
pub const RF1: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

/// A single node on 127.0.0.1 with its data under `dir`.
pub fn config(dir: &Path) -> CoordinatorConfig {
    CoordinatorConfig {
        cluster_name: "test".into(),
        listen_address: [127, 0, 0, 1].into(),
        native_address: [127, 0, 0, 1].into(),
        native_port: 9042,
        storage_port: 7000,
        data_center: "dc1".into(),
        rack: "r1".into(),
        num_tokens: 4,
        data_dir: dir.to_owned(),
    }
}

pub fn open(dir: &Path) -> Coordinator {
    Coordinator::open(config(dir)).unwrap()
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

/// Member `i` of `n` NORMAL nodes on 127.0.0.(i + 1) in `dc`: host id i + 1 and `vnodes`
/// tokens, the nodes' tokens interleaved evenly around the ring.
pub fn member(i: usize, n: usize, vnodes: usize, dc: String) -> Member {
    let address = std::net::IpAddr::from([127, 0, 0, u8::try_from(i + 1).unwrap()]);
    Member {
        address,
        host_id: uuid::Uuid::from_u128(i as u128 + 1),
        data_center: dc,
        rack: "r1".into(),
        tokens: (0..vnodes)
            .map(|v| {
                let step = (u64::MAX / (vnodes * n) as u64) as i128;
                let slot = (v * n + i) as i128;
                (i64::MIN as i128 + step * slot + step / 2) as i64
            })
            .collect(),
        status: MemberStatus::Normal,
        alive: true,
        native_address: address,
        native_port: 9042,
        release_version: "4.1.0".into(),
        schema_version: uuid::Uuid::nil(),
        load: 0.0,
        replaces: None,
        removing: None,
    }
}
