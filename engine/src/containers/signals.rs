//! Signal names as docker takes them: "KILL", "SIGKILL", "9", "SIGRTMIN+3".

use crate::error::{Error, Result};

/// Parses a signal, with dockerd's wording for one it does not know.
pub fn parse(s: &str) -> Result<i32> {
    berth_spec::signal::parse(s).ok_or_else(|| Error::invalid(format!("Invalid signal: {s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert_eq!(parse("NOPE").unwrap_err().message, "Invalid signal: NOPE");
    }
}
