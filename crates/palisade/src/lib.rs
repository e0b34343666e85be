//! The `palisade` binary's library half: command-line parsing, configuration, start-up wiring and
//! the demo data set. Kept as a library so integration tests drive exactly what the binary runs.

pub mod advisories;
pub mod audit;
pub mod cli;
pub mod config;
pub mod demo;
pub mod demo_vulns;
pub mod keys;
pub mod mail;
pub mod outbound;
pub mod remote;
pub mod scan;
pub mod serve;
pub mod tls;
