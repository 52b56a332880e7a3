//! Cassandra's virtual keyspace `system_views`: tables whose rows describe the node as it runs,
//! computed on every read and stored nowhere. Ilion has `clients` (the connected clients, each
//! with the role it logged in as), fed by the server through [`Clients`], and the tables of
//! [`node`]: `settings`, `system_properties` and `disk_usage`. The keyspace is not listed in
//! `system_schema` (Cassandra lists virtual keyspaces apart).

mod node;
mod repairs;

pub use node::Settings;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ilion_cql::protocol::Value;

use crate::schema::Table;

/// The keyspace.
pub const VIEWS_KEYSPACE: &str = "system_views";
/// Where drivers read the virtual keyspaces' definitions (virtual itself).
pub const VIRTUAL_SCHEMA_KEYSPACE: &str = "system_virtual_schema";

/// Whether `keyspace` is virtual: listed in `system_virtual_schema`, not `system_schema`.
pub fn is_virtual(keyspace: &str) -> bool {
    keyspace == VIEWS_KEYSPACE || keyspace == VIRTUAL_SCHEMA_KEYSPACE
}

/// The tables, as Cassandra 4.1 declares them.
pub(crate) const VIEWS_SCHEMA: &[&str] = &[
    "CREATE TABLE system_views.clients (address inet, port int, \
     client_options frozen<map<text, text>>, connection_stage text, driver_name text, \
     driver_version text, hostname text, protocol_version int, request_count bigint, \
     ssl_cipher_suite text, ssl_enabled boolean, ssl_protocol text, username text, \
     PRIMARY KEY ((address), port)) WITH comment = 'currently connected clients'",
    "CREATE TABLE system_views.settings (name text PRIMARY KEY, value text) \
     WITH comment = 'current settings'",
    "CREATE TABLE system_views.system_properties (name text PRIMARY KEY, value text) \
     WITH comment = 'Cassandra relevant system properties'",
    "CREATE TABLE system_views.repairs (keyspace_name text, table_name text, \
     range_start bigint, range_end bigint, repaired_at timestamp, \
     PRIMARY KEY ((keyspace_name, table_name), range_start)) \
     WITH comment = 'token ranges this replica recorded as repaired, and when'",
    "CREATE TABLE system_views.disk_usage (keyspace_name text, table_name text, \
     mebibytes bigint, PRIMARY KEY ((keyspace_name, table_name))) \
     WITH comment = 'current disk usage'",
    "CREATE TABLE system_views.local_read_latency (keyspace_name text, table_name text, \
     count bigint, max_ms double, p50th_ms double, p99th_ms double, per_second double, \
     PRIMARY KEY (keyspace_name, table_name)) WITH comment = 'Latency of local reads'",
    "CREATE TABLE system_views.local_write_latency (keyspace_name text, table_name text, \
     count bigint, max_ms double, p50th_ms double, p99th_ms double, per_second double, \
     PRIMARY KEY (keyspace_name, table_name)) WITH comment = 'Latency of local writes'",
    "CREATE TABLE system_virtual_schema.keyspaces (keyspace_name text PRIMARY KEY) \
     WITH comment = 'virtual keyspace definitions'",
    "CREATE TABLE system_virtual_schema.tables (keyspace_name text, table_name text, \
     comment text, PRIMARY KEY ((keyspace_name), table_name)) \
     WITH comment = 'virtual table definitions'",
    "CREATE TABLE system_virtual_schema.columns (keyspace_name text, table_name text, \
     column_name text, clustering_order text, column_name_bytes blob, kind text, position int, \
     type text, PRIMARY KEY ((keyspace_name), table_name, column_name)) \
     WITH comment = 'virtual column definitions'",
];

/// One connected client, as `system_views.clients` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientInfo {
    pub address: Option<IpAddr>,
    pub port: u16,
    /// The options of its STARTUP (CQL_VERSION, DRIVER_NAME, COMPRESSION, ...).
    pub client_options: BTreeMap<String, String>,
    /// `established` (before STARTUP), `authenticating`, `ready`.
    pub connection_stage: &'static str,
    pub protocol_version: Option<u8>,
    pub request_count: u64,
    /// The role it logged in as (none without an authenticator).
    pub username: Option<String>,
    /// The TLS version and cipher suite, when the connection is encrypted.
    pub ssl: Option<(String, String)>,
}

/// Where the server's connections are listed.
pub trait Clients: Send + Sync + std::fmt::Debug {
    /// Every connected client now.
    fn clients(&self) -> Vec<ClientInfo>;
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// What the `system_views` tables are computed from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sources<'a> {
    pub clients: Option<&'a dyn Clients>,
    pub settings: Option<&'a dyn Settings>,
    pub store: Option<&'a ilion_storage::Store>,
}

/// The rows of `table` (of [`VIEWS_KEYSPACE`]) in its columns' order.
pub(crate) fn rows(table: &Table, sources: Sources<'_>) -> Vec<Vec<Option<Value>>> {
    let clients = sources.clients;
    let rows: Vec<BTreeMap<&'static str, Value>> = match table.name.as_str() {
        "settings" => node::settings(sources.settings),
        "system_properties" => node::system_properties(),
        "disk_usage" => node::disk_usage(sources.store),
        "repairs" => repairs::repairs(sources.store),
        "local_read_latency" => node::latency(sources.store, |t| t.reads.snapshot()),
        "local_write_latency" => node::latency(sources.store, |t| t.writes.snapshot()),
        "clients" => {
            let mut all = clients.map(Clients::clients).unwrap_or_default();
            all.sort_by_key(|c| (c.address, c.port));
            all.into_iter()
                .map(|c| {
                    let mut r = BTreeMap::new();
                    if let Some(a) = c.address {
                        r.insert("address", Value::Inet(a));
                        r.insert("hostname", text(&a.to_string()));
                    }
                    r.insert("port", Value::Int(i32::from(c.port)));
                    r.insert(
                        "client_options",
                        Value::Map(
                            c.client_options
                                .iter()
                                .map(|(k, v)| (text(k), text(v)))
                                .collect(),
                        ),
                    );
                    r.insert("connection_stage", text(c.connection_stage));
                    for (column, option) in [
                        ("driver_name", "DRIVER_NAME"),
                        ("driver_version", "DRIVER_VERSION"),
                    ] {
                        if let Some(v) = c.client_options.get(option) {
                            r.insert(column, text(v));
                        }
                    }
                    if let Some(v) = c.protocol_version {
                        r.insert("protocol_version", Value::Int(i32::from(v)));
                    }
                    r.insert(
                        "request_count",
                        Value::Bigint(i64::try_from(c.request_count).unwrap_or(i64::MAX)),
                    );
                    r.insert("ssl_enabled", Value::Boolean(c.ssl.is_some()));
                    if let Some((protocol, cipher)) = &c.ssl {
                        r.insert("ssl_protocol", text(protocol));
                        r.insert("ssl_cipher_suite", text(cipher));
                    }
                    if let Some(u) = &c.username {
                        r.insert("username", text(u));
                    }
                    r
                })
                .collect()
        }
        _ => Vec::new(),
    };
    crate::system::in_column_order(table, rows)
}
