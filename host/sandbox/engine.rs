//! What every space's sandbox shares: the wasmtime engine, the compiled and
//! pre-initialised guest, the linker of host imports, the HTTP client, and the
//! cache of stripped TypeScript pieces.

use super::SandboxError;
use super::bindings::SandboxPre;
use super::cache;
use super::egress::{EgressPolicy, PolicyResolver};
use super::slots::{self, InstanceSlots};
use super::state::StoreState;
use crate::typescript::StripCache;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The wasm stack a run may use. QuickJS's own stack check (in the guest)
/// fires well before this, so deep recursion is normally a JavaScript error.
const MAX_WASM_STACK: usize = 4 << 20;

/// How [`SandboxEngine`] is set up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Where the compiled guest is cached. `None`: `$BGWASM_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/bgwasm`, else `~/.cache/bgwasm`.
    pub cache_dir: Option<PathBuf>,
    /// Where fetches may go. The default denies every internal address.
    pub egress: EgressPolicy,
    /// How many sandboxes are to be kept live at once (a
    /// [`super::SandboxPool`]'s cap): the engine's instance slots are sized
    /// from it, with room to spare. Default: 256.
    pub max_live_sandboxes: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            egress: EgressPolicy::default(),
            max_live_sandboxes: slots::DEFAULT_ENGINE_SANDBOXES,
        }
    }
}

/// The engine shared by all sandboxes of a process.
pub struct SandboxEngine {
    engine: wasmtime::Engine,
    pre: SandboxPre<StoreState>,
    http: reqwest::Client,
    egress: Arc<EgressPolicy>,
    strip_cache: StripCache,
    slots: InstanceSlots,
    max_live: usize,
}

impl SandboxEngine {
    /// Builds the engine and loads the guest: from the cache when it holds this
    /// guest for this engine configuration, else by pre-initialising and
    /// compiling it (a second or so) and caching the result.
    pub async fn new(options: EngineOptions) -> Result<Arc<Self>, SandboxError> {
        let max_live = options.max_live_sandboxes.max(1);
        let slot_count = slots::slots_for(max_live);
        let allocation = slots::allocation_strategy(slot_count);
        let pooled = matches!(allocation, wasmtime::InstanceAllocationStrategy::Pooling(_));
        let mut config = engine_config();
        config.allocation_strategy(allocation);
        let engine = wasmtime::Engine::new(&config).map_err(|e| {
            SandboxError::Setup(anyhow::Error::from(e).context(format!(
                "reserving {slot_count} instance slots for {max_live} live sandboxes \
                 (--max-live-sandboxes); try fewer"
            )))
        })?;
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
            slots: InstanceSlots::new(pooled.then_some(slot_count)),
            max_live,
        }))
    }

    /// The TypeScript pieces stripped so far, shared by every sandbox of
    /// the process.
    pub fn strip_cache(&self) -> &StripCache {
        &self.strip_cache
    }

    /// How many sandboxes this engine was made to keep live at once.
    pub fn max_live_sandboxes(&self) -> usize {
        self.max_live
    }

    /// How many instances can be live at once, when they are pooled (made
    /// for [`EngineOptions::max_live_sandboxes`] and some to spare); `None`
    /// when they are allocated on demand.
    pub fn instance_slots(&self) -> Option<usize> {
        self.slots.pooled()
    }

    pub(crate) fn slots(&self) -> &InstanceSlots {
        &self.slots
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
