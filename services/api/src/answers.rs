//! The answer cache: metric, ranking, panel and PAR Index answers of the current version of
//! `events`, serialized, by request. An answer at one version never changes, so an entry is
//! never stale; the cache empties when the version moves, and when it holds more than
//! [`LIMIT`] bytes (a client asking endless distinct questions costs recomputation, not
//! memory).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::reply::Answer;

/// Bytes of answers kept at most.
const LIMIT: usize = 32 << 20;

/// Answers of one version of `events`, by request key.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The version the answers are of.
    version: Option<u64>,
    answers: HashMap<String, Arc<Answer>>,
    /// Bytes of the answers' bodies.
    bytes: usize,
}

impl Answers {
    /// The answer to `key` at `version`, when kept.
    pub(crate) fn get(&self, version: u64, key: &str) -> Option<Arc<Answer>> {
        let inner = self.inner.lock().expect("answer cache lock");
        (inner.version == Some(version))
            .then(|| inner.answers.get(key).cloned())
            .flatten()
    }

    /// Keeps `answer` to `key` at `version`, forgetting the answers of any other version.
    pub(crate) fn put(&self, version: u64, key: String, answer: Arc<Answer>) {
        let mut inner = self.inner.lock().expect("answer cache lock");
        if inner.version != Some(version) || inner.bytes + answer.len() > LIMIT {
            *inner = Inner {
                version: Some(version),
                ..Inner::default()
            };
        }
        if answer.len() <= LIMIT {
            inner.bytes += answer.len();
            inner.answers.insert(key, answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Arc<Answer> {
        Arc::new(Answer::of(&text).unwrap())
    }

    #[test]
    fn answers_are_kept_for_their_version_only_and_within_the_limit() {
        let cache = Answers::default();
        cache.put(3, "a".into(), answer("x"));
        assert!(cache.get(3, "a").is_some());
        assert!(cache.get(3, "b").is_none());
        assert!(cache.get(4, "a").is_none(), "another version");
        cache.put(4, "b".into(), answer("y"));
        assert!(
            cache.get(3, "a").is_none(),
            "forgotten when the version moved"
        );
        assert!(cache.get(4, "b").is_some());

        let big = answer(&"z".repeat(LIMIT / 2));
        cache.put(4, "big1".into(), Arc::clone(&big));
        cache.put(4, "big2".into(), Arc::clone(&big));
        let inner = cache.inner.lock().unwrap();
        assert!(inner.bytes <= LIMIT, "{}", inner.bytes);
        assert!(inner.answers.contains_key("big2"));
    }
}
