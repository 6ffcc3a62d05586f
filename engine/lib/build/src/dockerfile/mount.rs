//! `RUN --mount=...` values, read as dockerd 20.10 reads them: a CSV record of `key=value`
//! fields (Go's `encoding/csv`), checked field by field. The classic builder then refuses
//! any RUN with mounts at dispatch time; the checks here are the ones it makes while
//! parsing, so a malformed mount is reported with dockerd's text and line.

/// One `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `bind` (default), `cache`, `tmpfs`, `secret` or `ssh`.
    pub kind: String,
    pub from: String,
    pub source: String,
    pub target: String,
    pub readonly: bool,
    pub cache_id: String,
    pub cache_sharing: String,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Parses one `--mount` value.
pub(crate) fn parse(value: &str) -> Result<Mount, String> {
    let fields = csv_record(value).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount {
        kind: "bind".into(),
        from: String::new(),
        source: String::new(),
        target: String::new(),
        readonly: false,
        cache_id: String::new(),
        cache_sharing: String::new(),
        required: false,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let secret_or_ssh = m.kind == "secret" || m.kind == "ssh";
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => m.readonly = true,
                "readwrite" | "rw" => m.readonly = false,
                "required" if secret_or_ssh => m.required = true,
                "required" => {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind
                    ))
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            if key != "required" {
                ro_auto = false;
            }
            continue;
        };
        let bad_value = || format!("invalid value for {key}: {value}");
        match key.as_str() {
            "type" => {
                let t = value.to_lowercase();
                if !["bind", "cache", "tmpfs", "secret", "ssh"].contains(&t.as_str()) {
                    return Err(format!(
                        "unsupported mount type {}",
                        berth_gocompat::quote::quote(value)
                    ));
                }
                m.kind = t;
            }
            "from" => m.from = value.into(),
            "source" | "src" => m.source = value.into(),
            "target" | "dst" | "destination" => m.target = value.into(),
            "readonly" | "ro" => {
                m.readonly = parse_bool(value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_bool(value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "required" if secret_or_ssh => m.required = parse_bool(value).ok_or_else(bad_value)?,
            "required" => {
                return Err(format!(
                    "unexpected key '{key}' for mount type '{}'",
                    m.kind
                ))
            }
            "id" => m.cache_id = value.into(),
            "sharing" => {
                let s = value.to_lowercase();
                if !["shared", "private", "locked"].contains(&s.as_str()) {
                    return Err(format!(
                        "unsupported sharing value {}",
                        berth_gocompat::quote::quote(value)
                    ));
                }
                m.cache_sharing = s;
            }
            "mode" => {
                m.mode = Some(
                    parse_u32(value, 8).ok_or_else(|| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    parse_u32(value, 10).ok_or_else(|| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    parse_u32(value, 10).ok_or_else(|| format!("invalid value {value} for gid"))?,
                )
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info_allowed = matches!(m.kind.as_str(), "secret" | "ssh" | "cache");
    for (set, what) in [
        (m.mode.is_some(), "mode"),
        (m.uid.is_some(), "uid"),
        (m.gid.is_some(), "gid"),
    ] {
        if set && !file_info_allowed {
            return Err(format!(
                "{what} not allowed for {} type mounts",
                berth_gocompat::quote::quote(&m.kind)
            ));
        }
    }
    if ro_auto {
        m.readonly = !(m.kind == "cache" || m.kind == "tmpfs");
    }
    if !m.cache_sharing.is_empty() && m.kind != "cache" {
        return Err(format!("invalid cache sharing set for {} mount", m.kind));
    }
    if m.kind == "secret" {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".into());
        }
        if !m.cache_sharing.is_empty() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err("both source and id can't be set".into());
        }
    }
    Ok(m)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(s, base, 32)` (no sign, no prefix, no underscores).
fn parse_u32(s: &str, radix: u32) -> Option<u32> {
    if s.is_empty() || !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(s, radix).ok()
}

/// One record of Go's `encoding/csv` reader (comma-separated; `"..."` fields with `""`
/// for a quote); errors in Go's words with its 1-based byte columns.
fn csv_record(line: &str) -> Result<Vec<String>, String> {
    if line.is_empty() {
        return Err("EOF".into());
    }
    let b = line.as_bytes();
    let err = |col: usize, what: &str| format!("parse error on line 1, column {col}: {what}");
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut field = Vec::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        return Err(err(b.len() + 1, "extraneous or missing \" in quoted-field"))
                    }
                    Some(b'"') => match b.get(i + 1) {
                        Some(b'"') => {
                            field.push(b'"');
                            i += 2;
                        }
                        Some(b',') | None => {
                            i += 1;
                            break;
                        }
                        Some(_) => {
                            return Err(err(i + 1, "extraneous or missing \" in quoted-field"))
                        }
                    },
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            fields.push(String::from_utf8_lossy(&field).into_owned());
        } else {
            let end = b[i..]
                .iter()
                .position(|&c| c == b',')
                .map_or(b.len(), |p| i + p);
            if let Some(q) = b[i..end].iter().position(|&c| c == b'"') {
                return Err(err(i + q + 1, "bare \" in non-quoted-field"));
            }
            fields.push(line[i..end].to_string());
            i = end;
        }
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return Ok(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Errors as Go 1.19's encoding/csv words them.
    #[test]
    fn reads_csv_like_go() {
        assert_eq!(csv_record("a,b").unwrap(), ["a", "b"]);
        assert_eq!(csv_record("a,,b,").unwrap(), ["a", "", "b", ""]);
        assert_eq!(csv_record(r#""a""b",c"#).unwrap(), ["a\"b", "c"]);
        assert_eq!(csv_record(r#""a,b",c"#).unwrap(), ["a,b", "c"]);
        for (line, msg) in [
            ("", "EOF"),
            (
                r#"a"b"#,
                r#"parse error on line 1, column 2: bare " in non-quoted-field"#,
            ),
            (
                r#" "a""#,
                r#"parse error on line 1, column 2: bare " in non-quoted-field"#,
            ),
            (
                r#""a"b"#,
                r#"parse error on line 1, column 3: extraneous or missing " in quoted-field"#,
            ),
            (
                r#""a"#,
                r#"parse error on line 1, column 3: extraneous or missing " in quoted-field"#,
            ),
            (
                r#"x,"y"#,
                r#"parse error on line 1, column 5: extraneous or missing " in quoted-field"#,
            ),
        ] {
            assert_eq!(csv_record(line).unwrap_err(), msg, "{line:?}");
        }
    }

    #[test]
    fn reads_mounts_like_dockerd() {
        let m = parse("type=cache,target=/root/.cache,sharing=LOCKED,mode=0755,uid=1").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.target.as_str(),
                m.cache_sharing.as_str(),
                m.mode,
                m.uid,
                m.readonly
            ),
            (
                "cache",
                "/root/.cache",
                "locked",
                Some(0o755),
                Some(1),
                false
            )
        );
        let m = parse("target=/src,ro=false").unwrap();
        assert_eq!((m.kind.as_str(), m.readonly), ("bind", false));
        assert!(
            parse("target=/src").unwrap().readonly,
            "bind mounts are read-only by default"
        );
        assert!(parse("type=secret,id=x,required").unwrap().required);
        assert!(!parse("type=tmpfs,dst=/t").unwrap().readonly);
    }

    // Messages as dockerd 20.10 answers (after "dockerfile parse error line N: ").
    #[test]
    fn refuses_mounts_like_dockerd() {
        for (value, msg) in [
            ("type=foo", r#"unsupported mount type "foo""#),
            ("", "failed to parse csv mounts: EOF"),
            ("target", "invalid field 'target' must be a key=value pair"),
            (
                "required",
                "unexpected key 'required' for mount type 'bind'",
            ),
            (
                "required=true",
                "unexpected key 'required' for mount type 'bind'",
            ),
            ("ro=maybe", "invalid value for ro: maybe"),
            ("mode=9", "invalid value 9 for mode"),
            ("uid=-1", "invalid value -1 for uid"),
            (
                "type=bind,mode=0700",
                r#"mode not allowed for "bind" type mounts"#,
            ),
            ("uid=1", r#"uid not allowed for "bind" type mounts"#),
            ("sharing=x", r#"unsupported sharing value "x""#),
            ("sharing=shared", "invalid cache sharing set for bind mount"),
            (
                "type=secret",
                "invalid secret mount. one of source, target required",
            ),
            (
                "type=secret,from=x,id=a",
                "secret mount should not have a from",
            ),
            ("type=secret,src=a,id=b", "both source and id can't be set"),
            ("foo=bar", "unexpected key 'foo' in 'foo=bar'"),
            (
                r#"a"b"#,
                r#"failed to parse csv mounts: parse error on line 1, column 2: bare " in non-quoted-field"#,
            ),
        ] {
            assert_eq!(parse(value).unwrap_err(), msg, "{value:?}");
        }
    }
}
