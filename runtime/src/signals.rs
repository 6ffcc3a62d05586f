//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`, `9`.

/// Parses a signal name or number; real-time signals as `RTMIN+n`.
pub fn parse(s: &str) -> Result<i32, String> {
    berth_spec::signal::parse(s)
        .ok_or_else(|| format!("unknown signal {s:?} (use a name like TERM or KILL, or a number)"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_numbers() {
        assert_eq!(super::parse("KILL"), Ok(9));
        assert_eq!(super::parse("9"), Ok(9));
        assert!(super::parse("NOPE").unwrap_err().contains("NOPE"));
        assert_eq!(super::parse("SIGTERM"), Ok(15));
        assert_eq!(super::parse("RTMIN+1"), Ok(libc::SIGRTMIN() + 1));
    }
}
