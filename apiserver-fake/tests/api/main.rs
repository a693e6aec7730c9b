//! In-process tests of the fake through kube::Api and kube::runtime::watcher.


mod crud;




mod support;
mod watch;
