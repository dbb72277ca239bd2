//! Safe redirects: a user-supplied target (`?next=…`) is followed only when
//! it is a path on this app's own origin; anything else falls back to a
//! default path. Against open redirects, which turn a trusted link into a
//! phishing hop.
//!
//! ```
//! use axum::{extract::Query, response::Redirect};
//! use mitten::redirect;
//!
//! #[derive(serde::Deserialize)]
//! struct Next { next: Option<String> }
//!
//! async fn after_login(Query(q): Query<Next>) -> Redirect {
//!     redirect::to_next(q.next.as_deref(), "/home/")
//! }
//!
//! assert_eq!(redirect::safe_path(Some("/notes/?page=2"), "/"), "/notes/?page=2");
//! for evil in ["//evil.test", "/\\evil.test", "https://evil.test", "javascript:alert(1)",
//!              "/%2F%2Fevil.test", "/\t/evil.test"] {
//!     assert_eq!(redirect::safe_path(Some(evil), "/"), "/");
//! }
//! ```

use axum::response::Redirect;

/// The longest target followed.
const MAX_TARGET: usize = 2048;

/// Checks one spelling: a path (`/` then not `/` or `\`), no backslash and
/// no control character (browsers read `\` as `/` and drop tabs and
/// newlines, which is how `/\evil` and `/<TAB>/evil` become `//evil`). The
/// raw target must also be printable ASCII without spaces, as URLs are.
fn plain_path(s: &str, raw: bool) -> bool {
    let b = s.as_bytes();
    b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
        && b.iter()
            .all(|&c| c != b'\\' && !c.is_ascii_control() && (!raw || c.is_ascii_graphic()))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// True when `target` is a path on this origin, in every spelling a
/// browser or a server on the way might decode it to.
pub fn is_safe_path(target: &str) -> bool {
    if target.is_empty() || target.len() > MAX_TARGET {
        return false;
    }
    let mut spelling = target.to_owned();
    // Three rounds of decoding cover double- and triple-encoded tricks
    // (`%252F`); a spelling that still changes after that is refused.
    for round in 0..3 {
        if !plain_path(&spelling, round == 0) {
            return false;
        }
        let decoded = percent_decode(&spelling);
        if decoded == spelling {
            return true;
        }
        spelling = decoded;
    }
    false
}

/// `target` when it is safe, else `fallback` (itself checked: an unsafe
/// fallback becomes `/`).
pub fn safe_path<'a>(target: Option<&'a str>, fallback: &'a str) -> &'a str {
    match target {
        Some(t) if is_safe_path(t) => t,
        _ if is_safe_path(fallback) => fallback,
        _ => "/",
    }
}

/// A `303 See Other` to `target` when it is safe, else to `fallback`.
pub fn to_next(target: Option<&str>, fallback: &str) -> Redirect {
    Redirect::to(safe_path(target, fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_on_this_origin_are_followed() {
        for ok in [
            "/",
            "/home/",
            "/notes/?page=2&x=%20y",
            "/a/../b",
            "/@evil.test",
            "/%7Euser",
        ] {
            assert!(is_safe_path(ok), "{ok}");
        }
    }

    #[test]
    fn everything_that_leaves_the_origin_is_refused() {
        for bad in [
            "",
            "//evil.test",
            "///evil.test",
            "/\\evil.test",
            "\\\\evil.test",
            "https://evil.test",
            "http:evil.test",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "evil.test",
            "home/",
            " /home/",
            "/\t/evil.test",
            "/\n/evil.test",
            "/\r/evil.test",
            "/%2F/evil.test",
            "/%2f%2fevil.test",
            "/%5Cevil.test",
            "/%252F/evil.test",
            "/%25252F/evil.test",
            "/%09/evil.test",
            "/%00",
            "/é",
            &format!("/{}", "a".repeat(3000)),
        ] {
            assert!(!is_safe_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn fallback_is_used_and_checked() {
        assert_eq!(safe_path(None, "/home/"), "/home/");
        assert_eq!(safe_path(Some("//evil"), "/home/"), "/home/");
        assert_eq!(safe_path(Some("//evil"), "https://evil"), "/");
    }
}
