//! Certificates for the TLS tests, made with openssl: a private CA and certificates it
//! signed (P-256 keys, valid two days). Files are named `<name>.pem` (certificate) and
//! `<name>.key` (key) in the given directory.

use std::path::Path;
use std::process::Command;

/// Runs openssl in `dir`; a failure fails the test with openssl's words.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC_KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// A self-signed CA named `name`, with common name `cn`.
pub fn ca(dir: &Path, name: &str, cn: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let (key, pem, subj) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN={cn}"),
    );
    let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
    args.extend(EC_KEY);
    args.extend([
        "-keyout",
        &key,
        "-out",
        &pem,
        "-subj",
        &subj,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
}

/// A certificate `name` for common name `cn`, signed by the CA `ca`; `ext` holds its
/// extensions, one `key=value` per line (e.g. `extendedKeyUsage=clientAuth`).
pub fn signed(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str) {
    let (key, csr, pem, ext_file) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    let subj = format!("/CN={cn}");
    let mut args = vec!["req", "-nodes"];
    args.extend(EC_KEY);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
    openssl(dir, &args);
    std::fs::write(dir.join(&ext_file), ext).unwrap();
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext_file,
            "-out",
            &pem,
        ],
    );
}
