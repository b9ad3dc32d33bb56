//! Visitas: a self-hosted system for hospital video visits.
//!
//! Nurses register patients and open rooms for them; relatives join a visit from any browser with
//! an invite link and a short code; the patient talks from a bedside device; administrators manage
//! staff and review the visit log. Media flows peer to peer; the server serves the pages and relays
//! signaling only.
//!
//! Data flows one way: [`web`] handlers use [`domain`] value types and [`auth`], which use [`db`].
//! [`app`] holds the shared state and the one route table; [`tls`] owns certificates; [`i18n`] the
//! Spanish and English texts; [`error`] how failures become pages.

pub mod actions;
pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod connections;
pub mod db;
pub mod domain;
pub mod error;
pub mod i18n;
pub mod nodes;
pub mod signaling;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod web;
