//! Container names: validation and generated names ("adjective_scientist").

use crate::util::random_below;

/// Checks a user-given name (with or without its leading "/") like dockerd does:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate(name: &str) -> Result<String, String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(n.to_string())
    } else {
        Err(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ardent", "balmy", "bold", "brave", "breezy", "bright", "calm", "candid",
    "cheerful", "civic", "clever", "cosmic", "crisp", "curious", "daring", "deft", "dreamy",
    "eager", "earnest", "epic", "fair", "fervent", "fond", "frosty", "gallant", "gentle", "glad",
    "golden", "grand", "happy", "hardy", "hopeful", "humble", "jolly", "keen", "kind", "lively",
    "lucid", "merry", "mellow", "modest", "nimble", "noble", "patient", "placid", "plucky",
    "polite", "proud", "quiet", "quirky", "rapid", "serene", "sharp", "sleepy", "snappy", "spry",
    "steady", "sunny", "swift", "tender", "tidy", "upbeat", "vivid", "warm", "wise", "witty",
    "zealous", "zesty",
];

const SCIENTISTS: &[&str] = &[
    "agnesi",
    "archimedes",
    "babbage",
    "banach",
    "bernoulli",
    "bohr",
    "boole",
    "cantor",
    "carson",
    "cauchy",
    "chandrasekhar",
    "curie",
    "darwin",
    "dijkstra",
    "dirac",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "fourier",
    "franklin",
    "galileo",
    "galois",
    "gauss",
    "germain",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hilbert",
    "hopper",
    "hypatia",
    "jacobi",
    "joule",
    "kepler",
    "knuth",
    "lagrange",
    "lamarr",
    "laplace",
    "leibniz",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "pasteur",
    "planck",
    "poincare",
    "ramanujan",
    "riemann",
    "ritchie",
    "shannon",
    "somerville",
    "tesla",
    "thompson",
    "turing",
    "volta",
    "wiles",
    "wu",
    "yalow",
];

/// A random "adjective_scientist" name; `attempt` > 0 appends a digit, as names collide.
pub fn generate(attempt: u32) -> String {
    let a = ADJECTIVES[random_below(ADJECTIVES.len())];
    let s = SCIENTISTS[random_below(SCIENTISTS.len())];
    if attempt == 0 {
        format!("{a}_{s}")
    } else {
        format!("{a}_{s}{}", random_below(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_docker() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert_eq!(validate("a.b_c").unwrap(), "a.b_c");
        for bad in ["", "a", "-ab", "_ab", "a b", "a/b", "ä1", "/"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate("x y")
            .unwrap_err()
            .contains("Invalid container name (x y)"));
    }

    #[test]
    fn generated_names_are_valid() {
        for i in 0..20 {
            let n = generate(i % 2);
            assert!(validate(&n).is_ok(), "{n}");
        }
    }
}
