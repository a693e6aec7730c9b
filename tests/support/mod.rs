//! Helpers shared by every integration test: one place, included with `mod support;`.
#![allow(dead_code)] // each test binary uses a different subset

pub mod admission;
pub mod aws_faults;
pub mod aws_proxy;
pub mod chart;
pub mod cluster;
pub mod docs;
pub mod fault_matrix;
pub mod leak;
pub mod moto;
pub mod objects;
pub mod process;
pub mod rig;
pub mod workloads;

use std::sync::atomic::{AtomicU64, Ordering};

/// A name unique to this test run, so tests can share one moto server and run in parallel.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The workspace root (where `.tools/` lives).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
