//! minijinja integration: `{{ csrf_token() }}` and `{{ csp_nonce() }}` in
//! templates.
//!
//! Put the request's [`CsrfToken`] into the render context under the name
//! `csrf_token` (and its [`CspNonce`] under `csp_nonce`); the template then
//! calls them. Every `csrf_token()` call renders a fresh masked token; every
//! `csp_nonce()` call in one response renders the same nonce, the one
//! Mitten adds to that response's CSP:
//!
//! ```
//! use minijinja::{context, Environment};
//! use mitten::{CspNonce, CsrfToken};
//!
//! fn render(
//!     env: &Environment<'_>,
//!     csrf: &CsrfToken,
//!     nonce: &CspNonce,
//! ) -> Result<String, minijinja::Error> {
//!     env.get_template("form.html")?.render(context! {
//!         csrf_token => mitten::templates::csrf_token(csrf),
//!         csp_nonce => mitten::templates::csp_nonce(nonce),
//!     })
//! }
//! let mut env = Environment::new();
//! mitten::templates::register(&mut env);
//! env.add_template(
//!     "form.html",
//!     r#"<form method="post">
//!          <input type="hidden" name="_csrf_token" value="{{ csrf_token() }}" />
//!        </form>
//!        <script nonce="{{ csp_nonce() }}">/* … */</script>"#,
//! ).unwrap();
//! ```

use std::sync::Arc;

use minijinja::value::{Object, Value};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::{CspNonce, CsrfToken};

#[derive(Debug)]
struct TokenFn(CsrfToken);

impl Object for TokenFn {
    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        if !args.is_empty() {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                "csrf_token() takes no arguments",
            ));
        }
        self.0
            .token()
            .map(Value::from)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
    }
}

/// The context value for `csrf_token`: callable from the template, each call
/// a freshly masked token for this request's session.
pub fn csrf_token(token: &CsrfToken) -> Value {
    Value::from_object(TokenFn(token.clone()))
}

#[derive(Debug)]
struct NonceFn(String);

impl Object for NonceFn {
    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        if !args.is_empty() {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                "csp_nonce() takes no arguments",
            ));
        }
        Ok(Value::from(self.0.as_str()))
    }
}

/// The context value for `csp_nonce`: callable from the template, always
/// this response's nonce.
pub fn csp_nonce(nonce: &CspNonce) -> Value {
    Value::from_object(NonceFn(nonce.value().to_owned()))
}

/// Registers global `csrf_token()` and `csp_nonce()` functions that explain
/// what is missing when a template is rendered without the request's values
/// in its context, instead of minijinja's bare "unknown function".
pub fn register(env: &mut Environment<'_>) {
    env.add_function("csrf_token", || -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "csrf_token() needs the request's token: render with \
             context! { csrf_token => mitten::templates::csrf_token(&csrf) }",
        ))
    });
    env.add_function("csp_nonce", || -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "csp_nonce() needs the response's nonce: render with \
             context! { csp_nonce => mitten::templates::csp_nonce(&nonce) }",
        ))
    });
}
