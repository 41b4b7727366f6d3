//! The deduplication index: which events and rejected messages are already stored.
//!
//! Rebuilt from the tables' files at start, so it can never disagree with what is stored: an
//! event is "stored" exactly when a file holding it is committed to the table's Delta log.

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

/// Stored event ids (as 128-bit hashes, 16 bytes each) and stream sequences of stored
/// rejections.
#[derive(Debug)]
pub struct DedupIndex {
    /// Split by the keys' top bits: a set that grows copies itself, and a small one copies
    /// little, so memory never jumps by half the index at once.
    events: Vec<FoldSet<u128>>,
    rejected: HashSet<u64>,
}

/// Shards of the event keys (a power of two).
const SHARDS: usize = 64;

impl Default for DedupIndex {
    fn default() -> Self {
        Self {
            events: (0..SHARDS).map(|_| FoldSet::default()).collect(),
            rejected: HashSet::new(),
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

    /// Whether the rejection of this stream sequence is stored.
    pub fn has_rejected(&self, stream_seq: u64) -> bool {
        self.rejected.contains(&stream_seq)
    }

    /// Records a stored rejection; false when it was already there.
    pub fn insert_rejected(&mut self, stream_seq: u64) -> bool {
        self.rejected.insert(stream_seq)
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

/// Rebuilds the index of `lake` from every stored file.
pub(crate) fn load_index(lake: &Lake) -> Result<DedupIndex> {
    let mut index = DedupIndex::default();
    for file in lake.files(EVENTS_TABLE)? {
        for batch in lake.read_file(EVENTS_TABLE, &file.path, &["event_id"], None)? {
            let ids = batch.column(0).as_string::<i32>();
            for id in ids.iter().flatten() {
                index.insert_event(DedupIndex::key(id));
            }
        }
    }
    for file in lake.files(REJECTED_TABLE)? {
        for batch in lake.read_file(REJECTED_TABLE, &file.path, &["stream_seq"], None)? {
            let seqs = batch.column(0).as_primitive::<Int64Type>();
            index
                .rejected
                .extend(seqs.values().iter().map(|&s| s as u64));
        }
    }
    Ok(index)
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
