//! ERROR bodies: `<code: [int]><message: [string]>` and the code's extra fields.
//!
//! | code | name | extra |
//! |---|---|---|
//! | 0x0000 | Server error | |
//! | 0x000A | Protocol error | |
//! | 0x0100 | Bad credentials | |
//! | 0x1000 | Unavailable | `<cl><required: int><alive: int>` |
//! | 0x1001 | Overloaded | |
//! | 0x1002 | Is bootstrapping | |
//! | 0x1003 | Truncate error | |
//! | 0x1100 | Write timeout | `<cl><received><blockfor><writeType: string>` and in v5 `<contentions: short>` when writeType is CAS |
//! | 0x1200 | Read timeout | `<cl><received><blockfor><data_present: byte>` |
//! | 0x1300 | Read failure | `<cl><received><blockfor>` v4 `<numfailures: int>` / v5 `<reasonmap>`, `<data_present: byte>` |
//! | 0x1400 | Function failure | `<keyspace><function><arg_types: string list>` |
//! | 0x1500 | Write failure | `<cl><received><blockfor>` v4 `<numfailures>` / v5 `<reasonmap>`, `<writeType>` |
//! | 0x1600 | CDC write failure | |
//! | 0x1700 | CAS write unknown | `<cl><received><blockfor>` |
//! | 0x2000 | Syntax error | |
//! | 0x2100 | Unauthorized | |
//! | 0x2200 | Invalid | |
//! | 0x2300 | Config error | |
//! | 0x2400 | Already exists | `<keyspace><table>` (table empty for a keyspace) |
//! | 0x2500 | Unprepared | `<id: short bytes>` |
//!
//! A reason map is `<n: int>` pairs of `<endpoint: [inetaddr]><failure code: short>`.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::types::{
    Consistency, Reader, WriteExt, inetaddr_len, string_len, string_list_len,
};
use crate::protocol::{ProtocolError, ProtocolVersion};

type Result<T> = std::result::Result<T, ProtocolError>;

/// An ERROR response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub message: String,
    pub kind: ErrorKind,
}

/// The kind of write a write timeout or failure was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteType {
    Simple,
    Batch,
    UnloggedBatch,
    Counter,
    BatchLog,
    Cas,
    View,
    Cdc,
}

impl WriteType {
    const NAMES: [(WriteType, &'static str); 8] = [
        (WriteType::Simple, "SIMPLE"),
        (WriteType::Batch, "BATCH"),
        (WriteType::UnloggedBatch, "UNLOGGED_BATCH"),
        (WriteType::Counter, "COUNTER"),
        (WriteType::BatchLog, "BATCH_LOG"),
        (WriteType::Cas, "CAS"),
        (WriteType::View, "VIEW"),
        (WriteType::Cdc, "CDC"),
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        WriteType::NAMES
            .iter()
            .find(|(w, _)| *w == self)
            .map_or("SIMPLE", |(_, n)| n)
    }

    fn from_name(name: String) -> Result<WriteType> {
        WriteType::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(w, _)| *w)
            .ok_or(ProtocolError::UnknownName {
                what: "write type",
                value: name,
            })
    }
}

/// How many replicas failed: a count in v4, a reason per endpoint in v5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureInfo {
    /// v4 `<numfailures>`.
    Count(i32),
    /// v5 `<reasonmap>`: endpoint and failure code (0x0000 unknown, 0x0001 too many
    /// tombstones read, 0x0002 index not available, 0x0003 CDC space full, 0x0004 counter
    /// write, 0x0005 table not found, 0x0006 keyspace not found).
    Reasons(Vec<(IpAddr, u16)>),
}

impl FailureInfo {
    /// How many replicas failed.
    pub fn count(&self) -> usize {
        match self {
            FailureInfo::Count(n) => usize::try_from(*n).unwrap_or(0),
            FailureInfo::Reasons(r) => r.len(),
        }
    }

    fn read(r: &mut Reader, version: ProtocolVersion) -> Result<FailureInfo> {
        match version {
            ProtocolVersion::V4 => Ok(FailureInfo::Count(r.i32("failures")?)),
            ProtocolVersion::V5 => {
                let n = r.i32("reason map size")?;
                let n = usize::try_from(n).map_err(|_| ProtocolError::InvalidLength {
                    what: "reason map",
                    length: i64::from(n),
                })?;
                let mut out = Vec::with_capacity(n.min(r.remaining() / 7));
                for _ in 0..n {
                    let ip = r.inetaddr("failed endpoint")?;
                    out.push((ip, r.u16("failure code")?));
                }
                Ok(FailureInfo::Reasons(out))
            }
        }
    }

    fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        match (version, self) {
            (ProtocolVersion::V4, FailureInfo::Count(n)) => out.put_i32(*n),
            // A v4 client gets the number of failed endpoints.
            (ProtocolVersion::V4, FailureInfo::Reasons(r)) => {
                out.put_i32(crate::protocol::types::len_i32(r.len(), "failures")?)
            }
            (ProtocolVersion::V5, FailureInfo::Reasons(r)) => {
                out.put_i32(crate::protocol::types::len_i32(r.len(), "reason map")?);
                for (ip, code) in r {
                    out.put_inetaddr(ip);
                    out.put_u16(*code);
                }
            }
            (ProtocolVersion::V5, FailureInfo::Count(_)) => {
                return Err(ProtocolError::NotInVersion {
                    feature: "a failure count without reasons",
                    version,
                });
            }
        }
        Ok(())
    }

    fn encoded_len(&self, version: ProtocolVersion) -> usize {
        match (version, self) {
            (ProtocolVersion::V5, FailureInfo::Reasons(r)) => {
                4 + r.iter().map(|(ip, _)| inetaddr_len(ip) + 2).sum::<usize>()
            }
            _ => 4,
        }
    }
}

/// The error code and its extra fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    ServerError,
    ProtocolError,
    BadCredentials,
    Unavailable {
        consistency: Consistency,
        required: i32,
        alive: i32,
    },
    Overloaded,
    IsBootstrapping,
    TruncateError,
    WriteTimeout {
        consistency: Consistency,
        received: i32,
        block_for: i32,
        write_type: WriteType,
        /// v5, CAS writes only: how many contentions the Paxos round met.
        contentions: Option<u16>,
    },
    ReadTimeout {
        consistency: Consistency,
        received: i32,
        block_for: i32,
        data_present: bool,
    },
    ReadFailure {
        consistency: Consistency,
        received: i32,
        block_for: i32,
        failures: FailureInfo,
        data_present: bool,
    },
    FunctionFailure {
        keyspace: String,
        function: String,
        arg_types: Vec<String>,
    },
    WriteFailure {
        consistency: Consistency,
        received: i32,
        block_for: i32,
        failures: FailureInfo,
        write_type: WriteType,
    },
    CdcWriteFailure,
    CasWriteUnknown {
        consistency: Consistency,
        received: i32,
        block_for: i32,
    },
    SyntaxError,
    Unauthorized,
    Invalid,
    ConfigError,
    AlreadyExists {
        keyspace: String,
        table: String,
    },
    Unprepared {
        id: Bytes,
    },
}

impl ErrorKind {
    /// The error code.
    pub fn code(&self) -> i32 {
        match self {
            ErrorKind::ServerError => 0x0000,
            ErrorKind::ProtocolError => 0x000A,
            ErrorKind::BadCredentials => 0x0100,
            ErrorKind::Unavailable { .. } => 0x1000,
            ErrorKind::Overloaded => 0x1001,
            ErrorKind::IsBootstrapping => 0x1002,
            ErrorKind::TruncateError => 0x1003,
            ErrorKind::WriteTimeout { .. } => 0x1100,
            ErrorKind::ReadTimeout { .. } => 0x1200,
            ErrorKind::ReadFailure { .. } => 0x1300,
            ErrorKind::FunctionFailure { .. } => 0x1400,
            ErrorKind::WriteFailure { .. } => 0x1500,
            ErrorKind::CdcWriteFailure => 0x1600,
            ErrorKind::CasWriteUnknown { .. } => 0x1700,
            ErrorKind::SyntaxError => 0x2000,
            ErrorKind::Unauthorized => 0x2100,
            ErrorKind::Invalid => 0x2200,
            ErrorKind::ConfigError => 0x2300,
            ErrorKind::AlreadyExists { .. } => 0x2400,
            ErrorKind::Unprepared { .. } => 0x2500,
        }
    }
}

fn contentions_expected(version: ProtocolVersion, write_type: WriteType) -> bool {
    version >= ProtocolVersion::V5 && write_type == WriteType::Cas
}

impl ErrorResponse {
    /// The protocol error a server answers an unsupported version with.
    pub fn unsupported_version(version: u8) -> ErrorResponse {
        ErrorResponse {
            message: crate::protocol::unsupported_version_message(version),
            kind: ErrorKind::ProtocolError,
        }
    }

    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<ErrorResponse> {
        let code = r.i32("error code")?;
        let message = r.string("error message")?;
        let kind = match code {
            0x0000 => ErrorKind::ServerError,
            0x000A => ErrorKind::ProtocolError,
            0x0100 => ErrorKind::BadCredentials,
            0x1000 => ErrorKind::Unavailable {
                consistency: r.consistency("consistency")?,
                required: r.i32("required")?,
                alive: r.i32("alive")?,
            },
            0x1001 => ErrorKind::Overloaded,
            0x1002 => ErrorKind::IsBootstrapping,
            0x1003 => ErrorKind::TruncateError,
            0x1100 => {
                let consistency = r.consistency("consistency")?;
                let received = r.i32("received")?;
                let block_for = r.i32("blockfor")?;
                let write_type = WriteType::from_name(r.string("write type")?)?;
                let contentions = if contentions_expected(version, write_type) {
                    Some(r.u16("contentions")?)
                } else {
                    None
                };
                ErrorKind::WriteTimeout {
                    consistency,
                    received,
                    block_for,
                    write_type,
                    contentions,
                }
            }
            0x1200 => ErrorKind::ReadTimeout {
                consistency: r.consistency("consistency")?,
                received: r.i32("received")?,
                block_for: r.i32("blockfor")?,
                data_present: r.u8("data present")? != 0,
            },
            0x1300 => ErrorKind::ReadFailure {
                consistency: r.consistency("consistency")?,
                received: r.i32("received")?,
                block_for: r.i32("blockfor")?,
                failures: FailureInfo::read(r, version)?,
                data_present: r.u8("data present")? != 0,
            },
            0x1400 => ErrorKind::FunctionFailure {
                keyspace: r.string("keyspace")?,
                function: r.string("function")?,
                arg_types: r.string_list("argument types")?,
            },
            0x1500 => ErrorKind::WriteFailure {
                consistency: r.consistency("consistency")?,
                received: r.i32("received")?,
                block_for: r.i32("blockfor")?,
                failures: FailureInfo::read(r, version)?,
                write_type: WriteType::from_name(r.string("write type")?)?,
            },
            0x1600 => ErrorKind::CdcWriteFailure,
            0x1700 => ErrorKind::CasWriteUnknown {
                consistency: r.consistency("consistency")?,
                received: r.i32("received")?,
                block_for: r.i32("blockfor")?,
            },
            0x2000 => ErrorKind::SyntaxError,
            0x2100 => ErrorKind::Unauthorized,
            0x2200 => ErrorKind::Invalid,
            0x2300 => ErrorKind::ConfigError,
            0x2400 => ErrorKind::AlreadyExists {
                keyspace: r.string("keyspace")?,
                table: r.string("table")?,
            },
            0x2500 => ErrorKind::Unprepared {
                id: r.short_bytes("unprepared id")?,
            },
            other => return Err(ProtocolError::UnknownErrorCode(other)),
        };
        Ok(ErrorResponse { message, kind })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        out.put_i32(self.kind.code());
        out.put_string(&self.message, "error message")?;
        match &self.kind {
            ErrorKind::Unavailable {
                consistency,
                required,
                alive,
            } => {
                out.put_consistency(*consistency);
                out.put_i32(*required);
                out.put_i32(*alive);
            }
            ErrorKind::WriteTimeout {
                consistency,
                received,
                block_for,
                write_type,
                contentions,
            } => {
                out.put_consistency(*consistency);
                out.put_i32(*received);
                out.put_i32(*block_for);
                out.put_string(write_type.name(), "write type")?;
                match (contentions_expected(version, *write_type), contentions) {
                    (true, Some(n)) => out.put_u16(*n),
                    (false, None) => {}
                    // Before v5 a CAS write timeout has no contentions field: left out.
                    (false, Some(_)) if *write_type == WriteType::Cas => {}
                    (true, None) => {
                        return Err(ProtocolError::Unencodable {
                            what: "write timeout",
                            reason: "a v5 CAS write timeout needs its contentions",
                        });
                    }
                    (false, Some(_)) => {
                        return Err(ProtocolError::NotInVersion {
                            feature: "contentions outside a v5 CAS write timeout",
                            version,
                        });
                    }
                }
            }
            ErrorKind::ReadTimeout {
                consistency,
                received,
                block_for,
                data_present,
            } => {
                out.put_consistency(*consistency);
                out.put_i32(*received);
                out.put_i32(*block_for);
                out.put_u8(u8::from(*data_present));
            }
            ErrorKind::ReadFailure {
                consistency,
                received,
                block_for,
                failures,
                data_present,
            } => {
                out.put_consistency(*consistency);
                out.put_i32(*received);
                out.put_i32(*block_for);
                failures.write(out, version)?;
                out.put_u8(u8::from(*data_present));
            }
            ErrorKind::FunctionFailure {
                keyspace,
                function,
                arg_types,
            } => {
                out.put_string(keyspace, "keyspace")?;
                out.put_string(function, "function")?;
                out.put_string_list(arg_types, "argument types")?;
            }
            ErrorKind::WriteFailure {
                consistency,
                received,
                block_for,
                failures,
                write_type,
            } => {
                out.put_consistency(*consistency);
                out.put_i32(*received);
                out.put_i32(*block_for);
                failures.write(out, version)?;
                out.put_string(write_type.name(), "write type")?;
            }
            ErrorKind::CasWriteUnknown {
                consistency,
                received,
                block_for,
            } => {
                out.put_consistency(*consistency);
                out.put_i32(*received);
                out.put_i32(*block_for);
            }
            ErrorKind::AlreadyExists { keyspace, table } => {
                out.put_string(keyspace, "keyspace")?;
                out.put_string(table, "table")?;
            }
            ErrorKind::Unprepared { id } => out.put_short_bytes(id, "unprepared id")?,
            ErrorKind::ServerError
            | ErrorKind::ProtocolError
            | ErrorKind::BadCredentials
            | ErrorKind::Overloaded
            | ErrorKind::IsBootstrapping
            | ErrorKind::TruncateError
            | ErrorKind::CdcWriteFailure
            | ErrorKind::SyntaxError
            | ErrorKind::Unauthorized
            | ErrorKind::Invalid
            | ErrorKind::ConfigError => {}
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let counts = 2 + 4 + 4;
        4 + string_len(&self.message)
            + match &self.kind {
                ErrorKind::Unavailable { .. } => counts,
                ErrorKind::WriteTimeout {
                    write_type,
                    contentions,
                    ..
                } => counts + string_len(write_type.name()) + contentions.map_or(0, |_| 2),
                ErrorKind::ReadTimeout { .. } => counts + 1,
                ErrorKind::ReadFailure { failures, .. } => {
                    counts + failures.encoded_len(version) + 1
                }
                ErrorKind::FunctionFailure {
                    keyspace,
                    function,
                    arg_types,
                } => string_len(keyspace) + string_len(function) + string_list_len(arg_types),
                ErrorKind::WriteFailure {
                    failures,
                    write_type,
                    ..
                } => counts + failures.encoded_len(version) + string_len(write_type.name()),
                ErrorKind::CasWriteUnknown { .. } => counts,
                ErrorKind::AlreadyExists { keyspace, table } => {
                    string_len(keyspace) + string_len(table)
                }
                ErrorKind::Unprepared { id } => 2 + id.len(),
                _ => 0,
            }
    }
}
