//! The in-root rules, each case run through openat2 (`kernel`) and the userspace walk
//! (`walk`): the two must give the same answers. No case needs privileges.

use super::*;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{symlink, PermissionsExt};

/// A test case run once per resolver, as `<name>::kernel` and `<name>::walk`.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn kernel() {
                let f: fn(Resolver) = $body;
                f(Resolver::Kernel)
            }
            #[test]
            fn walk() {
                let f: fn(Resolver) = $body;
                f(Resolver::Walk)
            }
        }
    };
}

/// A temporary directory holding `root/` (the root) and a `secret` beside it.
struct Tree {
    dir: tempfile::TempDir,
    root: PathBuf,
    fd: OwnedFd,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::Builder::new()
            .prefix("berth-fs-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside").unwrap();
        std::fs::write(dir.path().join("secret"), "outside").unwrap();
        let fd = open_root(&root).unwrap();
        Tree { dir, root, fd }
    }
    fn r(&self, res: Resolver) -> InRoot<'_> {
        InRoot::with(self.fd.as_fd(), res)
    }
    fn link(&self, target: impl AsRef<Path>, at: &str) {
        let at = self.root.join(at);
        if let Some(p) = at.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        symlink(target, at).unwrap();
    }
    fn write(&self, at: &str, text: &str) {
        let at = self.root.join(at);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }
}

/// The text of the file `path` inside the root, or the errno of the failure.
fn read(r: InRoot, path: impl AsRef<Path>) -> Result<String, i32> {
    let fd = r
        .open(path.as_ref(), libc::O_RDONLY, 0)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let mut s = String::new();
    File::from(fd).read_to_string(&mut s).unwrap();
    Ok(s)
}

fn errno(r: io::Result<OwnedFd>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

fn ftype(fd: &OwnedFd) -> libc::mode_t {
    sys::file_type(&sys::fstat(fd.as_fd()).unwrap())
}

fn same_inode(a: &OwnedFd, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let st = sys::fstat(a.as_fd()).unwrap();
    let m = std::fs::symlink_metadata(b).unwrap();
    st.st_ino == m.ino() && st.st_dev == m.dev()
}

both!(plain_paths_open, |res| {
    let t = Tree::new();
    let r = t.r(res);
    assert_eq!(read(r, "/etc/passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "etc/passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "/etc/./passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "//etc//passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "/etc/missing"), Err(libc::ENOENT));
    assert_eq!(read(r, "/missing/passwd"), Err(libc::ENOENT));
});

both!(the_root_itself, |res| {
    let t = Tree::new();
    let r = t.r(res);
    for p in [
        "",
        "/",
        ".",
        "..",
        "/..",
        "/../..",
        "etc/..",
        "etc/../../..",
    ] {
        let fd = r.resolve_dir(Path::new(p)).unwrap();
        assert!(same_inode(&fd, &t.root), "{p:?} is not the root");
    }
    // Opened for reading too: a directory descriptor usable for listing.
    let fd = r
        .open(Path::new("/"), libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .unwrap();
    assert!(same_inode(&fd, &t.root));
});

both!(dotdot_beyond_the_root_is_clamped, |res| {
    let t = Tree::new();
    let r = t.r(res);
    assert_eq!(read(r, "../secret"), Err(libc::ENOENT));
    assert_eq!(read(r, "/../../../../secret"), Err(libc::ENOENT));
    assert_eq!(read(r, "../../etc/passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "etc/../../../etc/passwd").as_deref(), Ok("inside"));
    // Beside the root, a "secret" the root also has: the root's is found.
    t.write("secret", "root's own");
    assert_eq!(read(r, "../secret").as_deref(), Ok("root's own"));
});

both!(absolute_symlinks_resolve_inside, |res| {
    let t = Tree::new();
    t.link("/etc/passwd", "abs");
    t.link("/../../secret", "abs-up");
    // The host path of the outside file: inside the root it names nothing.
    t.link(t.dir.path().join("secret"), "abs-host");
    t.link("/", "slash");
    let r = t.r(res);
    assert_eq!(read(r, "/abs").as_deref(), Ok("inside"));
    assert_eq!(read(r, "/abs-up"), Err(libc::ENOENT));
    assert_eq!(read(r, "/abs-host"), Err(libc::ENOENT));
    assert_eq!(read(r, "/slash/etc/passwd").as_deref(), Ok("inside"));
    assert_eq!(
        read(r, "/slash/../slash/../etc/passwd").as_deref(),
        Ok("inside")
    );
    let fd = r.resolve_dir(Path::new("/slash")).unwrap();
    assert!(same_inode(&fd, &t.root));
});

both!(relative_symlinks_climbing_out_stop_at_the_root, |res| {
    let t = Tree::new();
    t.link("../../../../../secret", "etc/rel");
    t.link("../../../..", "a/b/up");
    t.link("../passwd", "etc/sub/back");
    let r = t.r(res);
    assert_eq!(read(r, "/etc/rel"), Err(libc::ENOENT));
    assert_eq!(read(r, "/a/b/up/secret"), Err(libc::ENOENT));
    assert_eq!(read(r, "/a/b/up/etc/passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "/etc/sub/back").as_deref(), Ok("inside"));
    let fd = r.resolve_dir(Path::new("a/b/up")).unwrap();
    assert!(same_inode(&fd, &t.root));
});

both!(symlink_loops_are_eloop, |res| {
    let t = Tree::new();
    t.link("b", "a");
    t.link("a", "b");
    t.link("self", "self");
    t.link("/loop/x", "loop");
    t.link("d/..", "d");
    let r = t.r(res);
    assert_eq!(errno(r.resolve(Path::new("a"))), libc::ELOOP);
    assert_eq!(errno(r.resolve(Path::new("/self"))), libc::ELOOP);
    assert_eq!(errno(r.resolve(Path::new("/loop"))), libc::ELOOP);
    assert_eq!(errno(r.resolve(Path::new("/a/x"))), libc::ELOOP);
    assert_eq!(
        errno(r.open(Path::new("a"), libc::O_RDONLY, 0)),
        libc::ELOOP
    );
    assert_eq!(errno(r.resolve(Path::new("d"))), libc::ELOOP);
});

both!(forty_symlinks_are_followed_not_forty_one, |res| {
    let t = Tree::new();
    // l0 -> l1 -> ... -> l39 -> etc/passwd is 40 links; m0 ... m40 is 41.
    for i in 0..40 {
        let to = if i == 39 {
            "etc/passwd".to_string()
        } else {
            format!("l{}", i + 1)
        };
        t.link(to, &format!("l{i}"));
    }
    for i in 0..41 {
        let to = if i == 40 {
            "etc/passwd".to_string()
        } else {
            format!("m{}", i + 1)
        };
        t.link(to, &format!("m{i}"));
    }
    let r = t.r(res);
    assert_eq!(read(r, "l0").as_deref(), Ok("inside"));
    assert_eq!(read(r, "m0"), Err(libc::ELOOP));
});

both!(a_file_where_a_directory_is_expected, |res| {
    let t = Tree::new();
    t.link("/etc/passwd", "to-file");
    let r = t.r(res);
    assert_eq!(errno(r.resolve(Path::new("/etc/passwd/x"))), libc::ENOTDIR);
    assert_eq!(errno(r.resolve(Path::new("/etc/passwd/"))), libc::ENOTDIR);
    assert_eq!(errno(r.resolve(Path::new("/etc/passwd/.."))), libc::ENOTDIR);
    assert_eq!(
        errno(r.resolve_dir(Path::new("/etc/passwd"))),
        libc::ENOTDIR
    );
    assert_eq!(errno(r.resolve(Path::new("/to-file/x"))), libc::ENOTDIR);
    assert_eq!(errno(r.resolve_dir(Path::new("/to-file"))), libc::ENOTDIR);
    assert_eq!(
        errno(r.open(
            Path::new("/etc/passwd/x"),
            libc::O_CREAT | libc::O_WRONLY,
            0o644
        )),
        libc::ENOTDIR
    );
    assert_eq!(
        errno(r.mkdir_all(Path::new("/etc/passwd/x"), 0o755)),
        libc::ENOTDIR
    );
    assert_eq!(
        errno(r.mkdir_all(Path::new("/etc/passwd"), 0o755)),
        libc::ENOTDIR
    );
});

both!(a_symlink_in_the_middle_to_a_directory, |res| {
    let t = Tree::new();
    t.link("etc", "e");
    t.link("/etc/", "abs-e");
    let r = t.r(res);
    assert_eq!(read(r, "/e/passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "/abs-e/passwd").as_deref(), Ok("inside"));
    assert_eq!(read(r, "/e/../e/passwd").as_deref(), Ok("inside"));
    // ".." after a symlink is the parent of its target, not of the link.
    t.write("x/y/file", "deep");
    t.link("/x/y", "a/jump");
    assert_eq!(read(r, "/a/jump/../y/file").as_deref(), Ok("deep"));
});

both!(the_last_symlink_not_followed_when_asked, |res| {
    let t = Tree::new();
    t.link("/etc/passwd", "link");
    t.link("/etc", "dirlink");
    let r = t.r(res);
    let fd = r
        .open(Path::new("/link"), libc::O_PATH | libc::O_NOFOLLOW, 0)
        .unwrap();
    assert_eq!(ftype(&fd), libc::S_IFLNK);
    assert_eq!(
        errno(r.open(Path::new("/link"), libc::O_RDONLY | libc::O_NOFOLLOW, 0)),
        libc::ELOOP
    );
    // Followed without O_NOFOLLOW, and before a trailing slash even with it.
    assert_eq!(
        ftype(&r.resolve(Path::new("/link")).unwrap()),
        libc::S_IFREG
    );
    let fd = r
        .open(Path::new("/dirlink/"), libc::O_PATH | libc::O_NOFOLLOW, 0)
        .unwrap();
    assert_eq!(ftype(&fd), libc::S_IFDIR);
    // Only the last one: a symlink in the middle is always followed.
    assert_eq!(
        ftype(
            &r.open(
                Path::new("/dirlink/passwd"),
                libc::O_PATH | libc::O_NOFOLLOW,
                0
            )
            .unwrap()
        ),
        libc::S_IFREG
    );
});

both!(creating_through_symlinks_stays_inside, |res| {
    let t = Tree::new();
    t.link("/new-abs", "dangling-abs");
    t.link("../../../new-rel", "etc/dangling-rel");
    let r = t.r(res);
    let c = libc::O_CREAT | libc::O_WRONLY;
    r.open(Path::new("/dangling-abs"), c, 0o600).unwrap();
    r.open(Path::new("/etc/dangling-rel"), c, 0o600).unwrap();
    assert!(t.root.join("new-abs").is_file());
    assert!(t.root.join("new-rel").is_file());
    assert!(!t.dir.path().join("new-abs").exists() && !t.dir.path().join("new-rel").exists());
    let mode = std::fs::metadata(t.root.join("new-abs"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // O_EXCL: an existing file, and any symlink (even dangling), is EEXIST.
    let x = c | libc::O_EXCL;
    assert_eq!(
        errno(r.open(Path::new("/etc/passwd"), x, 0o600)),
        libc::EEXIST
    );
    t.link("/nothing-there", "dangling2");
    assert_eq!(
        errno(r.open(Path::new("/dangling2"), x, 0o600)),
        libc::EEXIST
    );
    assert!(!t.root.join("nothing-there").exists());
    assert_eq!(errno(r.open(Path::new("/etc"), c, 0o600)), libc::EISDIR);
    assert_eq!(
        errno(r.open(Path::new("/missing/f"), c, 0o600)),
        libc::ENOENT
    );
});

both!(non_utf8_names, |res| {
    let t = Tree::new();
    let name = OsString::from_vec(b"caf\xe9-\xff\xfe".to_vec());
    let dir = t.root.join(&name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), "latin1").unwrap();
    // A symlink whose target is not UTF-8 either.
    let mut target = b"/".to_vec();
    target.extend_from_slice(name.as_encoded_bytes());
    target.extend_from_slice(b"/f");
    symlink(OsString::from_vec(target), t.root.join("l")).unwrap();
    let r = t.r(res);
    assert_eq!(
        read(r, Path::new("/").join(&name).join("f")).as_deref(),
        Ok("latin1")
    );
    assert_eq!(read(r, "/l").as_deref(), Ok("latin1"));
    let made = Path::new("/")
        .join(&name)
        .join(OsString::from_vec(b"\x80new".to_vec()));
    r.mkdir_all(&made, 0o755).unwrap();
    assert!(dir.join(OsString::from_vec(b"\x80new".to_vec())).is_dir());
});

both!(a_nul_byte_is_einval, |res| {
    let t = Tree::new();
    let r = t.r(res);
    let p = PathBuf::from(OsString::from_vec(b"etc/pa\0sswd".to_vec()));
    assert_eq!(errno(r.resolve(&p)), libc::EINVAL);
});

both!(an_empty_symlink_is_enoent, |res| {
    let t = Tree::new();
    let r = t.r(res);
    // An empty target cannot be made by symlink(2); a link to "" is refused when made,
    // so check the nearest: a link to a name that is not there.
    t.link("nowhere", "dangling");
    assert_eq!(errno(r.resolve(Path::new("dangling"))), libc::ENOENT);
    assert_eq!(errno(r.resolve(Path::new("dangling/x"))), libc::ENOENT);
});

/// A tree deeper than PATH_MAX: `depth` directories of 100-byte names, a file at the end.
fn deep_tree(t: &Tree, depth: usize) -> PathBuf {
    let name = "d".repeat(100);
    let mut dir = open_root(&t.root).unwrap();
    let mut rel = PathBuf::from("/");
    for _ in 0..depth {
        sys::mkdir_at(dir.as_fd(), OsStr::new(&name), 0o755).unwrap();
        dir = sys::openat(
            dir.as_fd(),
            OsStr::new(&name),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .unwrap();
        rel.push(&name);
    }
    let f = sys::openat(
        dir.as_fd(),
        OsStr::new("f"),
        libc::O_CREAT | libc::O_WRONLY,
        0o644,
    )
    .unwrap();
    std::io::Write::write_all(&mut File::from(f), b"deep").unwrap();
    rel
}

both!(paths_longer_than_path_max, |res| {
    let t = Tree::new();
    let deep = deep_tree(&t, 60);
    assert!(deep.as_os_str().len() > libc::PATH_MAX as usize);
    let r = t.r(res);
    assert_eq!(read(r, deep.join("f")).as_deref(), Ok("deep"));
    // Climbing out of it all: ".." as many times as it is deep, and more, is the root.
    let mut up = deep.clone();
    for _ in 0..70 {
        up.push("..");
    }
    assert_eq!(read(r, up.join("etc/passwd")).as_deref(), Ok("inside"));
    assert_eq!(read(r, up.join("../secret")), Err(libc::ENOENT));
    // A symlink at the bottom back to the top.
    let bottom = r.resolve_dir(&deep).unwrap();
    let (to, at) = (
        sys::cstr(OsStr::new("/etc")).unwrap(),
        sys::cstr(OsStr::new("top")).unwrap(),
    );
    // SAFETY: symlinkat(2) reads two NUL-terminated strings that outlive the call and
    // takes a descriptor `bottom` keeps open.
    let made = unsafe { libc::symlinkat(to.as_ptr(), bottom.as_raw_fd(), at.as_ptr()) };
    assert_eq!(made, 0);
    assert_eq!(read(r, deep.join("top/passwd")).as_deref(), Ok("inside"));
    // mkdir -p of a long path.
    let made = deep.join("new/er");
    r.mkdir_all(&made, 0o755).unwrap();
    assert_eq!(ftype(&r.resolve(&made).unwrap()), libc::S_IFDIR);
});

both!(deep_trees_many_components, |res| {
    let t = Tree::new();
    // 1000 one-letter levels: more descriptors than a walk could hold open at once.
    let mut rel = PathBuf::from("/");
    for _ in 0..1000 {
        rel.push("a");
    }
    let r = t.r(res);
    r.mkdir_all(&rel, 0o755).unwrap();
    let f = r
        .open(&rel.join("f"), libc::O_CREAT | libc::O_WRONLY, 0o644)
        .unwrap();
    std::io::Write::write_all(&mut File::from(f), b"bottom").unwrap();
    assert_eq!(read(r, rel.join("f")).as_deref(), Ok("bottom"));
    assert_eq!(read(r, rel.join("../a/f")).as_deref(), Ok("bottom"));
});

both!(magic_links_are_refused, |res| {
    // The host's / as the root: /proc is procfs, whose per-process links are magic.
    let root = open_root(Path::new("/")).unwrap();
    let r = InRoot::with(root.as_fd(), res);
    let (rd, _wr) = std::io::pipe().unwrap();
    let fd = format!("/proc/self/fd/{}", rd.as_raw_fd());
    assert_eq!(
        errno(r.open(Path::new(&fd), libc::O_RDONLY, 0)),
        libc::ELOOP
    );
    assert_eq!(
        errno(r.resolve(Path::new("/proc/self/root/etc"))),
        libc::ELOOP
    );
    assert_eq!(errno(r.resolve(Path::new("/proc/self/cwd"))), libc::ELOOP);
    // procfs's plain symlinks are fine.
    assert_eq!(
        ftype(&r.resolve(Path::new("/proc/self/status")).unwrap()),
        libc::S_IFREG
    );
    assert_eq!(
        ftype(&r.resolve(Path::new("/proc/mounts")).unwrap()),
        libc::S_IFREG
    );
});

both!(races_never_escape, |res| {
    // A thread flips a symlink between a directory inside and a climb out, as fast as it
    // can, while lookups go through it: every answer is the inside file or an error.
    let t = Tree::new();
    t.write("in/secret", "inside");
    t.link("in", "flip");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (root, s) = (t.root.clone(), stop.clone());
    let flipper = std::thread::spawn(move || {
        let (tmp, link) = (root.join("flip.tmp"), root.join("flip"));
        let mut n = 0u64;
        while !s.load(Ordering::Relaxed) {
            let to = if n.is_multiple_of(2) {
                "../../../.."
            } else {
                "in"
            };
            let _ = std::fs::remove_file(&tmp);
            symlink(to, &tmp).unwrap();
            std::fs::rename(&tmp, &link).unwrap();
            n += 1;
        }
        n
    });
    let r = t.r(res);
    let mut inside = 0;
    for _ in 0..3000 {
        match read(r, "/flip/secret") {
            Ok(s) => {
                assert_eq!(s, "inside");
                inside += 1;
            }
            Err(e) => assert!([libc::ENOENT, libc::EAGAIN].contains(&e), "errno {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 0 && inside > 0, "flips {flips}, inside {inside}");
});

both!(open_regular_refuses_the_rest, |res| {
    let t = Tree::new();
    let fifo = sys::cstr(t.root.join("fifo").as_os_str()).unwrap();
    // SAFETY: mkfifo(3) of a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    t.link("/fifo", "to-fifo");
    t.link("../../secret", "to-secret");
    t.link("/etc/passwd", "to-passwd");
    let r = t.r(res);
    let mut s = String::new();
    r.open_regular(Path::new("/to-passwd"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "inside");
    for p in ["/fifo", "/to-fifo", "/etc"] {
        let e = r.open_regular(Path::new(p)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{p}");
    }
    assert_eq!(
        r.open_regular(Path::new("/to-secret")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
});

both!(mkdir_all_makes_every_missing_directory, |res| {
    let t = Tree::new();
    let r = t.r(res);
    let fd = r.mkdir_all(Path::new("/a/b/c"), 0o750).unwrap();
    assert!(same_inode(&fd, &t.root.join("a/b/c")));
    let mode = std::fs::metadata(t.root.join("a/b"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o700, 0o700);
    assert_eq!(mode & 0o007, 0, "mode 0750 asked, got {mode:o}");
    // Existing: returned as is; through a symlink: followed inside the root.
    r.mkdir_all(Path::new("/a/b/c"), 0o755).unwrap();
    t.link("/a/b", "to-b");
    r.mkdir_all(Path::new("/to-b/d"), 0o755).unwrap();
    assert!(t.root.join("a/b/d").is_dir());
    // A dangling one (here pointing out) is ENOENT: its target is not made, anywhere.
    t.link("/../../made", "out");
    assert_eq!(errno(r.mkdir_all(Path::new("/out/x"), 0o755)), libc::ENOENT);
    assert!(!t.root.join("made").exists());
    assert!(!t.dir.path().join("made").exists());
});

both!(ensure_creates_mount_points_inside, |res| {
    let t = Tree::new();
    t.link("../../../../", "up");
    t.link(t.dir.path().join("outside"), "abs");
    t.link("../../../../outside2", "etc/rel");
    let r = t.r(res);
    r.ensure(Path::new("/up/made/here"), Kind::Dir).unwrap();
    assert!(t.root.join("made/here").is_dir());
    assert!(!t.dir.path().join("made").exists());
    r.ensure(Path::new("a/b/file"), Kind::File).unwrap();
    assert!(t.root.join("a/b/file").is_file());
    // Dangling symlinks, absolute and relative, are created inside the root.
    r.ensure(Path::new("/abs/x"), Kind::Dir).unwrap();
    r.ensure(Path::new("/etc/rel/y"), Kind::File).unwrap();
    assert!(!t.dir.path().join("outside").exists());
    assert!(t
        .root
        .join(t.dir.path().strip_prefix("/").unwrap())
        .join("outside/x")
        .is_dir());
    assert!(t.root.join("outside2/y").is_file());
    // Something already there is returned whatever it is.
    let fd = r.ensure(Path::new("/etc/passwd"), Kind::Dir).unwrap();
    assert_eq!(ftype(&fd), libc::S_IFREG);
    // A loop of dangling links ends.
    t.link("/l2/x", "l1");
    t.link("/l1/x", "l2");
    assert_eq!(errno(r.ensure(Path::new("/l1/y"), Kind::Dir)), libc::ELOOP);
});

both!(entries_are_not_followed, |res| {
    let t = Tree::new();
    std::fs::create_dir_all(t.root.join("proc")).unwrap();
    std::fs::create_dir_all(t.root.join("real")).unwrap();
    t.link("/real", "sys");
    t.link("/", "up");
    std::fs::write(t.root.join("file"), "").unwrap();
    let r = t.r(res);
    assert_eq!(r.entry(Path::new("/proc")).unwrap(), Entry::Dir);
    assert_eq!(
        r.entry(Path::new("/sys")).unwrap(),
        Entry::Symlink(PathBuf::from("/real"))
    );
    assert_eq!(r.entry(Path::new("/file")).unwrap(), Entry::Other);
    assert_eq!(r.entry(Path::new("/none")).unwrap(), Entry::Missing);
    assert_eq!(r.entry(Path::new("/none/x")).unwrap(), Entry::Missing);
    assert_eq!(r.entry(Path::new("/up/proc")).unwrap(), Entry::Dir);
    assert_eq!(r.entry(Path::new("/")).unwrap(), Entry::Dir);
    assert_eq!(r.entry(Path::new("/proc/..")).unwrap(), Entry::Dir);
});

#[test]
fn fd_and_host_paths() {
    let t = Tree::new();
    let fd = InRoot::new(t.fd.as_fd())
        .resolve(Path::new("/etc/passwd"))
        .unwrap();
    assert_eq!(
        fd_path(fd.as_fd()),
        format!("/proc/self/fd/{}", fd.as_raw_fd())
    );
    assert_eq!(host_path(fd.as_fd()).unwrap(), t.root.join("etc/passwd"));
    assert_eq!(
        std::fs::read_to_string(fd_path(fd.as_fd())).unwrap(),
        "inside"
    );
}

#[test]
fn a_missing_root_is_an_error() {
    let e = open_root(Path::new("/nonexistent/berth-fs-root")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let t = Tree::new();
    assert_eq!(
        open_root(&t.root.join("etc/passwd"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENOTDIR)
    );
}

#[test]
fn descriptors_are_close_on_exec() {
    let t = Tree::new();
    for res in [Resolver::Kernel, Resolver::Walk] {
        let fd = t
            .r(res)
            .open(Path::new("/etc/passwd"), libc::O_RDONLY, 0)
            .unwrap();
        // SAFETY: F_GETFD on a valid descriptor.
        let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(fl & libc::FD_CLOEXEC, libc::FD_CLOEXEC, "{res:?}");
    }
}

// The walk at exact steps, through its test hook.

/// Runs `f` with a one-shot hook that acts at the first step `when` accepts.
fn with_hook(
    when: impl Fn(&walk::hook::Step) -> bool + 'static,
    act: impl FnOnce() + 'static,
    f: impl FnOnce(),
) {
    let mut act = Some(act);
    walk::hook::set(Some(Box::new(move |s| {
        if when(s) {
            if let Some(a) = act.take() {
                a()
            }
        }
    })));
    f();
    walk::hook::set(None);
}

fn lookup_of(name: &'static str) -> impl Fn(&walk::hook::Step) -> bool {
    move |s| matches!(s, walk::hook::Step::Lookup(n) if *n == name)
}

fn replace_link(at: PathBuf, to: &'static str) -> impl FnOnce() {
    move || {
        let tmp = at.with_extension("swap");
        symlink(to, &tmp).unwrap();
        std::fs::rename(&tmp, &at).unwrap();
    }
}

#[test]
fn walk_a_symlink_swapped_for_one_out_before_its_lookup() {
    let t = Tree::new();
    t.write("good/f", "good");
    t.link("/good", "l");
    let r = t.r(Resolver::Walk);
    // Swapped just before "l" is looked at: the new link is read, and resolved inside.
    with_hook(
        lookup_of("l"),
        replace_link(t.root.join("l"), "../../.."),
        || {
            assert_eq!(read(r, "/l/f"), Err(libc::ENOENT));
        },
    );
    assert_eq!(read(r, "/l/etc/passwd").as_deref(), Ok("inside"));
}

#[test]
fn walk_a_directory_swapped_for_a_link_after_it_was_entered() {
    // "d" is entered, then replaced by a link out: the walk goes on in the directory it
    // holds (moved aside, still inside the root), never through the new link.
    let t = Tree::new();
    t.write("d/f", "in d");
    let (d, aside) = (t.root.join("d"), t.root.join("aside"));
    let r = t.r(Resolver::Walk);
    with_hook(
        lookup_of("f"),
        move || {
            std::fs::rename(&d, &aside).unwrap();
            symlink("../../..", &d).unwrap();
        },
        || assert_eq!(read(r, "/d/f").as_deref(), Ok("in d")),
    );
}

#[test]
fn walk_going_back_after_a_swap_retries_inside() {
    // Going back up ("..") re-walks the names from the root; "d" became a link meanwhile,
    // so the lookup starts again and follows the new link inside the root.
    let t = Tree::new();
    t.write("d/sub/x", "");
    t.write("d/f", "old d");
    t.write("e/sub/x", "");
    t.write("e/f", "e");
    let (d, aside) = (t.root.join("d"), t.root.join("d-aside"));
    let r = t.r(Resolver::Walk);
    with_hook(
        lookup_of(".."),
        move || {
            std::fs::rename(&d, &aside).unwrap();
            symlink("/../e", &d).unwrap();
        },
        || assert_eq!(read(r, "/d/sub/../f").as_deref(), Ok("e")),
    );
}

#[test]
fn walk_the_last_name_turned_into_a_link_before_its_open() {
    // Looked at as a file, then replaced by a link out before the open: the open (with
    // O_NOFOLLOW) fails, the step is done again and the link resolves inside the root.
    let t = Tree::new();
    t.write("f", "plain");
    t.write("secret", "the root's secret");
    let r = t.r(Resolver::Walk);
    with_hook(
        |s| matches!(s, walk::hook::Step::OpenLast(n) if *n == "f"),
        replace_link(t.root.join("f"), "../../secret"),
        || assert_eq!(read(r, "/f").as_deref(), Ok("the root's secret")),
    );
    // And a directory asked for with O_DIRECTORY.
    std::fs::create_dir(t.root.join("dir")).unwrap();
    let (dir, aside) = (t.root.join("dir"), t.root.join("dir-aside"));
    with_hook(
        |s| matches!(s, walk::hook::Step::OpenLast(n) if *n == "dir"),
        move || {
            std::fs::rename(&dir, &aside).unwrap();
            symlink("/etc", &dir).unwrap();
        },
        || {
            let fd = r
                .open(Path::new("/dir"), libc::O_RDONLY | libc::O_DIRECTORY, 0)
                .unwrap();
            assert!(same_inode(&fd, &t.root.join("etc")));
        },
    );
}

#[test]
fn walk_a_tree_changing_for_ever_ends() {
    // A link re-made at every lookup of its name: the walk gives up with ELOOP after the
    // kernel's 40 links, it does not spin.
    let t = Tree::new();
    t.link("l", "l");
    let at = t.root.join("l");
    walk::hook::set(Some(Box::new(move |s| {
        if matches!(s, walk::hook::Step::Lookup(n) if *n == "l") {
            let tmp = at.with_extension("swap");
            let _ = symlink("l", &tmp);
            let _ = std::fs::rename(&tmp, &at);
        }
    })));
    let r = t.r(Resolver::Walk);
    assert_eq!(errno(r.resolve(Path::new("/l"))), libc::ELOOP);
    walk::hook::set(None);
}
