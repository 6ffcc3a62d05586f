//! The content store: blobs addressed by their sha256 digest.
//!
//! Layout under the store's root:
//! - `blobs/sha256/<hex>`: committed blobs, read-only (0444), each verified before it
//!   appeared there.
//! - `ingest/<ref>/data`: a blob being written. A writer appends here and hashes as it
//!   goes; `commit` checks digest and size, fsyncs, and renames the file into `blobs/`
//!   (then fsyncs the directory), so a crash never leaves a wrong blob visible. A writer
//!   dropped without a commit (a failed or cancelled download, a refused layer) removes
//!   its ingest. An ingest left by a crash is resumed by the next `resume_writer` of the
//!   same ref (its bytes are hashed again), discarded by the next `writer`, or removed by
//!   `remove_stale_ingests` once nobody touched it for a while.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};

#[derive(Clone, Debug)]
pub struct ContentStore {
    root: PathBuf,
}

/// What the store knows of a committed blob.
#[derive(Clone, Debug)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
    pub created: SystemTime,
}

fn mkdir_private(p: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .ctx(|| format!("creating {}", p.display()))
}

impl ContentStore {
    /// Opens (creating) a store rooted at `root`.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let s = ContentStore {
            root: root.to_path_buf(),
        };
        mkdir_private(&s.blobs_dir())?;
        mkdir_private(&s.ingest_root())?;
        Ok(s)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn ingest_root(&self) -> PathBuf {
        self.root.join("ingest")
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn info(&self, d: &Digest) -> Result<BlobInfo> {
        let p = self.blob_path(d);
        let m = std::fs::metadata(&p).map_err(|e| not_found_or(d, e))?;
        Ok(BlobInfo {
            digest: d.clone(),
            size: m.len(),
            created: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    /// Every committed blob.
    pub fn list(&self) -> Result<Vec<BlobInfo>> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).ctx(|| format!("listing {}", dir.display()))? {
            let e = e.ctx(|| format!("listing {}", dir.display()))?;
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if let Ok(i) = self.info(&d) {
                out.push(i);
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Opens a blob for reading (not verified: see `verified_reader`).
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.blob_path(d)).map_err(|e| not_found_or(d, e))
    }

    /// A reader of the whole blob that fails at its end if the bytes no longer match.
    pub fn verified_reader(&self, d: &Digest) -> Result<VerifiedReader<File>> {
        Ok(VerifiedReader::new(self.open_blob(d)?, d.clone()))
    }

    /// The whole blob, verified. For manifests and configs (small).
    pub fn read_all(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.verified_reader(d)?
            .read_to_end(&mut buf)
            .ctx(|| format!("reading blob {d}"))?;
        Ok(buf)
    }

    /// Stores `data`, checking it against `expected` when given.
    pub fn put(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let d = Digest::of(data);
        if let Some(e) = expected {
            if *e != d {
                return Err(Error::DigestMismatch {
                    what: "blob".into(),
                    expected: e.to_string(),
                    actual: d.to_string(),
                });
            }
        }
        if self.exists(&d) {
            return Ok(d);
        }
        let mut w = self.writer(
            &format!("put-{}", d.hex()),
            Some(&d),
            Some(data.len() as u64),
        )?;
        w.write_all(data).ctx(|| format!("writing blob {d}"))?;
        w.commit()
    }

    /// A writer for one blob, starting from its first byte. `ingest_ref` names the partial
    /// file (anything a crashed writer left there is discarded). Refused while another
    /// writer holds the same ref.
    pub fn writer(
        &self,
        ingest_ref: &str,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<Writer> {
        self.open_writer(ingest_ref, expected, size, false)
    }

    /// Like `writer`, but keeps what a previous (crashed or interrupted) writer of the same
    /// ref left: its bytes are hashed again and `Writer::offset` tells where to go on.
    pub fn resume_writer(
        &self,
        ingest_ref: &str,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<Writer> {
        self.open_writer(ingest_ref, expected, size, true)
    }

    fn open_writer(
        &self,
        ingest_ref: &str,
        expected: Option<&Digest>,
        size: Option<u64>,
        resume: bool,
    ) -> Result<Writer> {
        if ingest_ref.is_empty()
            || ingest_ref.len() > 200
            || ingest_ref.contains('/')
            || ingest_ref.starts_with('.')
        {
            return Err(Error::InvalidArgument(format!(
                "invalid ingest ref {ingest_ref:?}"
            )));
        }
        let dir = self.ingest_root().join(ingest_ref);
        let path = dir.join("data");
        let busy = || {
            Error::Busy(format!(
                "blob {} is being written by another operation",
                expected.map(|d| d.to_string()).unwrap_or(ingest_ref.into())
            ))
        };
        // A writer that ends removes its ingest after we opened it but before we got the
        // lock: open again until the locked file is the one at the path.
        let (mut file, locked) = loop {
            mkdir_private(&dir)?;
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .mode(0o600)
                .open(&path)
                .ctx(|| format!("opening {}", path.display()))?;
            let locked = nix::fcntl::Flock::lock(
                file.try_clone().ctx(|| "duplicating ingest fd")?,
                nix::fcntl::FlockArg::LockExclusiveNonblock,
            )
            .map_err(|_| busy())?;
            let held = file.metadata().ctx(|| "stat ingest")?;
            match std::fs::metadata(&path) {
                Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => {
                    break (file, locked)
                }
                _ => continue,
            }
        };
        // Resume: hash what a previous writer left, unless it cannot be a prefix.
        let mut hasher = Hasher::default();
        let existing = file.metadata().ctx(|| "stat ingest")?.len();
        if existing > 0 && (!resume || size.is_some_and(|s| existing > s)) {
            file.set_len(0).ctx(|| "truncating ingest")?;
        } else if existing > 0 {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = file.read(&mut buf).ctx(|| "re-reading ingest")?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        file.seek(SeekFrom::End(0)).ctx(|| "seeking ingest")?;
        Ok(Writer {
            store: self.clone(),
            dir,
            file,
            _lock: locked,
            hasher,
            expected: expected.cloned(),
            size,
        })
    }

    /// Removes a committed blob; Ok(false) when there was none.
    pub fn delete(&self, d: &Digest) -> Result<bool> {
        match std::fs::remove_file(self.blob_path(d)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("removing blob {d}"), e)),
        }
    }

    /// Partial writes: (ref, bytes so far, last modified).
    pub fn ingests(&self) -> Result<Vec<(String, u64, SystemTime)>> {
        let root = self.ingest_root();
        let mut out = Vec::new();
        for e in std::fs::read_dir(&root).ctx(|| format!("listing {}", root.display()))? {
            let e = e.ctx(|| "listing ingests")?;
            let name = e.file_name().to_string_lossy().into_owned();
            let m = std::fs::metadata(e.path().join("data")).ok();
            out.push((
                name,
                m.as_ref().map(|m| m.len()).unwrap_or(0),
                m.and_then(|m| m.modified().ok())
                    .unwrap_or(SystemTime::UNIX_EPOCH),
            ));
        }
        Ok(out)
    }

    /// Discards a partial write; Ok(false) when a writer holds it (it is left alone).
    pub fn remove_ingest(&self, ingest_ref: &str) -> Result<bool> {
        let dir = self.ingest_root().join(ingest_ref);
        let data = dir.join("data");
        // Held while removing, so no writer starts on the file being removed.
        let _lock = match File::open(&data) {
            Ok(f) => {
                match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                    Ok(l) => Some(l),
                    Err(_) => return Ok(false),
                }
            }
            Err(_) => None,
        };
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io_path("removing", &dir, e))
            }
            _ => Ok(true),
        }
    }

    /// Removes ingests nobody wrote to for `age` and no writer holds (a live download
    /// keeps its lock); returns (count, bytes) removed.
    pub fn remove_stale_ingests(&self, age: std::time::Duration) -> Result<(usize, u64)> {
        let mut removed = (0, 0);
        for (r, size, modified) in self.ingests()? {
            if !modified.elapsed().is_ok_and(|e| e > age) {
                continue;
            }
            if self.remove_ingest(&r)? {
                removed.0 += 1;
                removed.1 += size;
            }
        }
        Ok(removed)
    }

    /// Bytes used by committed blobs.
    pub fn total_size(&self) -> Result<(u64, usize)> {
        let l = self.list()?;
        Ok((l.iter().map(|b| b.size).sum(), l.len()))
    }
}

fn not_found_or(d: &Digest, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound(format!("blob {d} not found in the content store"))
    } else {
        Error::io(format!("opening blob {d}"), e)
    }
}

/// Writes one blob into the ingest area; see `ContentStore::writer`.
pub struct Writer {
    store: ContentStore,
    dir: PathBuf,
    file: File,
    _lock: nix::fcntl::Flock<File>,
    hasher: Hasher,
    expected: Option<Digest>,
    size: Option<u64>,
}

impl Writer {
    /// Bytes written so far (including what a resumed ingest held).
    pub fn offset(&self) -> u64 {
        self.hasher.len()
    }

    /// Starts over (e.g. when a registry ignores a range request).
    pub fn truncate(&mut self) -> Result<()> {
        self.file.set_len(0).ctx(|| "truncating ingest")?;
        self.file
            .seek(SeekFrom::Start(0))
            .ctx(|| "seeking ingest")?;
        self.hasher = Hasher::default();
        Ok(())
    }

    /// Checks the bytes written so far against the expected size and digest, without
    /// committing: whether what came is the blob that was asked for.
    pub fn verify(&self) -> Result<Digest> {
        self.check(self.hasher.clone())
    }

    fn what(&self) -> String {
        self.expected
            .as_ref()
            .map(|d| format!("blob {d}"))
            .unwrap_or_else(|| "blob".into())
    }

    fn check(&self, hasher: Hasher) -> Result<Digest> {
        let n = hasher.len();
        let actual = hasher.finish();
        if let Some(s) = self.size {
            if s != n {
                return Err(Error::DigestMismatch {
                    what: format!("{} size", self.what()),
                    expected: format!("{s} bytes"),
                    actual: format!("{n} bytes"),
                });
            }
        }
        if let Some(e) = &self.expected {
            if *e != actual {
                return Err(Error::DigestMismatch {
                    what: self.what(),
                    expected: e.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        Ok(actual)
    }

    /// Checks digest and size, then makes the blob visible. A mismatch discards the bytes.
    pub fn commit(mut self) -> Result<Digest> {
        let hasher = std::mem::take(&mut self.hasher);
        let actual = match self.check(hasher) {
            Ok(d) => d,
            Err(e) => {
                self.discard();
                return Err(e);
            }
        };
        let what = self.what();
        let target = self.store.blob_path(&actual);
        if !target.exists() {
            self.file.sync_all().ctx(|| format!("syncing {what}"))?;
            let data = self.dir.join("data");
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o444))
                .ctx(|| format!("chmod {}", data.display()))?;
            std::fs::rename(&data, &target).ctx(|| format!("committing {what}"))?;
            File::open(self.store.blobs_dir())
                .and_then(|d| d.sync_all())
                .ctx(|| "syncing the blobs directory")?;
        }
        self.discard();
        Ok(actual)
    }

    fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whatever ends a writer without a commit leaves nothing in the ingest area (a crash
/// leaves the partial file, for a resume).
impl Drop for Writer {
    fn drop(&mut self) {
        self.discard();
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Reads a blob and fails at the end when its bytes do not match its digest.
pub struct VerifiedReader<R> {
    inner: R,
    hasher: Hasher,
    expected: Digest,
    done: bool,
}

impl<R: Read> VerifiedReader<R> {
    pub fn new(inner: R, expected: Digest) -> Self {
        VerifiedReader {
            inner,
            hasher: Hasher::default(),
            expected,
            done: false,
        }
    }
}

impl<R: Read> Read for VerifiedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
        } else if !buf.is_empty() && !self.done {
            self.done = true;
            let actual = std::mem::take(&mut self.hasher).finish();
            if actual != self.expected {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "blob {} is corrupt on disk (its bytes hash to {actual}); remove it and pull again",
                        self.expected
                    ),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a writer killed mid-write leaves.
    fn leave_partial(s: &ContentStore, r: &str, bytes: &[u8]) {
        let dir = s.ingest_root().join(r);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data"), bytes).unwrap();
    }

    #[test]
    fn commit_only_when_digest_matches() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let good = Digest::of(b"hello");
        let bad = Digest::of(b"other");
        let mut w = s.writer("x", Some(&bad), None).unwrap();
        w.write_all(b"hello").unwrap();
        assert!(matches!(w.commit(), Err(Error::DigestMismatch { .. })));
        assert!(!s.exists(&good) && !s.exists(&bad));
        assert!(s.ingests().unwrap().is_empty());
        assert_eq!(s.put(b"hello", Some(&good)).unwrap(), good);
        assert_eq!(s.read_all(&good).unwrap(), b"hello");
    }

    #[test]
    fn verify_checks_what_came_without_committing() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let good = Digest::of(b"hello");
        let mut w = s.writer("v", Some(&good), Some(5)).unwrap();
        w.write_all(b"hel").unwrap();
        assert!(matches!(w.verify(), Err(Error::DigestMismatch { .. })));
        w.write_all(b"lo").unwrap();
        assert_eq!(w.verify().unwrap(), good);
        assert!(!s.exists(&good), "verify committed the blob");
        assert_eq!(w.commit().unwrap(), good);
        assert!(s.exists(&good));
    }

    #[test]
    fn resumes_a_partial_ingest_and_refuses_a_second_writer() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello world");
        {
            let mut w = s.writer("r", Some(&d), Some(11)).unwrap();
            w.write_all(b"hello").unwrap();
            assert!(matches!(
                s.writer("r", Some(&d), Some(11)),
                Err(Error::Busy(_))
            ));
        }
        leave_partial(&s, "r", b"hello");
        let mut w = s.resume_writer("r", Some(&d), Some(11)).unwrap();
        assert_eq!(w.offset(), 5);
        w.write_all(b" world").unwrap();
        assert_eq!(w.commit().unwrap(), d);
    }

    #[test]
    fn a_fresh_writer_discards_what_a_crashed_one_left() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello");
        leave_partial(&s, "r", b"hel");
        let mut w = s.writer("r", Some(&d), Some(5)).unwrap();
        assert_eq!(w.offset(), 0);
        w.write_all(b"hello").unwrap();
        assert_eq!(w.commit().unwrap(), d);
    }

    #[test]
    fn a_dropped_writer_leaves_no_ingest_and_stale_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello");
        {
            let mut w = s.writer("gone", Some(&d), Some(5)).unwrap();
            w.write_all(b"he").unwrap();
        }
        assert!(s.ingests().unwrap().is_empty());
        // A crash leaves one; it goes once stale, unless a writer holds it.
        leave_partial(&s, "crash", b"he");
        let held = s.writer("held", Some(&d), Some(5)).unwrap();
        let zero = std::time::Duration::ZERO;
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(
            s.remove_stale_ingests(std::time::Duration::from_secs(3600))
                .unwrap()
                .0,
            0
        );
        assert_eq!(s.remove_stale_ingests(zero).unwrap(), (1, 2));
        let left: Vec<String> = s.ingests().unwrap().into_iter().map(|i| i.0).collect();
        assert_eq!(left, vec!["held".to_string()]);
        drop(held);
        assert!(s.ingests().unwrap().is_empty());
    }

    #[test]
    fn verified_reader_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let d = s.put(b"abc", None).unwrap();
        let p = s.blob_path(&d);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&p, b"abd").unwrap();
        let e = s.read_all(&d).unwrap_err().to_string();
        assert!(e.contains("corrupt"), "{e}");
    }
}
