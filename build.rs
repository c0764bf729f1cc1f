//! Builds the sandbox guest (`guest/`) for wasm32-wasip2 and hands the
//! component to the host crate, which embeds it.
//!
//! The guest is a crate of its own, built by a nested cargo into
//! `target/guest`, so the two builds never wait on each other's lock.
//! `BGWASM_PREBUILT_GUEST=path/to/bgwasm_guest.wasm` embeds a guest built
//! before instead, and skips that build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What clang needs to compile QuickJS for WASI against Debian's wasi-libc.
const WASI_CFLAGS: &str = "--target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi";
/// The wasm features QuickJS is compiled with besides (the Rust side has them
/// by default): `memcpy`/`memset` become `memory.copy`/`memory.fill` instead
/// of wasi-libc's byte loops, which wasmtime charges fuel for block by
/// block. Keep in step with the Makefile's `CFLAGS_wasm32_wasip2`.
const WASM_FEATURES: &str = "-mbulk-memory -mnontrapping-fptoint -msign-ext";

fn main() {
    let root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let guest = root.join("guest");
    for watched in ["guest/src", "guest/Cargo.toml", "guest/Cargo.lock", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("guest.wasm");
    // A guest built already (a CI artifact, or another checkout's): embed it
    // as is and skip the nested guest build and its toolchain.
    println!("cargo:rerun-if-env-changed=BGWASM_PREBUILT_GUEST");
    if let Some(prebuilt) = env::var_os("BGWASM_PREBUILT_GUEST") {
        let prebuilt = PathBuf::from(prebuilt);
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        if !prebuilt.is_file() {
            panic!(
                "BGWASM_PREBUILT_GUEST names {}, which is not a file: point it at a built \
                 bgwasm_guest.wasm, or unset it to build the guest",
                prebuilt.display()
            );
        }
        copy_if_changed(&prebuilt, &out);
        return;
    }
    let target_dir = env::var_os("BGWASM_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("guest"));

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&guest)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    // The outer build's settings are for the host, not for the guest.
    for name in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        build.env_remove(name);
    }
    set_default(&mut build, "RQUICKJS_SYS_NO_WASI_SDK", "1");
    set_default(&mut build, "CC_wasm32_wasip2", "clang-19");
    set_default(&mut build, "AR_wasm32_wasip2", "llvm-ar-19");
    set_default(
        &mut build,
        "CFLAGS_wasm32_wasip2",
        &format!("{WASI_CFLAGS} {WASM_FEATURES}"),
    );
    set_default(
        &mut build,
        "BINDGEN_EXTRA_CLANG_ARGS_wasm32_wasip2",
        WASI_CFLAGS,
    );

    let status = build.status().expect("running cargo to build the guest");
    if !status.success() {
        panic!(
            "building the sandbox guest failed (see above). It needs the wasm32-wasip2 target and Debian's \
             clang-19, llvm-19, wasi-libc and libclang-rt-19-dev-wasm32: `make setup` installs them."
        );
    }
    let wasm = target_dir.join("wasm32-wasip2/release/bgwasm_guest.wasm");
    copy_if_changed(&wasm, &out);
}

fn set_default(command: &mut Command, name: &str, value: &str) {
    if env::var_os(name).is_none() {
        command.env(name, value);
    }
}

fn copy_if_changed(from: &Path, to: &Path) {
    let bytes = std::fs::read(from)
        .unwrap_or_else(|e| panic!("reading the guest at {}: {e}", from.display()));
    if std::fs::read(to).ok().as_deref() != Some(&bytes[..]) {
        std::fs::write(to, &bytes).unwrap_or_else(|e| panic!("writing {}: {e}", to.display()));
    }
}
