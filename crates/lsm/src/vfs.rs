//! The file-system seam. Every byte the engine reads or writes goes through a [`Vfs`], so tests
//! can substitute an in-memory file system or one that fails writes and fsyncs on purpose.
//!
//! [`StdVfs`] is the real one: buffered writes, `fdatasync`, and reads through `mmap`.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file being written: appended to, then synced.
pub trait WritableFile: Send + Debug {
    /// Appends all of `buf` (it may sit in a buffer until [`WritableFile::sync`] or drop).
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Hands everything appended so far to the operating system without making it durable:
    /// afterwards a crash of this process loses none of it (a crash of the machine may).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// A handle that makes everything handed to the operating system so far durable without
    /// borrowing this file (on disk: a duplicated descriptor), so one thread can fsync while
    /// others keep appending. Call [`WritableFile::flush`] first. `Ok(None)` (the default)
    /// when the file offers none: callers then use [`WritableFile::sync`].
    fn sync_handle(&self) -> io::Result<Option<Box<dyn SyncHandle>>> {
        Ok(None)
    }
    /// Bytes appended so far, including what was in the file when it was opened for append.
    fn len(&self) -> u64;
    /// Whether nothing has been appended and the file was empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes a file's data durable from outside the [`WritableFile`] (see
/// [`WritableFile::sync_handle`]).
pub trait SyncHandle: Send + Debug {
    /// `fdatasync`s everything the operating system holds for the file.
    fn sync(&self) -> io::Result<()>;
}

impl SyncHandle for File {
    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
}

/// A file opened for reading: its whole contents as one byte slice (memory-mapped on disk).
pub trait ReadableFile: Send + Sync + Debug {
    fn bytes(&self) -> &[u8];
}

/// The operations the engine needs from a file system.
pub trait Vfs: Send + Sync + Debug {
    /// Creates (or truncates) a file for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens an existing file, or creates it, for appending.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens a file for reading.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Cuts a file to `len` bytes (used to drop a torn commit log tail).
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes a directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// The names (not paths) of the entries of a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Hard-links `from` at `to` (checkpoints).
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs;

#[derive(Debug)]
struct StdWritable {
    file: io::BufWriter<File>,
    len: u64,
}

impl WritableFile for StdWritable {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    fn sync_handle(&self) -> io::Result<Option<Box<dyn SyncHandle>>> {
        Ok(Some(Box::new(self.file.get_ref().try_clone()?)))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

#[allow(unsafe_code)]
mod mapped {
    use super::*;

    /// A read-only memory map of a whole file.
    #[derive(Debug)]
    pub(super) struct Mapped {
        map: Option<memmap2::Mmap>,
        #[allow(dead_code)]
        path: PathBuf,
    }

    impl Mapped {
        pub(super) fn open(path: &Path) -> io::Result<Mapped> {
            let file = File::open(path)?;
            let len = file.metadata()?.len();
            // mmap of an empty file fails on Linux; an empty file is an empty slice.
            let map = if len == 0 {
                None
            } else {
                // SAFETY: the engine maps only immutable files (finished table files, the
                // manifest it has closed); nothing truncates or rewrites a file while a map of it
                // is alive, because files are deleted only after their last reader is dropped.
                Some(unsafe { memmap2::Mmap::map(&file)? })
            };
            Ok(Mapped {
                map,
                path: path.to_owned(),
            })
        }
    }

    impl ReadableFile for Mapped {
        fn bytes(&self) -> &[u8] {
            self.map.as_deref().unwrap_or(&[])
        }
    }
}

impl Vfs for StdVfs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = File::create(path)?;
        Ok(Box::new(StdWritable {
            file: io::BufWriter::with_capacity(256 * 1024, file),
            len: 0,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(StdWritable {
            file: io::BufWriter::with_capacity(256 * 1024, file),
            len,
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        Ok(Arc::new(mapped::Mapped::open(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_synced_bytes_read_back_through_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let vfs = StdVfs;
        let mut w = vfs.create(&path).unwrap();
        w.append(b"hello ").unwrap();
        w.append(b"world").unwrap();
        assert_eq!(w.len(), 11);
        w.sync().unwrap();
        drop(w);
        assert_eq!(vfs.open_read(&path).unwrap().bytes(), b"hello world");
        let mut a = vfs.open_append(&path).unwrap();
        assert_eq!(a.len(), 11);
        a.append(b"!").unwrap();
        drop(a);
        vfs.truncate(&path, 5).unwrap();
        assert_eq!(vfs.open_read(&path).unwrap().bytes(), b"hello");
    }

    #[test]
    fn an_empty_file_reads_as_an_empty_slice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        drop(StdVfs.create(&path).unwrap());
        assert!(StdVfs.open_read(&path).unwrap().bytes().is_empty());
    }
}

// The in-memory file system (an embedder's in-memory database, and tests), and the
// fault-injecting one (the `testkit` feature: tests of this and downstream crates).
#[cfg(any(test, feature = "testkit"))]
mod faulty;
mod mem;

#[cfg(any(test, feature = "testkit"))]
pub use faulty::{FaultCounts, FaultyVfs};
pub use mem::MemVfs;
