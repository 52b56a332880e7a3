//! Writes a table file front to back: data blocks as they fill, then the filter, range-delete,
//! properties and index blocks, then the footer.

use std::cmp::Ordering;
use std::fmt;
use std::path::PathBuf;

use super::block::BlockBuilder;
use super::filter::{FilterBuilder, key_hash};
use super::footer::{
    BlockHandle, COMPRESSION_DEFLATE, COMPRESSION_LZ4, COMPRESSION_NONE, COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD, Footer, TRAILER_LEN, trailer,
};
use super::{Compression, TableMeta, TableOptions, put_varint};
use crate::error::{Error, Result};
use crate::key::{self, Kind, MAX_SEQ};
use crate::vfs::WritableFile;

/// Restart interval of data and range-delete blocks.
pub(crate) const RESTART_INTERVAL: usize = 16;

/// Writes one table. Entries arrive in strictly increasing [`key::compare`] order.
pub(crate) struct TableWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    opts: TableOptions,
    offset: u64,
    data: BlockBuilder,
    index: BlockBuilder,
    range_dels: BlockBuilder,
    filter: Option<FilterBuilder>,
    last_key: Vec<u8>,
    last_filter_key: Option<Vec<u8>>,
    meta: TableMeta,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
    handle_buf: Vec<u8>,
}

impl fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .field("offset", &self.offset)
            .field("entries", &self.meta.entry_count)
            .finish_non_exhaustive()
    }
}

impl TableWriter {
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf, opts: &TableOptions) -> TableWriter {
        let offset = file.len();
        TableWriter {
            file,
            path,
            opts: opts.clone(),
            offset,
            data: BlockBuilder::new(RESTART_INTERVAL),
            index: BlockBuilder::new(RESTART_INTERVAL),
            range_dels: BlockBuilder::new(RESTART_INTERVAL),
            filter: (opts.bloom_bits_per_key > 0)
                .then(|| FilterBuilder::new(opts.bloom_bits_per_key)),
            last_key: Vec::new(),
            last_filter_key: None,
            meta: TableMeta {
                min_seq: MAX_SEQ,
                ..TableMeta::default()
            },
            compressor: None,
            scratch: Vec::new(),
            handle_buf: Vec::new(),
        }
    }

    /// Adds an entry. Entries must be in strictly increasing [`key::compare`] order; a
    /// `RangeDelete` entry goes to the range-delete block (its value is the exclusive end key).
    pub fn add(&mut self, internal_key: &[u8], value: &[u8]) -> Result<()> {
        let parsed = key::parse(internal_key).ok_or_else(|| Error::Corruption {
            file: self.path.clone(),
            offset: self.offset,
            reason: "table writer was given a malformed internal key",
        })?;
        if self.meta.entry_count > 0 && key::compare(&self.last_key, internal_key) != Ordering::Less
        {
            return Err(Error::Corruption {
                file: self.path.clone(),
                offset: self.offset,
                reason: "table writer was given keys out of order",
            });
        }
        if self.meta.entry_count == 0 {
            self.meta.smallest = internal_key.to_vec();
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(internal_key);
        self.meta.entry_count += 1;
        self.meta.raw_key_bytes += internal_key.len() as u64;
        self.meta.raw_value_bytes += value.len() as u64;
        self.meta.min_seq = self.meta.min_seq.min(parsed.seq);
        self.meta.max_seq = self.meta.max_seq.max(parsed.seq);
        let largest_candidate: &[u8] = internal_key;
        if parsed.kind == Kind::RangeDelete {
            self.meta.tombstone_count += 1;
            self.range_dels.add(internal_key, value);
            let end = key::encode(value, MAX_SEQ, Kind::RangeDelete);
            if self.meta.largest.is_empty()
                || key::compare(&end, &self.meta.largest) == Ordering::Greater
            {
                self.meta.largest = end;
            }
            if key::compare(internal_key, &self.meta.largest) == Ordering::Greater {
                self.meta.largest = internal_key.to_vec();
            }
            return Ok(());
        }
        if parsed.kind == Kind::Delete {
            self.meta.tombstone_count += 1;
        }
        if self.meta.largest.is_empty()
            || key::compare(largest_candidate, &self.meta.largest) == Ordering::Greater
        {
            self.meta.largest.clear();
            self.meta.largest.extend_from_slice(largest_candidate);
        }
        if let Some(filter) = &mut self.filter {
            let user = parsed.user_key;
            if self.last_filter_key.as_deref() != Some(user) {
                filter.add_hash(key_hash(user));
                let last = self.last_filter_key.get_or_insert_with(Vec::new);
                last.clear();
                last.extend_from_slice(user);
            }
        }
        self.data.add(internal_key, value);
        if self.data.size_estimate() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Bytes written so far plus the pending data block.
    pub fn estimated_size(&self) -> u64 {
        self.offset + self.data.size_estimate() as u64
    }

    /// Sets the user properties stored with the table (see [`crate::properties`]).
    pub fn set_user_properties(&mut self, properties: Option<Vec<u8>>) {
        self.meta.user_properties = properties;
    }

    /// Whether no entry has been added.
    pub fn is_empty(&self) -> bool {
        self.meta.entry_count == 0
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let mut data = std::mem::replace(&mut self.data, BlockBuilder::new(0));
        let result = self.write_data_block(&mut data);
        data.reset();
        self.data = data;
        result
    }

    fn write_data_block(&mut self, data: &mut BlockBuilder) -> Result<()> {
        let last = data.last_key().to_vec();
        let raw = data.finish();
        let (compressed, ctype) = match self.opts.compression {
            Compression::None => (false, COMPRESSION_NONE),
            Compression::Lz4 => (self.compress_lz4(raw), COMPRESSION_LZ4),
            Compression::Zstd(level) => (self.compress(raw, level)?, COMPRESSION_ZSTD),
            Compression::Snappy => (self.compress_snappy(raw), COMPRESSION_SNAPPY),
            Compression::Deflate(level) => (self.compress_deflate(raw, level), COMPRESSION_DEFLATE),
        };
        // Keep compression only when it saves at least 1/8 of the block.
        let handle = if compressed && self.scratch.len() < raw.len() - raw.len() / 8 {
            let stored = std::mem::take(&mut self.scratch);
            let h = self.write_raw(&stored, ctype);
            self.scratch = stored;
            h?
        } else {
            self.write_raw(raw, COMPRESSION_NONE)?
        };
        self.handle_buf.clear();
        handle.encode_varint(&mut self.handle_buf);
        self.index.add(&last, &self.handle_buf);
        Ok(())
    }

    /// Compresses `raw` into `scratch` as `varint raw_len ++ zstd frame`; false when zstd fails
    /// (the block is then stored uncompressed).
    fn compress(&mut self, raw: &[u8], level: i32) -> Result<bool> {
        if self.compressor.is_none() {
            self.compressor = zstd::bulk::Compressor::new(level).ok();
        }
        let Some(c) = &mut self.compressor else {
            return Ok(false);
        };
        self.scratch.clear();
        put_varint(&mut self.scratch, raw.len() as u64);
        let head = self.scratch.len();
        self.scratch
            .resize(head + zstd::zstd_safe::compress_bound(raw.len()), 0);
        let Some(dst) = self.scratch.get_mut(head..) else {
            return Ok(false);
        };
        match c.compress_to_buffer(raw, dst) {
            Ok(n) => {
                self.scratch.truncate(head + n);
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    /// Compresses `raw` into `scratch` as `varint raw_len ++ lz4 block`; false when lz4 fails
    /// (the block is then stored uncompressed).
    fn compress_lz4(&mut self, raw: &[u8]) -> bool {
        self.scratch.clear();
        put_varint(&mut self.scratch, raw.len() as u64);
        let head = self.scratch.len();
        self.scratch.resize(
            head + lz4_flex::block::get_maximum_output_size(raw.len()),
            0,
        );
        let Some(dst) = self.scratch.get_mut(head..) else {
            return false;
        };
        match lz4_flex::block::compress_into(raw, dst) {
            Ok(n) => {
                self.scratch.truncate(head + n);
                true
            }
            Err(_) => false,
        }
    }

    /// Compresses `raw` into `scratch` as `varint raw_len ++ snappy raw block`; false when
    /// snappy fails (the block is then stored uncompressed).
    fn compress_snappy(&mut self, raw: &[u8]) -> bool {
        self.scratch.clear();
        put_varint(&mut self.scratch, raw.len() as u64);
        let head = self.scratch.len();
        self.scratch
            .resize(head + snap::raw::max_compress_len(raw.len()), 0);
        let Some(dst) = self.scratch.get_mut(head..) else {
            return false;
        };
        match snap::raw::Encoder::new().compress(raw, dst) {
            Ok(n) => {
                self.scratch.truncate(head + n);
                true
            }
            Err(_) => false,
        }
    }

    /// Compresses `raw` into `scratch` as `varint raw_len ++ raw deflate stream`; false when
    /// deflate fails (the block is then stored uncompressed).
    fn compress_deflate(&mut self, raw: &[u8], level: u32) -> bool {
        use std::io::Write as _;
        self.scratch.clear();
        put_varint(&mut self.scratch, raw.len() as u64);
        let out = std::mem::take(&mut self.scratch);
        let mut e = flate2::write::DeflateEncoder::new(out, flate2::Compression::new(level.min(9)));
        let written = e.write_all(raw);
        match (written, e.finish()) {
            (Ok(()), Ok(out)) => {
                self.scratch = out;
                true
            }
            _ => false,
        }
    }

    /// Appends `stored` and its trailer.
    fn write_raw(&mut self, stored: &[u8], ctype: u8) -> Result<BlockHandle> {
        let handle = BlockHandle {
            offset: self.offset,
            size: stored.len() as u64,
        };
        let t = trailer(stored, ctype);
        self.file
            .append(stored)
            .and_then(|()| self.file.append(&t))
            .map_err(|e| Error::io(&self.path, e))?;
        self.offset += (stored.len() + TRAILER_LEN) as u64;
        Ok(handle)
    }

    /// Writes the pending data block, the filter, range-delete, properties and index blocks and
    /// the footer, then syncs the file.
    pub fn finish(mut self) -> Result<TableMeta> {
        self.flush_data_block()?;
        let filter = match self.filter.take() {
            Some(f) => {
                let block = f.finish();
                self.write_raw(&block, COMPRESSION_NONE)?
            }
            None => BlockHandle::default(),
        };
        let mut rd = std::mem::replace(&mut self.range_dels, BlockBuilder::new(1));
        let range_del = self.write_raw(rd.finish(), COMPRESSION_NONE)?;
        if self.meta.entry_count == 0 {
            self.meta.min_seq = 0;
        }
        let mut props = Vec::new();
        self.meta.encode_into(&mut props);
        let properties = self.write_raw(&props, COMPRESSION_NONE)?;
        let mut index = std::mem::replace(&mut self.index, BlockBuilder::new(1));
        let index = self.write_raw(index.finish(), COMPRESSION_NONE)?;
        let footer = Footer {
            index,
            filter,
            range_del,
            properties,
        }
        .encode();
        self.file
            .append(&footer)
            .and_then(|()| self.file.sync())
            .map_err(|e| Error::io(&self.path, e))?;
        self.offset += footer.len() as u64;
        let mut meta = self.meta;
        meta.file_size = self.offset;
        Ok(meta)
    }
}
