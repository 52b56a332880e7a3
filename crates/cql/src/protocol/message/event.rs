//! EVENT bodies, and the schema change shared with RESULT's Schema_change kind.
//!
//! ```text
//! TOPOLOGY_CHANGE  <change: NEW_NODE|REMOVED_NODE|MOVED_NODE><address: [inet]>
//! STATUS_CHANGE    <change: UP|DOWN><address: [inet]>
//! SCHEMA_CHANGE    <change: CREATED|UPDATED|DROPPED><target><options>
//!   KEYSPACE            <keyspace>
//!   TABLE | TYPE        <keyspace><name>
//!   FUNCTION|AGGREGATE  <keyspace><name><argument types: [string list]>
//! ```

use std::net::SocketAddr;

use bytes::BytesMut;

use crate::protocol::ProtocolError;
use crate::protocol::types::{Reader, WriteExt, string_len, string_list_len};

type Result<T> = std::result::Result<T, ProtocolError>;

/// A pushed event (stream -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    TopologyChange {
        change: TopologyChange,
        address: SocketAddr,
    },
    StatusChange {
        change: StatusChange,
        address: SocketAddr,
    },
    SchemaChange(SchemaChange),
}

/// A TOPOLOGY_CHANGE kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopologyChange {
    NewNode,
    RemovedNode,
    MovedNode,
}

/// A STATUS_CHANGE kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusChange {
    Up,
    Down,
}

/// What a schema change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeType {
    Created,
    Updated,
    Dropped,
}

/// What a schema change touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchemaTarget {
    Keyspace {
        keyspace: String,
    },
    Table {
        keyspace: String,
        name: String,
    },
    Type {
        keyspace: String,
        name: String,
    },
    Function {
        keyspace: String,
        name: String,
        arg_types: Vec<String>,
    },
    Aggregate {
        keyspace: String,
        name: String,
        arg_types: Vec<String>,
    },
}

/// A schema change (EVENT SCHEMA_CHANGE, RESULT Schema_change).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaChange {
    pub change: ChangeType,
    pub target: SchemaTarget,
}

fn unknown(what: &'static str, value: String) -> ProtocolError {
    ProtocolError::UnknownName { what, value }
}

impl SchemaChange {
    pub(crate) fn read(r: &mut Reader) -> Result<SchemaChange> {
        let change = match r.string("schema change type")?.as_str() {
            "CREATED" => ChangeType::Created,
            "UPDATED" => ChangeType::Updated,
            "DROPPED" => ChangeType::Dropped,
            other => return Err(unknown("schema change type", other.to_owned())),
        };
        let target = r.string("schema change target")?;
        let keyspace = r.string("keyspace")?;
        let target = match target.as_str() {
            "KEYSPACE" => SchemaTarget::Keyspace { keyspace },
            "TABLE" => SchemaTarget::Table {
                keyspace,
                name: r.string("table")?,
            },
            "TYPE" => SchemaTarget::Type {
                keyspace,
                name: r.string("type")?,
            },
            "FUNCTION" => SchemaTarget::Function {
                keyspace,
                name: r.string("function")?,
                arg_types: r.string_list("argument types")?,
            },
            "AGGREGATE" => SchemaTarget::Aggregate {
                keyspace,
                name: r.string("aggregate")?,
                arg_types: r.string_list("argument types")?,
            },
            _ => return Err(unknown("schema change target", target)),
        };
        Ok(SchemaChange { change, target })
    }

    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
        let change = match self.change {
            ChangeType::Created => "CREATED",
            ChangeType::Updated => "UPDATED",
            ChangeType::Dropped => "DROPPED",
        };
        out.put_string(change, "schema change type")?;
        match &self.target {
            SchemaTarget::Keyspace { keyspace } => {
                out.put_string("KEYSPACE", "target")?;
                out.put_string(keyspace, "keyspace")?;
            }
            SchemaTarget::Table { keyspace, name } | SchemaTarget::Type { keyspace, name } => {
                let t = if matches!(self.target, SchemaTarget::Table { .. }) {
                    "TABLE"
                } else {
                    "TYPE"
                };
                out.put_string(t, "target")?;
                out.put_string(keyspace, "keyspace")?;
                out.put_string(name, "name")?;
            }
            SchemaTarget::Function {
                keyspace,
                name,
                arg_types,
            }
            | SchemaTarget::Aggregate {
                keyspace,
                name,
                arg_types,
            } => {
                let t = if matches!(self.target, SchemaTarget::Function { .. }) {
                    "FUNCTION"
                } else {
                    "AGGREGATE"
                };
                out.put_string(t, "target")?;
                out.put_string(keyspace, "keyspace")?;
                out.put_string(name, "name")?;
                out.put_string_list(arg_types, "argument types")?;
            }
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        // CREATED, UPDATED and DROPPED are all 7 bytes.
        string_len("CREATED")
            + match &self.target {
                SchemaTarget::Keyspace { keyspace } => {
                    string_len("KEYSPACE") + string_len(keyspace)
                }
                SchemaTarget::Table { keyspace, name } => {
                    string_len("TABLE") + string_len(keyspace) + string_len(name)
                }
                SchemaTarget::Type { keyspace, name } => {
                    string_len("TYPE") + string_len(keyspace) + string_len(name)
                }
                SchemaTarget::Function {
                    keyspace,
                    name,
                    arg_types,
                } => {
                    string_len("FUNCTION")
                        + string_len(keyspace)
                        + string_len(name)
                        + string_list_len(arg_types)
                }
                SchemaTarget::Aggregate {
                    keyspace,
                    name,
                    arg_types,
                } => {
                    string_len("AGGREGATE")
                        + string_len(keyspace)
                        + string_len(name)
                        + string_list_len(arg_types)
                }
            }
    }
}

impl Event {
    pub(crate) fn read(r: &mut Reader) -> Result<Event> {
        let kind = r.string("event type")?;
        Ok(match kind.as_str() {
            "TOPOLOGY_CHANGE" => {
                let change = match r.string("topology change")?.as_str() {
                    "NEW_NODE" => TopologyChange::NewNode,
                    "REMOVED_NODE" => TopologyChange::RemovedNode,
                    "MOVED_NODE" => TopologyChange::MovedNode,
                    other => return Err(unknown("topology change", other.to_owned())),
                };
                Event::TopologyChange {
                    change,
                    address: r.inet("node address")?,
                }
            }
            "STATUS_CHANGE" => {
                let change = match r.string("status change")?.as_str() {
                    "UP" => StatusChange::Up,
                    "DOWN" => StatusChange::Down,
                    other => return Err(unknown("status change", other.to_owned())),
                };
                Event::StatusChange {
                    change,
                    address: r.inet("node address")?,
                }
            }
            "SCHEMA_CHANGE" => Event::SchemaChange(SchemaChange::read(r)?),
            _ => return Err(unknown("event type", kind)),
        })
    }

    /// The event type name, as REGISTER lists it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::TopologyChange { .. } => "TOPOLOGY_CHANGE",
            Event::StatusChange { .. } => "STATUS_CHANGE",
            Event::SchemaChange(_) => "SCHEMA_CHANGE",
        }
    }

    fn change_name(&self) -> Option<&'static str> {
        match self {
            Event::TopologyChange { change, .. } => Some(match change {
                TopologyChange::NewNode => "NEW_NODE",
                TopologyChange::RemovedNode => "REMOVED_NODE",
                TopologyChange::MovedNode => "MOVED_NODE",
            }),
            Event::StatusChange { change, .. } => Some(match change {
                StatusChange::Up => "UP",
                StatusChange::Down => "DOWN",
            }),
            Event::SchemaChange(_) => None,
        }
    }

    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
        out.put_string(self.type_name(), "event type")?;
        match self {
            Event::TopologyChange { address, .. } | Event::StatusChange { address, .. } => {
                out.put_string(self.change_name().unwrap_or_default(), "change")?;
                out.put_inet(address);
            }
            Event::SchemaChange(c) => c.write(out)?,
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        string_len(self.type_name())
            + match self {
                Event::TopologyChange { address, .. } | Event::StatusChange { address, .. } => {
                    string_len(self.change_name().unwrap_or_default())
                        + crate::protocol::types::inetaddr_len(&address.ip())
                        + 4
                }
                Event::SchemaChange(c) => c.encoded_len(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_node_is_encoded_as_a_moved_node_topology_change() {
        let event = Event::TopologyChange {
            change: TopologyChange::MovedNode,
            address: "127.0.0.2:9042".parse().unwrap(),
        };
        let mut out = BytesMut::new();
        event.write(&mut out).unwrap();
        let mut expected = Vec::new();
        for s in ["TOPOLOGY_CHANGE", "MOVED_NODE"] {
            expected.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
            expected.extend_from_slice(s.as_bytes());
        }
        // [inet]: address length, the IPv4 bytes, then the port as an [int].
        expected.extend_from_slice(&[4, 127, 0, 0, 2]);
        expected.extend_from_slice(&9042i32.to_be_bytes());
        assert_eq!(&out[..], &expected[..]);
        assert_eq!(event.encoded_len(), expected.len());
    }
}
