//! One integration binary: the real botctl against a real PostgreSQL (and Docker, where present).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod admin;
mod alerts;
mod backup;
mod billing;
mod booking;
mod commands;
mod config;
mod demo;
mod doctor;
mod errors;
mod fulfil;
mod health;
mod init;
mod isolation;
mod migrate;
mod needs_docker;
mod operator;
mod orders;
mod outbox;
mod platform;
mod refunds;
mod restore;
mod sales;
mod secrets;
mod serve;
mod servers;
mod stars;
mod support;
mod template;
mod tenant;
mod terminal;
mod views;
mod yookassa;
