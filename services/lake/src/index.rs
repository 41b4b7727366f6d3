//! The deduplication index: which events and rejected messages are already stored.
//!
//! Rebuilt from the tables' files at start, and brought up to date from the files committed
//! since (by other workers too), so it can never disagree with what is stored: an event is
//! "stored" exactly when a file holding it is committed to the table's Delta log.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use xxhash_rust::xxh3::xxh3_128;

use crate::error::Result;
use crate::lake::Lake;
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE};

/// Keys are already uniform 128-bit hashes: fold them instead of hashing again.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64 ^ (n >> 64) as u64;
    }
}

type FoldSet<T> = HashSet<T, BuildHasherDefault<FoldHasher>>;

/// Stored event ids (as 128-bit hashes, 16 bytes each) and the messages of stored rejections
/// (their subject and stream sequence: a partition's subjects name it, so the key is unique
/// across partitions).
#[derive(Debug)]
pub struct DedupIndex {
    /// Split by the keys' top bits: a set that grows copies itself, and a small one copies
    /// little, so memory never jumps by half the index at once.
    events: Vec<FoldSet<u128>>,
    rejected: FoldSet<u128>,
    /// The versions of the events and rejected tables it holds.
    versions: [Option<u64>; 2],
}

/// Shards of the event keys (a power of two).
const SHARDS: usize = 64;

impl Default for DedupIndex {
    fn default() -> Self {
        Self {
            events: (0..SHARDS).map(|_| FoldSet::default()).collect(),
            rejected: FoldSet::default(),
            versions: [None; 2],
        }
    }
}

impl DedupIndex {
    /// The key of an event id; a 128-bit hash, so a collision is practically impossible.
    pub fn key(event_id: &str) -> u128 {
        xxh3_128(event_id.as_bytes())
    }

    /// Whether an event with this key is stored.
    pub fn has_event(&self, key: u128) -> bool {
        self.events[shard(key)].contains(&key)
    }

    /// Records a stored event; false when it was already there.
    pub fn insert_event(&mut self, key: u128) -> bool {
        self.events[shard(key)].insert(key)
    }

    /// Forgets an event recorded by a write that failed for good (its key was new then).
    pub fn remove_event(&mut self, key: u128) {
        self.events[shard(key)].remove(&key);
    }

    /// Forgets a rejection recorded by a write that failed for good.
    pub fn remove_rejected(&mut self, subject: &str, stream_seq: u64) {
        self.rejected.remove(&rejected_key(subject, stream_seq));
    }

    /// Whether the rejection of the message at `stream_seq` with `subject` is stored.
    pub fn has_rejected(&self, subject: &str, stream_seq: u64) -> bool {
        self.rejected.contains(&rejected_key(subject, stream_seq))
    }

    /// Records a stored rejection; false when it was already there.
    pub fn insert_rejected(&mut self, subject: &str, stream_seq: u64) -> bool {
        self.rejected.insert(rejected_key(subject, stream_seq))
    }

    /// Number of distinct stored events.
    pub fn event_count(&self) -> usize {
        self.events.iter().map(HashSet::len).sum()
    }
}

/// The shard of a key: its top bits (the low ones pick the bucket within a shard).
fn shard(key: u128) -> usize {
    (key >> (128 - SHARDS.trailing_zeros())) as usize
}

/// The key of a rejected message.
fn rejected_key(subject: &str, stream_seq: u64) -> u128 {
    let mut bytes = Vec::with_capacity(8 + subject.len());
    bytes.extend_from_slice(&stream_seq.to_le_bytes());
    bytes.extend_from_slice(subject.as_bytes());
    xxh3_128(&bytes)
}

/// Adds to `index` what the files committed to `lake` since its versions hold (every file
/// for a new index); compaction's rewrites hold nothing new.
pub(crate) fn update_index(lake: &Lake, index: &mut DedupIndex) -> Result<()> {
    let changes = lake.changes(EVENTS_TABLE, index.versions[0])?;
    for file in &changes.files {
        for batch in lake.file_batches(EVENTS_TABLE, &file.path, &["event_id"], None)? {
            let batch = batch?;
            for id in batch.column(0).as_string::<i32>().iter().flatten() {
                index.insert_event(DedupIndex::key(id));
            }
        }
    }
    index.versions[0] = Some(changes.version);
    let changes = lake.changes(REJECTED_TABLE, index.versions[1])?;
    for file in &changes.files {
        let columns = ["subject", "stream_seq"];
        for batch in lake.file_batches(REJECTED_TABLE, &file.path, &columns, None)? {
            let batch = batch?;
            let subjects = batch.column(0).as_string::<i32>();
            let seqs = batch.column(1).as_primitive::<Int64Type>();
            for (subject, &seq) in subjects.iter().zip(seqs.values()) {
                index.insert_rejected(subject.unwrap_or_default(), seq as u64);
            }
        }
    }
    index.versions[1] = Some(changes.version);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_once_across_shards() {
        let mut index = DedupIndex::default();
        let keys: Vec<u128> = (0..10_000)
            .map(|i| DedupIndex::key(&format!("ev-{i}")))
            .collect();
        assert!(keys.iter().all(|&k| index.insert_event(k)));
        assert!(
            keys.iter()
                .all(|&k| !index.insert_event(k) && index.has_event(k))
        );
        assert!(!index.has_event(DedupIndex::key("ev-10000")));
        assert_eq!(index.event_count(), 10_000);
        let used = index.events.iter().filter(|s| !s.is_empty()).count();
        assert_eq!(used, SHARDS, "hash keys spread over every shard");
    }
}
