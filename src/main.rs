//! The server binary: parse flags, set up logging, load the settings, listen, serve.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use bitbucket_password_grant::sandbox::{self, SandboxOptions};
use bitbucket_password_grant::server::Limits;
use bitbucket_password_grant::settings::Settings;
use bitbucket_password_grant::{AppState, serve, shutdown_signal};
use clap::Parser;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Bitbucket Cloud OAuth 2.0 sample: the Resource Owner Password Credentials grant, with a
/// built-in Bitbucket sandbox.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Address to listen on; 127.0.0.1 keeps the app reachable from this machine only.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The config file (consumerKey, consumerSecret, bitbucketUrl, apiUrl, sandbox).
    #[arg(long, default_value = "config.json")]
    config: PathBuf,
    /// The folder served at /static/.
    #[arg(long, default_value = "static")]
    static_dir: PathBuf,
    /// Serve only the built-in Bitbucket sandbox (under /sandbox), as a separate process; no
    /// config file needed. Point the app at it with BITBUCKET_URL=http://HOST:PORT/sandbox and
    /// BITBUCKET_API_URL=http://HOST:PORT/sandbox/api.
    #[arg(long)]
    sandbox_only: bool,
}

/// The memory allocator. glibc's malloc was 15-19% of the app's CPU time in a full password flow
/// (`perf record` under bench/run.sh's load: malloc, free, realloc, consolidation, and futex waits
/// on its arena locks); with mimalloc the app spent 70 instead of 82 µs of CPU per flow and
/// served 16% more flows per second. The benchmark's bare hyper baseline uses it too. Its arenas
/// are committed on demand (`.cargo/config.toml`), so that memory goes back after a burst.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// At most this many threads for blocking work. Static files are read through Tokio's blocking
/// pool; left at its default (512), 32 concurrent stylesheet requests grew the process to 105
/// threads and 80 MiB. Eight is plenty for a handful of small files. (Measured with bench/run.sh.)
const MAX_BLOCKING_THREADS: usize = 8;

unsafe extern "C" {
    /// mimalloc's `mi_collect`: frees what the calling thread's heap no longer uses and purges
    /// the arenas' free memory now, instead of on a later allocation.
    fn mi_collect(force: bool);
}

/// How often at most a Tokio worker gives memory back when it runs out of work.
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Run by a Tokio worker each time it runs out of work: at most once per [`COLLECT_EVERY`], hands
/// mimalloc's free memory back to the system. mimalloc purges freed memory lazily, on later
/// allocations of the same thread: an app that falls idle after a burst makes none, and kept what
/// the burst used (issue 22 saw 42 MiB kept after 20 s of 200 concurrent flows).
fn give_memory_back() {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    if LAST.get().is_none_or(|last| now.duration_since(last) >= COLLECT_EVERY) {
        LAST.set(Some(now));
        // SAFETY: mi_collect takes no pointer; mimalloc is this process's allocator.
        unsafe { mi_collect(true) };
    }
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .on_thread_park(give_memory_back)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let args = Args::parse();
    // Before anything listens: see `shutdown_signal` for why.
    let shutdown = shutdown_signal();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
        .with(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .init();

    if args.sandbox_only {
        return serve_sandbox_only(SocketAddr::new(args.host, args.port), shutdown).await;
    }
    let mut settings = match Settings::load(&args.config, |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if !args.static_dir.is_dir() {
        eprintln!("error: --static-dir {}: not a folder (run from the project's root)", args.static_dir.display());
        return ExitCode::FAILURE;
    }
    settings.static_dir = args.static_dir;

    let addr = SocketAddr::new(args.host, args.port);
    let Some((listener, local_addr)) = bind(addr).await else { return ExitCode::FAILURE };
    let state = match AppState::new(settings, local_addr).await {
        Ok(state) => state,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let reach = if local_addr.ip().is_loopback() {
        "loopback only; --host 0.0.0.0 would expose it to the network"
    } else {
        "reachable from other machines"
    };
    tracing::info!(
        "listening on http://{local_addr} ({reach}); open {}; mode: {}; config: {}",
        state.address_to_open(local_addr),
        state.mode(),
        args.config.display()
    );
    match serve(listener, state, shutdown).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: server failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--sandbox-only`: the Bitbucket emulator as a process of its own.
async fn serve_sandbox_only(addr: SocketAddr, shutdown: impl Future<Output = ()> + Send + 'static) -> ExitCode {
    let Some((listener, local_addr)) = bind(addr).await else { return ExitCode::FAILURE };
    tracing::info!(
        "listening on http://{local_addr} (sandbox only: token endpoint \
         http://{local_addr}/sandbox/site/oauth2/access_token, API http://{local_addr}/sandbox/api)"
    );
    let app = sandbox::standalone(SandboxOptions::default());
    match bitbucket_password_grant::server::serve(listener, app, Limits::default(), shutdown, None).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: server failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Listens on `addr`, or says in one line why it cannot.
async fn bind(addr: SocketAddr) -> Option<(tokio::net::TcpListener, SocketAddr)> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            let local_addr = listener.local_addr().unwrap_or(addr);
            Some((listener, local_addr))
        }
        Err(error) => {
            eprintln!("error: cannot listen on {addr}: {error} (choose another with --port or PORT)");
            None
        }
    }
}

/// What to log: `RUST_LOG` as comma-separated `level` and `target=level` directives (`debug`,
/// `info,bitbucket_password_grant=trace`), or, when it is unset or unreadable, `info` with
/// hyper's and reqwest's chatter kept to warnings.
fn log_filter(rust_log: Option<&str>) -> Targets {
    let default = || "info,hyper=warn,reqwest=warn".parse().expect("the default log filter parses");
    match rust_log.map(str::parse::<Targets>) {
        Some(Ok(targets)) => targets,
        Some(Err(error)) => {
            eprintln!("warning: RUST_LOG: {error}; logging at info");
            default()
        }
        None => default(),
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::log_filter;

    #[test]
    fn rust_log_is_read_as_targets_and_falls_back_to_the_default() {
        let quiet = log_filter(Some("warn,bitbucket_password_grant=info,bitbucket_password_grant::web=warn"));
        assert!(quiet.would_enable("bitbucket_password_grant::server", &Level::INFO));
        assert!(!quiet.would_enable("bitbucket_password_grant::web::password", &Level::INFO));
        assert!(!quiet.would_enable("hyper", &Level::INFO));
        assert!(log_filter(Some("trace")).would_enable("hyper::proto", &Level::TRACE));
        for default in [log_filter(None), log_filter(Some("=nonsense=="))] {
            assert!(default.would_enable("bitbucket_password_grant", &Level::INFO));
            assert!(!default.would_enable("bitbucket_password_grant", &Level::DEBUG));
            assert!(!default.would_enable("reqwest::connect", &Level::INFO));
        }
    }
}
