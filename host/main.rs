//! The `bgwasm` command. Everything but parsing and exit codes lives in the
//! library, where it can be tested.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    bgwasm::cli::main()
}
