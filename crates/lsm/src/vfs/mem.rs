//! [`MemVfs`]: an in-memory file system that can lose power.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{ReadableFile, Vfs, WritableFile};

/// An in-memory [`Vfs`] for tests, with a model of power loss.
///
/// Clones share one file system. [`MemVfs::crash`] does what a power cut does: every file keeps
/// only the bytes covered by its last `sync` (appended but unsynced bytes vanish), and open
/// handles are cut off (writes through them no longer reach any file). In strict mode
/// ([`MemVfs::strict`]) directory entries are volatile too: a creation, rename or removal
/// survives a crash only once `sync_dir` of its parent directory has run, as on a real file
/// system; in the default mode they are durable at once.
///
/// Directories must exist (`create_dir_all`) before files are created in them; `truncate` and
/// `create_dir_all` are durable at once.
#[derive(Debug, Clone, Default)]
pub struct MemVfs {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    strict: bool,
    /// What the running process sees.
    files: HashMap<PathBuf, Arc<MemFile>>,
    /// In strict mode: the directory entries that would survive a crash.
    durable: HashMap<PathBuf, Arc<MemFile>>,
    dirs: BTreeSet<PathBuf>,
}

#[derive(Debug, Default)]
struct MemFile {
    inner: Mutex<FileData>,
}

#[derive(Debug, Default)]
struct FileData {
    bytes: Vec<u8>,
    synced: usize,
}

impl MemFile {
    fn with(bytes: Vec<u8>) -> Arc<MemFile> {
        let synced = bytes.len();
        Arc::new(MemFile {
            inner: Mutex::new(FileData { bytes, synced }),
        })
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

impl MemVfs {
    /// An empty file system whose directory entries are durable at once.
    pub fn new() -> MemVfs {
        MemVfs::default()
    }

    /// An empty file system whose directory entries need `sync_dir` to survive a crash.
    pub fn strict() -> MemVfs {
        let vfs = MemVfs::default();
        vfs.state.lock().strict = true;
        vfs
    }

    /// Simulates a power cut: every file is cut back to its synced length, unsynced directory
    /// entries are forgotten (strict mode) and existing handles are detached.
    pub fn crash(&self) {
        let mut s = self.state.lock();
        let survivors = if s.strict {
            std::mem::take(&mut s.durable)
        } else {
            std::mem::take(&mut s.files)
        };
        // Hard links share one file; keep sharing after the crash.
        let mut copies: HashMap<*const MemFile, Arc<MemFile>> = HashMap::new();
        let mut files = HashMap::new();
        for (path, f) in survivors {
            let copy = copies
                .entry(Arc::as_ptr(&f))
                .or_insert_with(|| {
                    let d = f.inner.lock();
                    MemFile::with(d.bytes.get(..d.synced).unwrap_or_default().to_vec())
                })
                .clone();
            files.insert(path, copy);
        }
        s.durable = files.clone();
        s.files = files;
    }

    /// The current contents of a file (what a reader would see now).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.state.lock();
        s.files.get(path).map(|f| f.inner.lock().bytes.clone())
    }

    /// Replaces a file's contents, durably (for tests that damage files on purpose).
    pub fn set_contents(&self, path: &Path, bytes: Vec<u8>) {
        let mut s = self.state.lock();
        let f = MemFile::with(bytes);
        if !s.strict {
            s.durable.insert(path.to_owned(), Arc::clone(&f));
        }
        s.files.insert(path.to_owned(), f);
    }
}

impl State {
    fn parent_exists(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() && !self.dirs.contains(p) => Err(not_found(p)),
            _ => Ok(()),
        }
    }

    /// Applies a namespace change to the durable view when entries are durable at once.
    fn publish(&mut self, path: &Path) {
        if self.strict {
            return;
        }
        match self.files.get(path) {
            Some(f) => {
                self.durable.insert(path.to_owned(), Arc::clone(f));
            }
            None => {
                self.durable.remove(path);
            }
        }
    }
}

#[derive(Debug)]
struct MemWritable {
    file: Arc<MemFile>,
}

impl WritableFile for MemWritable {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.inner.lock().bytes.extend_from_slice(buf);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut d = self.file.inner.lock();
        d.synced = d.bytes.len();
        Ok(())
    }

    fn len(&self) -> u64 {
        self.file.inner.lock().bytes.len() as u64
    }
}

/// A read view: the file's bytes when it was opened (files are read only once immutable).
#[derive(Debug)]
struct MemReadable {
    bytes: Vec<u8>,
}

impl ReadableFile for MemReadable {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Vfs for MemVfs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut s = self.state.lock();
        s.parent_exists(path)?;
        let file = Arc::new(MemFile::default());
        s.files.insert(path.to_owned(), Arc::clone(&file));
        s.publish(path);
        Ok(Box::new(MemWritable { file }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let existing = self.state.lock().files.get(path).map(Arc::clone);
        match existing {
            Some(file) => Ok(Box::new(MemWritable { file })),
            None => self.create(path),
        }
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadableFile>> {
        let s = self.state.lock();
        let f = s.files.get(path).ok_or_else(|| not_found(path))?;
        let bytes = f.inner.lock().bytes.clone();
        Ok(Arc::new(MemReadable { bytes }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.parent_exists(to)?;
        let f = s.files.remove(from).ok_or_else(|| not_found(from))?;
        s.files.insert(to.to_owned(), f);
        s.publish(from);
        s.publish(to);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.files.remove(path).ok_or_else(|| not_found(path))?;
        s.publish(path);
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let s = self.state.lock();
        let f = s.files.get(path).ok_or_else(|| not_found(path))?;
        let mut d = f.inner.lock();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        d.bytes.resize(len, 0);
        d.synced = d.bytes.len();
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        for a in path.ancestors() {
            if !a.as_os_str().is_empty() {
                s.dirs.insert(a.to_owned());
            }
        }
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        if !s.dirs.contains(path) {
            return Err(not_found(path));
        }
        if s.strict {
            let in_dir = |p: &Path| p.parent() == Some(path);
            s.durable.retain(|p, _| !in_dir(p));
            let current: Vec<(PathBuf, Arc<MemFile>)> = s
                .files
                .iter()
                .filter(|(p, _)| in_dir(p))
                .map(|(p, f)| (p.clone(), Arc::clone(f)))
                .collect();
            s.durable.extend(current);
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let s = self.state.lock();
        if !s.dirs.contains(path) {
            return Err(not_found(path));
        }
        let mut names: Vec<String> = s
            .files
            .keys()
            .chain(s.dirs.iter())
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        let s = self.state.lock();
        s.files.contains_key(path) || s.dirs.contains(path)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        let s = self.state.lock();
        let f = s.files.get(path).ok_or_else(|| not_found(path))?;
        Ok(f.inner.lock().bytes.len() as u64)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.parent_exists(to)?;
        if s.files.contains_key(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        let f = Arc::clone(s.files.get(from).ok_or_else(|| not_found(from))?);
        s.files.insert(to.to_owned(), f);
        s.publish(to);
        Ok(())
    }
}
