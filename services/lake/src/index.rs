//! The deduplication index: which events and rejected messages are already stored.
//!
//! Rebuilt from the tables' files at start, and brought up to date from the files committed
//! since (by other workers too), so it can never disagree with what is stored: an event is
//! "stored" exactly when a file holding it is committed to the table's Delta log. Event keys
//! are kept mostly sorted (about 18 bytes each, about half what a hash set takes): the index
//! of a backlog of millions of events is the largest thing the worker holds.

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
    /// Split by the keys' top bits: each shard settles its new keys into its sorted ones on
    /// its own, so the work and the memory of a settle are a small part of the index's.
    events: Vec<KeySet>,
    rejected: FoldSet<u128>,
    /// The versions of the events and rejected tables it holds.
    versions: [Option<u64>; 2],
}

/// Shards of the event keys (a power of two).
const SHARDS: usize = 64;

/// Bits of a key that pick its shard.
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

impl Default for DedupIndex {
    fn default() -> Self {
        Self {
            events: (0..SHARDS).map(|_| KeySet::default()).collect(),
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
        self.events[shard(key)].contains(key)
    }

    /// Asks the CPU to bring into its cache the sorted keys that looking `key` up will read
    /// first. In an index of millions of keys each lookup is likely a cache miss: asked a few
    /// keys ahead, a batch's misses overlap instead of waiting in turn.
    pub fn prefetch(&self, key: u128) {
        self.events[shard(key)].prefetch(key);
    }

    /// Records a stored event; false when it was already there.
    pub fn insert_event(&mut self, key: u128) -> bool {
        self.events[shard(key)].insert(key)
    }

    /// Forgets an event recorded by a write that failed for good (its key was new then).
    pub fn remove_event(&mut self, key: u128) {
        self.events[shard(key)].remove(key);
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
        self.events.iter().map(KeySet::len).sum()
    }
}

/// The shard of a key: its top bits.
fn shard(key: u128) -> usize {
    (key >> (128 - SHARD_BITS)) as usize
}

/// A set of uniform 128-bit keys of one shard in about 18 bytes a key, where a hash set takes
/// 19 to 39 (17 a slot, at a load between 7/16 and 7/8): most keys are `settled`, sorted, and
/// found through `starts`; the newest are `fresh`, in a hash set settled into the sorted ones
/// once it holds a sixteenth as many.
#[derive(Debug)]
struct KeySet {
    /// Sorted keys, in a vector of exactly their number.
    settled: Vec<u128>,
    /// Where each bucket's keys begin in `settled` (one more entry than buckets, the last
    /// `settled.len()`); a key's bucket is its bits after the shard's, and a bucket holds 4 to
    /// 8 keys on average.
    starts: Vec<u32>,
    /// Bits of a key that pick its bucket.
    bucket_bits: u32,
    /// Keys added since the last settle.
    fresh: FoldSet<u128>,
    /// Settled keys forgotten since (dropped from `settled` at the next settle).
    removed: FoldSet<u128>,
}

/// Asks the CPU to bring the cache line of `at` into its cache, without waiting for it.
#[cfg(target_arch = "x86_64")]
fn prefetch<T>(at: &T) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch reads nothing the program sees and never faults, whatever the
    // address; SSE is in every x86_64 CPU.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(at).cast()) };
}

/// Elsewhere, nothing.
#[cfg(not(target_arch = "x86_64"))]
fn prefetch<T>(_: &T) {}

/// Fewest fresh keys that make a settle: below it, settling would copy the sorted keys often.
const MIN_FRESH: usize = 1024;

impl Default for KeySet {
    fn default() -> Self {
        Self {
            settled: Vec::new(),
            starts: vec![0, 0],
            bucket_bits: 0,
            fresh: FoldSet::default(),
            removed: FoldSet::default(),
        }
    }
}

impl KeySet {
    fn len(&self) -> usize {
        self.settled.len() - self.removed.len() + self.fresh.len()
    }

    fn contains(&self, key: u128) -> bool {
        self.fresh.contains(&key) || (self.is_settled(key) && !self.removed.contains(&key))
    }

    /// Adds `key`; false when it was there.
    fn insert(&mut self, key: u128) -> bool {
        if self.is_settled(key) {
            // A settled key forgotten since comes back; one that was not is there.
            return self.removed.remove(&key);
        }
        if !self.fresh.insert(key) {
            return false;
        }
        if self.fresh.len() >= MIN_FRESH.max(self.settled.len() / 16) {
            self.settle();
        }
        true
    }

    fn remove(&mut self, key: u128) {
        if !self.fresh.remove(&key) && self.is_settled(key) {
            self.removed.insert(key);
        }
    }

    /// Whether `key` is among the sorted keys (forgotten or not). A binary search of its
    /// bucket: ids chosen so that their hashes crowd one bucket cost a logarithm, not a scan.
    fn is_settled(&self, key: u128) -> bool {
        let bucket = self.bucket(key);
        let (from, to) = (self.starts[bucket], self.starts[bucket + 1]);
        self.settled[from as usize..to as usize]
            .binary_search(&key)
            .is_ok()
    }

    /// See [`DedupIndex::prefetch`].
    fn prefetch(&self, key: u128) {
        if let Some(first) = self.settled.get(self.starts[self.bucket(key)] as usize) {
            prefetch(first);
        }
    }

    fn bucket(&self, key: u128) -> usize {
        ((key << SHARD_BITS).checked_shr(128 - self.bucket_bits)).unwrap_or(0) as usize
    }

    /// Merges the fresh keys into the sorted ones, without the forgotten ones, and rebuilds
    /// the buckets for the new number of keys.
    fn settle(&mut self) {
        let mut fresh: Vec<u128> = self.fresh.drain().collect();
        fresh.sort_unstable();
        let kept = self.settled.len() - self.removed.len() + fresh.len();
        let mut merged = Vec::with_capacity(kept);
        let removed = std::mem::take(&mut self.removed);
        let mut old = self
            .settled
            .iter()
            .copied()
            .filter(|k| removed.is_empty() || !removed.contains(k))
            .peekable();
        let mut new = fresh.into_iter().peekable();
        while let (Some(&a), Some(&b)) = (old.peek(), new.peek()) {
            if a < b {
                merged.push(a);
                old.next();
            } else {
                merged.push(b);
                new.next();
            }
        }
        merged.extend(old);
        merged.extend(new);
        // About 4 to 8 keys a bucket.
        self.bucket_bits = (merged.len() / 4).max(1).ilog2();
        let buckets = 1usize << self.bucket_bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut at = 0;
        for bucket in 0..buckets {
            starts.push(at as u32);
            while at < merged.len() && self.bucket(merged[at]) == bucket {
                at += 1;
            }
        }
        starts.push(at as u32);
        (self.settled, self.starts) = (merged, starts);
    }

    /// Bytes its keys, buckets and hash sets take on the heap.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        // A hash set of u128 takes a key and a control byte a slot.
        let set = |s: &FoldSet<u128>| s.capacity() * 8 / 7 * 17;
        self.settled.capacity() * 16
            + self.starts.capacity() * 4
            + set(&self.fresh)
            + set(&self.removed)
    }
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
        let used = index.events.iter().filter(|s| s.len() > 0).count();
        assert_eq!(used, SHARDS, "hash keys spread over every shard");
    }

    /// Keys of one shard (its top bits zero), as the index would give it.
    fn shard_keys(range: std::ops::Range<u32>) -> Vec<u128> {
        range
            .map(|i| DedupIndex::key(&format!("ev-{i}")) >> SHARD_BITS)
            .collect()
    }

    #[test]
    fn a_key_set_agrees_with_a_hash_set_through_settles_and_forgetting() {
        let (mut set, mut truth) = (KeySet::default(), HashSet::new());
        let keys = shard_keys(0..60_000);
        for (i, &key) in keys.iter().enumerate() {
            assert_eq!(set.insert(key), truth.insert(key), "insert {i}");
            // Every seventh key is forgotten, every eleventh of those comes back; now and then
            // an earlier key is inserted again.
            if i % 7 == 0 {
                let old = keys[i / 2];
                set.remove(old);
                truth.remove(&old);
                if i % 11 == 0 {
                    assert_eq!(set.insert(old), truth.insert(old), "back {i}");
                }
            }
            if i % 5 == 0 {
                let old = keys[i / 3];
                assert_eq!(set.insert(old), truth.insert(old), "again {i}");
            }
        }
        assert!(set.settled.len() > 40_000, "most keys settled");
        assert_eq!(set.len(), truth.len());
        for (i, &key) in keys.iter().enumerate() {
            assert_eq!(set.contains(key), truth.contains(&key), "contains {i}");
        }
        for key in shard_keys(60_000..70_000) {
            assert!(!set.contains(key));
        }
    }

    #[test]
    fn keys_crowding_one_bucket_are_still_found() {
        // Keys whose leading bits are all equal, as ids chosen to collide would give.
        let mut set = KeySet::default();
        for key in (0..50_000u128).map(|i| i * 2) {
            assert!(set.insert(key));
        }
        assert!(set.settled.len() > 40_000, "most keys settled");
        assert!((0..50_000u128).all(|i| set.contains(i * 2) && !set.contains(i * 2 + 1)));
        assert!(!set.insert(4_000) && set.insert(4_001));
    }

    #[test]
    fn a_key_set_takes_about_18_bytes_a_key() {
        let mut set = KeySet::default();
        for key in shard_keys(0..300_000) {
            set.insert(key);
        }
        let per_key = set.heap_bytes() as f64 / set.len() as f64;
        assert!((16.0..21.0).contains(&per_key), "{per_key:.1} bytes a key");
        let mut hashed: FoldSet<u128> = FoldSet::default();
        hashed.extend(shard_keys(0..300_000));
        let hashed = (hashed.capacity() * 8 / 7 * 17) as f64 / 300_000.0;
        assert!(
            hashed > 1.5 * per_key,
            "a hash set: {hashed:.1} bytes a key"
        );
    }
}
