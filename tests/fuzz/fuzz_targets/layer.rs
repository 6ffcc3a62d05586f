//! Layer unpacking as shimd does it (`berth_image::unpack::apply_layer`): arbitrary bytes
//! (a plain tar, or gzip or zstd, recognised by their magic bytes) applied into a fresh
//! directory, once with overlayfs whiteouts and once deleting what they white out. Errors
//! are fine; a panic, a hang, unbounded memory or a file outside the directory are not.

#![no_main]

use berth_fuzz::sandbox::Sandbox;
use berth_image::limits::{Budget, UnpackLimits};
use berth_image::unpack::{apply_layer, ApplyOptions, DeviceNodes, WhiteoutMode};

/// Bounds the uncompressed stream as a shimd configuration would, low enough that a
/// decompression bomb stops long before the fuzzer's memory or time limits.
const LIMITS: UnpackLimits = UnpackLimits {
    max_ratio: 100,
    max_total: 256 << 20,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for whiteouts in [WhiteoutMode::Delete, WhiteoutMode::Overlay] {
        let sandbox = Sandbox::new();
        let opts = ApplyOptions {
            whiteouts,
            devices: DeviceNodes::for_this_process(),
        };
        let _ = apply_layer(
            data,
            sandbox.root(),
            opts,
            &Budget::new(LIMITS),
            data.len() as u64,
        );
        sandbox.check();
    }
});
