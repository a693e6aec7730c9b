//! In-process tests of the fake through kube::Api and kube::runtime::watcher.

mod crud;

mod crds;
mod gc;
mod ssa;
mod support;
mod watch;
