//! The command line, defined once with clap derive: this module owns every
//! flag. It holds the command tree, the flag groups several commands share
//! (`flags`), the one parser of durations (`duration`) and the exit codes
//! (`exit`). It parses, turns flags into typed options, sets up logging and
//! the async runtime, and hands the work to the module of each command
//! ([`crate::serve`], [`crate::run_once`], [`crate::client`], `id`).

mod duration;
mod exit;
mod flags;
pub mod id;
mod replay;
mod run_once;
mod runs;
mod serve;
mod store;

pub use duration::parse_duration;
pub use exit::{EXIT_DIVERGED, EXIT_RUN_FAILED, EXIT_USAGE};
pub use flags::{ClientArgs, EgressArgs, LimitArgs};
pub use replay::ReplayArgs;
pub use run_once::RunOnceArgs;
pub use runs::RunsArgs;
pub use serve::ServeArgs;
pub use store::{MigrateArgs, StoreCommand};

use crate::client::{ClientError, PieceAction};
use crate::sandbox::Lang;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

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
    pub client: ClientArgs,

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
    Serve(ServeArgs),
    /// Run one piece once, locally, and show what happened.
    ///
    /// Prints the outcome (status, duration, fuel, peak memory, fetches, logs,
    /// cells written) and exits 0 if the handler succeeded, 1 if it failed and
    /// 2 on bad input.
    RunOnce(RunOnceArgs),
    /// Manage pieces on a running daemon (API_URL).
    #[command(subcommand)]
    Piece(PieceCommand),
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
    /// List a piece's recent runs on the daemon: id, trigger, start, duration,
    /// and `ok` or the error.
    Runs(RunsArgs),
    /// Print a one-time login URL to the daemon's web dashboard.
    ///
    /// Signed by the operator key, the URL logs in to every space; with
    /// --space, signed by that space's key, to that space only. It works
    /// once, within five minutes; the session lasts 12 hours.
    Dashboard {
        /// Only this space (a name or a did:key); signs with its key.
        #[arg(long, value_name = "SPACE")]
        space: Option<String>,
    },
    /// Manage stores: copy one into another (`store migrate`).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print the did:key of a passphrase or keyfile, derive child keys, or make
    /// a new keyfile.
    Id(id::IdArgs),
    /// Run a recorded run again, locally, from its record alone: no network,
    /// the recorded cells, clocks and randomness.
    ///
    /// Exits 0 when the replay came to the run's outcome (value, error, logs,
    /// fetches, cell writes), 3 when it diverged (and says where), 1 or 2 when
    /// it could not replay.
    Replay(ReplayArgs),
}

#[derive(Debug, Subcommand)]
pub enum PieceCommand {
    /// Upload a piece's source to a space; prints its id.
    Add {
        /// The .js or .ts file (a .ts or .mts file is TypeScript).
        file: PathBuf,
        /// The space: a name (derived like the reference does) or a did:key.
        #[arg(long, value_name = "SPACE")]
        space: String,
        /// The piece id; by default it is derived from the source's hash.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// The source's language, `js` or `ts`; by default the file's
        /// extension says (`.ts` and `.mts` are TypeScript).
        #[arg(long, value_name = "LANG")]
        lang: Option<Lang>,
        /// Also register it for background runs.
        #[arg(long)]
        register: bool,
        /// The integration label of the registration (gmail, rss, ...).
        #[arg(long, value_name = "NAME", default_value = "default")]
        integration: String,
    },
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
            let served = match args.config() {
                Ok(config) => runtime.block_on(crate::serve::run(config)),
                Err(error) => Err(error),
            };
            match served {
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
            let ran = match args.options() {
                Ok(options) => runtime.block_on(crate::run_once::run(&options, &mut stdout)),
                Err(error) => Err(error),
            };
            match ran {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(EXIT_RUN_FAILED),
                Err(error) => {
                    eprintln!("bgwasm run-once: {error}");
                    ExitCode::from(exit::of_run_once(&error))
                }
            }
        }
        Command::Piece(PieceCommand::Add {
            file,
            space,
            id,
            lang,
            register,
            integration,
        }) => client_command(&runtime, cli.log_format, async |out| {
            let register = register.then_some(integration.as_str());
            let lang = lang
                .or_else(|| Lang::from_file_name(&file.to_string_lossy()))
                .unwrap_or_default();
            crate::client::add_piece(
                &cli.client.config(),
                &file,
                &space,
                id.as_deref(),
                lang,
                register,
                out,
            )
            .await
            .map(|()| true)
        }),
        Command::Register {
            space,
            piece_id,
            integration,
        } => client_command(&runtime, cli.log_format, async |out| {
            crate::client::register(&cli.client.config(), &space, &piece_id, &integration, out)
                .await
                .map(|()| true)
        }),
        Command::Status { space, json } => client_command(&runtime, cli.log_format, async |out| {
            crate::client::status(&cli.client.config(), space.as_deref(), json, out)
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
        Command::Runs(args) => client_command(&runtime, cli.log_format, async |out| {
            let config = cli.client.config();
            crate::client::runs(
                &config,
                &args.space,
                &args.piece_id,
                args.limit,
                args.json,
                out,
            )
            .await
            .map(|()| true)
        }),
        Command::Dashboard { space } => client_command(&runtime, cli.log_format, async |out| {
            let config = cli.client.config();
            let note = &mut std::io::stderr();
            crate::client::dashboard_login(&config, space.as_deref(), out, note)
                .await
                .map(|()| true)
        }),
        Command::Replay(args) => replay::main(&runtime, &cli.client, cli.log_format, &args),
        Command::Store(StoreCommand::Migrate(args)) => {
            init_logging(cli.log_format, "warn");
            store::migrate(&runtime, &args)
        }
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
    client: &ClientArgs,
    log_format: LogFormat,
    action: PieceAction,
    target: &PieceTarget,
) -> ExitCode {
    client_command(runtime, log_format, async |out| {
        crate::client::act(
            &client.config(),
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
            ExitCode::from(exit::of_client(&error))
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

    #[test]
    fn every_duration_flag_takes_units() {
        let cli = Cli::try_parse_from([
            "bgwasm",
            "run-once",
            "p.js",
            "--timeout",
            "5m",
            "--fetch-timeout",
            "1.5s",
        ])
        .unwrap();
        let Command::RunOnce(args) = cli.command else {
            panic!("parsed as another command");
        };
        let limits = args.options().unwrap().limits;
        assert_eq!(limits.timeout, std::time::Duration::from_secs(300));
        assert_eq!(
            limits.fetch_timeout,
            std::time::Duration::from_millis(1_500)
        );

        let cli = Cli::try_parse_from(["bgwasm", "serve", "--interval", "200ms", "--grace", "60"])
            .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(args.interval, std::time::Duration::from_millis(200));
        assert_eq!(args.grace, std::time::Duration::from_secs(60));
    }

    #[test]
    fn node_flags_are_parsed_and_checked_once() {
        let serve = |argv: &[&str]| {
            let cli = Cli::try_parse_from(["bgwasm", "serve"].iter().chain(argv))?;
            let Command::Serve(args) = cli.command else {
                panic!("parsed as another command");
            };
            Ok::<_, clap::Error>(args)
        };
        let args = serve(&["--node-id", "worker-1.eu_2", "--lease-ttl", "3s"]).unwrap();
        assert_eq!(args.node_id.unwrap().as_str(), "worker-1.eu_2");
        assert_eq!(args.lease_ttl, std::time::Duration::from_secs(3));
        let defaults = serve(&[]).unwrap();
        assert_eq!(defaults.lease_ttl, crate::store::DEFAULT_LEASE_TTL);
        for (argv, named) in [
            (&["--node-id", "a b"][..], "a b"),
            (&["--node-id", ""][..], "is empty"),
            (&["--lease-ttl", "500ms"][..], "at least 1s"),
        ] {
            let error = serve(argv).unwrap_err().to_string();
            assert!(error.contains(named), "{argv:?}: {error}");
        }
    }
}
