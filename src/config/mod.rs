//! The command line, declared with clap: every subcommand, flag, default and
//! environment variable (`--max-upload-bytes` ↔ `DOCMILL_MAX_UPLOAD_BYTES`; a
//! flag on the command line wins over the environment), the value parsers
//! for durations, sizes and addresses, and the resolved configurations the
//! rest of the program reads.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use docmill_engine::{OcrLanguages, OcrMode};

mod parse;
mod resolve;

pub use parse::{parse_bind, parse_bytes, parse_duration};
use parse::{parse_count, parse_count_u64, parse_ocr_mode, parse_server_url, parse_store_url};
pub use resolve::{pool_flags, serve_config, ServeConfig};

/// Default per-file upload limit: large scanned PDFs run to tens of MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: &str = "100MiB";
/// Default limit of one batch or job request, which may carry many files.
pub const DEFAULT_MAX_REQUEST_BYTES: &str = "2GiB";
/// Default address-space limit per worker: generous for real documents,
/// small enough that a runaway parser dies long before the machine swaps.
pub const DEFAULT_WORKER_MEMORY: &str = "2GiB";
/// Default time one document may take in a worker: the slowest real
/// documents (long scanned PDFs) take seconds, a hostile one forever.
pub const DEFAULT_JOB_TIMEOUT: &str = "60";
/// Default worker recycling: often enough to bound slow leaks, rare enough
/// that a fork per thousand documents costs nothing.
pub const DEFAULT_MAX_JOBS_PER_WORKER: &str = "1000";
/// Default lifetime of a finished job: a week covers a weekend and a
/// forgotten Monday.
pub const DEFAULT_JOB_TTL: &str = "7d";
/// A request body that makes no progress for this long while the server
/// waits for it is cut off (408): long enough for a client on a slow link or
/// a busy machine, short enough that stalled clients cannot pile up.
pub const DEFAULT_BODY_TIMEOUT: &str = "30s";
/// How long SIGTERM lets in-flight requests and running job documents
/// finish before the pool stops: a long analysis usually ends within it, and
/// a job document that does not is left for the next start.
pub const DEFAULT_SHUTDOWN_GRACE: &str = "30s";
/// Concurrent connections served by default. Each can hold a socket and a
/// spool file; 1024 keeps well inside common descriptor limits (the server
/// lowers it further when the limit is tight) while far exceeding what the
/// worker pool can keep busy.
pub const DEFAULT_MAX_CONNECTIONS: &str = "1024";
/// Default connections of one peer: a quarter of the default cap, so that a
/// single client cannot hold them all; a reverse proxy in front needs more.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: &str = "256";
/// Default uploads in flight from `docmill submit`: enough to keep a small
/// server's workers busy without queueing far ahead of them.
pub const DEFAULT_SUBMIT_CONCURRENCY: &str = "4";
/// Default OCR mode for requests without `?ocr=`: images and PDF pages
/// without a text layer are read, everything else is left alone.
pub const DEFAULT_OCR: &str = "auto";
/// Default OCR languages for requests without `?ocr_lang=`: English, the
/// model Tesseract packages install with the engine.
pub const DEFAULT_OCR_LANG: &str = "eng";
/// Pages OCR reads per document by default (`--ocr-max-pages`): at a second
/// or two a page on one core, a hundred pages already needs a longer
/// `--job-timeout` than the default.
pub const DEFAULT_OCR_MAX_PAGES: &str = "100";
/// Queue slots per worker by default (`--queue` = 4 x workers, as the
/// contract gives it), and the most documents of one batch in the pool per
/// worker: enough to keep workers fed between uploads. A burst of clients
/// beyond it is refused with `Retry-After`, and refusals go out at a bounded
/// rate (`pool::MAX_REFUSALS_PER_SEC`), so clients that retry at once do
/// not take the cores the workers need.
pub const QUEUE_PER_WORKER: usize = 4;

/// The default `--queue`.
pub fn default_queue(workers: usize) -> usize {
    QUEUE_PER_WORKER * workers
}
/// A worker below this address-space cap cannot even load its tables.
const MIN_WORKER_MEMORY: u64 = 64 << 20;
/// A document and its frame header must fit the wire's `u32` length.
const MAX_UPLOAD_CEILING: u64 = u32::MAX as u64 - (1 << 20);
/// Longest duration any flag accepts (about 31 years): beyond it the number
/// is a typo, and `Instant` arithmetic could overflow.
const MAX_DURATION_SECS: f64 = 1e9;

const MAIN_EXAMPLES: &str = "\
Examples:
  docmill serve --bind :8080 --workers 4
  docmill analyze --text report.pdf notes.docx
  docmill submit --server http://localhost:8080 --out results.ndjson ~/documents
  docmill completions bash > /etc/bash_completion.d/docmill

Every flag of serve, analyze and submit also reads an environment variable:
--max-upload-bytes is DOCMILL_MAX_UPLOAD_BYTES; the flag wins.";

const SERVE_EXAMPLES: &str = "\
Examples:
  docmill serve
  docmill serve --bind :8080 --workers 8 --job-timeout 30s
  DOCMILL_BIND=0.0.0.0:9000 DOCMILL_ACCESS_LOG=true docmill serve --log-format json";

const ANALYZE_EXAMPLES: &str = "\
Examples:
  docmill analyze report.pdf
  docmill analyze --text --workers 2 *.docx > reports.ndjson";

const SUBMIT_EXAMPLES: &str = "\
Examples:
  docmill submit --server http://localhost:8080 --out results.ndjson ~/documents
  docmill submit --server https://docs.example.com/docmill/ --api-key \"$KEY\" --include '*.pdf' .
  docmill submit --server http://localhost:8080 --out results.ndjson --resume ~/documents";

#[derive(Parser, Debug)]
#[command(
    name = "docmill",
    version,
    about = "Document analysis service: reports (format, metadata, text, language, keywords) for documents",
    arg_required_else_help = true,
    after_help = MAIN_EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// In every subcommand a flag given twice takes its last value
/// (`args_override_self`), so a script can append to a base command line.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server in front of a pool of worker processes.
    #[command(after_help = SERVE_EXAMPLES, args_override_self = true)]
    Serve(ServeArgs),
    /// Analyse files locally (no server), one NDJSON report per line on stdout.
    #[command(after_help = ANALYZE_EXAMPLES, args_override_self = true)]
    Analyze(AnalyzeArgs),
    /// Upload files and directories to a server, NDJSON results out, with progress.
    #[command(after_help = SUBMIT_EXAMPLES, args_override_self = true)]
    Submit(SubmitArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  docmill completions bash > ~/.local/share/bash-completion/completions/docmill\n  \
                            docmill completions zsh > ~/.zfunc/_docmill\n  \
                            docmill completions fish > ~/.config/fish/completions/docmill.fish"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per subcommand into a directory.
    #[command(after_help = "Examples:\n  docmill man | man -l -\n  docmill man --out-dir /usr/local/share/man/man1")]
    Man {
        /// Write docmill.1, docmill-serve.1, ... into DIR instead of printing docmill.1.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// The flags of the worker pool, shared by `serve` and `analyze`.
#[derive(Args, Debug, Clone)]
pub struct PoolArgs {
    /// Worker processes [default: the number of cores]. e.g. --workers 4
    #[arg(long, env = "DOCMILL_WORKERS", value_name = "N", value_parser = parse_count)]
    pub workers: Option<usize>,
    /// Documents that may wait for a worker; more interactive requests get 503 [default: 4 x workers]. e.g. --queue 32
    #[arg(long, env = "DOCMILL_QUEUE", value_name = "N", value_parser = parse_count)]
    pub queue: Option<usize>,
    /// Largest document accepted, per file (units: KiB, MiB, GiB). e.g. --max-upload-bytes 20MiB
    #[arg(long, env = "DOCMILL_MAX_UPLOAD_BYTES", value_name = "BYTES", default_value = DEFAULT_MAX_UPLOAD_BYTES, value_parser = parse_bytes)]
    pub max_upload_bytes: u64,
    /// Time one document may take in a worker before it is stopped (504); counted from when a worker starts on it, not while it waits.
    /// Seconds or units: 0.5, 30s, 10m. e.g. --job-timeout 30s
    #[arg(long, env = "DOCMILL_JOB_TIMEOUT", value_name = "DURATION", default_value = DEFAULT_JOB_TIMEOUT, value_parser = parse_duration)]
    pub job_timeout: Duration,
    /// Documents after which a worker is replaced by a fresh one. e.g. --max-jobs-per-worker 500
    #[arg(long, env = "DOCMILL_MAX_JOBS_PER_WORKER", value_name = "N", default_value = DEFAULT_MAX_JOBS_PER_WORKER, value_parser = parse_count_u64)]
    pub max_jobs_per_worker: u64,
    /// Address-space limit of each worker (units: MiB, GiB). e.g. --worker-memory 1GiB
    #[arg(long, env = "DOCMILL_WORKER_MEMORY", value_name = "BYTES", default_value = DEFAULT_WORKER_MEMORY, value_parser = parse_bytes)]
    pub worker_memory: u64,
    /// The account workers switch to when the server runs as root [default: nobody, when root;
    /// else workers keep the server's account]. e.g. --worker-user docmill
    #[arg(long, env = "DOCMILL_WORKER_USER", value_name = "NAME")]
    pub worker_user: Option<String>,
    /// OCR for requests without ?ocr=: auto (images and pages without text), on (every page with an image) or off.
    /// e.g. --ocr off
    #[arg(long, env = "DOCMILL_OCR", value_name = "MODE", default_value = DEFAULT_OCR, value_parser = parse_ocr_mode)]
    pub ocr: OcrMode,
    /// OCR languages for requests without ?ocr_lang=, in Tesseract's syntax; loaded by every worker at boot.
    /// e.g. --ocr-lang eng+deu
    #[arg(long, env = "DOCMILL_OCR_LANG", value_name = "LANGS", default_value = DEFAULT_OCR_LANG, value_parser = OcrLanguages::parse)]
    pub ocr_lang: OcrLanguages,
    /// Pages read by OCR per document; the rest get a truncated warning. e.g. --ocr-max-pages 20
    #[arg(long, env = "DOCMILL_OCR_MAX_PAGES", value_name = "N", default_value = DEFAULT_OCR_MAX_PAGES, value_parser = parse_count)]
    pub ocr_max_pages: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on; `:PORT` means all interfaces, port 0 a free port. e.g. --bind :8080
    #[arg(long, env = "DOCMILL_BIND", value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    pub bind: String,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Largest batch or job request, all its files together. e.g. --max-request-bytes 4GiB
    #[arg(long, env = "DOCMILL_MAX_REQUEST_BYTES", value_name = "BYTES", default_value = DEFAULT_MAX_REQUEST_BYTES, value_parser = parse_bytes)]
    pub max_request_bytes: u64,
    /// Directory of the upload spool and the job store. e.g. --data-dir /var/lib/docmill
    #[arg(long, env = "DOCMILL_DATA_DIR", value_name = "DIR", default_value = "./docmill-data")]
    pub data_dir: PathBuf,
    /// How long finished jobs are kept. Seconds or units: 3600, 12h, 7d. e.g. --job-ttl 1d
    #[arg(long, env = "DOCMILL_JOB_TTL", value_name = "DURATION", default_value = DEFAULT_JOB_TTL, value_parser = parse_duration)]
    pub job_ttl: Duration,
    /// A request body that sends nothing for this long is cut off with 408. e.g. --body-timeout 10s
    #[arg(long, env = "DOCMILL_BODY_TIMEOUT", value_name = "DURATION", default_value = DEFAULT_BODY_TIMEOUT, value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// After SIGTERM, how long in-flight requests and running job documents may finish. e.g. --shutdown-grace 1m
    #[arg(long, env = "DOCMILL_SHUTDOWN_GRACE", value_name = "DURATION", default_value = DEFAULT_SHUTDOWN_GRACE, value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Connections served at once; past it only /healthz and /readyz are answered (lowered to what the
    /// descriptor limit allows). e.g. --max-connections 256
    #[arg(long, env = "DOCMILL_MAX_CONNECTIONS", value_name = "N", default_value = DEFAULT_MAX_CONNECTIONS, value_parser = parse_count)]
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold; past it, its new connections answer only
    /// probes and get 503 overloaded (lowered to --max-connections; behind a reverse proxy, raise it to
    /// --max-connections). e.g. --max-connections-per-peer 64
    #[arg(long, env = "DOCMILL_MAX_CONNECTIONS_PER_PEER", value_name = "N", default_value = DEFAULT_MAX_CONNECTIONS_PER_PEER, value_parser = parse_count)]
    pub max_connections_per_peer: usize,
    /// Threads that serve HTTP (the workers are processes of their own); fewer cost less CPU per
    /// request when the clients run elsewhere [default: one per core]. e.g. --runtime-threads 1
    #[arg(long, env = "DOCMILL_RUNTIME_THREADS", value_name = "N", value_parser = parse_count)]
    pub runtime_threads: Option<usize>,
    /// Log line format on stderr: text, or json (one object per line). e.g. --log-format json
    #[arg(long, env = "DOCMILL_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log one line per request (method, path, status, bytes, duration, request id). e.g. --access-log
    #[arg(long, env = "DOCMILL_ACCESS_LOG", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub access_log: bool,
    /// API keys, one per line (blank lines and # comments skipped), read again on SIGHUP; with it or
    /// DOCMILL_API_KEYS (comma-separated) every /v1/* request needs `Authorization: Bearer KEY`
    /// [default: none]. e.g. --api-key-file /etc/docmill/keys
    #[arg(long, env = "DOCMILL_API_KEY_FILE", value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// /metrics needs `Authorization: Bearer KEY`; prefer the variable, as a command line is visible to
    /// local users [default: /metrics is open]. e.g. --metrics-key "$KEY"
    #[arg(long, env = "DOCMILL_METRICS_KEY", value_name = "KEY", hide_env_values = true)]
    pub metrics_key: Option<String>,
    /// Keep jobs in PostgreSQL, shared by every node that names the same store (libpq URL forms,
    /// e.g. ?host=/var/run/postgresql) [default: SQLite under --data-dir]. e.g. --store postgres://docmill@db/docmill
    #[arg(long, env = "DOCMILL_STORE", value_name = "URL", value_parser = parse_store_url)]
    pub store: Option<String>,
    /// With --store: how long a claimed document stays this node's without its heartbeat; a dead
    /// node's documents go to the others after it. e.g. --lease 15s
    #[arg(long, env = "DOCMILL_LEASE", value_name = "DURATION", default_value = DEFAULT_LEASE, value_parser = parse_duration)]
    pub lease: Duration,
}

/// A node that stops heartbeating loses its documents after this long:
/// long enough that a busy node or a slow store never loses a lease it
/// still uses, short enough that a dead node's work resumes within a minute.
const DEFAULT_LEASE: &str = "30s";

#[derive(Args, Debug, Clone)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Add the extracted text to each report. e.g. --text
    #[arg(long, env = "DOCMILL_TEXT", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub text: bool,
    /// Add the document as Markdown (headings, lists, tables, links) to each report. e.g. --markdown
    #[arg(long, env = "DOCMILL_MARKDOWN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub markdown: bool,
    /// Files to analyse, reported in this order.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SubmitArgs {
    /// The server's URL (required): http:// or https://, with a path prefix behind a reverse proxy.
    /// e.g. --server https://docs.example.com/docmill/
    #[arg(long, env = "DOCMILL_SERVER", value_name = "URL", value_parser = parse_server_url)]
    pub server: reqwest::Url,
    /// Uploads in flight at once. e.g. --concurrency 8
    #[arg(long, env = "DOCMILL_CONCURRENCY", value_name = "N", default_value = DEFAULT_SUBMIT_CONCURRENCY, value_parser = parse_count)]
    pub concurrency: usize,
    /// Write the NDJSON lines to FILE instead of stdout [default: stdout]. e.g. --out results.ndjson
    #[arg(long, env = "DOCMILL_OUT", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Append to --out, skipping every file that already has a line there. e.g. --resume
    #[arg(long, env = "DOCMILL_RESUME", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), requires = "out")]
    pub resume: bool,
    /// Ask for the extracted text in each report. e.g. --text
    #[arg(long, env = "DOCMILL_TEXT", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub text: bool,
    /// Also take hidden files and files that .gitignore/.ignore exclude. e.g. --no-ignore
    #[arg(long, env = "DOCMILL_NO_IGNORE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub no_ignore: bool,
    /// Take only files matching GLOB (a GLOB without / matches the file name); repeatable;
    /// the variable takes a comma-separated list [default: every file]. e.g. --include '*.pdf' --include '*.{docx,odt}'
    #[arg(long, env = "DOCMILL_INCLUDE", value_name = "GLOB", action = ArgAction::Append)]
    pub include: Vec<String>,
    /// Skip files matching GLOB; repeatable; the variable takes a comma-separated list [default: none].
    /// e.g. --exclude '*.tmp'
    #[arg(long, env = "DOCMILL_EXCLUDE", value_name = "GLOB", action = ArgAction::Append)]
    pub exclude: Vec<String>,
    /// Sent as `Authorization: Bearer KEY` to a server with API keys [default: none]. e.g. --api-key "$KEY"
    #[arg(long, env = "DOCMILL_API_KEY", value_name = "KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Files and directories to submit; directories are walked.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `TIMESTAMP LEVEL message key=value ...`
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message` and the fields.
    Json,
}

/// Parses the command line and the environment; on a usage error, `--help`
/// or `--version` prints and exits (2 for errors, 0 otherwise).
pub fn parse() -> Cli {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    if let (Command::Submit(args), Some(submit)) = (&mut cli.command, matches.subcommand_matches("submit")) {
        for (name, globs) in [("include", &mut args.include), ("exclude", &mut args.exclude)] {
            if submit.value_source(name) == Some(ValueSource::EnvVariable) {
                *globs = globs.iter().flat_map(|list| split_glob_list(list)).collect();
            }
        }
    }
    cli
}

/// A usage error found after parsing (two flags that do not fit together):
/// reported like clap's own, exit status 2.
pub fn usage_error(message: impl std::fmt::Display) -> ! {
    Cli::command().error(clap::error::ErrorKind::ValueValidation, message).exit()
}

/// Splits `DOCMILL_INCLUDE=*.pdf,*.{doc,docx}` at the commas outside braces,
/// so that a glob's own alternatives stay whole.
fn split_glob_list(list: &str) -> Vec<String> {
    let mut globs = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in list.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                globs.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    globs.push(current);
    globs.into_iter().map(|glob| glob.trim().to_owned()).filter(|glob| !glob.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_accept_binary_suffixes() {
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("100MiB"), Ok(100 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("1kb"), Ok(1024));
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn durations_accept_seconds_and_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        for bad in ["0", "-1", "NaN", "", "5 parsecs", "1e12"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn bind_port_alone_means_all_interfaces() {
        assert_eq!(parse_bind(":8080").as_deref(), Ok("0.0.0.0:8080"));
        assert_eq!(parse_bind("127.0.0.1:0").as_deref(), Ok("127.0.0.1:0"));
        assert_eq!(parse_bind("[::]:8080").as_deref(), Ok("[::]:8080"));
        assert!(parse_bind("8080").is_err());
        assert!(parse_bind(":http").is_err());
    }

    #[test]
    fn server_urls_keep_their_prefix_and_default_port() {
        let url = parse_server_url("http://host/docmill").unwrap();
        assert_eq!(url.join("v1/analyze").unwrap().as_str(), "http://host/docmill/v1/analyze");
        assert_eq!(parse_server_url("https://host").unwrap().port_or_known_default(), Some(443));
        assert!(parse_server_url("ftp://host").is_err());
        assert!(parse_server_url("host:8080").is_err());
    }

    #[test]
    fn glob_lists_split_outside_braces() {
        assert_eq!(split_glob_list("*.pdf, *.{doc,docx},"), ["*.pdf", "*.{doc,docx}"]);
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
