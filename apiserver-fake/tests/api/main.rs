//! In-process tests of the fake through kube::Api and kube::runtime::watcher.

mod batch;
mod crud;

mod crds;
mod faults;
mod gc;
mod https;
mod rbac;
mod ssa;
mod support;
mod watch;
