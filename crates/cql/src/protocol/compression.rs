//! v4's per-frame body compression, negotiated by STARTUP's `COMPRESSION` option.
//!
//! - `lz4`: a 4-byte big-endian uncompressed length, then one raw LZ4 block.
//! - `snappy`: one raw Snappy block (its own varint length prefix).
//!
//! In v5 compression moves to the segment layer (LZ4 only, see [`super::segment`]).

use bytes::Bytes;

use super::ProtocolError;

/// A body compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    Lz4,
    Snappy,
}

impl Compression {
    /// The name in STARTUP's `COMPRESSION` option and SUPPORTED's list.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
        }
    }

    /// The algorithm for a STARTUP option value (case-insensitive), if supported.
    pub fn from_name(name: &str) -> Option<Compression> {
        if name.eq_ignore_ascii_case("lz4") {
            Some(Compression::Lz4)
        } else if name.eq_ignore_ascii_case("snappy") {
            Some(Compression::Snappy)
        } else {
            None
        }
    }

    /// Compresses a v4 frame body.
    pub fn compress(self, body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        match self {
            Compression::Lz4 => {
                let len = u32::try_from(body.len()).map_err(|_| ProtocolError::Unencodable {
                    what: "lz4 body",
                    reason: "longer than 4 GiB",
                })?;
                let mut out =
                    Vec::with_capacity(4 + lz4_flex::block::get_maximum_output_size(body.len()));
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&lz4_flex::block::compress(body));
                Ok(out)
            }
            Compression::Snappy => snap::raw::Encoder::new().compress_vec(body).map_err(|e| {
                ProtocolError::Decompression {
                    algorithm: "snappy",
                    reason: e.to_string(),
                }
            }),
        }
    }

    /// Decompresses a v4 frame body, refusing to produce more than `max_len` bytes (a small
    /// compressed body must not make the server allocate gigabytes).
    pub fn decompress(self, body: &[u8], max_len: u32) -> Result<Bytes, ProtocolError> {
        match self {
            Compression::Lz4 => {
                let (len, block) = match body.split_first_chunk::<4>() {
                    Some((len, block)) => (u32::from_be_bytes(*len), block),
                    None => {
                        return Err(ProtocolError::Decompression {
                            algorithm: "lz4",
                            reason: "body shorter than its 4-byte length".into(),
                        });
                    }
                };
                lz4_block(block, len, max_len).map(Bytes::from)
            }
            Compression::Snappy => {
                let len =
                    snap::raw::decompress_len(body).map_err(|e| ProtocolError::Decompression {
                        algorithm: "snappy",
                        reason: e.to_string(),
                    })?;
                if len > max_len as usize {
                    return Err(ProtocolError::Decompression {
                        algorithm: "snappy",
                        reason: format!("uncompressed length {len} exceeds the limit {max_len}"),
                    });
                }
                snap::raw::Decoder::new()
                    .decompress_vec(body)
                    .map(Bytes::from)
                    .map_err(|e| ProtocolError::Decompression {
                        algorithm: "snappy",
                        reason: e.to_string(),
                    })
            }
        }
    }
}

/// Decompresses one raw LZ4 block of a known uncompressed length.
pub(crate) fn lz4_block(block: &[u8], len: u32, max_len: u32) -> Result<Vec<u8>, ProtocolError> {
    if len > max_len {
        return Err(ProtocolError::Decompression {
            algorithm: "lz4",
            reason: format!("uncompressed length {len} exceeds the limit {max_len}"),
        });
    }
    let out = lz4_flex::block::decompress(block, len as usize).map_err(|e| {
        ProtocolError::Decompression {
            algorithm: "lz4",
            reason: e.to_string(),
        }
    })?;
    if out.len() != len as usize {
        return Err(ProtocolError::Decompression {
            algorithm: "lz4",
            reason: format!("decompressed to {} bytes, header said {len}", out.len()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lz4_and_snappy_bodies_round_trip() {
        let body: Vec<u8> = (0..1000u32).flat_map(|i| (i % 7).to_be_bytes()).collect();
        for c in [Compression::Lz4, Compression::Snappy] {
            let packed = c.compress(&body).unwrap();
            assert!(packed.len() < body.len());
            assert_eq!(c.decompress(&packed, 1 << 20).unwrap(), body);
        }
    }

    #[test]
    fn a_body_that_claims_more_than_the_limit_is_refused() {
        let packed = Compression::Lz4.compress(&[0u8; 4096]).unwrap();
        assert!(matches!(
            Compression::Lz4.decompress(&packed, 100),
            Err(ProtocolError::Decompression {
                algorithm: "lz4",
                ..
            })
        ));
        let packed = Compression::Snappy.compress(&[0u8; 4096]).unwrap();
        assert!(matches!(
            Compression::Snappy.decompress(&packed, 100),
            Err(ProtocolError::Decompression {
                algorithm: "snappy",
                ..
            })
        ));
    }
}
