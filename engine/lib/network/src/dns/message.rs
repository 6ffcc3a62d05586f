//! The small part of the DNS wire format (RFC 1035) the embedded server needs: read the
//! question of a query, write an answer with A or PTR records or an error code. Queries for
//! names the engine does not know are forwarded as raw bytes and never parsed beyond the
//! question, so this stays small; every read is bounds-checked and a malformed query is
//! answered with FORMERR or dropped, never trusted.

use std::net::Ipv4Addr;

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const CLASS_IN: u16 = 1;

const HEADER_LEN: usize = 12;
const MAX_NAME_LEN: usize = 255;
/// The largest UDP answer without EDNS.
pub const MAX_UDP_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// The question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// The header's flags word as received (opcode, RD, ...).
    pub flags: u16,
    /// The labels as received (their case is echoed back: resolvers may check it).
    pub labels: Vec<Vec<u8>>,
    pub qtype: u16,
    pub qclass: u16,
}

impl Query {
    /// The name in lower case, without the trailing dot (`""` for the root).
    pub fn name(&self) -> String {
        self.labels
            .iter()
            .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(".")
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
}

/// Why a message is not a query this server can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not even a header: drop it.
    TooShort,
    /// A response, not a query: drop it.
    NotAQuery,
    /// Answer with this code (FORMERR or NOTIMP), echoing the id.
    Reply(u16, Rcode),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Reads the header and the single question of a query.
pub fn parse_query(b: &[u8]) -> Result<Query, ParseError> {
    if b.len() < HEADER_LEN {
        return Err(ParseError::TooShort);
    }
    let id = u16_at(b, 0).unwrap();
    let flags = u16_at(b, 2).unwrap();
    if flags & 0x8000 != 0 {
        return Err(ParseError::NotAQuery);
    }
    if (flags >> 11) & 0xf != 0 {
        return Err(ParseError::Reply(id, Rcode::NotImp));
    }
    if u16_at(b, 4).unwrap() != 1 {
        return Err(ParseError::Reply(id, Rcode::FormErr));
    }
    let formerr = ParseError::Reply(id, Rcode::FormErr);
    let (labels, end) = read_name(b, HEADER_LEN).ok_or(formerr.clone())?;
    let qtype = u16_at(b, end).ok_or(formerr.clone())?;
    let qclass = u16_at(b, end + 2).ok_or(formerr)?;
    Ok(Query {
        id,
        flags,
        labels,
        qtype,
        qclass,
    })
}

/// Reads a possibly compressed name at `at`; returns its labels and the offset after it.
fn read_name(b: &[u8], mut at: usize) -> Option<(Vec<Vec<u8>>, usize)> {
    let mut labels = Vec::new();
    let mut total = 0usize;
    let mut end = None;
    // Each pointer must go backwards, so a loop is impossible; the count is a second guard.
    let mut jumps = 0;
    loop {
        let len = *b.get(at)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Some((labels, end.unwrap_or(at + 1)));
                }
                let label = b.get(at + 1..at + 1 + len)?;
                total += len + 1;
                if total > MAX_NAME_LEN {
                    return None;
                }
                labels.push(label.to_vec());
                at += 1 + len;
            }
            0xc0 => {
                let target = (u16_at(b, at)? & 0x3fff) as usize;
                jumps += 1;
                if target >= at || jumps > 64 {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return None,
        }
    }
}

fn write_name(out: &mut Vec<u8>, labels: &[Vec<u8>]) {
    for l in labels {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

/// Splits a dotted name into wire labels; `None` if a label or the name is too long.
pub fn labels_of(name: &str) -> Option<Vec<Vec<u8>>> {
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return Some(Vec::new());
    }
    let labels: Vec<Vec<u8>> = name.split('.').map(|l| l.as_bytes().to_vec()).collect();
    let total: usize = labels.iter().map(|l| l.len() + 1).sum();
    if labels.iter().any(|l| l.is_empty() || l.len() > 63) || total > MAX_NAME_LEN {
        return None;
    }
    Some(labels)
}

/// An answer record, always for the question's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    A(Ipv4Addr),
    Ptr(String),
}

/// Builds the response to `q`. Records that would make the message longer than `max_len`
/// are left out and the TC bit tells the client to ask again over TCP.
pub fn response(q: &Query, rcode: Rcode, records: &[Record], ttl: u32, max_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, the query's opcode and RD, RA set, the code.
    let flags = 0x8000 | (q.flags & 0x7900) | 0x0080 | rcode as u16;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // answer count, patched below
    out.extend_from_slice(&[0, 0, 0, 0]);
    write_name(&mut out, &q.labels);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
    let mut count: u16 = 0;
    let mut truncated = false;
    for r in records {
        let mut rr = Vec::with_capacity(32);
        rr.extend_from_slice(&[0xc0, HEADER_LEN as u8]); // the question's name
        let (ty, data) = match r {
            Record::A(ip) => (TYPE_A, ip.octets().to_vec()),
            Record::Ptr(name) => {
                let Some(labels) = labels_of(name) else {
                    continue;
                };
                let mut d = Vec::new();
                write_name(&mut d, &labels);
                (TYPE_PTR, d)
            }
        };
        rr.extend_from_slice(&ty.to_be_bytes());
        rr.extend_from_slice(&CLASS_IN.to_be_bytes());
        rr.extend_from_slice(&ttl.to_be_bytes());
        rr.extend_from_slice(&(data.len() as u16).to_be_bytes());
        rr.extend_from_slice(&data);
        if out.len() + rr.len() > max_len {
            truncated = true;
            break;
        }
        out.extend_from_slice(&rr);
        count += 1;
    }
    out[6..8].copy_from_slice(&count.to_be_bytes());
    if truncated {
        out[2] |= 0x02;
    }
    out
}

/// A bare error answer (header only) to a message whose question could not be read.
pub fn error_response(id: u16, rcode: Rcode) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    out[0..2].copy_from_slice(&id.to_be_bytes());
    out[2] = 0x80;
    out[3] = 0x80 | rcode as u8;
    out
}

/// Builds a query (used to test the server and by tests of forwarding).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    write_name(&mut out, &labels_of(name).unwrap_or_default());
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The parts of an answer a client looks at: id, code, TC bit and the A/PTR records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub id: u16,
    pub rcode: u8,
    pub truncated: bool,
    pub records: Vec<Record>,
}

/// Reads an answer (used by tests and diagnostics; records other than A and PTR are skipped).
pub fn parse_answer(b: &[u8]) -> Option<Answer> {
    let id = u16_at(b, 0)?;
    let flags = u16_at(b, 2)?;
    if flags & 0x8000 == 0 {
        return None;
    }
    let qd = u16_at(b, 4)?;
    let an = u16_at(b, 6)?;
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        let (_, end) = read_name(b, at)?;
        at = end + 4;
    }
    let mut records = Vec::new();
    for _ in 0..an {
        let (_, end) = read_name(b, at)?;
        let ty = u16_at(b, end)?;
        let len = u16_at(b, end + 8)? as usize;
        let data_at = end + 10;
        let data = b.get(data_at..data_at + len)?;
        match ty {
            TYPE_A if len == 4 => {
                records.push(Record::A(Ipv4Addr::new(data[0], data[1], data[2], data[3])))
            }
            TYPE_PTR => {
                let (labels, _) = read_name(b, data_at)?;
                let name = labels
                    .iter()
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .collect::<Vec<_>>()
                    .join(".");
                records.push(Record::Ptr(name));
            }
            _ => {}
        }
        at = data_at + len;
    }
    Some(Answer {
        id,
        rcode: (flags & 0xf) as u8,
        truncated: flags & 0x0200 != 0,
        records,
    })
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa`) stands for.
pub fn ptr_address(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let parts: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse::<u8>().ok())
        .collect::<Option<Vec<_>>>()?;
    if parts.len() != 4 {
        return None;
    }
    Some(Ipv4Addr::new(parts[3], parts[2], parts[1], parts[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_a_query_and_answer() {
        let q = build_query(0x1234, "Srv.Example", TYPE_A);
        let parsed = parse_query(&q).unwrap();
        assert_eq!(parsed.id, 0x1234);
        assert_eq!(parsed.name(), "srv.example");
        assert_eq!(parsed.qtype, TYPE_A);
        let ips = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
        let recs: Vec<Record> = ips.iter().map(|i| Record::A(*i)).collect();
        let r = response(&parsed, Rcode::NoError, &recs, 600, MAX_UDP_LEN);
        // The question's case is echoed.
        assert!(r.windows(3).any(|w| w == b"Srv"));
        let a = parse_answer(&r).unwrap();
        assert_eq!((a.id, a.rcode, a.truncated), (0x1234, 0, false));
        assert_eq!(a.records, recs);
    }

    #[test]
    fn ptr_answers() {
        let q = parse_query(&build_query(7, "2.0.197.10.in-addr.arpa", TYPE_PTR)).unwrap();
        assert_eq!(ptr_address(&q.name()), Some(Ipv4Addr::new(10, 197, 0, 2)));
        let r = response(
            &q,
            Rcode::NoError,
            &[Record::Ptr("srv.net".into())],
            600,
            MAX_UDP_LEN,
        );
        assert_eq!(
            parse_answer(&r).unwrap().records,
            vec![Record::Ptr("srv.net".into())]
        );
        assert_eq!(ptr_address("1.2.3.in-addr.arpa"), None);
        assert_eq!(ptr_address("x.1.2.3.in-addr.arpa"), None);
    }

    #[test]
    fn long_answers_are_truncated_for_udp() {
        let q = parse_query(&build_query(1, "many", TYPE_A)).unwrap();
        let recs: Vec<Record> = (0..100)
            .map(|i| Record::A(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let r = response(&q, Rcode::NoError, &recs, 600, MAX_UDP_LEN);
        assert!(r.len() <= MAX_UDP_LEN);
        let a = parse_answer(&r).unwrap();
        assert!(a.truncated && !a.records.is_empty() && a.records.len() < 100);
        let r = response(&q, Rcode::NoError, &recs, 600, 65535);
        assert_eq!(parse_answer(&r).unwrap().records.len(), 100);
    }

    #[test]
    fn malformed_queries_are_refused_not_trusted() {
        assert_eq!(parse_query(&[0; 5]), Err(ParseError::TooShort));
        let mut q = build_query(9, "a.b", TYPE_A);
        q[2] |= 0x80;
        assert_eq!(parse_query(&q), Err(ParseError::NotAQuery));
        let mut q = build_query(9, "a.b", TYPE_A);
        q[2] |= 0x10; // opcode 2 (status)
        assert_eq!(parse_query(&q), Err(ParseError::Reply(9, Rcode::NotImp)));
        let mut q = build_query(9, "a.b", TYPE_A);
        q[5] = 2; // two questions
        assert_eq!(parse_query(&q), Err(ParseError::Reply(9, Rcode::FormErr)));
        // A label running past the end, a pointer loop, a pointer forward, reserved bits.
        for tail in [&[5u8, b'a'][..], &[0xc0, 12], &[0xc0, 40], &[0x80, 1]] {
            let mut q = build_query(9, "", TYPE_A)[..12].to_vec();
            q.extend_from_slice(tail);
            q.extend_from_slice(&[0, 1, 0, 1]);
            assert_eq!(
                parse_query(&q),
                Err(ParseError::Reply(9, Rcode::FormErr)),
                "{tail:?}"
            );
        }
        // A name longer than 255 bytes.
        let mut q = build_query(9, "", TYPE_A)[..12].to_vec();
        for _ in 0..5 {
            q.push(63);
            q.extend_from_slice(&[b'x'; 63]);
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse_query(&q), Err(ParseError::Reply(9, Rcode::FormErr)));
        // The question ends before its type and class.
        let q = build_query(9, "a", TYPE_A);
        assert_eq!(
            parse_query(&q[..q.len() - 2]),
            Err(ParseError::Reply(9, Rcode::FormErr))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x2545f4914f6cdd1du64;
        for _ in 0..20000 {
            let len = (seed % 80) as usize;
            let mut b = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b.push(seed as u8);
            }
            if b.len() > 5 {
                b[4] = 0;
                b[5] = 1;
            }
            let _ = parse_query(&b);
            let _ = parse_answer(&b);
        }
    }
}
