//! Reading a layer tar entry by entry, straight from the stream.
//!
//! Each 512-byte header is parsed with the `tar` crate's header types; the walk over the
//! stream is this module's own because the crate's entry reader fills the holes of a GNU
//! sparse file with zeros as it is read (a 10 KB layer may describe a file of terabytes)
//! and does not know GNU tar's PAX sparse formats (it would hand out their condensed data
//! under a `GNUSparseFile.<pid>/` name). Here the sparse map of every GNU format is read --
//! old GNU (type `S` with its extension headers), PAX 0.0, 0.1 and 1.0 -- checked, and given
//! to the caller with the entry, so the file can be written with its holes left as holes.
//! A sparse entry whose map cannot be read (another format, a broken map) is refused,
//! never expanded.
//!
//! Metadata is bounded: the long names, PAX records and sparse map of one entry may take
//! at most `MAX_METADATA` bytes, and a map at most `MAX_SPARSE_CHUNKS` chunks.

use std::io::Read;

use tar::{EntryType, GnuExtSparseHeader, GnuSparseHeader, Header};

use crate::error::{Error, IoContext, Result};

const BLOCK: u64 = 512;
/// Long names, PAX records and sparse maps of one entry, together.
pub const MAX_METADATA: u64 = 16 << 20;
/// Data chunks of one sparse file.
pub const MAX_SPARSE_CHUNKS: usize = 1 << 20;

/// One run of data of a sparse file; what lies between runs is a hole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub offset: u64,
    pub len: u64,
}

/// Where a sparse file's data lies, and its apparent size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparseMap {
    pub size: u64,
    pub chunks: Vec<Chunk>,
}

/// An entry with everything its extension headers said applied.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub kind: EntryType,
    /// The entry's own header (device numbers and the fields below, before PAX records).
    pub header: Header,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Bytes of data that follow in the stream (for a sparse file: its chunks only).
    pub size: u64,
    pub sparse: Option<SparseMap>,
    /// `SCHILY.xattr.*` PAX records.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Reads entries from a tar stream; see the module doc.
pub struct TarReader<R> {
    inner: R,
    /// Data bytes of the current entry not read yet, and the padding after them.
    left: u64,
    pad: u64,
}

/// What extension headers said about the next entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    metadata: u64,
}

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("invalid layer tar: {what}"))
}

fn truncated() -> Error {
    Error::io(
        "reading the layer tar",
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the layer ends in the middle of an entry",
        ),
    )
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            left: 0,
            pad: 0,
        }
    }

    /// The stream, positioned after the last entry read (or its end-of-archive block).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next entry, or None at the end of the archive. Data of the previous entry the
    /// caller did not read is skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.skip_rest()?;
        let mut pending = Pending::default();
        loop {
            let Some(block) = self.read_block()? else {
                return match pending.is_empty() {
                    true => Ok(None),
                    false => Err(truncated()),
                };
            };
            if block.iter().all(|b| *b == 0) {
                if !pending.is_empty() {
                    return Err(invalid("extension headers without an entry after them"));
                }
                return Ok(None);
            }
            let header = Header::from_byte_slice(&block).clone();
            check_sum(&header)?;
            let size = header
                .entry_size()
                .map_err(|e| invalid(format!("entry {}: {e}", lossy(&header.path_bytes()))))?;
            match header.entry_type() {
                EntryType::GNULongName => {
                    once(&pending.long_name, "long name")?;
                    pending.long_name = Some(c_string(self.read_metadata(size, &mut pending)?));
                }
                EntryType::GNULongLink => {
                    once(&pending.long_link, "long link name")?;
                    pending.long_link = Some(c_string(self.read_metadata(size, &mut pending)?));
                }
                EntryType::XHeader => {
                    once(&pending.pax, "PAX header")?;
                    let data = self.read_metadata(size, &mut pending)?;
                    pending.pax = Some(parse_pax(&data)?);
                }
                // Global PAX records are not applied (as docker's reader does not).
                EntryType::XGlobalHeader => {
                    self.read_metadata(size, &mut pending)?;
                }
                _ => return self.entry(header, size, pending).map(Some),
            }
        }
    }

    /// A reader of the current entry's data (exactly `Entry::size` bytes).
    pub fn data(&mut self) -> Data<'_, R> {
        Data { r: self }
    }

    fn entry(&mut self, header: Header, mut size: u64, mut p: Pending) -> Result<Entry> {
        let name = lossy(&header.path_bytes());
        let bad = |what: &str, e: std::io::Error| invalid(format!("entry {name}: {what}: {e}"));
        let old = header.as_old();
        let mut e = Entry {
            path: header.path_bytes().into_owned(),
            link: header.link_name_bytes().map(|l| l.into_owned()),
            kind: header.entry_type(),
            mode: lenient(&old.mode, || header.mode()).map_err(|e| bad("mode", e))? as u32,
            uid: lenient(&old.uid, || header.uid()).map_err(|e| bad("uid", e))?,
            gid: lenient(&old.gid, || header.gid()).map_err(|e| bad("gid", e))?,
            mtime: lenient(&old.mtime, || header.mtime()).map_err(|e| bad("mtime", e))?,
            header,
            size: 0,
            sparse: None,
            xattrs: Vec::new(),
        };
        if let Some(n) = p.long_name.take() {
            e.path = n;
        }
        if let Some(l) = p.long_link.take() {
            e.link = Some(l);
        }
        let mut gnu_sparse: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (k, v) in p.pax.take().unwrap_or_default() {
            let num = || pax_number(&k, &v);
            match k.as_slice() {
                b"path" => e.path = v,
                b"linkpath" => e.link = Some(v),
                b"size" => size = num()?,
                b"uid" => e.uid = num()?,
                b"gid" => e.gid = num()?,
                // Seconds, maybe with a fraction; times before 1970 become 0.
                b"mtime" => {
                    let whole = v.split(|b| *b == b'.').next().unwrap_or(b"");
                    e.mtime = if whole.starts_with(b"-") {
                        0
                    } else {
                        pax_number(&k, whole)?
                    };
                }
                _ if k.starts_with(b"SCHILY.xattr.") => {
                    if let Ok(name) = std::str::from_utf8(&k[b"SCHILY.xattr.".len()..]) {
                        e.xattrs.push((name.to_string(), v));
                    }
                }
                _ if k.starts_with(b"GNU.sparse.") || k.starts_with(b"SCHILY.sparse") => {
                    gnu_sparse.push((k, v))
                }
                _ if k == b"SCHILY.realsize" => gnu_sparse.push((k, v)),
                _ => {}
            }
        }
        // The name a PAX sparse file really has.
        if let Some((_, n)) = gnu_sparse
            .iter()
            .rev()
            .find(|(k, _)| k == b"GNU.sparse.name")
        {
            e.path = n.clone();
        }
        self.left = size;
        self.pad = (BLOCK - size % BLOCK) % BLOCK;
        let path = e.path_lossy();
        if e.kind == EntryType::GNUSparse {
            if !gnu_sparse.is_empty() {
                return Err(invalid(format!(
                    "entry {path}: both an old GNU sparse header and PAX sparse records"
                )));
            }
            e.sparse = Some(self.old_gnu_map(&e.header, &path, &mut p)?);
        } else if !gnu_sparse.is_empty() {
            if !matches!(e.kind, EntryType::Regular | EntryType::Continuous) {
                return Err(invalid(format!(
                    "entry {path}: sparse records on an entry that is not a regular file"
                )));
            }
            e.sparse = Some(self.pax_map(&gnu_sparse, &path, &mut p)?);
        }
        e.size = self.left;
        if let Some(map) = &e.sparse {
            check_map(map, e.size, &path)?;
        }
        Ok(e)
    }

    /// Old GNU format: four chunks in the header, more in extension headers after it.
    fn old_gnu_map(&mut self, h: &Header, path: &str, p: &mut Pending) -> Result<SparseMap> {
        let gnu = h.as_gnu().ok_or_else(|| {
            Error::Unsupported(format!(
                "entry {path}: a sparse entry (type 'S') whose header is not GNU's (star's \
                 sparse format is not supported); refusing it rather than expanding the file"
            ))
        })?;
        let bad = |e: std::io::Error| invalid(format!("entry {path}: sparse header: {e}"));
        let size = gnu.real_size().map_err(bad)?;
        let mut chunks = Vec::new();
        add_gnu_chunks(&gnu.sparse, &mut chunks, path)?;
        let mut extended = gnu.is_extended();
        while extended {
            p.charge(BLOCK)?;
            let block = self.read_block()?.ok_or_else(truncated)?;
            let mut ext = GnuExtSparseHeader::new();
            ext.as_mut_bytes().copy_from_slice(&block);
            add_gnu_chunks(ext.sparse(), &mut chunks, path)?;
            extended = ext.is_extended();
        }
        Ok(SparseMap { size, chunks })
    }

    /// PAX formats: 0.0 (repeated offset/numbytes records), 0.1 (`GNU.sparse.map`) and 1.0
    /// (the map at the start of the data).
    fn pax_map(
        &mut self,
        recs: &[(Vec<u8>, Vec<u8>)],
        path: &str,
        p: &mut Pending,
    ) -> Result<SparseMap> {
        let get = |k: &str| recs.iter().rev().find(|(rk, _)| rk == k.as_bytes());
        let unsupported = |what: String| {
            Error::Unsupported(format!(
                "entry {path}: {what} is not supported (old GNU and PAX 0.0, 0.1 and 1.0 \
                 are); refusing it rather than expanding the file"
            ))
        };
        if recs.iter().any(|(k, _)| k.starts_with(b"SCHILY.")) {
            return Err(unsupported("star's sparse format".into()));
        }
        let version = match (get("GNU.sparse.major"), get("GNU.sparse.minor")) {
            (Some((_, ma)), Some((_, mi))) => Some((lossy(ma), lossy(mi))),
            (None, None) => None,
            _ => {
                return Err(invalid(format!(
                    "entry {path}: half a sparse format version"
                )))
            }
        };
        let size_key = get("GNU.sparse.realsize").or_else(|| get("GNU.sparse.size"));
        let size = match size_key {
            Some((k, v)) => pax_number(k, v)?,
            None => return Err(invalid(format!("entry {path}: sparse file without a size"))),
        };
        let chunks = match version.as_ref().map(|(a, b)| (a.as_str(), b.as_str())) {
            Some(("1", "0")) => self.map_in_data(path, p)?,
            Some((ma, mi)) => return Err(unsupported(format!("GNU sparse format {ma}.{mi}"))),
            None => {
                let numbers: Vec<u64> = if let Some((k, v)) = get("GNU.sparse.map") {
                    // 0.1: "offset,size,offset,size..."
                    let mut out = Vec::new();
                    if !v.is_empty() {
                        for n in v.split(|b| *b == b',') {
                            out.push(pax_number(k, n)?);
                        }
                    }
                    out
                } else {
                    // 0.0: the records in order.
                    let mut out = Vec::new();
                    for (k, v) in recs {
                        if k == b"GNU.sparse.offset" || k == b"GNU.sparse.numbytes" {
                            let want = if out.len().is_multiple_of(2) {
                                &b"GNU.sparse.offset"[..]
                            } else {
                                b"GNU.sparse.numbytes"
                            };
                            if k != want {
                                return Err(invalid(format!(
                                    "entry {path}: sparse offsets and sizes out of order"
                                )));
                            }
                            out.push(pax_number(k, v)?);
                        }
                    }
                    out
                };
                let chunks = pairs(&numbers, path)?;
                if let Some((k, v)) = get("GNU.sparse.numblocks") {
                    if pax_number(k, v)? != chunks.len() as u64 {
                        return Err(invalid(format!(
                            "entry {path}: the sparse map does not have GNU.sparse.numblocks chunks"
                        )));
                    }
                }
                chunks
            }
        };
        Ok(SparseMap { size, chunks })
    }

    /// Format 1.0: decimal numbers, one a line -- the count, then offset and size pairs --
    /// padded to a block, at the start of the entry's data.
    fn map_in_data(&mut self, path: &str, p: &mut Pending) -> Result<Vec<Chunk>> {
        let mut text: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut numbers: Vec<u64> = Vec::new();
        let mut count: Option<u64> = None;
        while count.is_none_or(|c| (numbers.len() as u64) < 2 * c) {
            match text[pos..].iter().position(|b| *b == b'\n') {
                Some(nl) => {
                    let n = pax_number(b"GNU.sparse map", &text[pos..pos + nl])?;
                    pos += nl + 1;
                    match count {
                        None if n > MAX_SPARSE_CHUNKS as u64 => {
                            return Err(invalid(format!(
                                "entry {path}: a sparse map of {n} chunks (at most {MAX_SPARSE_CHUNKS})"
                            )))
                        }
                        None => count = Some(n),
                        Some(_) => numbers.push(n),
                    }
                }
                None => {
                    if self.left < BLOCK {
                        return Err(invalid(format!(
                            "entry {path}: the sparse map runs past the entry's data"
                        )));
                    }
                    p.charge(BLOCK)?;
                    let mut block = [0u8; BLOCK as usize];
                    self.data()
                        .read_exact(&mut block)
                        .ctx(|| format!("reading the sparse map of {path}"))?;
                    text.extend_from_slice(&block);
                }
            }
        }
        pairs(&numbers, path)
    }

    /// Reads a whole extension header's data (and its padding) into memory.
    fn read_metadata(&mut self, size: u64, p: &mut Pending) -> Result<Vec<u8>> {
        p.charge(size)?;
        let mut buf = vec![0u8; size as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => truncated(),
                _ => Error::io("reading the layer tar", e),
            })?;
        self.left = 0;
        self.pad = (BLOCK - size % BLOCK) % BLOCK;
        self.skip_rest()?;
        Ok(buf)
    }

    fn skip_rest(&mut self) -> Result<()> {
        let n = self.left + self.pad;
        if n > 0 {
            let got = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
                .ctx(|| "reading the layer tar")?;
            if got < n {
                return Err(truncated());
            }
        }
        self.left = 0;
        self.pad = 0;
        Ok(())
    }

    /// One block; None at the end of the stream.
    fn read_block(&mut self) -> Result<Option<[u8; BLOCK as usize]>> {
        let mut block = [0u8; BLOCK as usize];
        let mut n = 0;
        while n < block.len() {
            match self.inner.read(&mut block[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("reading the layer tar", e)),
            }
        }
        match n {
            0 => Ok(None),
            512 => Ok(Some(block)),
            _ => Err(truncated()),
        }
    }
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }

    fn charge(&mut self, n: u64) -> Result<()> {
        self.metadata = self.metadata.saturating_add(n);
        if self.metadata > MAX_METADATA {
            return Err(invalid(format!(
                "more than {} MiB of names, PAX records and sparse map for one entry",
                MAX_METADATA >> 20
            )));
        }
        Ok(())
    }
}

/// The current entry's data; ends after `Entry::size` bytes, fails if the stream ends first.
pub struct Data<'a, R> {
    r: &'a mut TarReader<R>,
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.r.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(self.r.left.min(usize::MAX as u64) as usize);
        let n = self.r.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the layer ends in the middle of an entry",
            ));
        }
        self.r.left -= n as u64;
        Ok(n)
    }
}

/// A numeric field left blank (NULs or spaces, as some writers leave unused fields) is 0,
/// as docker's reader takes it; anything else must parse.
pub fn lenient<T: Into<u64>>(
    raw: &[u8],
    parse: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<u64> {
    if raw.iter().all(|b| *b == 0 || *b == b' ') {
        return Ok(0);
    }
    parse().map(Into::into)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn once<T>(slot: &Option<T>, what: &str) -> Result<()> {
    match slot {
        Some(_) => Err(invalid(format!("two {what} headers for one entry"))),
        None => Ok(()),
    }
}

/// GNU long names are C strings.
fn c_string(mut v: Vec<u8>) -> Vec<u8> {
    if let Some(nul) = v.iter().position(|b| *b == 0) {
        v.truncate(nul);
    }
    v
}

fn check_sum(h: &Header) -> Result<()> {
    let b = h.as_bytes();
    let sum: u32 = b[..148]
        .iter()
        .chain(&b[156..])
        .map(|x| *x as u32)
        .sum::<u32>()
        + 8 * 32;
    match h.cksum() {
        Ok(c) if c == sum => Ok(()),
        _ => Err(invalid(format!(
            "header checksum mismatch at entry {}",
            lossy(&h.path_bytes())
        ))),
    }
}

/// PAX records: "<length> <key>=<value>\n", the length counting the whole record.
fn parse_pax(data: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // Some writers pad the data with NULs.
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or_else(|| invalid("malformed PAX record"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("malformed PAX record length"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(invalid("malformed PAX record"));
        }
        let rec = &rest[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|b| *b == b'=')
            .ok_or_else(|| invalid("PAX record without '='"))?;
        out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

fn pax_number(key: &[u8], v: &[u8]) -> Result<u64> {
    std::str::from_utf8(v)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            invalid(format!(
                "PAX record {}: {:?} is not a number",
                lossy(key),
                lossy(v)
            ))
        })
}

fn pairs(numbers: &[u64], path: &str) -> Result<Vec<Chunk>> {
    if !numbers.len().is_multiple_of(2) {
        return Err(invalid(format!(
            "entry {path}: a sparse map with an offset but no size"
        )));
    }
    if numbers.len() / 2 > MAX_SPARSE_CHUNKS {
        return Err(invalid(format!(
            "entry {path}: more than {MAX_SPARSE_CHUNKS} sparse chunks"
        )));
    }
    Ok(numbers
        .chunks(2)
        .map(|c| Chunk {
            offset: c[0],
            len: c[1],
        })
        .collect())
}

/// Chunks of an old GNU header or extension header; an entry whose size starts with NUL
/// ends the list (as GNU tar reads it).
fn add_gnu_chunks(entries: &[GnuSparseHeader], out: &mut Vec<Chunk>, path: &str) -> Result<()> {
    for s in entries {
        if s.numbytes[0] == 0 {
            break;
        }
        let bad = |e: std::io::Error| invalid(format!("entry {path}: sparse header: {e}"));
        out.push(Chunk {
            offset: s.offset().map_err(bad)?,
            len: s.length().map_err(bad)?,
        });
        if out.len() > MAX_SPARSE_CHUNKS {
            return Err(invalid(format!(
                "entry {path}: more than {MAX_SPARSE_CHUNKS} sparse chunks"
            )));
        }
    }
    Ok(())
}

/// Chunks in order, not overlapping, inside the file; their bytes are the entry's data;
/// every chunk but the last holds whole blocks (GNU tar pads each chunk to a block, so
/// anything else could be read two ways).
fn check_map(map: &SparseMap, data: u64, path: &str) -> Result<()> {
    let bad = |what: &str| invalid(format!("entry {path}: sparse map: {what}"));
    let mut end = 0u64;
    let mut total = 0u64;
    let last_data = map.chunks.iter().rposition(|c| c.len > 0);
    for (i, c) in map.chunks.iter().enumerate() {
        if c.offset < end {
            return Err(bad("chunks out of order or overlapping"));
        }
        end = c
            .offset
            .checked_add(c.len)
            .ok_or_else(|| bad("a chunk past the largest file size"))?;
        if end > map.size {
            return Err(bad("a chunk past the end of the file"));
        }
        if !c.len.is_multiple_of(BLOCK) && Some(i) != last_data && c.len > 0 {
            return Err(bad(
                "a chunk other than the last is not a whole number of blocks",
            ));
        }
        total += c.len;
    }
    if total != data {
        return Err(bad(&format!(
            "its chunks hold {total} bytes but the entry has {data}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
