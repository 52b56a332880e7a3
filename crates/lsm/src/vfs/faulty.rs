//! [`FaultyVfs`]: wraps a [`Vfs`] and fails writes and syncs on purpose.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{ReadableFile, Vfs, WritableFile};

/// Operation counts of a [`FaultyVfs`] since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// `append` calls (failed ones included).
    pub writes: u64,
    /// `sync` and `sync_dir` calls (failed ones included).
    pub syncs: u64,
    pub failed_writes: u64,
    pub failed_syncs: u64,
    /// Bytes that reached the wrapped file system (torn prefixes included).
    pub bytes_written: u64,
}

/// When an operation kind fails. Operation numbers count from 1 since the `FaultyVfs` was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Never,
    /// Operation `n` and every one after it (a dead disk, a full disk).
    From(u64),
    /// Only operation `n`.
    Only(u64),
}

impl Rule {
    fn hits(self, n: u64) -> bool {
        match self {
            Rule::Never => false,
            Rule::From(m) => n >= m,
            Rule::Only(m) => n == m,
        }
    }
}

#[derive(Debug)]
struct State {
    counts: FaultCounts,
    writes: Rule,
    syncs: Rule,
    /// xorshift64* state and the 1-in-N failure odds, when random failures are on.
    random: Option<(u64, u64)>,
    torn: bool,
}

impl State {
    fn next_random(&mut self) -> Option<u64> {
        let (x, one_in) = self.random.as_mut()?;
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        Some(r % (*one_in).max(1))
    }

    fn random_hit(&mut self) -> bool {
        self.next_random() == Some(0)
    }

    /// Decides an append of `len` bytes: `None` to let it through, or the length of the prefix
    /// to write before failing.
    fn decide_write(&mut self, len: usize) -> Option<usize> {
        self.counts.writes += 1;
        let fail = self.writes.hits(self.counts.writes) | self.random_hit();
        if !fail {
            self.counts.bytes_written += len as u64;
            return None;
        }
        self.counts.failed_writes += 1;
        let prefix = if self.torn && len > 0 {
            let r = self
                .next_random()
                .unwrap_or(self.counts.writes.wrapping_mul(0x9E37_79B9));
            (r % len as u64) as usize
        } else {
            0
        };
        self.counts.bytes_written += prefix as u64;
        Some(prefix)
    }

    fn decide_sync(&mut self) -> bool {
        self.counts.syncs += 1;
        let fail = self.syncs.hits(self.counts.syncs) | self.random_hit();
        if fail {
            self.counts.failed_syncs += 1;
        }
        fail
    }
}

/// A [`Vfs`] that passes everything to another one, except the writes and syncs it is told to
/// fail: from the Nth on, only the Nth, or on a seeded random schedule; a failing write can
/// first write a random prefix of its buffer (a short, torn write). It counts operations.
/// Clones share the schedule and the counts.
///
/// ```
/// use ilion_lsm::vfs::{FaultyVfs, MemVfs, Vfs};
/// let vfs = FaultyVfs::new(MemVfs::new());
/// vfs.fail_syncs_after(1);
/// let mut f = vfs.create(std::path::Path::new("f")).unwrap();
/// f.append(b"x").unwrap();
/// assert!(f.sync().is_ok());
/// assert!(f.sync().is_err());
/// assert_eq!(vfs.counts().failed_syncs, 1);
/// ```
#[derive(Debug, Clone)]
pub struct FaultyVfs {
    inner: Arc<dyn Vfs>,
    state: Arc<Mutex<State>>,
}

fn injected(what: &str, path: &Path) -> io::Error {
    io::Error::other(format!("injected {what} failure on {}", path.display()))
}

impl FaultyVfs {
    /// Wraps `inner`; nothing fails until a schedule is set.
    pub fn new(inner: impl Vfs + 'static) -> FaultyVfs {
        FaultyVfs::wrap(Arc::new(inner))
    }

    /// Wraps a shared `Vfs`.
    pub fn wrap(inner: Arc<dyn Vfs>) -> FaultyVfs {
        FaultyVfs {
            inner,
            state: Arc::new(Mutex::new(State {
                counts: FaultCounts::default(),
                writes: Rule::Never,
                syncs: Rule::Never,
                random: None,
                torn: false,
            })),
        }
    }

    /// The next `n` appends succeed; every one after fails until [`FaultyVfs::heal`].
    pub fn fail_writes_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.writes = Rule::From(s.counts.writes + n + 1);
    }

    /// The next `n` syncs (`sync` and `sync_dir`) succeed; every one after fails.
    pub fn fail_syncs_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.syncs = Rule::From(s.counts.syncs + n + 1);
    }

    /// Only the `n`th append from now (1 = the next) fails.
    pub fn fail_nth_write(&self, n: u64) {
        let mut s = self.state.lock();
        s.writes = Rule::Only(s.counts.writes + n.max(1));
    }

    /// Only the `n`th sync from now (1 = the next) fails.
    pub fn fail_nth_sync(&self, n: u64) {
        let mut s = self.state.lock();
        s.syncs = Rule::Only(s.counts.syncs + n.max(1));
    }

    /// Each append and sync also fails with probability `1 / one_in`, drawn from a generator
    /// seeded with `seed` (the same seed and operations give the same failures).
    pub fn random_failures(&self, seed: u64, one_in: u64) {
        // splitmix64 of the seed: distinct seeds give distinct, non-zero xorshift states.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        self.state.lock().random = Some((z.max(1), one_in.max(1)));
    }

    /// Whether a failing append first writes a prefix of its buffer (a torn write).
    pub fn torn_writes(&self, on: bool) {
        self.state.lock().torn = on;
    }

    /// Stops all failures (counts are kept).
    pub fn heal(&self) {
        let mut s = self.state.lock();
        s.writes = Rule::Never;
        s.syncs = Rule::Never;
        s.random = None;
    }

    pub fn counts(&self) -> FaultCounts {
        self.state.lock().counts
    }

    /// The wrapped file system.
    pub fn inner(&self) -> &Arc<dyn Vfs> {
        &self.inner
    }
}

#[derive(Debug)]
struct FaultyWritable {
    inner: Box<dyn WritableFile>,
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl WritableFile for FaultyWritable {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let decision = self.state.lock().decide_write(buf.len());
        match decision {
            None => self.inner.append(buf),
            Some(prefix) => {
                if let Some(p) = buf.get(..prefix)
                    && !p.is_empty()
                {
                    self.inner.append(p)?;
                }
                Err(injected("write", &self.path))
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.state.lock().decide_sync() {
            return Err(injected("sync", &self.path));
        }
        self.inner.sync()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl Vfs for FaultyVfs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(FaultyWritable {
            inner: self.inner.create(path)?,
            state: Arc::clone(&self.state),
            path: path.to_owned(),
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(FaultyWritable {
            inner: self.inner.open_append(path)?,
            state: Arc::clone(&self.state),
            path: path.to_owned(),
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        self.inner.open_read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(path, len)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if self.state.lock().decide_sync() {
            return Err(injected("sync", path));
        }
        self.inner.sync_dir(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_size(path)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.hard_link(from, to)
    }
}
