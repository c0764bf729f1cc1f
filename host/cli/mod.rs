//! The command line, defined once with clap derive. Each subcommand's work
//! lives in its own module; this one parses, sets up logging and the async
//! runtime, and maps results to exit codes.

mod id;

use crate::client::{ClientError, PieceAction};
use crate::run_once::{self, RunOnceArgs};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of a run that failed (the piece threw, timed out, ...).
pub const EXIT_RUN_FAILED: u8 = 1;
/// Exit code of bad usage or bad input (a missing file, invalid JSON).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "bgwasm",
    version,
    about = "Run JavaScript pieces in the background, each space in its own WebAssembly sandbox",
    long_about = "bgwasm runs JavaScript pieces server-side. A piece is a module that exports \
                  `bgUpdater(event, ctx)`; bgwasm calls it with `{}` every 60 seconds, inside a \
                  sandbox with fuel, memory and time limits, and a run ends only when the \
                  handler's promise settles.",
    after_help = "Examples:\n  bgwasm run-once piece.js                    run a piece once and show what it did\n  \
                  bgwasm run-once piece.js --cells cells.json --write-cells\n  \
                  bgwasm run-once piece.js --json | jq .logs"
)]
pub struct Cli {
    /// How log lines look on stderr. RUST_LOG filters them (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub client: crate::client::ClientArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// A piece of a space, for the commands that act on one.
#[derive(Debug, Clone, Args)]
pub struct PieceTarget {
    /// The space: a name (derived as the reference does) or a did:key.
    pub space: String,
    pub piece_id: String,
    /// Print the daemon's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: the scheduler, the HTTP API and the embedded store.
    ///
    /// Every registered piece runs every --interval (60 s), one piece at a time
    /// per space. Runs and cells are committed to SQLite under --data-dir, so a
    /// crash loses nothing; SIGINT or SIGTERM stop it gracefully.
    Serve(crate::serve::ServeArgs),
    /// Run one piece once, locally, and show what happened.
    ///
    /// Prints the outcome (status, duration, fuel, peak memory, fetches, logs,
    /// cells written) and exits 0 if the handler succeeded, 1 if it failed and
    /// 2 on bad input.
    RunOnce(RunOnceArgs),
    /// Manage pieces on a running daemon (API_URL).
    #[command(subcommand)]
    Piece(crate::client::PieceCommand),
    /// Register a piece of a space for background runs (idempotent; registering
    /// a disabled piece again re-enables it).
    Register {
        /// The space: a name or a did:key.
        space: String,
        piece_id: String,
        /// The integration label (gmail, rss, ...).
        #[arg(long, value_name = "NAME", default_value = "default")]
        integration: String,
    },
    /// Show every registration (operator) or one space's, as a table.
    Status {
        /// Only this space (a name or a did:key); signs with its key.
        #[arg(long, value_name = "SPACE")]
        space: Option<String>,
        /// Print the registrations as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enable a registered piece again, forgiving its failures.
    Enable(PieceTarget),
    /// Stop a piece's background runs (`Disabled via UI`) without removing it.
    Disable(PieceTarget),
    /// Remove a piece's registration; a run in flight finishes.
    Unregister(PieceTarget),
    /// Run a registered piece now, on the daemon, and show the outcome.
    Run(PieceTarget),
    /// Print the did:key of a passphrase or keyfile, derive child keys, or make
    /// a new keyfile.
    Id(id::IdArgs),
}

/// The limits of a sandbox, as flags. Shared by every command that runs pieces.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Fuel per run (roughly, wasm instructions). Stops endless loops.
    #[arg(long, value_name = "N", default_value_t = crate::sandbox::Limits::DEFAULT_FUEL)]
    pub fuel: u64,
    /// Linear memory of a space's sandbox, in MiB.
    #[arg(long, value_name = "N", default_value_t = crate::sandbox::Limits::DEFAULT_MEMORY_MIB)]
    pub memory_mib: usize,
    /// Wall-clock limit per run, in seconds; waiting on fetches and timers counts.
    #[arg(long, value_name = "SECS", default_value_t = crate::sandbox::Limits::DEFAULT_TIMEOUT_SECS as f64)]
    pub timeout: f64,
    /// Largest response body one fetch may read, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::sandbox::Limits::DEFAULT_MAX_RESPONSE_BYTES)]
    pub max_response_bytes: usize,
    /// Fetches one run may make.
    #[arg(long, value_name = "N", default_value_t = crate::sandbox::Limits::DEFAULT_MAX_FETCHES)]
    pub max_fetches: u32,
    /// Time limit of one fetch, in seconds, redirects included.
    #[arg(long, value_name = "SECS", default_value_t = crate::sandbox::Limits::DEFAULT_FETCH_TIMEOUT_SECS as f64)]
    pub fetch_timeout: f64,
}

impl LimitArgs {
    /// The limits, or a message naming the flag that is out of range.
    pub fn limits(&self) -> Result<crate::sandbox::Limits, String> {
        let seconds = |flag: &str, value: f64| {
            if value.is_finite() && value > 0.0 && value <= 86_400.0 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(format!(
                    "--{flag} must be a number of seconds between 0 and 86400, not {value}"
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
        Ok(crate::sandbox::Limits {
            fuel: self.fuel,
            memory_bytes: self.memory_mib << 20,
            timeout: seconds("timeout", self.timeout)?,
            max_response_bytes: self.max_response_bytes,
            max_fetches: self.max_fetches,
            fetch_timeout: seconds("fetch-timeout", self.fetch_timeout)?,
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
    pub allow_hosts: Vec<crate::sandbox::HostPattern>,
    /// Let fetches reach loopback, private, link-local and CGNAT addresses
    /// (never cloud metadata addresses or the daemon's own API).
    #[arg(long)]
    pub allow_private_network: bool,
}

impl EgressArgs {
    pub fn policy(&self) -> crate::sandbox::EgressPolicy {
        crate::sandbox::EgressPolicy::new(self.allow_private_network, self.allow_hosts.clone())
    }
}

/// Sets up logging on stderr.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    use std::io::IsTerminal;
    // Colours only for a person at a terminal, never in a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bgwasm: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => {
            init_logging(cli.log_format, "info");
            match runtime.block_on(crate::serve::run(&args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error:#}");
                    eprintln!("bgwasm serve: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::RunOnce(args) => {
            init_logging(cli.log_format, "warn");
            let mut stdout = std::io::stdout().lock();
            match runtime.block_on(run_once::run(&args, &mut stdout)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(EXIT_RUN_FAILED),
                Err(error) => {
                    eprintln!("bgwasm run-once: {error}");
                    ExitCode::from(error.exit_code())
                }
            }
        }
        Command::Piece(command) => client_command(&runtime, cli.log_format, async |out| {
            crate::client::piece(&cli.client, &command, out)
                .await
                .map(|()| true)
        }),
        Command::Register {
            space,
            piece_id,
            integration,
        } => client_command(&runtime, cli.log_format, async |out| {
            crate::client::register(&cli.client, &space, &piece_id, &integration, out)
                .await
                .map(|()| true)
        }),
        Command::Status { space, json } => client_command(&runtime, cli.log_format, async |out| {
            crate::client::status(&cli.client, space.as_deref(), json, out)
                .await
                .map(|()| true)
        }),
        Command::Enable(target) => act(
            &runtime,
            &cli.client,
            cli.log_format,
            PieceAction::Enable,
            &target,
        ),
        Command::Disable(target) => act(
            &runtime,
            &cli.client,
            cli.log_format,
            PieceAction::Disable,
            &target,
        ),
        Command::Unregister(target) => act(
            &runtime,
            &cli.client,
            cli.log_format,
            PieceAction::Unregister,
            &target,
        ),
        Command::Run(target) => act(
            &runtime,
            &cli.client,
            cli.log_format,
            PieceAction::Run,
            &target,
        ),
        Command::Id(args) => match id::run(&args, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("bgwasm id: {error:#}");
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

fn act(
    runtime: &tokio::runtime::Runtime,
    client: &crate::client::ClientArgs,
    log_format: LogFormat,
    action: PieceAction,
    target: &PieceTarget,
) -> ExitCode {
    client_command(runtime, log_format, async |out| {
        crate::client::act(
            client,
            action,
            &target.space,
            &target.piece_id,
            target.json,
            out,
        )
        .await
    })
}

/// Runs a client command: exit 0 when it succeeded, 1 when the daemon refused
/// or the run failed, 2 on bad usage.
fn client_command(
    runtime: &tokio::runtime::Runtime,
    log_format: LogFormat,
    command: impl AsyncFnOnce(&mut dyn std::io::Write) -> Result<bool, ClientError>,
) -> ExitCode {
    init_logging(log_format, "warn");
    let mut stdout = std::io::stdout().lock();
    match runtime.block_on(command(&mut stdout)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_RUN_FAILED),
        Err(error) => {
            eprintln!("bgwasm: {error}");
            ExitCode::from(match error {
                ClientError::Usage(_) | ClientError::ReadFile { .. } => EXIT_USAGE,
                _ => EXIT_RUN_FAILED,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
