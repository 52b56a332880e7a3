//! The coordinator's replica messages (`ilion_coordinator::replication::messages`).

use ilion_coordinator::replication::messages::{Request, Response, decode_request, request};
use ilion_storage::{CqlType, Order, TableSchema};
use prost::Message;

/// Decodes arbitrary bytes as a replica request and a response. What decodes must map onto a
/// table (or fail with an error), and re-encode to a message that decodes to the same value.
pub fn replica_message(data: &[u8]) {
    if let Ok(body) = decode_request(data) {
        let req = Request { body: Some(body) };
        let again = Request::decode(req.encode_to_vec().as_slice()).expect("re-encoded request");
        assert_eq!(again, req, "request round trip differs");
        let schema = TableSchema::builder("ks", "t")
            .partition_key("k", CqlType::Int)
            .clustering("c", CqlType::Int, Order::Asc)
            .static_column("s", CqlType::Text)
            .regular("v", CqlType::Text)
            .build()
            .expect("schema");
        if let Some(request::Body::Mutation(m) | request::Body::Hint(m)) = &req.body {
            for w in &m.mutations {
                let _ = w.to_mutation(&schema);
            }
        }
    }
    if let Ok(body) = Response::decode_bytes(data) {
        let resp = Response { body: Some(body) };
        let again = Response::decode(resp.encode_to_vec().as_slice()).expect("re-encoded response");
        assert_eq!(again, resp, "response round trip differs");
    }
}
