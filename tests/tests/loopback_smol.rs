//! The loopback suite (`loopback/mod.rs`) on `tether-runtime-smol` on smol.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loopback;

loopback_suite!(loopback::runtimes::Smol);

/// A store whose `load` panics makes `start` fail with the panic's text (as on tokio), instead
/// of unwinding into the caller's task.
#[test]
fn a_store_panicking_in_load_fails_start() {
    let s = loopback::Setup::new(13);
    s.store.plant_panic();
    let result = smol::block_on(tether_runtime_smol::start(
        s.config.clone(),
        s.store.clone(),
        s.options,
    ));
    match result {
        Err(tether_core::driver::StartError::Runtime(text)) => {
            assert!(text.contains("planted bug"), "{text}");
        }
        Err(other) => panic!("expected a runtime error, got {other}"),
        Ok(_) => panic!("start succeeded with a panicking store"),
    }
}
