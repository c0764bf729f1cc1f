//! The flag groups several commands share: a sandbox's limits, the egress
//! policy of pieces' fetches, and where the daemon is and who signs for the
//! client commands. Each group turns its flags into the typed value the rest
//! of bgwasm uses, naming the flag at fault when one is out of range.

use super::duration::parse_duration;
use crate::client::ClientConfig;
use crate::identity::DEFAULT_SPACE_ROOT_PASSPHRASE;
use crate::sandbox::{EgressPolicy, HostPattern, Limits};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// The longest a run or a fetch may be allowed to take.
const MAX_TIME_LIMIT: Duration = Duration::from_secs(86_400);

/// The limits of a sandbox, as flags. Shared by every command that runs pieces.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Fuel per run (roughly, wasm instructions). Stops endless loops.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_FUEL)]
    pub fuel: u64,
    /// Linear memory of a space's sandbox, in MiB.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MEMORY_MIB)]
    pub memory_mib: usize,
    /// Wall-clock limit per run (60, 1.5s, 200ms, 5m); waiting on fetches and
    /// timers counts.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Largest response body one fetch may read, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT_MAX_RESPONSE_BYTES)]
    pub max_response_bytes: usize,
    /// Fetches one run may make.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_FETCHES)]
    pub max_fetches: u32,
    /// Time limit of one fetch (30, 1.5s, 500ms, 1m), redirects included.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub fetch_timeout: Duration,
}

impl LimitArgs {
    /// The limits, or a message naming the flag that is out of range.
    pub fn limits(&self) -> Result<Limits, String> {
        let time_limit = |flag: &str, value: Duration| {
            if !value.is_zero() && value <= MAX_TIME_LIMIT {
                Ok(value)
            } else {
                Err(format!(
                    "--{flag} must be more than 0 and at most 24h, not {}",
                    humantime::format_duration(value)
                ))
            }
        };
        if self.memory_mib == 0 || self.memory_mib > 4096 {
            return Err(format!(
                "--memory-mib must be between 1 and 4096, not {}",
                self.memory_mib
            ));
        }
        if self.fuel == 0 {
            return Err("--fuel must be more than 0".into());
        }
        Ok(Limits {
            fuel: self.fuel,
            memory_bytes: self.memory_mib << 20,
            timeout: time_limit("timeout", self.timeout)?,
            max_response_bytes: self.max_response_bytes,
            max_fetches: self.max_fetches,
            fetch_timeout: time_limit("fetch-timeout", self.fetch_timeout)?,
        })
    }
}

/// Where pieces' fetches may go, as flags. By default: the public internet
/// only.
#[derive(Debug, Clone, Args)]
pub struct EgressArgs {
    /// Let fetches reach hosts matching PATTERN whatever they resolve to
    /// (repeatable): api.example.com, *.example.com, or an IP address.
    #[arg(long = "allow-host", value_name = "PATTERN")]
    pub allow_hosts: Vec<HostPattern>,
    /// Let fetches reach loopback, private, link-local and CGNAT addresses
    /// (never cloud metadata addresses or the daemon's own API).
    #[arg(long)]
    pub allow_private_network: bool,
}

impl EgressArgs {
    pub fn policy(&self) -> EgressPolicy {
        EgressPolicy::new(self.allow_private_network, self.allow_hosts.clone())
    }
}

/// Where the daemon is and who signs, for the commands that talk to it.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The daemon's address.
    #[arg(
        long,
        value_name = "URL",
        env = "API_URL",
        default_value = "http://localhost:8000",
        global = true
    )]
    pub api_url: String,
    /// Sign with this keyfile (a space's key or the operator's). Without it,
    /// a space given by name signs with its derived key, and anything else
    /// with the operator passphrase (OPERATOR_PASS).
    #[arg(long, value_name = "FILE", env = "IDENTITY", global = true)]
    pub identity: Option<PathBuf>,
    /// The passphrase `--space NAME` derives from, as in the reference system.
    #[arg(long, value_name = "PASSPHRASE", env = "BGWASM_SPACE_ROOT", default_value = DEFAULT_SPACE_ROOT_PASSPHRASE, hide_default_value = true, global = true)]
    pub space_root: String,
}

impl ClientArgs {
    pub fn config(&self) -> ClientConfig {
        ClientConfig {
            api_url: self.api_url.clone(),
            identity: self.identity.clone(),
            space_root: self.space_root.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        limits: LimitArgs,
    }

    fn limits(argv: &[&str]) -> Result<Limits, String> {
        let flags = Flags::try_parse_from(std::iter::once("bgwasm").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        flags.limits.limits()
    }

    #[test]
    fn the_defaults_are_the_sandbox_defaults() {
        assert_eq!(limits(&[]), Ok(Limits::default()));
    }

    #[test]
    fn time_limits_take_every_duration_form() {
        for (text, expected) in [
            ("5m", Duration::from_secs(300)),
            ("60", Duration::from_secs(60)),
            ("200ms", Duration::from_millis(200)),
            ("1.5s", Duration::from_millis(1_500)),
        ] {
            let parsed = limits(&["--timeout", text, "--fetch-timeout", text]).unwrap();
            assert_eq!((parsed.timeout, parsed.fetch_timeout), (expected, expected));
        }
    }

    #[test]
    fn out_of_range_limits_name_their_flag() {
        for (argv, flag) in [
            (&["--timeout", "0"][..], "--timeout"),
            (&["--timeout", "25h"], "--timeout"),
            (&["--fetch-timeout", "0s"], "--fetch-timeout"),
            (&["--timeout", "soon"], "--timeout"),
            (&["--memory-mib", "0"], "--memory-mib"),
            (&["--fuel", "0"], "--fuel"),
        ] {
            let error = limits(argv).unwrap_err();
            assert!(error.contains(flag), "{argv:?}: {error}");
        }
    }
}
