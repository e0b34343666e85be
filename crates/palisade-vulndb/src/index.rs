//! The scan index: a read-only file beside the store (`scan.idx`) holding exactly what a scan
//! reads (each package's live affected entries, advisory report columns, alias edges, KEV and
//! EPSS) as sorted tables that a scan reads a few small blocks of, without opening SQLite.
//!
//! Why a file of our own: a scan started once per lockfile in CI spends most of its time on
//! fixed costs, and opening SQLite (parsing the schema on the first statement, preparing the
//! statements) was a fifth of it. A memory map would be simpler still, but it needs `unsafe`,
//! which this workspace forbids; positioned reads of sorted blocks touch about as little.
//!
//! Freshness: every store write that changes what a scan would see deletes the index inside its
//! transaction, before committing, and [`crate::VulnDb::refresh_scan_index`] rebuilds a missing
//! or unusable one (damaged, or of another format) while holding the store's write lock. So a
//! present index always describes the committed store, and a missing one makes the scan read
//! the store itself. The file is replaced by rename, never rewritten in place, so a scan that has
//! it open keeps reading one consistent version.
//!
//! Layout (integers little-endian). Each table is its entries, sorted by key bytes and grouped
//! into blocks of [`BLOCK`]. A block entry is `u16` key length, key, `u32` value length, value:
//! the values sit inside their blocks, so a lookup is one read of one block (a separate read per
//! found value was three quarters of a scan's 187 reads, each a system call). After the tables
//! come their fence lists, one entry per block, the shortest last: a fence is `u16` key length,
//! the block's first key, `u64` offset and `u32` length of the block. Opening reads the file's
//! last [`TAIL`] bytes in one read, which for a store without EPSS data holds every fence list,
//! the header and the small `meta` table, written last (one read where there were eight). The
//! header follows the fence lists: the magic `PLSCIX03`, a `u32` table count,
//! then per table its name (`u8` length and bytes) and the offset and length of its fence list
//! (`u64` each). The last 20 bytes give the header's offset (`u64`) and length (`u32`) and repeat
//! the magic, so a file cut short is recognised as one. Every offset and length read from the
//! file is checked against the file's size, so a damaged or hostile index gives an error, never a
//! panic or a read past its end.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use palisade_vulns::bytes;

use crate::DbError;

/// The index file's name inside the store folder.
pub const INDEX_FILE: &str = "scan.idx";
const MAGIC: &[u8; 8] = b"PLSCIX03";
/// Entries per block: a lookup reads one block of about this many keys and their values.
const BLOCK: usize = 32;
/// The most tables an index may declare, and the longest header read at open.
const MAX_TABLES: usize = 16;
const MAX_HEADER: usize = 4096;
/// The longest fence list read at open (a store of several million package keys stays under).
const MAX_FENCES_BYTES: u64 = 64 * 1024 * 1024;

/// Table names.
pub(crate) const PACKAGES: &str = "packages";
pub(crate) const HEADS: &str = "heads";
pub(crate) const ALIASES: &str = "aliases";
pub(crate) const KEV: &str = "kev";
pub(crate) const EPSS: &str = "epss";
pub(crate) const META: &str = "meta";

/// Writes an index file from tables given in key order (the writer sorts nothing itself, the
/// store's queries deliver sorted keys; out-of-order keys are an error, not a silent bad file).
pub(crate) struct IndexWriter {
    tmp: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    /// Each table's name and fence list, written after all tables.
    fence_lists: Vec<(String, Vec<u8>)>,
}

/// One table being written: the current block is buffered, and written once full.
pub(crate) struct TableWriter<'w> {
    w: &'w mut IndexWriter,
    name: String,
    /// The last key added, to refuse keys out of order.
    last: Option<Vec<u8>>,
    block: Vec<u8>,
    /// The current block's first key and entry count.
    first: Vec<u8>,
    in_block: usize,
    /// Each written block's first key, offset and length.
    fences: Vec<u8>,
}

impl IndexWriter {
    pub(crate) fn create(dir: &Path) -> Result<IndexWriter, DbError> {
        let tmp = dir.join(format!("{INDEX_FILE}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        Ok(IndexWriter {
            tmp,
            out: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            fence_lists: Vec::new(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<u64, DbError> {
        let at = self.pos;
        self.out.write_all(bytes).map_err(|e| io(&self.tmp, e))?;
        self.pos += bytes.len() as u64;
        Ok(at)
    }

    pub(crate) fn table(&mut self, name: &str) -> TableWriter<'_> {
        TableWriter {
            w: self,
            name: name.to_owned(),
            last: None,
            block: Vec::new(),
            first: Vec::new(),
            in_block: 0,
            fences: Vec::new(),
        }
    }

    /// Writes the header at the end (readers find it through the trailer) and moves the file
    /// into place.
    pub(crate) fn finish(mut self, dest: &Path) -> Result<(), DbError> {
        let mut lists = std::mem::take(&mut self.fence_lists);
        lists.sort_by_key(|(_, fences)| std::cmp::Reverse(fences.len()));
        let mut tables = Vec::new();
        for (name, fences) in lists {
            let at = self.write(&fences)?;
            tables.push((name, at, fences.len() as u64));
        }
        let mut head = Vec::new();
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&(tables.len() as u32).to_le_bytes());
        for (name, off, len) in &tables {
            head.push(name.len() as u8);
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(&off.to_le_bytes());
            head.extend_from_slice(&len.to_le_bytes());
        }
        let at = self.write(&head)?;
        // Trailer: where the header starts and how long it is, then the magic again, so a
        // truncated file is recognised as one.
        let mut trailer = Vec::new();
        trailer.extend_from_slice(&at.to_le_bytes());
        trailer.extend_from_slice(&(head.len() as u32).to_le_bytes());
        trailer.extend_from_slice(MAGIC);
        self.write(&trailer)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, dest).map_err(|e| io(dest, e))
    }

    /// Removes the unfinished file after a failure.
    pub(crate) fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = std::fs::remove_file(tmp);
    }
}

impl TableWriter<'_> {
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) -> Result<(), DbError> {
        if key.len() > u16::MAX as usize || value.len() > u32::MAX as usize {
            return Err(corrupt(&self.w.tmp, "an index key or value is too long"));
        }
        if self.last.as_deref().is_some_and(|k| k >= key) {
            return Err(corrupt(
                &self.w.tmp,
                &format!("table {}: keys out of order", self.name),
            ));
        }
        self.last = Some(key.to_vec());
        if self.in_block == 0 {
            self.first = key.to_vec();
        }
        self.block
            .extend_from_slice(&(key.len() as u16).to_le_bytes());
        self.block.extend_from_slice(key);
        self.block
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.block.extend_from_slice(value);
        self.in_block += 1;
        if self.in_block == BLOCK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DbError> {
        if self.in_block == 0 {
            return Ok(());
        }
        let len = u32::try_from(self.block.len())
            .map_err(|_| corrupt(&self.w.tmp, &format!("table {}: block too long", self.name)))?;
        let at = self.w.write(&self.block)?;
        put_fence(&mut self.fences, &self.first, at, len);
        self.block.clear();
        self.in_block = 0;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), DbError> {
        self.flush()?;
        self.w.fence_lists.push((self.name, self.fences));
        Ok(())
    }
}

/// A fence: a block's first key and where the block is.
fn put_fence(out: &mut Vec<u8>, key: &[u8], off: u64, len: u32) {
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
}

/// An open index.
pub struct ScanIndex {
    file: File,
    path: PathBuf,
    size: u64,
    tables: HashMap<String, Table>,
    /// The last block read and its offset. One buffer, reused: a scan looks packages up in key
    /// order, so it finishes with a block before it moves on, and keeping every block read (280
    /// KB for a 475-package lockfile) cost a page fault per 4 KB, more than reading again the few
    /// blocks that are asked for twice (advisory heads, which the scan keeps once decoded).
    block: std::sync::Mutex<(Option<u64>, Vec<u8>)>,
    /// The file's last [`TAIL`] bytes and where they start: reads inside them are copies.
    tail: (u64, Vec<u8>),
}

impl std::fmt::Debug for ScanIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanIndex")
            .field("path", &self.path)
            .finish()
    }
}

/// A table's fence list: each block's first key, offset and length.
struct Table {
    /// The fence list as read; the keys are ranges of it rather than one allocation each.
    raw: Vec<u8>,
    fences: Vec<(std::ops::Range<usize>, u64, u32)>,
}

impl Table {
    /// The first key of block `b`.
    fn first(&self, b: usize) -> &[u8] {
        &self.raw[self.fences[b].0.clone()]
    }
}

/// A cursor over bytes read from the index; every read is checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, at: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
    /// What [`put_fence`] wrote.
    fn fence(&mut self) -> Option<(&'a [u8], u64, u32)> {
        let n = self.u16()? as usize;
        Some((self.take(n)?, self.u64()?, self.u32()?))
    }
    /// A block entry: key and value.
    fn entry(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let n = self.u16()? as usize;
        let key = self.take(n)?;
        let len = self.u32()? as usize;
        Some((key, self.take(len)?))
    }
}

impl ScanIndex {
    /// Opens the index in `dir`; `None` when there is none (the scan then reads the store).
    pub fn open(dir: &Path) -> Result<Option<ScanIndex>, DbError> {
        let path = dir.join(INDEX_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        let size = file.metadata().map_err(|e| io(&path, e))?.len();
        let mut ix = ScanIndex {
            file,
            path,
            size,
            tables: HashMap::new(),
            block: std::sync::Mutex::new((None, Vec::new())),
            tail: (0, Vec::new()),
        };
        let bad = |what: &str| corrupt(&ix.path, what);
        if size < 20 {
            return Err(bad("too short"));
        }
        let tail_at = size.saturating_sub(TAIL);
        ix.tail = (tail_at, ix.read(tail_at, (size - tail_at) as u32)?);
        let trailer = ix.read(size - 20, 20)?;
        let mut t = Cursor::new(&trailer);
        let (head_at, head_len) = (t.u64(), t.u32());
        if t.take(8) != Some(MAGIC.as_slice()) {
            return Err(bad("not a scan index, or cut short"));
        }
        let (Some(head_at), Some(head_len)) = (head_at, head_len) else {
            return Err(bad("trailer"));
        };
        if head_len as usize > MAX_HEADER {
            return Err(bad("header too long"));
        }
        let head = ix.read(head_at, head_len)?;
        let mut c = Cursor::new(&head);
        if c.take(8) != Some(MAGIC.as_slice()) {
            return Err(bad("header magic"));
        }
        let count = c.u32().ok_or_else(|| bad("header"))? as usize;
        if count > MAX_TABLES {
            return Err(bad("too many tables"));
        }
        for _ in 0..count {
            let parsed = (|| {
                let n = *c.take(1)?.first()? as usize;
                let name = std::str::from_utf8(c.take(n)?).ok()?.to_owned();
                Some((name, c.u64()?, c.u64()?))
            })();
            let (name, off, len) = parsed.ok_or_else(|| bad("table header"))?;
            if len > MAX_FENCES_BYTES {
                return Err(bad("fence list too long"));
            }
            let raw = ix.read(off, len as u32)?;
            let mut f = Cursor::new(&raw);
            let mut fences = Vec::new();
            while !f.done() {
                let key_at = f.at + 2;
                let (first, at, len) = f
                    .fence()
                    .ok_or_else(|| bad(&format!("table {name}: fence list")))?;
                fences.push((key_at..key_at + first.len(), at, len));
            }
            ix.tables.insert(name, Table { raw, fences });
        }
        Ok(Some(ix))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self, at: u64, len: u32) -> Result<Vec<u8>, DbError> {
        let mut buf = Vec::new();
        self.read_into(at, len, &mut buf)?;
        Ok(buf)
    }

    /// Reads `len` bytes at `at` into `buf`, replacing what it held.
    fn read_into(&self, at: u64, len: u32, buf: &mut Vec<u8>) -> Result<(), DbError> {
        let end = at.checked_add(u64::from(len));
        if end.is_none_or(|e| e > self.size) {
            return Err(corrupt(
                &self.path,
                "an offset points past the end of the file",
            ));
        }
        buf.clear();
        let (tail_at, tail) = &self.tail;
        if let Some(from) = at.checked_sub(*tail_at).filter(|_| !tail.is_empty()) {
            // Inside the tail, which reaches the end of the file, as the range does.
            let from = from as usize;
            buf.extend_from_slice(&tail[from..from + len as usize]);
            return Ok(());
        }
        if buf.capacity() < len as usize {
            // A new buffer rather than a grown one: growing copies what the old one held,
            // which is about to be overwritten.
            *buf = Vec::with_capacity(len as usize);
        }
        buf.resize(len as usize, 0);
        self.file
            .read_exact_at(buf, at)
            .map_err(|e| io(&self.path, e))
    }

    /// The value of `key` in `table`.
    pub(crate) fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        self.with_value(table, key, <[u8]>::to_vec)
    }

    /// `read(value)` for the value of `key` in `table`, read in place in its block.
    pub(crate) fn with_value<R>(
        &self,
        table: &str,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, DbError> {
        let Some(t) = self.tables.get(table) else {
            return Err(corrupt(&self.path, &format!("no table {table}")));
        };
        // The last block whose first key is not after `key`.
        let i = t
            .fences
            .partition_point(|(first, _, _)| bytes::cmp(&t.raw[first.clone()], key).is_le());
        let Some(b) = i.checked_sub(1) else {
            return Ok(None);
        };
        let (_, off, len) = &t.fences[b];
        let found = {
            let mut guard = self.block.lock().unwrap_or_else(|p| p.into_inner());
            let (at, raw) = &mut *guard;
            if *at != Some(*off) {
                *at = None;
                self.read_into(*off, *len, raw)?;
                *at = Some(*off);
            }
            find_in_block(raw, key)
                .ok_or_else(|| corrupt(&self.path, &format!("table {table}: block at {off}")))?
                .map(read)
        };
        Ok(found)
    }
}

impl ScanIndex {
    /// `read(i, value)` for each `keys[i]` present in `table`; `keys` must be in ascending byte
    /// order (out of order, some are reported absent). One pass over the table: each block the
    /// keys fall in is read once, runs of neighbouring blocks in one read of up to [`RUN`] bytes,
    /// and each block's entries are decoded once as the keys walk along them. Looking the 475
    /// packages of a lockfile up one by one read 29 blocks in 29 system calls and decoded each
    /// block again from its start for every key in it, 16 entries per key on average.
    pub(crate) fn with_values(
        &self,
        table: &str,
        keys: &[&[u8]],
        mut read: impl FnMut(usize, &[u8]) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let Some(t) = self.tables.get(table) else {
            return Err(corrupt(&self.path, &format!("no table {table}")));
        };
        let fences = &t.fences;
        // The block of each key: the last block whose first key is not after it. Keys before
        // the first block's first key are in no block.
        let mut block_of = Vec::with_capacity(keys.len());
        let mut b = 0;
        for key in keys {
            while b < fences.len() && bytes::cmp(t.first(b), key).is_le() {
                b += 1;
            }
            block_of.push(b.checked_sub(1));
        }
        let mut guard = self.block.lock().unwrap_or_else(|p| p.into_inner());
        let (cached_at, buf) = &mut *guard;
        *cached_at = None;
        let mut k = block_of.iter().take_while(|b| b.is_none()).count();
        while k < keys.len() {
            let Some(first) = block_of[k] else {
                // Keys are sorted, so blocks only rise; a key with none is out of order.
                k += 1;
                continue;
            };
            let start = fences[first].1;
            let mut last = first;
            let past_end = || corrupt(&self.path, &format!("table {table}: a block past the end"));
            let mut end = start
                .checked_add(u64::from(fences[first].2))
                .filter(|&e| e <= self.size)
                .ok_or_else(past_end)?;
            // Extend the run to the next needed block while the run stays within RUN bytes, the
            // blocks between included: copying a few kilobytes more costs less than another
            // system call. A table's blocks lie one after another on disk.
            let mut next = k;
            loop {
                while next < keys.len() && block_of[next] == Some(last) {
                    next += 1;
                }
                // (A key out of order may point back to an earlier block: the run ends there.)
                let Some(&Some(b)) = block_of.get(next).filter(|b| b.is_some_and(|b| b > last))
                else {
                    break;
                };
                let (_, off, len) = fences[b];
                // Offsets that chain from `end`, itself within the file, cannot overflow.
                let contiguous = fences[last + 1..=b]
                    .iter()
                    .try_fold(end, |at, &(_, off, len)| {
                        (off == at && at <= self.size).then(|| at + u64::from(len))
                    });
                if contiguous.is_none_or(|e| e > self.size) || off + u64::from(len) - start > RUN {
                    break;
                }
                last = b;
                end = off + u64::from(len);
            }
            let run_len = u32::try_from(end - start)
                .map_err(|_| corrupt(&self.path, &format!("table {table}: block sizes")))?;
            self.read_into(start, run_len, buf)?;
            for (b, (_, off, len)) in fences.iter().enumerate().take(last + 1).skip(first) {
                let at = (off - start) as usize;
                let raw = &buf[at..at + *len as usize];
                let bad = || corrupt(&self.path, &format!("table {table}: block at {off}"));
                let mut walk = BlockWalk::new(raw);
                while k < next && block_of[k] == Some(b) {
                    if let Some(value) = walk.find(keys[k]).ok_or_else(bad)? {
                        read(k, value)?;
                    }
                    k += 1;
                }
            }
        }
        Ok(())
    }
}

/// How much of the file's end opening reads at once (see the module's comment on the layout).
const TAIL: u64 = 8 * 1024;

/// The longest run of neighbouring blocks [`ScanIndex::with_values`] reads at once: a few
/// system calls for a whole lockfile, into a buffer small enough that its fresh pages (a fault
/// each) stay few.
const RUN: u64 = 32 * 1024;

/// The value of `key` in a block, `None` inside when absent; `None` outside when the block is
/// malformed.
fn find_in_block<'b>(raw: &'b [u8], key: &[u8]) -> Option<Option<&'b [u8]>> {
    BlockWalk::new(raw).find(key)
}

/// A walk along one block's entries for keys asked in ascending order: each entry is decoded
/// once, however many keys are asked.
struct BlockWalk<'b> {
    entries: Cursor<'b>,
    /// The first entry not yet passed.
    current: Option<(&'b [u8], &'b [u8])>,
}

impl<'b> BlockWalk<'b> {
    fn new(raw: &'b [u8]) -> BlockWalk<'b> {
        BlockWalk {
            entries: Cursor::new(raw),
            current: None,
        }
    }

    /// The value of `key`, `None` inside when absent (or asked out of order); `None` outside
    /// when the block is malformed.
    fn find(&mut self, key: &[u8]) -> Option<Option<&'b [u8]>> {
        loop {
            let (entry_key, value) = match self.current {
                Some(e) => e,
                None if self.entries.done() => return Some(None),
                None => *self.current.insert(self.entries.entry()?),
            };
            match bytes::cmp(entry_key, key) {
                std::cmp::Ordering::Less => self.current = None,
                std::cmp::Ordering::Equal => return Some(Some(value)),
                std::cmp::Ordering::Greater => return Some(None),
            }
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> DbError {
    DbError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) fn corrupt(path: &Path, what: &str) -> DbError {
    DbError::Corrupt {
        path: path.display().to_string(),
        message: format!(
            "scan index: {what} (delete it, or run `palisade advisories import` to rebuild it)"
        ),
    }
}

/// Writes values in the index's own encoding: strings as `u32` length and bytes, optional
/// values behind a one-byte flag. Decoding JSON was a quarter of a small scan; this is read with
/// a few bounds checks per field.
#[derive(Default)]
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    pub(crate) fn strs(&mut self, list: &[String]) {
        self.u32(list.len() as u32);
        for s in list {
            self.str(s);
        }
    }
    pub(crate) fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.f64(v);
            }
        }
    }
}

/// Reads what [`Enc`] wrote; `None` on anything malformed.
pub(crate) struct Dec<'a>(Cursor<'a>);

impl<'a> Dec<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Dec<'a> {
        Dec(Cursor::new(bytes))
    }
    pub(crate) fn done(&self) -> bool {
        self.0.done()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.0.take(1)?.first().copied()
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.0.u32()
    }
    pub(crate) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.0.take(8)?.try_into().ok()?))
    }
    pub(crate) fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.0.take(8)?.try_into().ok()?))
    }
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        let n = self.0.u32()? as usize;
        std::str::from_utf8(self.0.take(n)?).ok()
    }
    pub(crate) fn string(&mut self) -> Option<String> {
        self.str().map(str::to_owned)
    }
    pub(crate) fn opt_string(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.string()?)),
            _ => None,
        }
    }
    pub(crate) fn strings(&mut self) -> Option<Vec<String>> {
        let n = self.0.u32()? as usize;
        // Each string takes at least its four length bytes: a count larger than the rest of the
        // value is damage, and must not reserve memory for it.
        if n > self.0.bytes.len().saturating_sub(self.0.at) / 4 {
            return None;
        }
        (0..n).map(|_| self.string()).collect()
    }
    pub(crate) fn opt_f64(&mut self) -> Option<Option<f64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.f64()?)),
            _ => None,
        }
    }
}
