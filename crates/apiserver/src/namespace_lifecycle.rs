//! Memory for the NamespaceLifecycle admission check (content may be created only in a
//! namespace that exists and is not terminating): namespaces that accepted content within the
//! last second, so that a burst of creates does not read the namespace from the store for
//! each one (kube-apiserver answers from its namespace informer for the same reason).
//!
//! Only positive answers are kept, and every write of a namespace through this server forgets
//! it, before and after the write: a namespace being deleted is refused at once. Owns no
//! decision; `write::check_namespace_accepts` reads the store when nothing is remembered.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a positive answer is trusted without the store (bounds the staleness another
/// server's deletion could see).
const REMEMBERED_FOR: Duration = Duration::from_secs(1);
/// Entries kept before the memory starts over.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Default)]
pub struct NamespaceLifecycle {
    accepting: Mutex<HashMap<String, Instant>>,
}

impl NamespaceLifecycle {
    /// Whether `namespace` accepted content less than a second ago.
    pub fn recently_accepting(&self, namespace: &str) -> bool {
        let accepting = self.accepting.lock().unwrap_or_else(PoisonError::into_inner);
        accepting.get(namespace).is_some_and(|at| at.elapsed() < REMEMBERED_FOR)
    }

    pub fn remember_accepting(&self, namespace: &str) {
        let mut accepting = self.accepting.lock().unwrap_or_else(PoisonError::into_inner);
        if accepting.len() >= MAX_REMEMBERED {
            accepting.clear();
        }
        accepting.insert(namespace.to_string(), Instant::now());
    }

    /// Called around every write of the namespace object.
    pub fn forget(&self, namespace: &str) {
        self.accepting.lock().unwrap_or_else(PoisonError::into_inner).remove(namespace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_positive_answers_until_forgotten() {
        let lifecycle = NamespaceLifecycle::default();
        assert!(!lifecycle.recently_accepting("a"));
        lifecycle.remember_accepting("a");
        assert!(lifecycle.recently_accepting("a"));
        assert!(!lifecycle.recently_accepting("b"));
        lifecycle.forget("a");
        assert!(!lifecycle.recently_accepting("a"));
    }
}
