//! The compiled guest, cached on disk.
//!
//! Compiling the guest takes about a second in a release build (twelve in a
//! debug one), so it is done once per guest and engine configuration: the
//! guest is pre-initialised with wasmtime-wizer (QuickJS and the prelude are
//! built inside it and snapshotted, so a fresh instance starts ready), then
//! compiled, and the artifact is kept under a key made of the guest's hash and
//! the engine's compatibility hash.

use super::SandboxError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use wasmtime::component::{Component, Linker, types::ComponentItem};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

/// The guest component, as `build.rs` built it.
static GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));

/// The guest to run: the embedded one, or the component file that
/// `BGWASM_GUEST_WASM` names — a development aid, to try a guest change
/// without rebuilding the host (`cargo build` in `guest/`, then point the
/// variable at `target/guest/wasm32-wasip2/release/bgwasm_guest.wasm`).
fn guest_wasm() -> Result<&'static [u8], SandboxError> {
    static OVERRIDE: std::sync::OnceLock<Option<Result<Vec<u8>, String>>> =
        std::sync::OnceLock::new();
    let chosen = OVERRIDE.get_or_init(|| {
        std::env::var_os("BGWASM_GUEST_WASM").map(|path| {
            std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot read the guest named by BGWASM_GUEST_WASM ({}): {e}; unset it to use the built-in guest",
                    Path::new(&path).display()
                )
            })
        })
    });
    match chosen {
        None => Ok(GUEST_WASM),
        Some(Ok(bytes)) => Ok(bytes),
        Some(Err(problem)) => Err(SandboxError::Setup(anyhow::anyhow!("{problem}"))),
    }
}
/// Bumped when the way the artifact is made changes.
const ARTIFACT_FORMAT: &str = "wizer-1";

pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BGWASM_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("bgwasm");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("bgwasm");
    }
    std::env::temp_dir().join("bgwasm-cache")
}

/// The cache file for this guest and this engine configuration.
fn artifact_path(engine: &wasmtime::Engine, dir: &Path, guest: &[u8]) -> PathBuf {
    let mut config_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut config_hash);
    let mut key = Sha256::new();
    key.update(guest);
    key.update(config_hash.finish().to_le_bytes());
    key.update(ARTIFACT_FORMAT);
    let key = hex::encode(&key.finalize()[..12]);
    dir.join(format!("guest-{key}.cwasm"))
}

/// One compilation at a time in a process: whoever waits finds the artifact
/// the first one cached.
static COMPILING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn load_guest(engine: &wasmtime::Engine, dir: &Path) -> Result<Component, SandboxError> {
    let guest = guest_wasm()?;
    let path = artifact_path(engine, dir, guest);
    let _one_at_a_time = COMPILING.lock().await;
    if path.exists() {
        match deserialize_artifact(engine, &path) {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "the cached guest is unusable; compiling it again")
            }
        }
    }
    let started = std::time::Instant::now();
    let snapshot = preinitialise(engine, guest)
        .await
        .map_err(SandboxError::Setup)?;
    let artifact = engine
        .precompile_component(&snapshot)
        .map_err(|e| SandboxError::Setup(anyhow::Error::from(e).context("compiling the guest")))?;
    let cache_error = |source| SandboxError::Cache {
        path: path.clone(),
        source,
    };
    // Only this user may write here: the SAFETY argument of
    // `deserialize_artifact` depends on it.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(cache_error)?;
    // Written aside and renamed, so a concurrent reader never sees half a file.
    let nonce: u64 = rand::random();
    let partial = path.with_extension(format!("partial-{}-{nonce:x}", std::process::id()));
    std::fs::write(&partial, &artifact).map_err(cache_error)?;
    std::fs::rename(&partial, &path).map_err(cache_error)?;
    tracing::info!(path = %path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "compiled and cached the guest");
    deserialize_artifact(engine, &path).map_err(|e| {
        SandboxError::Setup(anyhow::Error::from(e).context("loading the compiled guest"))
    })
}

/// Loads a compiled artifact from the cache: the host's one use of unsafe
/// code (`#![deny(unsafe_code)]` everywhere else).
#[allow(unsafe_code)]
fn deserialize_artifact(engine: &wasmtime::Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime runs a deserialized artifact's machine code as is, so
    // the file must be one that `precompile_component` wrote for an engine of
    // this configuration. It is: its name is keyed by the guest's hash and the
    // engine's compatibility hash (`artifact_path`), only `load_guest` writes
    // it (aside, then renamed into place), and the cache directory is created
    // with mode 0700, so no other user can replace it. wasmtime also checks
    // the artifact's header and refuses one built for another engine.
    unsafe { Component::deserialize_file(engine, path) }
}

struct InitState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for InitState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Runs the guest's `wizer-initialize` and snapshots the instance.
async fn preinitialise(engine: &wasmtime::Engine, guest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut linker = Linker::<InitState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let mut store = wasmtime::Store::new(
        engine,
        InitState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    store.set_fuel(u64::MAX)?;
    let (snapshot, _) = wasmtime_wizer::Wizer::new()
        .init_func("wizer-initialize")
        .keep_init_func(true)
        .run_component(&mut store, guest, async |store, component| {
            stub_sandbox_imports(engine, &mut linker, component)?;
            linker.instantiate_async(store, component).await
        })
        .await
        .map_err(|e| anyhow::Error::from(e).context("pre-initialising the guest"))?;
    Ok(snapshot)
}

/// The bgwasm interfaces must not be used while the engine is built: each is
/// linked to a function that fails, so a mistake shows at build time rather
/// than as state baked into the snapshot.
fn stub_sandbox_imports(
    engine: &wasmtime::Engine,
    linker: &mut Linker<InitState>,
    component: &Component,
) -> wasmtime::Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        if !name.starts_with("bgwasm:") {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut stubs = linker.instance(name)?;
        for (function, item) in instance.exports(engine) {
            if !matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                continue;
            }
            let what = format!("{name}#{function}");
            stubs.func_new(function, move |_, _, _, _| {
                wasmtime::bail!("{what} was called while the engine was pre-initialised")
            })?;
        }
    }
    Ok(())
}
