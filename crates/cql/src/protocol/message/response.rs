//! Small response bodies: AUTHENTICATE, SUPPORTED, AUTH_CHALLENGE, AUTH_SUCCESS (READY has
//! no body; ERROR, RESULT and EVENT have their own modules).

use bytes::{Bytes, BytesMut};

use crate::protocol::ProtocolError;
use crate::protocol::types::{Reader, WriteExt, string_len, string_multimap_len};

type Result<T> = std::result::Result<T, ProtocolError>;

/// AUTHENTICATE: the authenticator's class name, e.g.
/// `org.apache.cassandra.auth.PasswordAuthenticator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    pub authenticator: String,
}

impl Authenticate {
    pub(crate) fn read(r: &mut Reader) -> Result<Authenticate> {
        Ok(Authenticate {
            authenticator: r.string("authenticator")?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
        out.put_string(&self.authenticator, "authenticator")
    }

    pub(crate) fn encoded_len(&self) -> usize {
        string_len(&self.authenticator)
    }
}

/// SUPPORTED: a `[string multimap]` of STARTUP options and their values (`CQL_VERSION`,
/// `COMPRESSION`, `PROTOCOL_VERSIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supported {
    pub options: Vec<(String, Vec<String>)>,
}

impl Supported {
    pub(crate) fn read(r: &mut Reader) -> Result<Supported> {
        Ok(Supported {
            options: r.string_multimap("supported options")?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
        out.put_string_multimap(&self.options, "supported options")
    }

    pub(crate) fn encoded_len(&self) -> usize {
        string_multimap_len(&self.options)
    }
}

/// AUTH_CHALLENGE: a SASL token from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthChallenge {
    pub token: Option<Bytes>,
}

/// AUTH_SUCCESS: the final SASL token (may be null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSuccess {
    pub token: Option<Bytes>,
}

macro_rules! token_body {
    ($t:ident) => {
        impl $t {
            pub(crate) fn read(r: &mut Reader) -> Result<$t> {
                Ok($t {
                    token: r.bytes("auth token")?,
                })
            }

            pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
                out.put_bytes_opt(self.token.as_deref(), "auth token")
            }

            pub(crate) fn encoded_len(&self) -> usize {
                4 + self.token.as_ref().map_or(0, Bytes::len)
            }
        }
    };
}

token_body!(AuthChallenge);
token_body!(AuthSuccess);
