//! minijinja integration: `{{ csrf_token() }}` in templates.
//!
//! Put the request's [`CsrfToken`] into the render context under the name
//! `csrf_token`; the template then calls it, and every call renders a fresh
//! masked token:
//!
//! ```
//! use minijinja::{context, Environment};
//! use mitten::CsrfToken;
//!
//! fn render(env: &Environment<'_>, csrf: &CsrfToken) -> Result<String, minijinja::Error> {
//!     env.get_template("form.html")?
//!         .render(context! { csrf_token => mitten::templates::csrf_token(csrf) })
//! }
//! let mut env = Environment::new();
//! mitten::templates::register(&mut env);
//! env.add_template(
//!     "form.html",
//!     r#"<input type="hidden" name="_csrf_token" value="{{ csrf_token() }}" />"#,
//! ).unwrap();
//! ```

use std::sync::Arc;

use minijinja::value::{Object, Value};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::CsrfToken;

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

/// Registers a global `csrf_token()` that explains what is missing when a
/// template is rendered without the request's token in its context, instead
/// of minijinja's bare "unknown function".
pub fn register(env: &mut Environment<'_>) {
    env.add_function("csrf_token", || -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "csrf_token() needs the request's token: render with \
             context! { csrf_token => mitten::templates::csrf_token(&csrf) }",
        ))
    });
}
