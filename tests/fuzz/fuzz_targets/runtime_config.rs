//! A bundle's config.json as berth-runtime reads it before creating anything
//! (`berth_runtime::config::load`, then `validate`): arbitrary bytes as config.json in a
//! fresh bundle directory with an empty rootfs. Errors are fine; a panic is not.

#![no_main]

use berth_fuzz::sandbox::Sandbox;
use berth_runtime::config::{load, validate};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let sandbox = Sandbox::new();
    let bundle = sandbox.root();
    std::fs::create_dir(bundle.join("rootfs")).expect("making the rootfs");
    std::fs::write(bundle.join("config.json"), data).expect("writing config.json");
    if let Ok(b) = load(bundle) {
        let _ = validate(&b, true);
        let _ = validate(&b, false);
    }
    sandbox.check();
});
