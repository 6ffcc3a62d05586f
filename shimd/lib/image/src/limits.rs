//! Bounds on what unpacking may produce, against decompression bombs.
//!
//! Two bounds, both on the uncompressed bytes of layer tars (what the decompressor puts
//! out; a sparse file's holes are not in the stream and cost nothing):
//! - each layer may expand to `max_ratio` times its compressed size, and always to
//!   `RATIO_FLOOR` (small layers expand a lot: a tar of one tiny file is 10 KiB and
//!   compresses to 150 bytes);
//! - the layers of one operation (a pull, an import) may expand to `max_total` in all.
//!
//! Both are checked as the bytes come out of the decompressor, so a bomb stops early.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A layer may always expand to this much, whatever its ratio.
pub const RATIO_FLOOR: u64 = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Uncompressed bytes per compressed byte of one layer; 0: no bound.
    pub max_ratio: u64,
    /// Uncompressed bytes of all layers of one operation; 0: no bound.
    pub max_total: u64,
}

impl UnpackLimits {
    pub const NONE: UnpackLimits = UnpackLimits {
        max_ratio: 0,
        max_total: 0,
    };

    /// What a layer of `compressed` bytes may expand to (None: no bound).
    pub fn layer_max(&self, compressed: u64) -> Option<u64> {
        (self.max_ratio > 0).then(|| self.max_ratio.saturating_mul(compressed).max(RATIO_FLOOR))
    }
}

/// Which bound a layer went over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitExceeded {
    Ratio {
        max_ratio: u64,
        compressed: u64,
        allowed: u64,
    },
    Total {
        allowed: u64,
    },
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitExceeded::Ratio {
                max_ratio,
                compressed,
                allowed,
            } => write!(
                f,
                "expands to more than {} ({max_ratio} times its compressed size of {}): \
                 refused as a likely decompression bomb",
                human(*allowed),
                human(*compressed)
            ),
            LimitExceeded::Total { allowed } => write!(
                f,
                "the layers of this operation expand to more than {} in all",
                human(*allowed)
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// Sizes for people: "200.0 MB (200000000 bytes)".
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {} ({n} bytes)", UNITS[u])
    }
}

/// What the layers of one operation have unpacked so far, shared by them.
#[derive(Debug)]
pub struct Budget {
    limits: UnpackLimits,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limits: UnpackLimits) -> Arc<Budget> {
        Arc::new(Budget {
            limits,
            used: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> UnpackLimits {
        self.limits
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// A reader of one layer's uncompressed stream that fails past the bounds.
    pub fn limit<R>(self: &Arc<Self>, inner: R, compressed: u64) -> LimitedReader<R> {
        LimitedReader {
            inner,
            read: 0,
            layer_max: self.limits.layer_max(compressed),
            compressed,
            budget: self.clone(),
        }
    }
}

/// See `Budget::limit`. Its error carries a `LimitExceeded` (see `exceeded`).
pub struct LimitedReader<R> {
    inner: R,
    read: u64,
    layer_max: Option<u64>,
    compressed: u64,
    budget: Arc<Budget>,
}

impl<R: std::io::Read> std::io::Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(max) = self.layer_max.filter(|m| self.read > *m) {
            return Err(std::io::Error::other(LimitExceeded::Ratio {
                max_ratio: self.budget.limits.max_ratio,
                compressed: self.compressed,
                allowed: max,
            }));
        }
        let total = self.budget.used.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let max_total = self.budget.limits.max_total;
        if max_total > 0 && total > max_total {
            return Err(std::io::Error::other(LimitExceeded::Total {
                allowed: max_total,
            }));
        }
        Ok(n)
    }
}

/// The bound an io error (from a `LimitedReader`) reports, if it is one.
pub fn exceeded(e: &std::io::Error) -> Option<&LimitExceeded> {
    e.get_ref()?.downcast_ref::<LimitExceeded>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_layer_stops_past_its_ratio_but_always_gets_the_floor() {
        let b = Budget::new(UnpackLimits {
            max_ratio: 10,
            max_total: 0,
        });
        let mut ok = b.limit(std::io::repeat(0).take(RATIO_FLOOR), 1);
        assert_eq!(
            std::io::copy(&mut ok, &mut std::io::sink()).unwrap(),
            RATIO_FLOOR
        );
        let mut big = b.limit(std::io::repeat(0).take(RATIO_FLOOR + 1), 1);
        let e = std::io::copy(&mut big, &mut std::io::sink()).unwrap_err();
        assert!(matches!(
            exceeded(&e),
            Some(LimitExceeded::Ratio { allowed, .. }) if *allowed == RATIO_FLOOR
        ));
        let allowed = 10 * (RATIO_FLOOR / 5);
        let mut fine = b.limit(std::io::repeat(0).take(allowed), RATIO_FLOOR / 5);
        assert_eq!(
            std::io::copy(&mut fine, &mut std::io::sink()).unwrap(),
            allowed
        );
    }

    #[test]
    fn the_total_is_shared_by_the_layers_of_an_operation() {
        let b = Budget::new(UnpackLimits {
            max_ratio: 0,
            max_total: 1000,
        });
        let mut one = b.limit(std::io::repeat(1).take(600), 1);
        std::io::copy(&mut one, &mut std::io::sink()).unwrap();
        let mut two = b.limit(std::io::repeat(1).take(600), 1);
        let e = std::io::copy(&mut two, &mut std::io::sink()).unwrap_err();
        assert_eq!(exceeded(&e), Some(&LimitExceeded::Total { allowed: 1000 }));
        assert!(e.to_string().contains("1000 bytes"), "{e}");
    }

    #[test]
    fn no_bounds_when_zero() {
        let b = Budget::new(UnpackLimits::NONE);
        let mut r = b.limit(std::io::repeat(0).take(RATIO_FLOOR * 2), 1);
        assert_eq!(
            std::io::copy(&mut r, &mut std::io::sink()).unwrap(),
            RATIO_FLOOR * 2
        );
        assert_eq!(b.used(), RATIO_FLOOR * 2);
    }
}
