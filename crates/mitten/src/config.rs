//! The validated configuration shared (behind one `Arc`) by every request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use cookie::{Cookie, SameSite};
use http::HeaderValue;

use crate::csrf::origin::{Origin, TrustedOrigin};
use crate::headers::{CompiledHeaders, FrameOptions};
use crate::host::HostPattern;
use crate::keys::KeyRing;
use crate::rejection::Rejection;
use crate::report::{Protection, ReportFn};
use crate::session::store::SessionStore;

pub(crate) type RejectFn = Arc<dyn Fn(&Rejection) -> Response + Send + Sync>;

pub(crate) struct Config {
    pub(crate) keys: KeyRing,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) session: SessionConfig,
    pub(crate) csrf: CsrfConfig,
    pub(crate) headers: HeaderConfig,
    /// Everything decided per route pattern, found with one lookup.
    pub(crate) routes: HashMap<String, RouteRules>,
    pub(crate) allowed_hosts: Vec<HostPattern>,
    /// Believe `X-Forwarded-Host` / `X-Forwarded-Proto`.
    pub(crate) trust_forwarded: bool,
    /// The app declared it is served over HTTPS.
    pub(crate) https: bool,
    pub(crate) report_only: HashSet<Protection>,
    pub(crate) on_reject: Option<RejectFn>,
    pub(crate) on_report: Option<ReportFn>,
}

/// What the configuration says about one route pattern.
#[derive(Default)]
pub(crate) struct RouteRules {
    pub(crate) json: bool,
    pub(crate) csrf_exempt: bool,
    pub(crate) frame: Option<FrameOptions>,
    pub(crate) headers: Option<Arc<CompiledHeaders>>,
}

pub(crate) struct SessionConfig {
    pub(crate) cookie_name: String,
    pub(crate) cookie_domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) same_site: SameSite,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    pub(crate) max_data_bytes: usize,
    pub(crate) max_save_attempts: u32,
    pub(crate) store_timeout: Duration,
    /// Send `Clear-Site-Data` with the response that destroys a session.
    pub(crate) clear_site_data: bool,
}

impl SessionConfig {
    fn base(&self, value: String) -> Cookie<'static> {
        let mut c = Cookie::build((self.cookie_name.clone(), value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .build();
        if let Some(d) = &self.cookie_domain {
            c.set_domain(d.clone());
        }
        c
    }

    /// `Set-Cookie` for a session id (a browser-session cookie: the
    /// lifetime is enforced server-side by the idle and absolute timeouts).
    pub(crate) fn cookie_header(&self, value: &str) -> String {
        self.base(value.to_owned()).to_string()
    }

    /// `Set-Cookie` that deletes the session cookie: same name, path, domain
    /// and `Secure`, so the browser matches and drops the original.
    pub(crate) fn removal_header(&self) -> String {
        let mut c = self.base(String::new());
        c.make_removal();
        c.to_string()
    }
}

pub(crate) struct CsrfConfig {
    pub(crate) own_origin: Option<Origin>,
    pub(crate) trusted: Vec<TrustedOrigin>,
    pub(crate) body_limit: usize,
}

pub(crate) struct HeaderConfig {
    pub(crate) banner: Option<HeaderValue>,
    pub(crate) frame_options: FrameOptions,
    /// The app-wide policy; routes may have their own in [`RouteRules`].
    pub(crate) policy: CompiledHeaders,
    pub(crate) script_readable_cookies: HashSet<String>,
    pub(crate) csp_report_only: bool,
}
