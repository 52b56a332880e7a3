//! Reading a table: open (footer, properties, index, filter and range deletions are validated
//! up front), point lookups and a bidirectional cursor.
//!
//! Data blocks are checked lazily: an uncompressed block is verified against its checksum the
//! first time it is read and then served straight from the mmap (a bit per block remembers it
//! was verified); a compressed block is verified, decompressed and put in the [`BlockCache`].

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use super::block::{BlockCursor, BlockError};
use super::filter::{self, FilterParams};
use super::footer::{
    BlockHandle, COMPRESSION_DEFLATE, COMPRESSION_LZ4, COMPRESSION_NONE, COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD, FOOTER_LEN, FORMAT_VERSION, Footer, FooterError, block_checksum,
};
use super::index::Index;
use super::{RangeTombstone, TableMeta, copy_error, get_u64_le, get_varint};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::key::{self, Kind, MAX_SEQ, SeqNo};
use crate::vfs::{ReadableFile, Vfs};

/// Largest decompressed block accepted (a guard against absurd lengths in a damaged file).
const MAX_BLOCK_LEN: u64 = 1 << 30;

/// An open, immutable table file. `Send + Sync`; shared as `Arc<Table>`.
pub(crate) struct Table {
    id: u64,
    path: PathBuf,
    file: Arc<dyn ReadableFile>,
    cache: Arc<BlockCache>,
    meta: TableMeta,
    index: Index,
    /// Offset of the filter bitmap in the file, and its parameters.
    filter: Option<(usize, FilterParams)>,
    range_dels: Vec<RangeTombstone>,
    /// One bit per data block: its checksum has been verified.
    verified: Vec<AtomicU64>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("blocks", &self.index.len())
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

fn corruption(path: &Path, offset: u64, reason: &'static str) -> Error {
    Error::Corruption {
        file: path.to_owned(),
        offset,
        reason,
    }
}

/// The stored bytes of the block at `handle` and its compression type, checksum verified.
fn checked_block<'a>(bytes: &'a [u8], path: &Path, handle: BlockHandle) -> Result<(&'a [u8], u8)> {
    let (stored, ctype) = unchecked_block(bytes, path, handle)?;
    verify(path, handle, stored, ctype, bytes)?;
    Ok((stored, ctype))
}

fn unchecked_block<'a>(
    bytes: &'a [u8],
    path: &Path,
    handle: BlockHandle,
) -> Result<(&'a [u8], u8)> {
    let beyond = || {
        corruption(
            path,
            handle.offset,
            "block handle beyond the end of the file",
        )
    };
    let start = usize::try_from(handle.offset).map_err(|_| beyond())?;
    let len = usize::try_from(handle.size).map_err(|_| beyond())?;
    let end = start.checked_add(len).ok_or_else(beyond)?;
    let stored = bytes.get(start..end).ok_or_else(beyond)?;
    let ctype = *bytes.get(end).ok_or_else(beyond)?;
    Ok((stored, ctype))
}

fn verify(path: &Path, handle: BlockHandle, stored: &[u8], ctype: u8, bytes: &[u8]) -> Result<()> {
    let sum_at = usize::try_from(handle.offset + handle.size + 1).unwrap_or(usize::MAX);
    let expected = get_u64_le(bytes, sum_at).ok_or_else(|| {
        corruption(
            path,
            handle.offset,
            "block trailer beyond the end of the file",
        )
    })?;
    let actual = block_checksum(stored, ctype);
    if expected != actual {
        return Err(Error::ChecksumMismatch {
            file: path.to_owned(),
            offset: handle.offset,
            expected,
            actual,
        });
    }
    Ok(())
}

/// A data block being read: a range of the mmap, or a decompressed copy from the cache.
#[derive(Debug, Clone)]
enum BlockBuf {
    Mapped { start: usize, len: usize },
    Owned(Arc<[u8]>),
}

#[inline]
fn block_bytes<'a>(table: &'a Table, buf: &'a BlockBuf) -> &'a [u8] {
    match buf {
        BlockBuf::Mapped { start, len } => table
            .file
            .bytes()
            .get(*start..*start + *len)
            .unwrap_or_default(),
        BlockBuf::Owned(b) => b,
    }
}

/// The tag that, after a user key, sorts just before every version with seq <= `snapshot`.
fn seek_tag(snapshot: SeqNo) -> [u8; key::TAG_LEN] {
    (!((snapshot.min(MAX_SEQ) << 8) | 0xff)).to_be_bytes()
}

/// The key that sorts just before every version of `user_key` with seq <= `snapshot`.
fn seek_key(user_key: &[u8], snapshot: SeqNo) -> Vec<u8> {
    let mut k = Vec::with_capacity(user_key.len() + key::TAG_LEN);
    k.extend_from_slice(user_key);
    k.extend_from_slice(&seek_tag(snapshot));
    k
}

impl Table {
    /// Opens a table: validates the footer (magic, version, checksum), that the blocks tile the
    /// file, and the checksums of the properties, index, filter and range-delete blocks.
    pub fn open(vfs: &dyn Vfs, path: &Path, id: u64, cache: Arc<BlockCache>) -> Result<Table> {
        let file = vfs.open_read(path).map_err(|e| Error::io(path, e))?;
        Self::from_file(file, path, id, cache)
    }

    pub(crate) fn from_file(
        file: Arc<dyn ReadableFile>,
        path: &Path,
        id: u64,
        cache: Arc<BlockCache>,
    ) -> Result<Table> {
        let bytes = file.bytes();
        let len = bytes.len() as u64;
        let footer_off = len
            .checked_sub(FOOTER_LEN as u64)
            .ok_or_else(|| corruption(path, 0, "file shorter than a table footer"))?;
        let footer_bytes: &[u8; FOOTER_LEN] = bytes
            .get(footer_off as usize..)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corruption(path, footer_off, "file shorter than a table footer"))?;
        let footer = Footer::decode(footer_bytes).map_err(|e| match e {
            FooterError::BadMagic => {
                corruption(path, footer_off + 80, "bad magic number (not a table file)")
            }
            FooterError::Reserved => corruption(path, footer_off + 64, "reserved footer bytes set"),
            FooterError::Version(found) => Error::UnsupportedVersion {
                file: path.to_owned(),
                found,
                supported: FORMAT_VERSION,
            },
            FooterError::Checksum { expected, actual } => Error::ChecksumMismatch {
                file: path.to_owned(),
                offset: footer_off,
                expected,
                actual,
            },
        })?;

        // The blocks after the data must tile the file exactly up to the footer.
        let has_filter = footer.filter.size > 0;
        let data_end = if has_filter {
            footer.filter.offset
        } else {
            footer.range_del.offset
        };
        let mut chain = Vec::with_capacity(4);
        if has_filter {
            chain.push(footer.filter);
        }
        chain.extend([footer.range_del, footer.properties, footer.index]);
        let mut at = data_end;
        for h in &chain {
            if h.offset != at {
                return Err(corruption(
                    path,
                    footer_off,
                    "block handles do not tile the file",
                ));
            }
            at = h.end_with_trailer().ok_or_else(|| {
                corruption(path, footer_off, "block handles do not tile the file")
            })?;
        }
        if at != footer_off {
            return Err(corruption(
                path,
                footer_off,
                "block handles do not tile the file",
            ));
        }

        let (props, ctype) = checked_block(bytes, path, footer.properties)?;
        if ctype != COMPRESSION_NONE {
            return Err(corruption(
                path,
                footer.properties.offset,
                "compressed properties block",
            ));
        }
        let mut meta = match TableMeta::decode(props) {
            Some((meta, used)) if used == props.len() => meta,
            _ => {
                return Err(corruption(
                    path,
                    footer.properties.offset,
                    "malformed properties block",
                ));
            }
        };
        meta.file_size = len;

        let (index_block, ctype) = checked_block(bytes, path, footer.index)?;
        if ctype != COMPRESSION_NONE {
            return Err(corruption(
                path,
                footer.index.offset,
                "compressed index block",
            ));
        }
        let index = Index::decode(index_block, data_end)
            .map_err(|reason| corruption(path, footer.index.offset, reason))?;

        let filter = if has_filter {
            let (fb, ctype) = checked_block(bytes, path, footer.filter)?;
            if ctype != COMPRESSION_NONE {
                return Err(corruption(
                    path,
                    footer.filter.offset,
                    "compressed filter block",
                ));
            }
            let params = filter::parse(fb)
                .map_err(|reason| corruption(path, footer.filter.offset, reason))?;
            Some((footer.filter.offset as usize, params))
        } else {
            None
        };

        let (rd_block, ctype) = checked_block(bytes, path, footer.range_del)?;
        if ctype != COMPRESSION_NONE {
            return Err(corruption(
                path,
                footer.range_del.offset,
                "compressed range-delete block",
            ));
        }
        let range_dels = decode_range_dels(rd_block)
            .map_err(|reason| corruption(path, footer.range_del.offset, reason))?;

        let verified = (0..index.len().div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        Ok(Table {
            id,
            path: path.to_owned(),
            file,
            cache,
            meta,
            index,
            filter,
            range_dels,
            verified,
        })
    }

    #[allow(dead_code)] // part of the table API the engine codes against
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The whole file as mapped (ingest and whole-file streaming read it as bytes).
    pub(crate) fn file_bytes(&self) -> &[u8] {
        self.file.bytes()
    }

    #[allow(dead_code)] // part of the table API the engine codes against
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Facts about the table, from its own properties block (`file_size` is the file's length).
    #[allow(dead_code)] // part of the table API the engine codes against
    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }

    /// Bloom filter check on a user key: false means the table has no entry for it (true when
    /// the table has no filter).
    #[inline]
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(filter::key_hash(user_key))
    }

    /// [`Table::may_contain`] with a precomputed [`filter::key_hash`].
    #[inline]
    pub(crate) fn may_contain_hash(&self, hash: u64) -> bool {
        match self.filter {
            None => true,
            Some((off, params)) => {
                let bitmap = self
                    .file
                    .bytes()
                    .get(off..off + params.bitmap_len)
                    .unwrap_or_default();
                filter::may_contain(bitmap, params, hash)
            }
        }
    }

    /// The range deletions stored in this table, in start-key order.
    pub fn range_deletes(&self) -> &[RangeTombstone] {
        &self.range_dels
    }

    /// The newest point entry for `user_key` with seq <= `snapshot`: (internal key, value).
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if !self.may_contain(user_key) {
            return Ok(None);
        }
        self.get_unfiltered(user_key, snapshot)
    }

    /// [`Table::get`] for a caller that already checked the bloom filter.
    pub(crate) fn get_unfiltered(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let target = seek_key(user_key, snapshot);
        let mut c = Cursor::with_key_capacity(target.len() + 32);
        c.seek(self, &target)?;
        if !c.valid() || key::user_key(c.cursor.key()) != user_key {
            return Ok(None);
        }
        Ok(Some((c.cursor.key().to_vec(), c.value(self).to_vec())))
    }

    /// [`Table::get_unfiltered`] without copying the key out: (seq, kind, value).
    pub(crate) fn get_version(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(SeqNo, key::Kind, Vec<u8>)>> {
        let mut c = Cursor::with_key_capacity(user_key.len() + key::TAG_LEN + 32);
        key::with_internal(user_key, seek_tag(snapshot), |target| c.seek(self, target))?;
        if !c.valid() {
            return Ok(None);
        }
        match key::parse(c.cursor.key()) {
            Some(p) if p.user_key == user_key => Ok(Some((p.seq, p.kind, c.value(self).to_vec()))),
            _ => Ok(None),
        }
    }

    /// Every point entry of `user_key` with seq <= `snapshot`, newest first.
    pub fn get_all(&self, user_key: &[u8], snapshot: SeqNo) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        if !self.may_contain(user_key) {
            return Ok(out);
        }
        let target = seek_key(user_key, snapshot);
        let mut c = Cursor::with_key_capacity(target.len() + 32);
        c.seek(self, &target)?;
        while c.valid() && key::user_key(c.cursor.key()) == user_key {
            out.push((c.cursor.key().to_vec(), c.value(self).to_vec()));
            c.next(self)?;
        }
        Ok(out)
    }

    /// A cursor over the point entries in internal-key order.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter {
            table: Arc::clone(self),
            cursor: Cursor::with_key_capacity(64),
            status: None,
        }
    }

    fn block_error(&self, block: usize, reason: BlockError) -> Error {
        let offset = self.index.handle(block).map_or(0, |h| h.offset);
        corruption(&self.path, offset, reason)
    }

    fn is_verified(&self, block: usize) -> bool {
        self.verified
            .get(block / 64)
            .is_some_and(|w| w.load(AtomicOrdering::Relaxed) & (1 << (block % 64)) != 0)
    }

    fn mark_verified(&self, block: usize) {
        if let Some(w) = self.verified.get(block / 64) {
            w.fetch_or(1 << (block % 64), AtomicOrdering::Relaxed);
        }
    }

    /// Data block `i`, verified (once per table for uncompressed blocks) and decompressed.
    fn load_block(&self, i: usize) -> Result<BlockBuf> {
        let handle = self
            .index
            .handle(i)
            .ok_or_else(|| corruption(&self.path, 0, "data block index out of range"))?;
        let bytes = self.file.bytes();
        let (stored, ctype) = unchecked_block(bytes, &self.path, handle)?;
        if ctype == COMPRESSION_NONE && self.is_verified(i) {
            return Ok(BlockBuf::Mapped {
                start: handle.offset as usize,
                len: stored.len(),
            });
        }
        if ctype != COMPRESSION_NONE
            && let Some(b) = self.cache.get(self.id, handle.offset)
        {
            return Ok(BlockBuf::Owned(b));
        }
        verify(&self.path, handle, stored, ctype, bytes)?;
        match ctype {
            COMPRESSION_NONE => {
                self.mark_verified(i);
                Ok(BlockBuf::Mapped {
                    start: handle.offset as usize,
                    len: stored.len(),
                })
            }
            COMPRESSION_ZSTD => {
                let bad = |reason| corruption(&self.path, handle.offset, reason);
                let (raw_len, p) =
                    get_varint(stored, 0).ok_or_else(|| bad("truncated compressed block"))?;
                if raw_len > MAX_BLOCK_LEN {
                    return Err(bad("compressed block claims an absurd length"));
                }
                let frame = stored.get(p..).unwrap_or_default();
                let raw = zstd::bulk::decompress(frame, raw_len as usize)
                    .map_err(|_| bad("zstd could not decompress the block"))?;
                if raw.len() as u64 != raw_len {
                    return Err(bad("decompressed block has the wrong length"));
                }
                let raw: Arc<[u8]> = raw.into();
                self.cache.insert(self.id, handle.offset, Arc::clone(&raw));
                Ok(BlockBuf::Owned(raw))
            }
            COMPRESSION_LZ4 => {
                let bad = |reason| corruption(&self.path, handle.offset, reason);
                let (raw_len, p) =
                    get_varint(stored, 0).ok_or_else(|| bad("truncated compressed block"))?;
                let body = stored.get(p..).unwrap_or_default();
                // LZ4 expands at most ~255x (a match of 255+ bytes per 1-byte token extension),
                // so a claimed length beyond that is corrupt: allocation stays bounded by the
                // stored size as well as by MAX_BLOCK_LEN.
                if raw_len > MAX_BLOCK_LEN || raw_len > (body.len() as u64) * 255 + 64 {
                    return Err(bad("compressed block claims an absurd length"));
                }
                // Decompressed straight into the shared allocation the cache keeps (a `Vec`
                // converted to `Arc<[u8]>` would be allocated and copied a second time).
                let mut raw: Arc<[u8]> = std::iter::repeat_n(0u8, raw_len as usize).collect();
                let out =
                    Arc::get_mut(&mut raw).ok_or_else(|| bad("decompression buffer is shared"))?;
                let n = lz4_flex::block::decompress_into(body, out)
                    .map_err(|_| bad("lz4 could not decompress the block"))?;
                if n as u64 != raw_len {
                    return Err(bad("decompressed block has the wrong length"));
                }
                self.cache.insert(self.id, handle.offset, Arc::clone(&raw));
                Ok(BlockBuf::Owned(raw))
            }
            COMPRESSION_SNAPPY => {
                let bad = |reason| corruption(&self.path, handle.offset, reason);
                let (raw_len, p) =
                    get_varint(stored, 0).ok_or_else(|| bad("truncated compressed block"))?;
                let body = stored.get(p..).unwrap_or_default();
                // Snappy states the decompressed length itself: it must agree.
                let stated = snap::raw::decompress_len(body)
                    .map_err(|_| bad("snappy could not read the block's length"))?;
                if raw_len > MAX_BLOCK_LEN || stated as u64 != raw_len {
                    return Err(bad("compressed block claims an absurd length"));
                }
                let mut raw: Arc<[u8]> = std::iter::repeat_n(0u8, stated).collect();
                let out =
                    Arc::get_mut(&mut raw).ok_or_else(|| bad("decompression buffer is shared"))?;
                let n = snap::raw::Decoder::new()
                    .decompress(body, out)
                    .map_err(|_| bad("snappy could not decompress the block"))?;
                if n as u64 != raw_len {
                    return Err(bad("decompressed block has the wrong length"));
                }
                self.cache.insert(self.id, handle.offset, Arc::clone(&raw));
                Ok(BlockBuf::Owned(raw))
            }
            COMPRESSION_DEFLATE => {
                use std::io::Read as _;
                let bad = |reason| corruption(&self.path, handle.offset, reason);
                let (raw_len, p) =
                    get_varint(stored, 0).ok_or_else(|| bad("truncated compressed block"))?;
                let body = stored.get(p..).unwrap_or_default();
                // Deflate expands at most ~1032x: a longer claim is corrupt.
                if raw_len > MAX_BLOCK_LEN || raw_len > (body.len() as u64) * 1032 + 64 {
                    return Err(bad("compressed block claims an absurd length"));
                }
                let mut raw = Vec::with_capacity(raw_len as usize);
                flate2::read::DeflateDecoder::new(body)
                    .take(raw_len + 1)
                    .read_to_end(&mut raw)
                    .map_err(|_| bad("deflate could not decompress the block"))?;
                if raw.len() as u64 != raw_len {
                    return Err(bad("decompressed block has the wrong length"));
                }
                let raw: Arc<[u8]> = raw.into();
                self.cache.insert(self.id, handle.offset, Arc::clone(&raw));
                Ok(BlockBuf::Owned(raw))
            }
            _ => Err(corruption(
                &self.path,
                handle.offset,
                "unknown block compression type",
            )),
        }
    }
}

/// Decodes the range-delete block: internal keys of kind `RangeDelete` -> exclusive end key.
fn decode_range_dels(block: &[u8]) -> Result<Vec<RangeTombstone>, BlockError> {
    let mut out = Vec::new();
    let mut c = BlockCursor::default();
    c.reset(block)?;
    c.seek_to_first(block)?;
    while c.valid() {
        let parsed = key::parse(c.key()).ok_or("malformed range-delete key")?;
        if parsed.kind != Kind::RangeDelete {
            return Err("range-delete block holds another kind of entry");
        }
        out.push(RangeTombstone {
            start: parsed.user_key.to_vec(),
            end: c.value(block).to_vec(),
            seq: parsed.seq,
        });
        c.next(block)?;
    }
    Ok(out)
}

/// Position in a table: the current data block and the cursor inside it.
#[derive(Debug, Default)]
struct Cursor {
    block: usize,
    buf: Option<BlockBuf>,
    cursor: BlockCursor,
}

impl Cursor {
    fn with_key_capacity(n: usize) -> Cursor {
        Cursor {
            cursor: BlockCursor::with_key_capacity(n),
            ..Cursor::default()
        }
    }

    #[inline]
    fn valid(&self) -> bool {
        self.buf.is_some() && self.cursor.valid()
    }

    fn value<'a>(&'a self, table: &'a Table) -> &'a [u8] {
        match &self.buf {
            Some(buf) => self.cursor.value(block_bytes(table, buf)),
            None => &[],
        }
    }

    fn invalidate(&mut self) {
        self.buf = None;
    }

    fn load(&mut self, table: &Table, i: usize) -> Result<()> {
        self.buf = None;
        let buf = table.load_block(i)?;
        self.cursor
            .reset(block_bytes(table, &buf))
            .map_err(|r| table.block_error(i, r))?;
        self.block = i;
        self.buf = Some(buf);
        Ok(())
    }

    /// Runs a cursor step on the loaded block, mapping its error.
    fn step(
        &mut self,
        table: &Table,
        f: impl FnOnce(&mut BlockCursor, &[u8]) -> Result<(), BlockError>,
    ) -> Result<()> {
        let Some(buf) = &self.buf else {
            return Ok(());
        };
        let data = block_bytes(table, buf);
        let r = f(&mut self.cursor, data);
        r.map_err(|reason| {
            self.buf = None;
            table.block_error(self.block, reason)
        })
    }

    fn skip_forward(&mut self, table: &Table) -> Result<()> {
        while self.buf.is_some() && !self.cursor.valid() {
            let next = self.block + 1;
            if next >= table.index.len() {
                self.invalidate();
                return Ok(());
            }
            self.load(table, next)?;
            self.step(table, |c, d| c.seek_to_first(d))?;
        }
        Ok(())
    }

    fn skip_backward(&mut self, table: &Table) -> Result<()> {
        while self.buf.is_some() && !self.cursor.valid() {
            if self.block == 0 {
                self.invalidate();
                return Ok(());
            }
            self.load(table, self.block - 1)?;
            self.step(table, |c, d| c.seek_to_last(d))?;
        }
        Ok(())
    }

    fn seek_to_first(&mut self, table: &Table) -> Result<()> {
        if table.index.len() == 0 {
            self.invalidate();
            return Ok(());
        }
        self.load(table, 0)?;
        self.step(table, |c, d| c.seek_to_first(d))?;
        self.skip_forward(table)
    }

    fn seek_to_last(&mut self, table: &Table) -> Result<()> {
        let Some(last) = table.index.len().checked_sub(1) else {
            self.invalidate();
            return Ok(());
        };
        self.load(table, last)?;
        self.step(table, |c, d| c.seek_to_last(d))?;
        self.skip_backward(table)
    }

    fn seek(&mut self, table: &Table, target: &[u8]) -> Result<()> {
        let i = table.index.find(target);
        if i >= table.index.len() {
            self.invalidate();
            return Ok(());
        }
        if !(self.buf.is_some() && self.block == i) {
            self.load(table, i)?;
        }
        self.step(table, |c, d| c.seek(d, target, key::compare))?;
        self.skip_forward(table)
    }

    fn next(&mut self, table: &Table) -> Result<()> {
        self.step(table, |c, d| c.next(d))?;
        self.skip_forward(table)
    }

    fn prev(&mut self, table: &Table) -> Result<()> {
        self.step(table, |c, d| c.prev(d))?;
        self.skip_backward(table)
    }
}

/// Bidirectional cursor over a table's point entries. Invalid until positioned. Errors
/// (checksum, corruption) are sticky: once [`TableIter::status`] is an error the cursor stays
/// invalid.
pub(crate) struct TableIter {
    table: Arc<Table>,
    cursor: Cursor,
    status: Option<Error>,
}

impl fmt::Debug for TableIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableIter")
            .field("table", &self.table.id)
            .field("valid", &self.valid())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl TableIter {
    fn run(&mut self, f: impl FnOnce(&mut Cursor, &Table) -> Result<()>) {
        if self.status.is_some() {
            return;
        }
        if let Err(e) = f(&mut self.cursor, &self.table) {
            self.cursor.invalidate();
            self.status = Some(e);
        }
    }

    pub fn seek_to_first(&mut self) {
        self.run(|c, t| c.seek_to_first(t));
    }

    pub fn seek_to_last(&mut self) {
        self.run(|c, t| c.seek_to_last(t));
    }

    /// Positions at the first entry `>= internal_key`.
    pub fn seek(&mut self, internal_key: &[u8]) {
        self.run(|c, t| c.seek(t, internal_key));
    }

    /// Positions at the last entry `<= internal_key`.
    pub fn seek_for_prev(&mut self, internal_key: &[u8]) {
        self.run(|c, t| {
            c.seek(t, internal_key)?;
            if c.valid() {
                if key::compare(c.cursor.key(), internal_key) == Ordering::Greater {
                    c.prev(t)?;
                }
                Ok(())
            } else {
                c.seek_to_last(t)
            }
        });
    }

    pub fn next(&mut self) {
        if self.valid() {
            self.run(|c, t| c.next(t));
        }
    }

    pub fn prev(&mut self) {
        if self.valid() {
            self.run(|c, t| c.prev(t));
        }
    }

    #[inline]
    pub fn valid(&self) -> bool {
        self.status.is_none() && self.cursor.valid()
    }

    /// The current internal key (empty when not valid).
    #[inline]
    pub fn key(&self) -> &[u8] {
        if self.valid() {
            self.cursor.cursor.key()
        } else {
            &[]
        }
    }

    /// The current value (empty when not valid); borrowed from the mmap for uncompressed blocks.
    #[inline]
    pub fn value(&self) -> &[u8] {
        if self.valid() {
            self.cursor.value(&self.table)
        } else {
            &[]
        }
    }

    pub fn status(&self) -> Result<()> {
        match &self.status {
            None => Ok(()),
            Some(e) => Err(copy_error(e)),
        }
    }
}
