//! The paging state a client gets back: `version u8 (2) | flags u8 (bit 0: a LIMIT is left)
//! | [limit_left u32] | PagingPosition`, big-endian.

use super::*;

pub(super) const PAGING_STATE_VERSION: u8 = 2;

pub(super) fn encode_paging_state(pos: &PagingPosition, limit_left: Option<u32>) -> Bytes {
    let mut out = vec![PAGING_STATE_VERSION, u8::from(limit_left.is_some())];
    if let Some(l) = limit_left {
        out.extend_from_slice(&l.to_be_bytes());
    }
    out.extend_from_slice(&pos.encode());
    Bytes::from(out)
}

pub(super) fn decode_paging_state(state: &[u8]) -> Result<(PagingPosition, Option<u32>)> {
    let bad = |why: &str| Error::invalid(format!("Invalid paging state: {why}"));
    let (&version, rest) = state.split_first().ok_or_else(|| bad("empty"))?;
    if version != PAGING_STATE_VERSION {
        return Err(bad("unknown version"));
    }
    let (&flags, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    let (limit_left, rest) = match flags {
        0 => (None, rest),
        1 => {
            let (l, rest) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("truncated"))?;
            (Some(u32::from_be_bytes(*l)), rest)
        }
        _ => return Err(bad("unknown flags")),
    };
    let pos = PagingPosition::decode(rest).map_err(|e| bad(&e.to_string()))?;
    Ok((pos, limit_left))
}
