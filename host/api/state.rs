//! What the handlers share. Built with [`ApiState::new`] and `with_*`
//! methods, so later additions do not change how the daemon builds it.

use crate::auth::Verifier;
use crate::identity::Did;
use crate::scheduler::Scheduler;
use crate::store::Store;
use std::sync::Arc;
use tokio::time::Instant;

/// The verifier, and whether unsigned registrations are let through.
pub struct ApiAuth {
    pub verifier: Verifier,
    /// `--insecure-open-registration`: reference clients post registrations
    /// unsigned.
    pub open_registration: bool,
}

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub struct ApiState {
    store: Arc<dyn Store>,
    scheduler: Scheduler,
    body_limit: usize,
    started: Instant,
    auth: Option<Arc<ApiAuth>>,
}

impl ApiState {
    pub fn new(store: Arc<dyn Store>, scheduler: Scheduler) -> Self {
        Self {
            store,
            scheduler,
            body_limit: DEFAULT_BODY_LIMIT,
            started: Instant::now(),
            auth: None,
        }
    }

    /// Requires signed requests, checked by `verifier`. `open_registration`
    /// lets unsigned `POST /api/integrations/bg` through, for reference
    /// clients. Without this, the API checks nothing (unit tests only: the
    /// daemon always sets it).
    pub fn with_auth(mut self, verifier: Verifier, open_registration: bool) -> Self {
        self.auth = Some(Arc::new(ApiAuth {
            verifier,
            open_registration,
        }));
        self
    }

    pub fn auth(&self) -> Option<&ApiAuth> {
        self.auth.as_deref()
    }

    /// The daemon's DID: the audience its signed requests must name.
    pub fn daemon_did(&self) -> Option<&Did> {
        self.auth.as_ref().map(|auth| auth.verifier.audience())
    }

    /// Bodies past this many bytes get 413.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    pub fn started(&self) -> Instant {
        self.started
    }
}
