//! Dashboard logins and sessions, in memory: a restart logs everyone out.
//!
//! A login URL carries a one-time token; redeeming it opens a session, whose
//! token travels in a cookie. Tokens are 256 random bits from the operating
//! system's CSPRNG, and both maps are keyed by the token's SHA-256, so a
//! lookup compares no secret byte by byte. A redeemed or expired login token
//! is remembered a while longer, so opening its URL again says what
//! happened instead of calling it forged.

use crate::identity::Did;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// How long a login URL may wait to be opened.
pub const LOGIN_TTL: Duration = Duration::from_secs(5 * 60);
/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a spent or expired login token is remembered, to say so.
const REMEMBER_SPENT: Duration = Duration::from_secs(24 * 60 * 60);
/// Outstanding login tokens and sessions each, at most (the oldest go).
const CAPACITY: usize = 10_000;

/// What a session may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The operator's: every space.
    All,
    /// One space's key: that space only.
    Space(Did),
}

impl Access {
    pub fn allows(&self, space: &Did) -> bool {
        match self {
            Self::All => true,
            Self::Space(own) => own == space,
        }
    }
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: Access,
    /// Sent back in the `X-Bgwasm-Csrf` header of every mutating request.
    pub csrf: String,
    pub expires: Instant,
}

impl Session {
    /// Whether `token` is this session's CSRF token (in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// Why a login URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Opened once already.
    Used,
    /// Not opened in time.
    Expired,
    /// Never issued by this daemon (or issued before it restarted).
    Unknown,
}

struct Login {
    access: Access,
    expires: Instant,
    used: bool,
}

/// Logins and sessions, shared by the dashboard's routes.
pub struct Sessions {
    login_ttl: Duration,
    session_ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    logins: HashMap<[u8; 32], Login>,
    sessions: HashMap<[u8; 32], Session>,
}

/// A new random token, URL- and cookie-safe (43 characters).
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Drops the entry that expires first when `map` is full.
fn make_room<V>(map: &mut HashMap<[u8; 32], V>, expires: impl Fn(&V) -> Instant) {
    if map.len() >= CAPACITY
        && let Some(oldest) = map.iter().min_by_key(|(_, v)| expires(v)).map(|(k, _)| *k)
    {
        map.remove(&oldest);
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(LOGIN_TTL, SESSION_TTL)
    }
}

impl Sessions {
    pub fn new(login_ttl: Duration, session_ttl: Duration) -> Self {
        Self {
            login_ttl,
            session_ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn login_ttl(&self) -> Duration {
        self.login_ttl
    }

    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new one-time login token for `access`.
    pub fn issue_login(&self, access: Access) -> String {
        let token = new_token();
        let now = Instant::now();
        let mut inner = self.inner();
        inner
            .logins
            .retain(|_, login| now < login.expires + REMEMBER_SPENT);
        make_room(&mut inner.logins, |login| login.expires);
        inner.logins.insert(
            digest(&token),
            Login {
                access,
                expires: now + self.login_ttl,
                used: false,
            },
        );
        token
    }

    /// Redeems a login token (once): the new session's cookie token and the
    /// session.
    pub fn redeem(&self, token: &str) -> Result<(String, Session), LoginRefusal> {
        let now = Instant::now();
        let mut inner = self.inner();
        let login = inner
            .logins
            .get_mut(&digest(token))
            .ok_or(LoginRefusal::Unknown)?;
        if login.used {
            return Err(LoginRefusal::Used);
        }
        if now >= login.expires {
            return Err(LoginRefusal::Expired);
        }
        login.used = true;
        let session = Session {
            access: login.access.clone(),
            csrf: new_token(),
            expires: now + self.session_ttl,
        };
        inner.sessions.retain(|_, s| now < s.expires);
        make_room(&mut inner.sessions, |s| s.expires);
        let cookie = new_token();
        inner.sessions.insert(digest(&cookie), session.clone());
        Ok((cookie, session))
    }

    /// The live session a cookie token names, if any.
    pub fn session(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let mut inner = self.inner();
        let key = digest(token);
        let session = inner.sessions.get(&key)?;
        if now >= session.expires {
            inner.sessions.remove(&key);
            return None;
        }
        Some(session.clone())
    }

    /// Ends a session (logging out).
    pub fn end(&self, token: &str) {
        self.inner().sessions.remove(&digest(token));
    }
}
