//! Private Redis and PostgreSQL servers for the outage tests: started by
//! the test on a spare port in a temp dir, stopped and restarted at will,
//! removed on drop. The shared services on 6379 / 5432 are never touched.
//!
//! A missing binary is a skip with a message, or a failure when `CI` is set.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
pub fn spare_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Skip (or fail in CI) because `what` is missing.
pub fn missing(test: &str, what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {what} is required when CI is set");
    }
    eprintln!("SKIPPED {test}: {what} not available; with CI set this fails");
}

fn temp_dir(kind: &str) -> PathBuf {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("os rng");
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("mitten-{kind}-{name}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not come up in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn found(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

// ---- redis ----------------------------------------------------------------

/// `redis-server` on a spare port, with an append-only file fsynced on
/// every write, so a killed server comes back with its data (the point of
/// "data intact after the store is back").
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start(test: &str) -> Option<Self> {
        if !found("redis-server") {
            missing(test, "redis-server");
            return None;
        }
        let mut r = Self {
            port: spare_port(),
            dir: temp_dir("redis"),
            child: None,
        };
        r.spawn();
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "yes"])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let port = self.port;
        wait_for("private redis", Duration::from_secs(10), || {
            redis_ping(port)
        });
    }

    /// Kills the server (SIGKILL: a crash, not a clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data dir.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

fn redis_ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .map(|n| &buf[..n] == b"+PONG\r\n")
            .unwrap_or(false)
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- postgres -------------------------------------------------------------

/// The directory holding `initdb` and `pg_ctl`: `PATH`, else the Debian
/// layout `/usr/lib/postgresql/*/bin`.
fn pg_bin_dir() -> Option<PathBuf> {
    if found("pg_ctl") && found("initdb") {
        return Some(PathBuf::new());
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("pg_ctl").exists() && d.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A throwaway PostgreSQL cluster on a spare port (trust auth, fsync off:
/// an immediate shutdown is a crash of the server, not of the machine, so
/// committed data survives it).
///
/// PostgreSQL refuses to run as root; when the tests run as root the
/// cluster is created and run as the `postgres` user via `runuser`.
pub struct PrivatePostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

impl PrivatePostgres {
    pub fn start(test: &str) -> Option<Self> {
        let Some(bin) = pg_bin_dir() else {
            missing(test, "PostgreSQL server binaries (initdb, pg_ctl)");
            return None;
        };
        let as_postgres = is_root();
        if as_postgres && !found("runuser") {
            missing(test, "runuser (to run PostgreSQL as the postgres user)");
            return None;
        }
        let dir = temp_dir("pg");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown the temp cluster dir to postgres");
        }
        let pg = Self {
            port: spare_port(),
            dir,
            bin,
            as_postgres,
        };
        let data = pg.data_dir();
        let out = pg
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.spawn();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl")
    }

    fn spawn(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        let out = self.pg_ctl(&["-w", "-t", "30", "-o", &opts, "-l", path_str(&log), "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once, without a checkpoint (like a crash).
    pub fn kill(&self) {
        let _ = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }

    /// Starts it again on the same port and data dir.
    pub fn restart(&self) {
        self.spawn();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
