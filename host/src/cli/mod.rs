//! The `engage` command line: parsing and presentation only. The work lives in
//! library modules that tests call directly.

/// `print!` that exits quietly when stdout is a closed pipe (`engage ... | head -1`), as a
/// process killed by SIGPIPE would, instead of panicking. (The default SIGPIPE action is not
/// restored instead: sockets written with `writev`, as hyper does, would then kill `engage serve`
/// whenever a browser goes away mid-response.)
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that exits quietly when stdout is a closed pipe; see [`out!`].
macro_rules! outln {
    () => { $crate::cli::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

mod ask;
mod catalog;
mod data;
mod deploy;
mod ingest;
mod model;
mod plugin;
mod progress;
mod run;
mod runs;
mod serve;
mod sql;
mod stage;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "engage", version, about = "Weekly customer-engagement prediction on a sandboxed WebAssembly pipeline")]
pub struct Cli {
    /// Storage root of the local host: one folder per bucket.
    #[arg(long, global = true, env = "ENGAGE_ROOT", default_value = "engage-data")]
    pub root: PathBuf,

    /// How log lines are written to stderr.
    #[arg(long, global = true, value_enum, env = "ENGAGE_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log detail (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    /// JSON lines, one event per line.
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Plugins: scaffold, build, test against fixtures, publish, list.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run one Athena SQL statement against the local storage root and print the result.
    Sql(sql::SqlArgs),
    /// Synthetic data: generate weekly snapshots.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Validate CSV/Parquet snapshots and load them into the processed zone and the catalog.
    Ingest(ingest::IngestArgs),
    /// Inspect the table catalog.
    Catalog(catalog::CatalogArgs),
    /// Run a pipeline (or resume a failed or killed run) on the local host.
    Run(run::RunArgs),
    /// Gradient boosting on any table or file: train, predict, eval, explain.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// The execution history: list runs, show one.
    Runs(runs::RunsArgs),
    /// One stage of a run per process, for an outside scheduler (Step Functions).
    #[command(subcommand)]
    Stage(stage::StageCommand),
    /// Step Functions and ECS definitions for running a pipeline on AWS.
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// Ask a question about a run (answered with citations), or score a question set with --eval.
    Ask(ask::AskArgs),
    /// The web app for business users: runs, reports, results with filters and CSV, user lookup, ask box.
    Serve(serve::ServeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    let result = match cli.command {
        Command::Plugin(command) => plugin::run(command, &cli.root),
        Command::Sql(args) => sql::run(args, &cli.root),
        Command::Data(command) => data::run(command),
        Command::Ingest(args) => ingest::run(args, &cli.root),
        Command::Catalog(args) => catalog::run(args, &cli.root),
        Command::Run(args) => run::run(args, &cli.root),
        Command::Runs(args) => runs::run(args, &cli.root),
        Command::Stage(command) => stage::run(command, &cli.root),
        Command::Deploy(command) => deploy::run(command),
        Command::Model(command) => model::run(command, &cli.root),
        Command::Ask(args) => ask::run(args, &cli.root),
        Command::Serve(args) => serve::run(args, &cli.root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line a person can act on; the chain joined with ': '. (Not eprintln!: it panics on a closed stderr.)
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout. A reader that has gone away (`BrokenPipe`) ends the process with
/// status 0 and no message; any other failure is reported on stderr with status 1.
pub(crate) fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        // The SDK's credential chain warns once per provider it tries (a hundred lines when there are
        // no credentials); the failed call's own error says what is missing, in one line.
        0 => "warn,engage=info,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_smithy_http_client=error",
        1 => "info,engage=debug",
        _ => "debug,engage=trace",
    };
    let filter = EnvFilter::try_from_env("ENGAGE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: a log file or a CI log gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A log line that can't be written (stderr closed: `engage run 2>&1 | head -1`) is dropped: the
    // subscriber's own report of it would panic the thread that logged.
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
