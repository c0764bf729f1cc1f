//! What every space's sandbox shares: the wasmtime engine, the compiled and
//! pre-initialised guest, the linker of host imports, the HTTP client, and the
//! cache of stripped TypeScript pieces.

use super::SandboxError;
use super::bindings::SandboxPre;
use super::cache;
use super::egress::{EgressPolicy, PolicyResolver};
use super::state::StoreState;
use crate::typescript::StripCache;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The wasm stack a run may use. QuickJS's own stack check (in the guest)
/// fires well before this, so deep recursion is normally a JavaScript error.
const MAX_WASM_STACK: usize = 4 << 20;

/// How [`SandboxEngine`] is set up.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Where the compiled guest is cached. `None`: `$BGWASM_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/bgwasm`, else `~/.cache/bgwasm`.
    pub cache_dir: Option<PathBuf>,
    /// Where fetches may go. The default denies every internal address.
    pub egress: EgressPolicy,
}

/// The engine shared by all sandboxes of a process.
pub struct SandboxEngine {
    engine: wasmtime::Engine,
    pre: SandboxPre<StoreState>,
    http: reqwest::Client,
    egress: Arc<EgressPolicy>,
    strip_cache: StripCache,
}

impl SandboxEngine {
    /// Builds the engine and loads the guest: from the cache when it holds this
    /// guest for this engine configuration, else by pre-initialising and
    /// compiling it (a second or so) and caching the result.
    pub async fn new(options: EngineOptions) -> Result<Arc<Self>, SandboxError> {
        let engine =
            wasmtime::Engine::new(&engine_config()).map_err(|e| SandboxError::Setup(e.into()))?;
        let cache_dir = options.cache_dir.unwrap_or_else(cache::default_dir);
        let component = cache::load_guest(&engine, &cache_dir).await?;
        let mut linker = Linker::<StoreState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| SandboxError::Setup(e.into()))?;
        super::bindings::Sandbox::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| SandboxError::Setup(e.into()))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(SandboxPre::new)
            .map_err(|e| SandboxError::Setup(e.into()))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let egress = Arc::new(options.egress);
        let http = reqwest::Client::builder()
            .user_agent(concat!("bgwasm/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            // Redirects are followed by the fetcher, which checks every hop.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver {
                policy: egress.clone(),
            }))
            .build()
            .map_err(|e| SandboxError::Setup(e.into()))?;
        Ok(Arc::new(Self {
            engine,
            pre,
            http,
            egress,
            strip_cache: StripCache::default(),
        }))
    }

    /// The TypeScript pieces stripped so far, shared by every sandbox of
    /// the process.
    pub fn strip_cache(&self) -> &StripCache {
        &self.strip_cache
    }

    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    pub(crate) fn pre(&self) -> &SandboxPre<StoreState> {
        &self.pre
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn egress(&self) -> &Arc<EgressPolicy> {
        &self.egress
    }
}

/// The configuration is part of the cache key: change it and the guest is
/// compiled again.
pub(crate) fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + (1 << 20));
    config
}
