//! The multiplexed stream framing of attach, logs and exec when no tty is allocated:
//! each frame is an 8-byte header `[stream, 0, 0, 0, len as big-endian u32]` then `len`
//! bytes of payload. Stream 0 is stdin, 1 stdout, 2 stderr; 3 carries a system error.

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const SYSTEM_ERR: u8 = 3;

/// The header of a frame of `len` bytes on `stream`.
pub fn header(stream: u8, len: usize) -> [u8; 8] {
    let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

/// One whole frame (header and payload).
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&header(stream, data.len()));
    v.extend_from_slice(data);
    v
}

/// Incremental decoder of a multiplexed stream: feed bytes, take whole frames.
#[derive(Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame `(stream, payload)`, if one is buffered.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let stream = self.buf[0];
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Some((stream, payload))
    }

    /// Bytes buffered that do not yet form a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut bytes = frame(STDOUT, b"hello\n");
        bytes.extend(frame(STDERR, b"oops"));
        assert_eq!(&bytes[..8], &[1, 0, 0, 0, 0, 0, 0, 6]);
        let mut d = Demux::default();
        for b in bytes.chunks(3) {
            d.push(b);
        }
        assert_eq!(d.next_frame(), Some((STDOUT, b"hello\n".to_vec())));
        assert_eq!(d.next_frame(), Some((STDERR, b"oops".to_vec())));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.pending(), 0);
    }
}
