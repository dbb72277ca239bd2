//! The attack catalogue: every known family of tricks that has broken CSRF,
//! session and header middleware elsewhere, one module per family, each test
//! named after the attack. Every test sends the hostile request(s) through
//! the real layer and checks status, headers, cookies and the store; every
//! refusal also proves that no handler ran and the store did not change
//! (see `kit::Victim::refused`).

mod common;
#[path = "attacks/kit.rs"]
mod kit;
#[path = "attacks/wire.rs"]
mod wire;

// CSRF
#[path = "attacks/body_tricks.rs"]
mod body_tricks;
#[path = "attacks/degenerate_tokens.rs"]
mod degenerate_tokens;
#[path = "attacks/exemption_reach.rs"]
mod exemption_reach;
#[path = "attacks/login_csrf.rs"]
mod login_csrf;
#[path = "attacks/method_tricks.rs"]
mod method_tricks;
#[path = "attacks/origin_tricks.rs"]
mod origin_tricks;
#[path = "attacks/secrets_in_logs.rs"]
mod secrets_in_logs;
#[path = "attacks/token_binding.rs"]
mod token_binding;

// Sessions
#[path = "attacks/cookie_attributes.rs"]
mod cookie_attributes;
#[path = "attacks/cookie_parsing.rs"]
mod cookie_parsing;
#[path = "attacks/fixation.rs"]
mod fixation;
#[path = "attacks/oversized_state.rs"]
mod oversized_state;

// Headers
#[path = "attacks/header_clobbering.rs"]
mod header_clobbering;
#[path = "attacks/header_coverage.rs"]
mod header_coverage;
#[path = "attacks/json_guard.rs"]
mod json_guard;
