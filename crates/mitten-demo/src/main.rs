//! `mitten-demo`: serves the demo app. Every flag is also an environment
//! variable (`MITTEN_DEMO_LISTEN`, `MITTEN_DEMO_STORE`, …).

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Parser;
use mitten::Protection;
use mitten_demo::{app, open_store, DemoConfig, HeaderPreset};

/// The Mitten demo: a small app protected against clickjacking, CSRF,
/// banner grabbing, JSON hijacking and session fixation.
#[derive(Parser, Debug)]
#[command(name = "mitten-demo", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "MITTEN_DEMO_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// Session store: `memory`, `redis://…`, `postgres://…`, `sqlite://PATH`
    /// or `sqlite::memory:`. Mitten's own URL parameters: `?prefix=` (Redis
    /// key prefix, default `mitten:session:`) and `?table=` (SQL table,
    /// default `mitten_sessions`), e.g.
    /// `redis://127.0.0.1:6379/?prefix=demo:session:`.
    #[arg(long, env = "MITTEN_DEMO_STORE", default_value = "memory")]
    store: String,

    /// Secret key (at least 32 bytes) signing cookies and CSRF tokens; the
    /// same on every instance. A random one is generated when absent.
    #[arg(long, env = "MITTEN_DEMO_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,

    /// A previous secret key that still verifies (key rotation); repeatable.
    #[arg(
        long,
        env = "MITTEN_DEMO_FALLBACK_KEY",
        hide_env_values = true,
        value_delimiter = ','
    )]
    fallback_key: Vec<String>,

    /// The `Server` header.
    #[arg(long, env = "MITTEN_DEMO_BANNER", default_value = "Mitten demo")]
    banner: String,

    /// Session idle timeout in seconds.
    #[arg(long, env = "MITTEN_DEMO_IDLE_TIMEOUT", value_parser = positive_secs)]
    idle_timeout: Option<Duration>,

    /// Session absolute timeout in seconds.
    #[arg(long, env = "MITTEN_DEMO_ABSOLUTE_TIMEOUT", value_parser = positive_secs)]
    absolute_timeout: Option<Duration>,

    /// The app's own origin, `scheme://host[:port]` (default: judged from
    /// the `Host` header).
    #[arg(long, env = "MITTEN_DEMO_ORIGIN")]
    origin: Option<String>,

    /// Another origin allowed to send unsafe requests; repeatable.
    #[arg(long, env = "MITTEN_DEMO_TRUSTED_ORIGIN", value_delimiter = ',')]
    trusted_origin: Vec<String>,

    /// Session cookie without `Secure` (named `mitten`), for plain HTTP
    /// other than localhost.
    #[arg(long, env = "MITTEN_DEMO_INSECURE_COOKIES")]
    insecure_cookies: bool,

    /// A host the app answers for (`app.example.com`, `.example.com`,
    /// `localhost:3000`); repeatable. Without one, any Host is accepted.
    #[arg(long, env = "MITTEN_DEMO_ALLOWED_HOST", value_delimiter = ',')]
    allowed_host: Vec<String>,

    /// Declares that the app is served over HTTPS: HSTS, `Secure` cookies
    /// named `__Host-mitten`, https origins only.
    #[arg(long, env = "MITTEN_DEMO_HTTPS")]
    https: bool,

    /// The hardening header preset.
    #[arg(long, env = "MITTEN_DEMO_HEADER_PRESET", value_enum, default_value_t = Preset::Default)]
    header_preset: Preset,

    /// Protections that only report: csrf (both layers), csrf-origin,
    /// csrf-token, json, host, csp; comma-separated.
    #[arg(long, env = "MITTEN_DEMO_REPORT_ONLY", value_delimiter = ',', value_parser = protections)]
    report_only: Vec<Vec<Protection>>,

    /// Print the effective policy and exit.
    #[arg(long)]
    print_policy: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Preset {
    Default,
    Strict,
}

fn protections(s: &str) -> Result<Vec<Protection>, String> {
    if s.eq_ignore_ascii_case("csrf") {
        return Ok(vec![Protection::CsrfOrigin, Protection::CsrfToken]);
    }
    s.parse().map(|p| vec![p])
}

fn positive_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be at least 1 second".into()),
        Ok(n) => Ok(Duration::from_secs(n)),
        Err(_) => Err(format!("{s:?} is not a whole number of seconds")),
    }
}

/// How often expired sessions are removed from the store.
const CLEANUP_PERIOD: Duration = Duration::from_secs(300);

/// Bad configuration: the same exit code clap uses for bad flags.
const EXIT_USAGE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();

    let secret_key = match args.secret_key {
        Some(k) => k.into_bytes(),
        None => {
            let mut key = [0u8; 32];
            if getrandom::fill(&mut key).is_err() {
                eprintln!("mitten-demo: the OS random number generator failed");
                return ExitCode::FAILURE;
            }
            tracing::warn!(
                "no --secret-key given: using a random key, so sessions end when the demo \
                 stops and other instances cannot read them"
            );
            URL_SAFE_NO_PAD.encode(key).into_bytes()
        }
    };
    let store = match open_store(&args.store).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mitten-demo: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Expired SQL rows are never served, but only this removes them (for
    // Redis it does nothing: Redis expires keys itself).
    let _cleanup = mitten::stores::spawn_cleanup(store.clone(), CLEANUP_PERIOD);
    let mut config = DemoConfig::new(secret_key);
    config.fallback_keys = args
        .fallback_key
        .into_iter()
        .map(String::into_bytes)
        .collect();
    config.store = store;
    config.banner = args.banner;
    config.idle_timeout = args.idle_timeout;
    config.absolute_timeout = args.absolute_timeout;
    config.origin = args.origin;
    config.trusted_origins = args.trusted_origin;
    config.insecure_cookies = args.insecure_cookies;
    config.allowed_hosts = args.allowed_host;
    config.https = args.https;
    config.header_preset = match args.header_preset {
        Preset::Default => HeaderPreset::Default,
        Preset::Strict => HeaderPreset::Strict,
    };
    config.report_only = args.report_only.into_iter().flatten().collect();
    if args.print_policy {
        return match mitten_demo::mitten(&config) {
            Ok(m) => {
                print!("{}", m.describe());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mitten-demo: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let router = match app(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mitten-demo: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };

    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mitten-demo: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "mitten demo on http://{} (store: {})",
        args.listen,
        mitten_demo::store_kind(&args.store)
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("mitten-demo: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
