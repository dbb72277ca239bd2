//! The demo binary's flags: bad values exit with code 2 and say why; good
//! ones (flags or `MITTEN_DEMO_*` variables) serve the app.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mitten-demo");
const KEY: &str = "cli test key: at least thirty-two bytes long!!";

fn run_bad(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .env("MITTEN_DEMO_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .expect("demo binary runs");
    assert_eq!(out.status.code(), Some(2), "{args:?} {envs:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_flag_values_exit_2_with_a_clear_message() {
    let e = run_bad(&["--idle-timeout", "0"], &[]);
    assert!(
        e.contains("--idle-timeout") && e.contains("at least 1 second"),
        "{e}"
    );
    let e = run_bad(&["--absolute-timeout", "soon"], &[]);
    assert!(e.contains("not a whole number"), "{e}");
    let e = run_bad(&["--listen", "nowhere"], &[]);
    assert!(e.contains("--listen"), "{e}");
    let e = run_bad(&["--secret-key", "short"], &[]);
    assert!(e.contains("at least 32 bytes"), "{e}");
    let e = run_bad(
        &[
            "--secret-key",
            KEY,
            "--trusted-origin",
            "https://a.example/path",
        ],
        &[],
    );
    assert!(e.contains("trusted origin"), "{e}");
    let e = run_bad(
        &["--secret-key", KEY, "--store", "ftp://user:hunter2@host/"],
        &[],
    );
    assert!(
        e.contains("unknown session store") && !e.contains("hunter2"),
        "{e}"
    );
    let e = run_bad(&["--banner", "bad\nbanner", "--secret-key", KEY], &[]);
    assert!(e.contains("banner"), "{e}");
    let e = run_bad(&["--secret-key", KEY, "--https", "--insecure-cookies"], &[]);
    assert!(e.contains("not Secure"), "{e}");
    let e = run_bad(&["--secret-key", KEY, "--allowed-host", "*"], &[]);
    assert!(e.contains("wildcards"), "{e}");
    let e = run_bad(&["--report-only", "everything"], &[]);
    assert!(e.contains("unknown protection"), "{e}");
    let e = run_bad(&["--header-preset", "paranoid"], &[]);
    assert!(e.contains("--header-preset"), "{e}");
    // The same checks apply to the environment variables.
    let e = run_bad(&[], &[("MITTEN_DEMO_IDLE_TIMEOUT", "-5")]);
    assert!(e.contains("idle-timeout"), "{e}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn env_variables_configure_and_serve_the_demo() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .env("MITTEN_DEMO_LISTEN", format!("127.0.0.1:{port}"))
        .env("MITTEN_DEMO_SECRET_KEY", KEY)
        .env("MITTEN_DEMO_BANNER", "From the environment")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            break out;
        }
        assert!(Instant::now() < deadline, "demo did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().ok();
    child.wait().ok();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("server: From the environment"), "{answer}");
}

#[test]
fn print_policy_shows_the_effective_headers_and_exits() {
    let out = Command::new(BIN)
        .args([
            "--secret-key",
            KEY,
            "--print-policy",
            "--https",
            "--header-preset",
            "strict",
        ])
        .args([
            "--allowed-host",
            "app.example",
            "--report-only",
            "csrf,json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "allowed hosts: app.example",
        "report-only: csrf-origin, csrf-token, json",
        "strict-transport-security: max-age=63072000; includeSubDomains",
        "cross-origin-embedder-policy: require-corp",
        "route /public_api/: CSRF-exempt",
        "headers on /embed/:",
        "x-frame-options: SAMEORIGIN",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}
