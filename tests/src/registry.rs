//! A real registry (Debian's `docker-registry`) on a free loopback port with its own
//! storage, stopped when dropped; images go in with `skopeo copy` from an OCI layout.
//!
//! Options: TLS with a certificate from a private CA made with `openssl`, basic auth from an
//! htpasswd file (bcrypt, made with `htpasswd -B`), or token auth from a small token server
//! on loopback (JWTs signed with `openssl dgst`).

use crate::ports::free_port;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// "user:password" when the registry wants credentials.
    pub creds: Option<String>,
    child: Child,
    _token: Option<TokenServer>,
}

/// Is Debian's docker-registry installed?
pub fn available() -> bool {
    Command::new("docker-registry")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Is `htpasswd` (Debian's apache2-utils) installed?
pub fn htpasswd_available() -> bool {
    Command::new("htpasswd")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// How the registry authenticates clients.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    /// Basic auth against an htpasswd file holding this user and password.
    Basic(String, String),
    /// Bearer tokens from a token server that knows this user and password.
    Token(String, String),
}

#[derive(Default)]
pub struct Options {
    /// Serve HTTPS with a certificate for 127.0.0.1 signed by this CA.
    pub tls: Option<Ca>,
    pub auth: Auth,
}

/// A private CA and a server certificate it signed for 127.0.0.1 and localhost.
#[derive(Clone, Debug)]
pub struct Ca {
    pub ca_pem: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    /// Makes the CA and the server certificate under `dir`.
    pub fn make(dir: &Path) -> Ca {
        crate::pki::ca(dir, "ca", "berth test CA");
        crate::pki::signed(
            dir,
            "ca",
            "server",
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        );
        Ca {
            ca_pem: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let d = dir.path().display();
        let tls = match &opts.tls {
            Some(ca) => format!(
                ", tls: {{ certificate: {}, key: {} }}",
                ca.cert.display(),
                ca.key.display()
            ),
            None => String::new(),
        };
        let mut token = None;
        let (auth, creds) = match &opts.auth {
            Auth::None => (String::new(), None),
            Auth::Basic(user, pass) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, pass])
                    .output()
                    .expect("run htpasswd (Debian's apache2-utils)");
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
                (
                    format!("auth: {{ htpasswd: {{ realm: berth-test, path: {d}/htpasswd }} }}\n"),
                    Some(format!("{user}:{pass}")),
                )
            }
            Auth::Token(user, pass) => {
                let t = TokenServer::start(&dir.path().join("token"), user, pass);
                let cfg = format!(
                    "auth: {{ token: {{ realm: \"http://127.0.0.1:{}/token\", service: {SERVICE}, issuer: {ISSUER}, rootcertbundle: {} }} }}\n",
                    t.port,
                    t.cert.display()
                );
                token = Some(t);
                (cfg, Some(format!("{user}:{pass}")))
            }
        };
        let cfg = format!(
            "version: 0.1\nlog: {{ level: info }}\nstorage: {{ filesystem: {{ rootdirectory: {d}/data }}, delete: {{ enabled: true }} }}\nhttp: {{ addr: 127.0.0.1:{port}{tls} }}\n{auth}"
        );
        std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut r = Registry {
            dir,
            port,
            creds,
            child,
            _token: token,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = r.child.try_wait() {
                panic!("docker-registry exited ({st}):\n{}", r.log());
            }
            assert!(
                Instant::now() < deadline,
                "registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// "127.0.0.1:PORT"
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything the registry logged, including its access log (one line per request
    /// with the status and the bytes sent).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Pushes the OCI layout at `layout` (tag `tag`) as `repo:tag`.
    pub fn push_layout(&self, layout: &Path, tag: &str, repo_tag: &str) {
        let mut cmd = Command::new("skopeo");
        // --preserve-digests: blobs go up as they are (uncompressed layers stay so).
        cmd.args([
            "copy",
            "-q",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ]);
        if let Some(c) = &self.creds {
            cmd.arg("--dest-creds").arg(c);
        }
        let out = cmd
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repo_tag}", self.host()))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Pushes an image built in memory as `repo:tag`.
    pub fn push_image(&self, img: &crate::images::Image, repo_tag: &str) {
        let layout = self.dir.path().join(crate::unique("layout"));
        img.write_layout(&layout, "latest");
        self.push_layout(&layout, "latest", repo_tag);
        let _ = std::fs::remove_dir_all(&layout);
    }

    /// The manifest digest the registry serves for `repo:tag` (from skopeo inspect).
    pub fn manifest_digest(&self, repo_tag: &str) -> String {
        let v = self.skopeo_inspect(&[], repo_tag);
        v["Digest"].as_str().unwrap().to_string()
    }

    /// The manifest the registry serves for `repo:tag`, as stored.
    pub fn manifest(&self, repo_tag: &str) -> serde_json::Value {
        self.skopeo_inspect(&["--raw"], repo_tag)
    }

    fn skopeo_inspect(&self, args: &[&str], repo_tag: &str) -> serde_json::Value {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--tls-verify=false"]).args(args);
        if let Some(c) = &self.creds {
            cmd.arg("--creds").arg(c);
        }
        let out = cmd
            .arg(format!("docker://{}/{repo_tag}", self.host()))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVICE: &str = "berth-test-registry";
const ISSUER: &str = "berth-test-issuer";

/// A token server on loopback for docker-registry's token auth: answers `GET /token` for
/// the one user it knows with a JWT (RS256, signed with `openssl dgst`, the signing
/// certificate in `x5c`) granting the requested scopes; 401 for anyone else.
struct TokenServer {
    port: u16,
    cert: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        std::fs::create_dir_all(dir).unwrap();
        crate::pki::openssl(
            dir,
            &[
                "req",
                "-x509",
                "-nodes",
                "-newkey",
                "rsa:2048",
                "-days",
                "2",
                "-keyout",
                "signer.key",
                "-out",
                "signer.pem",
                "-subj",
                "/CN=berth test token signer",
            ],
        );
        let der = Command::new("openssl")
            .current_dir(dir)
            .args(["x509", "-in", "signer.pem", "-outform", "DER"])
            .output()
            .expect("openssl x509");
        let x5c = base64(&der.stdout, false);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, dir2) = (stop.clone(), dir.to_path_buf());
        let want = format!(
            "Basic {}",
            base64(format!("{user}:{pass}").as_bytes(), false)
        );
        let user = user.to_string();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        serve_token(s, &dir2, &x5c, &want, &user);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TokenServer {
            port,
            cert: dir.join("signer.pem"),
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_token(mut s: std::net::TcpStream, dir: &Path, x5c: &str, want: &str, user: &str) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    let mut authorized = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") && v.trim() == want {
                authorized = true;
            }
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("");
    let query = path.split_once('?').map(|x| x.1).unwrap_or("");
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(url_decode)
        .collect();
    if !authorized {
        let body =
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"wrong user name or password"}]}"#;
        let _ = write!(
            s,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|sc| {
            let mut p = sc.splitn(3, ':');
            let (t, n, a) = (p.next()?, p.next()?, p.next()?);
            Some(serde_json::json!({"type": t, "name": n, "actions": a.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 600, "nbf": now - 60,
        "iat": now, "jti": format!("{now}-{}", std::process::id()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        base64(header.to_string().as_bytes(), true),
        base64(claims.to_string().as_bytes(), true)
    );
    let mut child = Command::new("openssl")
        .current_dir(dir)
        .args(["dgst", "-sha256", "-sign", "signer.key"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let sig = child.wait_with_output().unwrap().stdout;
    let jwt = format!("{signing_input}.{}", base64(&sig, true));
    let body =
        serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 600}).to_string();
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 3 <= b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(h, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Base64 (standard with padding, or URL-safe without).
fn base64(data: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        let chars = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, ch) in chars.iter().enumerate() {
            if i <= c.len() {
                out.push(table[*ch as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b"foobar", false), "Zm9vYmFy");
        assert_eq!(super::base64(b"fooba", false), "Zm9vYmE=");
        assert_eq!(super::base64(b"foob", false), "Zm9vYg==");
        assert_eq!(super::base64(b"foob", true), "Zm9vYg");
        assert_eq!(super::base64(&[0xfb, 0xff], true), "-_8");
        assert_eq!(
            super::url_decode("repository%3Abig%3Apull"),
            "repository:big:pull"
        );
    }
}
