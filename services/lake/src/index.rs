//! The deduplication index: which events and rejected messages are already stored.
//!
//! Rebuilt from the lake's files at start, so it can never disagree with what is on disk: an
//! event is "stored" exactly when a file holding it has been renamed into place.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use xxhash_rust::xxh3::xxh3_128;

use crate::error::{Error, Result};
use crate::layout::{parquet_files, table_dir};
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE};
use crate::uuid::{self, UUID_COLUMN};

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

/// Rebuilds the index of the lake at `root` from every stored file. Blocking.
pub(crate) fn load_index(root: &Path) -> Result<DedupIndex> {
    let mut index = DedupIndex::default();
    let mut text = String::with_capacity(36);
    for path in parquet_files(&table_dir(root, EVENTS_TABLE))? {
        for batch in read_columns(&path, &["event_id", UUID_COLUMN])? {
            let ids = batch
                .column_by_name("event_id")
                .map(|c| c.as_string::<i32>());
            let uuids = batch
                .column_by_name(UUID_COLUMN)
                .map(|c| c.as_fixed_size_binary());
            for i in 0..batch.num_rows() {
                let key = match (ids, uuids) {
                    (Some(ids), _) if ids.is_valid(i) => DedupIndex::key(ids.value(i)),
                    (_, Some(uuids)) if uuids.is_valid(i) => {
                        text.clear();
                        uuid::write_text(uuids.value(i), &mut text)
                            .expect("a String takes any text");
                        DedupIndex::key(&text)
                    }
                    _ => continue,
                };
                index.insert_event(key);
            }
        }
    }
    for path in parquet_files(&table_dir(root, REJECTED_TABLE))? {
        for batch in read_columns(&path, &["stream_seq"])? {
            let seqs = batch.column(0).as_primitive::<UInt64Type>();
            index.rejected.extend(seqs.values().iter().copied());
        }
    }
    Ok(index)
}

/// The `columns` of one file that it has, batch by batch.
fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(Error::parquet(path))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(Error::parquet(path))?;
    reader.map(|batch| Ok(batch?)).collect()
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
