//! `remote=`: a build context fetched by berthd from a URL instead of the request body.
//! As dockerd: what the URL serves is either a context archive (a tar, plain or
//! compressed) or, when it is text, a Dockerfile alone, which becomes a context holding
//! just that file under the Dockerfile name of the build. Only `http://` URLs are
//! fetched (no git repositories, no HTTPS).

use std::io::{BufRead, BufReader, Read};

use super::compress::{self, Compression};
use crate::error::{Error, Result};

/// The offset and text of the magic a tar header carries (`ustar`).
const TAR_MAGIC: (usize, &[u8]) = (257, b"ustar");

/// Whether the start of a download is an archive (compressed, or a tar header).
fn is_archive(head: &[u8]) -> bool {
    if compress::detect(head) != Compression::None {
        return true;
    }
    let (at, magic) = TAR_MAGIC;
    head.get(at..at + magic.len()) == Some(magic)
}

/// A refusal of URLs that are not fetched, saying what to do instead.
pub fn check_url(url: &str) -> Result<()> {
    if url.starts_with("http://") {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "cannot build from remote {url:?}: only http:// URLs of a context archive or a Dockerfile are supported (clone a git repository and send it as the context)"
    )))
}

/// The download as a context archive: as it is, or a Dockerfile put in a tar as
/// `dockerfile` (a path in the context). Blocking.
pub fn as_context<R: Read + Send + 'static>(
    input: R,
    dockerfile: &str,
) -> Result<Box<dyn Read + Send>> {
    let mut r = BufReader::with_capacity(1024, input);
    let head = r
        .fill_buf()
        .map_err(|e| Error::invalid(format!("reading the remote build context: {e}")))?;
    if is_archive(head) {
        return Ok(Box::new(r));
    }
    let mut text = Vec::new();
    r.read_to_end(&mut text)
        .map_err(|e| Error::invalid(format!("reading the remote Dockerfile: {e}")))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(text.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, dockerfile.trim_start_matches('/'), text.as_slice())
        .map_err(|e| Error::internal(format!("making the context of a Dockerfile: {e}")))?;
    let tar = b
        .into_inner()
        .map_err(|e| Error::internal(format!("making the context of a Dockerfile: {e}")))?;
    Ok(Box::new(std::io::Cursor::new(tar)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(mut r: Box<dyn Read + Send>) -> Vec<(String, Vec<u8>)> {
        let mut ar = tar::Archive::new(&mut r);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (e.path().unwrap().display().to_string(), data)
            })
            .collect()
    }

    #[test]
    fn a_text_download_is_a_dockerfile_and_a_tar_stays_a_tar() {
        let df = b"FROM busybox\nRUN true\n".to_vec();
        let got = names(as_context(std::io::Cursor::new(df.clone()), "Dockerfile").unwrap());
        assert_eq!(got, [("Dockerfile".to_string(), df.clone())]);

        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "a.txt", &b"abc"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let got = names(as_context(std::io::Cursor::new(tar), "Dockerfile").unwrap());
        assert_eq!(got, [("a.txt".to_string(), b"abc".to_vec())]);
        assert!(is_archive(&[0x1f, 0x8b, 0]));
    }

    #[test]
    fn only_http_urls_are_fetched() {
        assert!(check_url("http://127.0.0.1:8/ctx.tar").is_ok());
        let e = check_url("git://example.invalid/repo.git").unwrap_err();
        assert!(e.message.contains("only http://"), "{}", e.message);
    }
}
