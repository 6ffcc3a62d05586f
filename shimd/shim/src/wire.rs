//! The shim protocol's framing: a 4-byte big-endian length, then the prost encoding.

use prost::Message;

/// Larger frames are refused: no request or output chunk comes near this.
pub const MAX_FRAME: usize = 4 << 20;

/// Appends `m` as one frame to `out`.
pub fn put<M: Message>(m: &M, out: &mut Vec<u8>) {
    let len = m.encoded_len();
    out.reserve(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    // Encoding into a Vec cannot run out of room.
    let _ = m.encode(out);
}

/// Takes the first complete frame's payload off `buf`, if there is one.
pub fn take(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(format!(
            "frame of {len} bytes is larger than the limit of {MAX_FRAME}"
        ));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let payload = buf[4..4 + len].to_vec();
    buf.drain(..4 + len);
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_proto::shim::{shim_request, ProcessRef, ShimRequest};

    #[test]
    fn round_trips_and_waits_for_whole_frames() {
        let req = ShimRequest {
            kind: Some(shim_request::Kind::Wait(ProcessRef {
                exec_id: "e1".into(),
            })),
        };
        let mut buf = Vec::new();
        put(&req, &mut buf);
        put(&req, &mut buf);
        let mut partial = buf[..3].to_vec();
        assert_eq!(take(&mut partial).unwrap(), None);
        let first = take(&mut buf).unwrap().unwrap();
        assert_eq!(ShimRequest::decode(first.as_slice()).unwrap(), req);
        assert!(take(&mut buf).unwrap().is_some());
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_huge_frames() {
        let mut buf = vec![0xff, 0xff, 0xff, 0xff];
        assert!(take(&mut buf).is_err());
    }
}
