//! [`Dossiers`]: the per-dossier facts, compact in RAM while a dossier is active and out of RAM
//! once it has gone quiet.
//!
//! Hot dossiers live in one map per agency, keyed by the id (a canonical UUID text as its 16
//! bytes, any other id as its text) with the facts packed in 84 bytes (50, 8 for the agencies
//! of the receipt's roles, and 26 of the 766 index's facts). A dossier whose facts
//! last changed more than [`Eviction::after_days`] before the newest event folded (event time)
//! is moved to cold storage: immutable segment files under [`Eviction::dir`], each sorted by
//! (agency, id), with a sparse index and a Bloom filter in RAM (about 1.4 bytes per cold
//! dossier). An event for a dossier that is not hot asks the filters; a "maybe" reads one block
//! of a segment, and a dossier found there comes back hot with the facts it had, so its old
//! buckets are restated exactly as if it had never left. Segments are merged as they pile up
//! (newest copy wins, copies shadowed by a hot dossier are dropped). The files are a cache of
//! this process (the projection snapshot holds every dossier), removed with the store.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use parwatch_proto::{Channel, ServiceMode};

use crate::facts::{Fact, Facts, Late, Received, Resolved};
use crate::roles::Roles;
use crate::service_index::{SERVICE_BYTES, ServiceFacts};

/// When per-dossier facts leave RAM, and where they go.
#[derive(Debug, Clone)]
pub struct Eviction {
    /// Days of event time a dossier stays in RAM after its facts last changed, counted back
    /// from the newest event folded (0: every dossier goes cold at the next eviction).
    pub after_days: u32,
    /// Hot dossiers added since the last eviction pass before another pass looks for cold
    /// ones (0: every pass evicts).
    pub batch: usize,
    /// Directory in which each store makes its own folder of cold segments.
    pub dir: PathBuf,
}

impl Eviction {
    /// Days a dossier stays hot by default: dossiers of the simulated province get their last
    /// event within weeks of receipt, so a late event for a cold one is rare.
    pub const DEFAULT_AFTER_DAYS: u32 = 60;
}

impl Default for Eviction {
    fn default() -> Self {
        Self {
            after_days: Self::DEFAULT_AFTER_DAYS,
            batch: 64 * 1024,
            dir: std::env::temp_dir(),
        }
    }
}

/// A dossier id as stored: a canonical (lowercase, hyphenated) UUID as its 16 bytes, any other
/// id as its text. Ordered UUIDs first, then texts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl Key {
    fn of(id: &str) -> Self {
        match parse_uuid(id) {
            Some(bytes) => Key::Uuid(bytes),
            None => Key::Text(id.into()),
        }
    }

    fn text(&self) -> Cow<'_, str> {
        match self {
            Key::Uuid(bytes) => Cow::Owned(format_uuid(bytes)),
            Key::Text(text) => Cow::Borrowed(text),
        }
    }
}

/// Positions of the hyphens of a canonical UUID text.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// The 16 bytes of a canonical UUID text; `None` for anything else (uppercase included, so
/// that the text comes back exactly).
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let text = text.as_bytes();
    if text.len() != 36 || HYPHENS.iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut nibbles = text
        .iter()
        .enumerate()
        .filter(|(i, _)| !HYPHENS.contains(i))
        .map(|(_, &c)| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        });
    let mut bytes = [0; 16];
    for byte in &mut bytes {
        *byte = (nibbles.next()?? << 4) | nibbles.next()??;
    }
    Some(bytes)
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push(HEX[usize::from(byte >> 4)] as char);
        text.push(HEX[usize::from(byte & 15)] as char);
    }
    text
}

/// [`Facts`] in 84 unaligned bytes: six times (received, due, resolved, late, late due,
/// apology; 0 when absent), two bytes of flags (which facts are present, channel, online
/// mode, digitised), the agency ids of the receipt's receiving point and area (each id + 1;
/// 0: the competent agency) and the 766 index's facts ([`ServiceFacts::to_bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    times: [[u8; 8]; 6],
    flags: [u8; 2],
    roles: [[u8; 4]; 2],
    service: [u8; SERVICE_BYTES],
}

const PACKED_BYTES: usize = 58 + SERVICE_BYTES;

/// A role's agency id as packed: id + 1, 0 for none.
fn pack_role(id: Option<u32>) -> [u8; 4] {
    id.map_or(0, |id| id + 1).to_le_bytes()
}

fn unpack_role(bytes: [u8; 4]) -> Option<u32> {
    u32::from_le_bytes(bytes).checked_sub(1)
}

const RECEIVED: u16 = 1;
const RESOLVED: u16 = 1 << 1;
const LATE: u16 = 1 << 2;
const APOLOGY: u16 = 1 << 3;
const CHANNEL_SHIFT: u16 = 4;
const MODE_SHIFT: u16 = 6;
const DIGITIZED_SHIFT: u16 = 8;

/// Index of `value` in `all`, as 2 bits.
fn index_of<T: PartialEq>(all: &[T], value: &T) -> u16 {
    all.iter().position(|v| v == value).unwrap_or_default() as u16
}

impl Packed {
    fn pack(f: &Facts) -> Self {
        let mut times = [0_i64; 6];
        let mut flags = 0_u16;
        let mut roles = Roles::default();
        if let Some(r) = f.received {
            roles = r.roles;
            flags |= RECEIVED | index_of(Channel::ALL, &r.channel) << CHANNEL_SHIFT;
            if let Some(mode) = r.online_mode {
                flags |= (index_of(ServiceMode::ALL, &mode) + 1) << MODE_SHIFT;
            }
            times[0] = r.at;
            times[1] = r.due_at;
        }
        if let Some(r) = f.resolved {
            flags |= RESOLVED;
            if let Some(d) = r.digitized {
                flags |= (u16::from(d) + 1) << DIGITIZED_SHIFT;
            }
            times[2] = r.at;
        }
        if let Some(l) = f.late {
            flags |= LATE;
            times[3] = l.at;
            times[4] = l.due_at;
        }
        if let Some(at) = f.apology_at {
            flags |= APOLOGY;
            times[5] = at;
        }
        Self {
            times: times.map(i64::to_le_bytes),
            flags: flags.to_le_bytes(),
            roles: [pack_role(roles.receiving), pack_role(roles.area)],
            service: f.service.to_bytes(),
        }
    }

    fn unpack(&self) -> Facts {
        let t = self.times.map(i64::from_le_bytes);
        let flags = u16::from_le_bytes(self.flags);
        let bits = |shift: u16| usize::from((flags >> shift) & 3);
        Facts {
            received: (flags & RECEIVED != 0).then(|| Received {
                at: t[0],
                channel: Channel::ALL[bits(CHANNEL_SHIFT).min(Channel::ALL.len() - 1)],
                online_mode: bits(MODE_SHIFT)
                    .checked_sub(1)
                    .and_then(|i| ServiceMode::ALL.get(i).copied()),
                due_at: t[1],
                roles: Roles {
                    receiving: unpack_role(self.roles[0]),
                    area: unpack_role(self.roles[1]),
                },
            }),
            resolved: (flags & RESOLVED != 0).then(|| Resolved {
                at: t[2],
                digitized: bits(DIGITIZED_SHIFT).checked_sub(1).map(|d| d == 1),
            }),
            late: (flags & LATE != 0).then_some(Late {
                at: t[3],
                due_at: t[4],
            }),
            apology_at: (flags & APOLOGY != 0).then_some(t[5]),
            service: ServiceFacts::from_bytes(&self.service),
        }
    }

    /// When the facts last changed: the latest event time among them (`i64::MIN` for none).
    fn last_event(&self) -> i64 {
        let t = self.times.map(i64::from_le_bytes);
        let flags = u16::from_le_bytes(self.flags);
        [(RECEIVED, 0), (RESOLVED, 2), (LATE, 3), (APOLOGY, 5)]
            .into_iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, i)| t[i])
            .chain(ServiceFacts::from_bytes(&self.service).last_event())
            .max()
            .unwrap_or(i64::MIN)
    }

    fn to_bytes(self) -> [u8; PACKED_BYTES] {
        let mut out = [0; PACKED_BYTES];
        out[..48].copy_from_slice(self.times.as_flattened());
        out[48..50].copy_from_slice(&self.flags);
        out[50..58].copy_from_slice(self.roles.as_flattened());
        out[58..].copy_from_slice(&self.service);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let mut times = [[0; 8]; 6];
        for (slot, chunk) in times.iter_mut().zip(bytes[..48].chunks_exact(8)) {
            slot.copy_from_slice(chunk);
        }
        let role = |at: usize| bytes[at..at + 4].try_into().expect("packed length");
        Self {
            times,
            flags: [bytes[48], bytes[49]],
            roles: [role(50), role(54)],
            service: bytes[58..PACKED_BYTES].try_into().expect("packed length"),
        }
    }
}

/// The hot dossiers of one agency.
#[derive(Debug, Default)]
struct Hot {
    uuids: HashMap<[u8; 16], Packed>,
    texts: HashMap<Box<str>, Packed>,
}

impl Hot {
    fn len(&self) -> usize {
        self.uuids.len() + self.texts.len()
    }

    fn get_mut(&mut self, key: &Key) -> Option<&mut Packed> {
        match key {
            Key::Uuid(bytes) => self.uuids.get_mut(bytes),
            Key::Text(text) => self.texts.get_mut(text),
        }
    }

    fn contains(&self, key: &Key) -> bool {
        match key {
            Key::Uuid(bytes) => self.uuids.contains_key(bytes),
            Key::Text(text) => self.texts.contains_key(text),
        }
    }

    fn insert(&mut self, key: Key, packed: Packed) -> &mut Packed {
        match key {
            Key::Uuid(bytes) => self.uuids.entry(bytes).insert_entry(packed).into_mut(),
            Key::Text(text) => self.texts.entry(text).insert_entry(packed).into_mut(),
        }
    }

    /// Removes and returns the dossiers whose facts last changed at or before `cutoff`.
    fn extract_quiet(&mut self, cutoff: i64, out: &mut Vec<(Key, Packed)>) {
        let quiet = |p: &mut Packed| p.last_event() <= cutoff;
        out.extend(
            self.uuids
                .extract_if(|_, p| quiet(p))
                .map(|(b, p)| (Key::Uuid(b), p)),
        );
        out.extend(
            self.texts
                .extract_if(|_, p| quiet(p))
                .map(|(t, p)| (Key::Text(t), p)),
        );
        self.uuids.shrink_to_fit();
        self.texts.shrink_to_fit();
    }
}

/// Per-dossier facts of every agency (agency ids as the projection interns them): hot in
/// RAM, cold in segment files (see the module documentation).
#[derive(Debug, Default)]
pub struct Dossiers {
    hot: Vec<Hot>,
    cold: Cold,
    eviction: Eviction,
    /// The newest event time folded in.
    newest: Option<i64>,
    /// Hot dossiers after the last eviction pass.
    hot_after_pass: usize,
}

/// One dossier: (agency id, id text, facts).
pub type DossierRow<'a> = (u32, Cow<'a, str>, Facts);

impl Dossiers {
    /// An empty store that evicts by `eviction`.
    pub fn new(eviction: Eviction) -> Self {
        Self {
            eviction,
            ..Self::default()
        }
    }

    fn hot_of(&mut self, agency: u32) -> &mut Hot {
        let i = agency as usize;
        if i >= self.hot.len() {
            self.hot.resize_with(i + 1, Hot::default);
        }
        &mut self.hot[i]
    }

    /// The dossier's facts, made hot: read back from cold storage when they are there, empty
    /// for a dossier never seen.
    fn hot_entry(&mut self, agency: u32, key: Key) -> io::Result<&mut Packed> {
        // Two lookups on the rare path keep the borrow checker happy on the common one.
        if self.hot_of(agency).contains(&key) {
            return Ok(self.hot[agency as usize]
                .get_mut(&key)
                .expect("just checked"));
        }
        let packed = match self.cold.take(agency, &key)? {
            Some(packed) => packed,
            None => Packed::pack(&Facts::default()),
        };
        Ok(self.hot[agency as usize].insert(key, packed))
    }

    /// Merges one event into a dossier's facts; returns the facts before and after when they
    /// changed.
    pub(crate) fn apply(
        &mut self,
        agency: u32,
        id: &str,
        fact: Fact,
    ) -> io::Result<Option<(Facts, Facts)>> {
        let at = match fact {
            Fact::Received(r) => r.at,
            Fact::Resolved(r) => r.at,
            Fact::Late(l) => l.at,
            Fact::Apology(at) | Fact::Service(at, _) => at,
        };
        self.newest = self.newest.max(Some(at));
        let packed = self.hot_entry(agency, Key::of(id))?;
        let before = packed.unpack();
        let mut after = before;
        if !after.apply(fact) {
            return Ok(None);
        }
        *packed = Packed::pack(&after);
        Ok(Some((before, after)))
    }

    /// Sets a whole dossier's facts (from a snapshot), replacing any it had.
    pub fn insert(&mut self, agency: u32, id: &str, facts: &Facts) -> io::Result<()> {
        let packed = Packed::pack(facts);
        if packed.last_event() != i64::MIN {
            self.newest = self.newest.max(Some(packed.last_event()));
        }
        let key = Key::of(id);
        // A cold copy would shadow nothing (hot wins) but would be counted.
        if !self.hot_of(agency).contains(&key) {
            self.cold.take(agency, &key)?;
        }
        self.hot[agency as usize].insert(key, packed);
        Ok(())
    }

    /// Number of dossiers, hot and cold.
    pub fn len(&self) -> usize {
        self.hot_len() + self.cold.len
    }

    /// Whether there is no dossier.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of dossiers in RAM.
    pub fn hot_len(&self) -> usize {
        self.hot.iter().map(Hot::len).sum()
    }

    /// Moves the dossiers that went quiet to cold storage, when enough hot ones were added
    /// since the last pass ([`Eviction::batch`]); returns how many moved.
    pub fn evict(&mut self) -> io::Result<usize> {
        let hot = self.hot_len();
        let due = self.hot_after_pass + self.eviction.batch.max(self.hot_after_pass / 4);
        let Some(newest) = self.newest.filter(|_| hot > 0 && hot >= due) else {
            return Ok(0);
        };
        let cutoff = newest.saturating_sub(i64::from(self.eviction.after_days) * MICROS_PER_DAY);
        let mut quiet = Vec::new();
        let mut moved = Vec::new();
        for (agency, map) in self.hot.iter_mut().enumerate() {
            map.extract_quiet(cutoff, &mut quiet);
            moved.extend(quiet.drain(..).map(|(key, p)| (agency as u32, key, p)));
        }
        self.hot_after_pass = hot - moved.len();
        let n = moved.len();
        if n > 0 {
            moved.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            if let Err(e) = self.cold.add(&self.eviction.dir, &moved, &self.hot) {
                // Nothing is lost: the dossiers stay hot.
                for (agency, key, packed) in moved {
                    self.hot[agency as usize].insert(key, packed);
                }
                self.hot_after_pass = self.hot_len();
                return Err(e);
            }
            tracing::debug!(
                evicted = n,
                hot = self.hot_after_pass,
                cold = self.cold.len,
                segments = self.cold.segments.len(),
                "quiet dossiers moved to cold storage"
            );
        }
        Ok(n)
    }

    /// Every dossier, hot ones first; cold ones are read from their segments.
    pub fn iter(&self) -> impl Iterator<Item = io::Result<DossierRow<'_>>> {
        let hot = self.hot.iter().enumerate().flat_map(|(agency, map)| {
            map.uuids
                .iter()
                .map(move |(b, p)| Ok((agency as u32, Cow::Owned(format_uuid(b)), p.unpack())))
                .chain(
                    map.texts
                        .iter()
                        .map(move |(t, p)| Ok((agency as u32, Cow::Borrowed(&**t), p.unpack()))),
                )
        });
        let cold = self.cold.scan().filter_map(move |row| match row {
            Ok((agency, key, _))
                if self
                    .hot
                    .get(agency as usize)
                    .is_some_and(|h| h.contains(&key)) =>
            {
                None
            }
            Ok((agency, key, p)) => Some(Ok((
                agency,
                Cow::Owned(key.text().into_owned()),
                p.unpack(),
            ))),
            Err(e) => Some(Err(e)),
        });
        hot.chain(cold)
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Records per block of a segment: one index entry per block, one block read per lookup.
const BLOCK_RECORDS: usize = 256;

/// Bloom filter bits per dossier (about 1% false positives with [`BLOOM_HASHES`]).
const BLOOM_BITS: usize = 10;
const BLOOM_HASHES: u64 = 7;

/// The cold dossiers: segments, oldest first.
#[derive(Debug, Default)]
struct Cold {
    /// This store's folder, made at the first eviction.
    dir: Option<PathBuf>,
    segments: Vec<Segment>,
    /// Dossiers whose facts are cold (not shadowed by a hot copy).
    len: usize,
    next: u64,
}

/// Distinguishes the folders of the stores of one process.
static STORES: AtomicU64 = AtomicU64::new(0);

impl Cold {
    /// The facts of a cold dossier, which stops being counted as cold (it becomes hot).
    fn take(&mut self, agency: u32, key: &Key) -> io::Result<Option<Packed>> {
        for segment in self.segments.iter().rev() {
            if let Some(packed) = segment.find(agency, key)? {
                self.len -= 1;
                return Ok(Some(packed));
            }
        }
        Ok(None)
    }

    /// Writes `rows` (sorted, not cold yet) as a new segment, then merges the newest segments
    /// while the newer is at least half the older (so each row is rewritten O(log n) times).
    /// A failure to write the new segment is returned (the rows are not cold then); one to
    /// merge is logged (the segments stay as they were).
    fn add(&mut self, parent: &std::path::Path, rows: &[Row], hot: &[Hot]) -> io::Result<()> {
        let segment = self.write(parent, rows.len(), rows.iter().cloned().map(Ok))?;
        self.len += rows.len();
        self.segments.push(segment);
        while let [.., older, newer] = self.segments.as_slice()
            && newer.records * 2 >= older.records
        {
            let bound = older.records + newer.records;
            let scans = vec![older.scan(), newer.scan()];
            let merged = merge(scans).filter(|row| match row {
                Ok((agency, key, _)) => !hot.get(*agency as usize).is_some_and(|h| h.contains(key)),
                Err(_) => true,
            });
            let segment = match self.write(parent, bound, merged) {
                Ok(segment) => segment,
                Err(e) => {
                    tracing::warn!(error = %e, "cold dossier segments not merged");
                    return Ok(());
                }
            };
            let newer = self.segments.pop().expect("two segments");
            let older = self.segments.pop().expect("two segments");
            self.segments.push(segment);
            newer.remove();
            older.remove();
        }
        Ok(())
    }

    /// Writes a segment of `rows` (sorted by agency and key, at most `bound` of them).
    fn write(
        &mut self,
        parent: &std::path::Path,
        bound: usize,
        rows: impl Iterator<Item = io::Result<Row>>,
    ) -> io::Result<Segment> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                let n = STORES.fetch_add(1, AtomicOrdering::Relaxed);
                let dir = parent.join(format!("parwatch-cold-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                self.dir = Some(dir.clone());
                dir
            }
        };
        let path = dir.join(format!("{:06}.seg", self.next));
        self.next += 1;
        Segment::write(path.clone(), bound, rows).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })
    }

    /// Every cold row, newest copy of each (agency, key), in order.
    fn scan(&self) -> impl Iterator<Item = io::Result<Row>> + use<> {
        merge(self.segments.iter().map(Segment::scan).collect())
    }
}

impl Drop for Cold {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            // A cache of this process: nothing is lost when removing it fails.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// (agency id, key, facts).
type Row = (u32, Key, Packed);

/// One sorted, immutable file of cold dossiers.
struct Segment {
    path: PathBuf,
    file: File,
    records: usize,
    bytes: u64,
    /// The first (agency, key) of each block and where the block starts.
    index: Vec<(u32, Key, u64)>,
    bloom: Bloom,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("records", &self.records)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Segment {
    fn write(
        path: PathBuf,
        bound: usize,
        rows: impl Iterator<Item = io::Result<Row>>,
    ) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(&path)?);
        let mut bloom = Bloom::new(bound);
        let (mut index, mut records, mut bytes) = (Vec::new(), 0_usize, 0);
        let mut buf = Vec::new();
        for row in rows {
            let (agency, key, packed) = row?;
            if records.is_multiple_of(BLOCK_RECORDS) {
                index.push((agency, key.clone(), bytes));
            }
            bloom.insert(agency, &key);
            buf.clear();
            encode(&mut buf, agency, &key, &packed);
            out.write_all(&buf)?;
            records += 1;
            bytes += buf.len() as u64;
        }
        // Read back by this process only (a cache): no sync to disk.
        out.flush()?;
        index.shrink_to_fit();
        Ok(Self {
            file: File::open(&path)?,
            path,
            records,
            bytes,
            index,
            bloom,
        })
    }

    /// The facts of (agency, key) when this segment holds them: one block read.
    fn find(&self, agency: u32, key: &Key) -> io::Result<Option<Packed>> {
        if !self.bloom.may_contain(agency, key) {
            return Ok(None);
        }
        let block = self
            .index
            .partition_point(|(a, k, _)| (*a, k) <= (agency, key));
        let Some(start) = block.checked_sub(1).map(|b| self.index[b].2) else {
            return Ok(None);
        };
        let end = self.index.get(block).map_or(self.bytes, |e| e.2);
        let mut buf = vec![0; (end - start) as usize];
        self.file.read_exact_at(&mut buf, start)?;
        let mut rest = buf.as_slice();
        while !rest.is_empty() {
            let (a, k, packed) = read_row(&mut rest)?;
            match (a, &k).cmp(&(agency, key)) {
                Ordering::Less => continue,
                Ordering::Equal => return Ok(Some(packed)),
                Ordering::Greater => break,
            }
        }
        Ok(None)
    }

    /// Every row, in order.
    fn scan(&self) -> Scan {
        Scan {
            reader: File::open(&self.path).map(BufReader::new),
            left: self.records,
        }
    }

    fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A segment's rows, read in order.
struct Scan {
    reader: io::Result<BufReader<File>>,
    left: usize,
}

impl Iterator for Scan {
    type Item = io::Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let reader = match &mut self.reader {
            Ok(reader) => reader,
            Err(e) => {
                self.left = 0;
                return Some(Err(io::Error::new(e.kind(), e.to_string())));
            }
        };
        let row = read_row(reader);
        if row.is_err() {
            self.left = 0;
        }
        Some(row)
    }
}

/// Sorted scans merged into one sorted scan; of rows with one (agency, key), the one of the
/// latest scan (the newest segment) wins. The first error ends it.
fn merge(mut scans: Vec<Scan>) -> impl Iterator<Item = io::Result<Row>> {
    let mut heads: Vec<Option<io::Result<Row>>> = scans.iter_mut().map(Iterator::next).collect();
    std::iter::from_fn(move || {
        if let Some(i) = heads.iter().position(|h| matches!(h, Some(Err(_)))) {
            let error = heads[i].take();
            heads.iter_mut().for_each(|h| *h = None);
            return error;
        }
        fn key(h: &Option<io::Result<Row>>) -> Option<(u32, &Key)> {
            match h {
                Some(Ok((agency, key, _))) => Some((*agency, key)),
                _ => None,
            }
        }
        let best = (0..heads.len())
            .filter(|&i| heads[i].is_some())
            .min_by(|&a, &b| key(&heads[a]).cmp(&key(&heads[b])).then(b.cmp(&a)))?;
        let winner = heads[best].take()?.ok()?;
        heads[best] = scans[best].next();
        // Older copies of the same dossier.
        for (head, scan) in heads.iter_mut().zip(&mut scans) {
            while key(head) == Some((winner.0, &winner.1)) {
                *head = scan.next();
            }
        }
        Some(Ok(winner))
    })
}

/// Appends a record: agency (u32), kind (0 UUID, 1 text), the id (16 bytes, or a u32 length
/// and the text), the packed facts.
fn encode(out: &mut Vec<u8>, agency: u32, key: &Key, packed: &Packed) {
    out.extend_from_slice(&agency.to_le_bytes());
    match key {
        Key::Uuid(bytes) => {
            out.push(0);
            out.extend_from_slice(bytes);
        }
        Key::Text(text) => {
            out.push(1);
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.extend_from_slice(&packed.to_bytes());
}

fn read_row(r: &mut impl Read) -> io::Result<Row> {
    let mut word = [0; 4];
    r.read_exact(&mut word)?;
    let agency = u32::from_le_bytes(word);
    let mut kind = [0; 1];
    r.read_exact(&mut kind)?;
    let key = match kind[0] {
        0 => {
            let mut bytes = [0; 16];
            r.read_exact(&mut bytes)?;
            Key::Uuid(bytes)
        }
        1 => {
            r.read_exact(&mut word)?;
            let mut text = vec![0; u32::from_le_bytes(word) as usize];
            r.read_exact(&mut text)?;
            let text = String::from_utf8(text)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            Key::Text(text.into())
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cold dossier record of unknown kind {other}"),
            ));
        }
    };
    let mut packed = [0; PACKED_BYTES];
    r.read_exact(&mut packed)?;
    Ok((agency, key, Packed::from_bytes(&packed)))
}

/// A Bloom filter over (agency, key).
#[derive(Debug)]
struct Bloom {
    bits: Vec<u64>,
}

impl Bloom {
    fn new(keys: usize) -> Self {
        Self {
            bits: vec![0; (keys * BLOOM_BITS).div_ceil(64).max(1)],
        }
    }

    /// The bit positions of (agency, key), by double hashing.
    fn positions(&self, agency: u32, key: &Key) -> impl Iterator<Item = usize> + use<> {
        let mut hasher = DefaultHasher::new();
        (agency, key).hash(&mut hasher);
        let h = hasher.finish();
        let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
        let m = self.bits.len() as u64 * 64;
        (0..BLOOM_HASHES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn insert(&mut self, agency: u32, key: &Key) {
        for bit in self.positions(agency, key) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    fn may_contain(&self, agency: u32, key: &Key) -> bool {
        self.positions(agency, key)
            .all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eviction(dir: &std::path::Path) -> Eviction {
        Eviction {
            after_days: 0,
            batch: 0,
            dir: dir.to_owned(),
        }
    }

    fn received(at: i64) -> Fact {
        Fact::Received(Received {
            at,
            channel: Channel::Online,
            online_mode: Some(ServiceMode::Full),
            due_at: at + 10,
            roles: Roles::default(),
        })
    }

    fn uuid(n: u32) -> String {
        format!("{n:08x}-0000-4000-8000-{:012x}", u64::from(n) * 7919)
    }

    #[test]
    fn ids_and_facts_round_trip() {
        for id in [uuid(1), "ffffffff-ffff-ffff-ffff-ffffffffffff".into()] {
            assert!(matches!(Key::of(&id), Key::Uuid(_)));
            assert_eq!(Key::of(&id).text(), id);
        }
        for id in [
            "D-1",
            "",
            "FFFFFFFF-0000-4000-8000-000000000000",
            "0000000-00000-4000-8000-000000000000",
        ] {
            assert!(matches!(Key::of(id), Key::Text(_)), "{id}");
            assert_eq!(Key::of(id).text(), id);
        }
        let mut facts = Facts::default();
        assert_eq!(Packed::pack(&facts).unpack(), facts);
        for fact in [
            received(-5),
            Fact::Resolved(Resolved {
                at: 7,
                digitized: Some(false),
            }),
            Fact::Late(Late {
                at: i64::MAX,
                due_at: i64::MIN,
            }),
            Fact::Apology(0),
        ] {
            facts.apply(fact);
            assert_eq!(Packed::pack(&facts).unpack(), facts);
        }
        for channel in Channel::ALL {
            for online_mode in [None]
                .into_iter()
                .chain(ServiceMode::ALL.iter().copied().map(Some))
            {
                for digitized in [None, Some(true), Some(false)] {
                    let f = Facts {
                        received: Some(Received {
                            at: 1,
                            channel: *channel,
                            online_mode,
                            due_at: 2,
                            roles: Roles {
                                receiving: digitized.map(|_| 0),
                                area: Some(u32::MAX - 1),
                            },
                        }),
                        resolved: Some(Resolved { at: 3, digitized }),
                        ..Facts::default()
                    };
                    assert_eq!(Packed::pack(&f).unpack(), f);
                }
            }
        }
    }

    /// Folds every fact into a store that evicts everything after each fact, and into one
    /// that never evicts; both hold the same dossiers, and each change reports the same
    /// before and after.
    #[test]
    fn cold_dossiers_come_back_with_their_facts() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cold = Dossiers::new(eviction(tmp.path()));
        let mut hot = Dossiers::new(Eviction {
            after_days: u32::MAX,
            ..eviction(tmp.path())
        });
        let mut facts = Vec::new();
        for n in 0..300_u32 {
            let id = if n.is_multiple_of(3) {
                format!("D{n}")
            } else {
                uuid(n)
            };
            let at = i64::from(n) * 1000;
            facts.push((n % 4, id.clone(), received(at)));
            facts.push((n % 4, id.clone(), Fact::Apology(at + 5)));
            // Earlier receipts and apologies, arriving later.
            facts.push((n % 4, id, received(at - 1)));
        }
        facts.push((3, "D3".into(), Fact::Apology(1)));
        for (i, (agency, id, fact)) in facts.iter().enumerate() {
            let a = cold.apply(*agency, id, *fact).unwrap();
            let b = hot.apply(*agency, id, *fact).unwrap();
            assert_eq!(a, b, "{id} {fact:?}");
            if i.is_multiple_of(7) {
                assert!(cold.evict().unwrap() > 0);
                assert_eq!(cold.hot_len(), 0);
            }
            assert_eq!(cold.len(), hot.len());
        }
        assert!(
            cold.cold.segments.len() < 8,
            "segments merge: {}",
            cold.cold.segments.len()
        );
        let rows = |d: &Dossiers| {
            let mut rows: Vec<_> = d
                .iter()
                .map(|r| r.map(|(a, id, f)| (a, id.into_owned(), f)))
                .collect::<io::Result<_>>()
                .unwrap();
            rows.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
            rows
        };
        let all = rows(&hot);
        assert_eq!(all.len(), 300);
        assert_eq!(rows(&cold), all, "every dossier listed once, newest facts");
    }

    /// When cold storage cannot be written, the dossiers stay hot with their facts.
    #[test]
    fn a_failed_eviction_keeps_the_dossiers_hot() {
        let tmp = tempfile::tempdir().unwrap();
        let not_a_dir = tmp.path().join("file");
        std::fs::write(&not_a_dir, "").unwrap();
        let mut d = Dossiers::new(eviction(&not_a_dir));
        for n in 0..10 {
            d.apply(n % 2, &uuid(n), received(i64::from(n))).unwrap();
        }
        assert!(d.evict().is_err());
        assert_eq!((d.len(), d.hot_len()), (10, 10));
        let change = d.apply(1, &uuid(3), received(1)).unwrap().unwrap();
        assert_eq!(change.0.received.unwrap().at, 3);
    }

    /// A dossier never seen, for which a segment's filter says "maybe", is new.
    #[test]
    fn a_false_positive_of_the_filter_is_a_new_dossier() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = Dossiers::new(eviction(tmp.path()));
        for n in 0..100 {
            d.apply(0, &uuid(n), received(i64::from(n))).unwrap();
        }
        assert_eq!(d.evict().unwrap(), 100);
        let segment = &d.cold.segments[0];
        let stranger = (1000..)
            .map(uuid)
            .find(|id| segment.bloom.may_contain(0, &Key::of(id)))
            .unwrap();
        assert_eq!(segment.find(0, &Key::of(&stranger)).unwrap(), None);
        let change = d.apply(0, &stranger, received(5)).unwrap();
        assert_eq!(change.map(|(before, _)| before), Some(Facts::default()));
        assert_eq!((d.len(), d.hot_len()), (101, 1));
        // A member comes back with its facts.
        let change = d.apply(0, &uuid(7), received(3)).unwrap().unwrap();
        assert_eq!(change.0.received.unwrap().at, 7);
        assert_eq!((d.len(), d.hot_len()), (101, 2));
    }
}
