//! Packing local files as the tar stream `cp` sends into a container.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// A writer that counts the bytes (for the summary line).
pub(super) struct CountingWriter<W> {
    pub(super) inner: W,
    pub(super) n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Adds `path` (recursively) under the archive name `name`. Symlinks stay links except a
/// top-level one with -L. Owners become root unless `keep_owner` (-a).
pub(crate) fn add_path<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    keep_owner: bool,
    follow_top: bool,
) -> io::Result<()> {
    let meta = if follow_top {
        fs::metadata(path)?
    } else {
        fs::symlink_metadata(path)?
    };
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if !keep_owner {
        header.set_uid(0);
        header.set_gid(0);
        let _ = header.set_username("");
        let _ = header.set_groupname("");
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        if !name.as_os_str().is_empty() {
            header.set_size(0);
            b.append_data(&mut header, name, io::empty())?;
        }
        let mut children: Vec<_> = fs::read_dir(path)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            add_path(
                b,
                &child.path(),
                &name.join(child.file_name()),
                keep_owner,
                false,
            )?;
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path)?;
        header.set_size(0);
        b.append_link(&mut header, name, target)?;
    } else if ft.is_file() {
        let f = fs::File::open(path)?;
        b.append_data(&mut header, name, f)?;
    } else {
        // Devices, fifos and sockets keep their header only.
        header.set_size(0);
        b.append_data(&mut header, name, io::empty())?;
    }
    Ok(())
}
