//! Mount options of the OCI spec turned into mount(2) flags.

/// A spec mount's options, split the way mount(2) wants them (see [`berth_fs::mount_options`]).
pub type Options = berth_fs::mount_options::Split;

pub use berth_fs::mount_options::propagation;

/// Parses the spec's `options` list. Unknown words are passed to the filesystem, as runc
/// does; the words of features this runtime does not have are refused by name.
pub fn parse_options(opts: &[String]) -> Result<Options, String> {
    for opt in opts {
        match opt.as_str() {
            "idmap" | "ridmap" => {
                return Err(format!(
                    "mount option {opt} (id-mapped mounts) is not supported"
                ))
            }
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec"
            | "rnoatime" | "ratime" | "rrelatime" | "rnorelatime" | "rstrictatime"
            | "rnostrictatime" | "rnodiratime" | "rdiratime" | "rnosymfollow" | "rsymfollow" => {
                return Err(format!("recursive mount option {opt} is not supported"))
            }
            "tmpcopyup" => return Err("mount option tmpcopyup is not supported".into()),
            _ => {}
        }
    }
    Ok(berth_fs::mount_options::split(
        opts.iter().map(String::as_str),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&s(&[
            "nosuid", "ro", "mode=755", "rbind", "rslave", "size=1m",
        ]))
        .unwrap();
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_RDONLY);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.data, vec!["mode=755", "size=1m"]);
        let o = parse_options(&s(&["ro", "rw"])).unwrap();
        assert_eq!(o.flags, 0);
        assert!(parse_options(&s(&["idmap"])).is_err());
    }
}
