//! Tars crafted byte by byte: every GNU sparse format, broken maps, extension headers.

use super::*;

/// A tar under construction: raw blocks.
#[derive(Default)]
pub(crate) struct Raw(pub Vec<u8>);

impl Raw {
    pub(crate) fn header(&mut self, h: &mut Header) -> &mut Self {
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self
    }

    /// Data padded to a block.
    pub(crate) fn data(&mut self, d: &[u8]) -> &mut Self {
        self.0.extend_from_slice(d);
        let pad = (512 - d.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// A PAX header ('x') with `recs`, before the next entry.
    pub(crate) fn pax(&mut self, recs: &[(&str, &str)]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in recs {
            body.extend(pax_record(k, v.as_bytes()));
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_path("PaxHeaders/x").unwrap();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        self.header(&mut h).data(&body)
    }

    pub(crate) fn end(&mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        std::mem::take(&mut self.0)
    }
}

pub(crate) fn pax_record(k: &str, v: &[u8]) -> Vec<u8> {
    let body = 1 + k.len() + 1 + v.len() + 1; // ' ' k '=' v '\n'
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len += 1;
    }
    let mut out = format!("{len} {k}=").into_bytes();
    out.extend_from_slice(v);
    out.push(b'\n');
    out
}

pub(crate) fn file_header(name: &str, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o640);
    h.set_entry_type(EntryType::Regular);
    h
}

/// An old GNU sparse entry ('S') of apparent size `size` with `chunks` (more than four
/// go into extension headers); the data is each chunk's bytes filled with its index.
pub(crate) fn old_gnu_sparse(raw: &mut Raw, name: &str, size: u64, chunks: &[(u64, u64)]) {
    let mut h = Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_mode(0o600);
    h.set_entry_type(EntryType::GNUSparse);
    let stored: u64 = chunks.iter().map(|c| c.1).sum();
    h.set_size(stored);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.set_real_size(size);
    for (i, (o, l)) in chunks.iter().take(4).enumerate() {
        gnu.sparse[i].set_offset(*o);
        gnu.sparse[i].set_length(*l);
    }
    gnu.set_is_extended(chunks.len() > 4);
    raw.header(&mut h);
    let rest: Vec<_> = chunks.iter().skip(4).collect();
    let groups: Vec<_> = rest.chunks(21).collect();
    for (gi, group) in groups.iter().enumerate() {
        let mut ext = GnuExtSparseHeader::new();
        for (i, (o, l)) in group.iter().enumerate() {
            ext.sparse[i].set_offset(*o);
            ext.sparse[i].set_length(*l);
        }
        ext.set_is_extended(gi + 1 < groups.len());
        raw.0.extend_from_slice(ext.as_bytes());
    }
    let mut data = Vec::new();
    for (i, (_, l)) in chunks.iter().enumerate() {
        data.extend(std::iter::repeat_n(i as u8 + 1, *l as usize));
    }
    raw.data(&data);
}

fn read_all(tar: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>> {
    let mut r = TarReader::new(tar);
    let mut out = Vec::new();
    while let Some(e) = r.next_entry()? {
        let mut d = Vec::new();
        r.data().read_to_end(&mut d).unwrap();
        out.push((e, d));
    }
    Ok(out)
}

fn chunks(v: &[(u64, u64)]) -> Vec<Chunk> {
    v.iter()
        .map(|(o, l)| Chunk {
            offset: *o,
            len: *l,
        })
        .collect()
}

#[test]
fn plain_entries_long_names_and_pax_records() {
    let mut raw = Raw::default();
    let long = format!("dir/{}", "n".repeat(200));
    let mut ln = Header::new_gnu();
    ln.set_entry_type(EntryType::GNULongName);
    ln.set_path("././@LongLink").unwrap();
    ln.set_size(long.len() as u64 + 1);
    let mut name = long.clone().into_bytes();
    name.push(0);
    raw.header(&mut ln).data(&name);
    raw.header(&mut file_header("short", 3)).data(b"abc");
    raw.pax(&[
        ("path", "pax/name"),
        ("uid", "123456789"),
        ("mtime", "1700000000.25"),
        ("SCHILY.xattr.user.k", "v\nw"),
    ]);
    raw.header(&mut file_header("ignored", 2)).data(b"hi");
    let all = read_all(&raw.end()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0.path, long.as_bytes());
    assert_eq!(all[0].1, b"abc");
    let e = &all[1].0;
    assert_eq!(e.path, b"pax/name");
    assert_eq!((e.uid, e.mtime), (123456789, 1_700_000_000));
    assert_eq!(e.xattrs, vec![("user.k".to_string(), b"v\nw".to_vec())]);
    assert_eq!(all[1].1, b"hi");
}

#[test]
fn old_gnu_sparse_with_extension_headers() {
    // 30 chunks: 4 in the header, 21 in a first extension header, 5 in a second.
    let mut map: Vec<(u64, u64)> = (0..30).map(|i| (i * (1 << 30), 512)).collect();
    map.last_mut().unwrap().1 = 3; // the last chunk need not fill a block
    let size = 40 << 30;
    let mut raw = Raw::default();
    old_gnu_sparse(&mut raw, "big", size, &map);
    raw.header(&mut file_header("after", 1)).data(b"z");
    let all = read_all(&raw.end()).unwrap();
    let (e, data) = &all[0];
    assert_eq!(e.kind, EntryType::GNUSparse);
    assert_eq!(
        e.sparse,
        Some(SparseMap {
            size,
            chunks: chunks(&map)
        })
    );
    assert_eq!(data.len(), 29 * 512 + 3);
    assert_eq!(data[512], 2);
    assert_eq!(all[1].0.path, b"after");
}

#[test]
fn pax_sparse_0_0_and_0_1() {
    let mut raw = Raw::default();
    raw.pax(&[
        ("GNU.sparse.size", "1048576"),
        ("GNU.sparse.numblocks", "2"),
        ("GNU.sparse.offset", "0"),
        ("GNU.sparse.numbytes", "512"),
        ("GNU.sparse.offset", "1048000"),
        ("GNU.sparse.numbytes", "576"),
    ]);
    raw.header(&mut file_header("v00", 1088)).data(&[7u8; 1088]);
    raw.pax(&[
        ("GNU.sparse.size", "4096"),
        ("GNU.sparse.numblocks", "1"),
        ("GNU.sparse.map", "4000,96"),
        ("GNU.sparse.name", "real/v01"),
    ]);
    raw.header(&mut file_header("./GNUSparseFile.42/v01", 96))
        .data(&[8u8; 96]);
    let all = read_all(&raw.end()).unwrap();
    assert_eq!(
        all[0].0.sparse,
        Some(SparseMap {
            size: 1 << 20,
            chunks: chunks(&[(0, 512), (1048000, 576)])
        })
    );
    assert_eq!(all[1].0.path, b"real/v01");
    assert_eq!(
        all[1].0.sparse,
        Some(SparseMap {
            size: 4096,
            chunks: chunks(&[(4000, 96)])
        })
    );
    assert_eq!(all[1].1, vec![8u8; 96]);
}

#[test]
fn pax_sparse_1_0_has_its_map_in_the_data() {
    let mut raw = Raw::default();
    raw.pax(&[
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", "v10"),
        ("GNU.sparse.realsize", "10737418240"),
    ]);
    let mut body = b"2\n0\n512\n10737418237\n3\n".to_vec();
    body.resize(512, 0);
    body.extend([1u8; 512]);
    body.extend(b"END");
    raw.header(&mut file_header("./GNUSparseFile.7/v10", body.len() as u64))
        .data(&body);
    let all = read_all(&raw.end()).unwrap();
    let (e, data) = &all[0];
    assert_eq!(e.path, b"v10");
    assert_eq!(
        e.sparse,
        Some(SparseMap {
            size: 10 << 30,
            chunks: chunks(&[(0, 512), (10737418237, 3)])
        })
    );
    assert_eq!(e.size, 515);
    assert_eq!(&data[512..], b"END");
}

fn err_of(tar: Vec<u8>) -> Error {
    read_all(&tar).unwrap_err()
}

#[test]
fn unknown_sparse_formats_and_broken_maps_are_refused() {
    let mut raw = Raw::default();
    raw.pax(&[
        ("GNU.sparse.major", "2"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.realsize", "100"),
    ]);
    raw.header(&mut file_header("f", 0));
    let e = err_of(raw.end());
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("2.0") && m.contains("refusing")),
        "{e}"
    );

    let mut raw = Raw::default();
    raw.pax(&[("SCHILY.realsize", "100"), ("SCHILY.sparse", "1")]);
    raw.header(&mut file_header("star", 0));
    assert!(matches!(err_of(raw.end()), Error::Unsupported(m) if m.contains("star")));

    for (map, why) in [
        (vec![(1024, 512), (0, 512)], "out of order"),
        (vec![(0, 100), (512, 412)], "whole number of blocks"),
        (vec![(0, 512), (4096, 512)], "past the end"),
    ] {
        let mut raw = Raw::default();
        old_gnu_sparse(&mut raw, "bad", 4096, &map);
        let e = err_of(raw.end());
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.contains(why) && m.contains("bad")),
            "{why}: {e}"
        );
    }

    // The chunks hold more than the entry does.
    let mut raw = Raw::default();
    raw.pax(&[("GNU.sparse.size", "4096"), ("GNU.sparse.map", "0,1024")]);
    raw.header(&mut file_header("short", 512)).data(&[0; 512]);
    let e = err_of(raw.end());
    assert!(e.to_string().contains("1024 bytes"), "{e}");

    // A 1.0 map that claims more chunks than the data holds.
    let mut raw = Raw::default();
    raw.pax(&[
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.realsize", "100"),
    ]);
    let mut body = b"99\n0\n".to_vec();
    body.resize(512, 0);
    raw.header(&mut file_header("g", 512)).data(&body);
    let e = err_of(raw.end());
    assert!(e.to_string().contains("runs past"), "{e}");
}

#[test]
fn metadata_is_bounded_and_headers_are_checked() {
    let mut raw = Raw::default();
    let big = "x".repeat(MAX_METADATA as usize);
    raw.pax(&[("comment", &big)]);
    raw.header(&mut file_header("f", 0));
    let e = err_of(raw.end());
    assert!(e.to_string().contains("MiB of names"), "{e}");

    let mut raw = Raw::default();
    raw.header(&mut file_header("f", 0));
    let mut tar = raw.end();
    tar[0] ^= 1;
    assert!(err_of(tar).to_string().contains("checksum"));

    // A stream that stops inside an entry.
    let mut raw = Raw::default();
    raw.header(&mut file_header("f", 1000)).data(&[1; 1000]);
    let tar = raw.0[..700].to_vec();
    let mut r = TarReader::new(&tar[..]);
    r.next_entry().unwrap().unwrap();
    let mut d = Vec::new();
    assert_eq!(
        r.data().read_to_end(&mut d).unwrap_err().kind(),
        std::io::ErrorKind::UnexpectedEof
    );
}
