//! Mount options of the OCI spec turned into mount(2) flags.

/// A spec mount's options, split the way mount(2) wants them (see [`berth_fs::mount_options`]).
pub type Options = berth_fs::mount_options::Split;

pub use berth_fs::mount_options::propagation;

/// Parses the spec's `options` list. Recursive words (`rro`, `rnosuid`, ...) become
/// [`Options::attrs`], applied with mount_setattr(2) once the mount is made. Unknown words
/// are passed to the filesystem, as runc does; the words of features this runtime does not
/// have are refused by name.
pub fn parse_options(opts: &[String]) -> Result<Options, String> {
    for opt in opts {
        match opt.as_str() {
            "idmap" | "ridmap" => {
                return Err(format!(
                    "mount option {opt} (id-mapped mounts) is not supported"
                ))
            }
            "tmpcopyup" => return Err("mount option tmpcopyup is not supported".into()),
            _ => {}
        }
    }
    Ok(berth_fs::mount_options::split_with_attrs(
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

    #[test]
    fn recursive_words_are_attributes_not_data() {
        use berth_fs::mount_options::attr;
        let o = parse_options(&s(&["rbind", "rro", "rnoexec", "rw"])).unwrap();
        assert!(o.data.is_empty());
        assert_eq!(o.flags, 0);
        let a = o.attrs.unwrap();
        assert_eq!(a.attr_set(), attr::RDONLY | attr::NOEXEC);
        assert_eq!(parse_options(&s(&["ro"])).unwrap().attrs, None);
    }
}
