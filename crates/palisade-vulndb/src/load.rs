//! Reading advisory sources from disk into the store: a single file, a folder of files (walked,
//! `.git` skipped), or an OSV `all.zip` archive, each file recognised by `palisade_feeds::detect`.
//! A file that does not parse is reported with its location and skipped; it never stops the
//! import of the others. Advisories are written in batches, one transaction each.

use std::io::Read;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use palisade_feeds::{FeedFormat, MAX_FEED_BYTES, detect};
use palisade_vulns::Advisory;

use crate::{DbError, VulnDb};

/// Advisories per transaction: large enough that commits are rare, small enough that memory
/// stays flat on a 500,000-record import.
const BATCH: usize = 2_000;

/// What an import did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportStats {
    pub files: u64,
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Records not newer than the source's last sync, skipped without writing.
    pub skipped_unmodified: u64,
    pub withdrawn: u64,
    pub kev: u64,
    pub epss: u64,
    /// Files that are not advisory data (READMEs, licences).
    pub ignored_files: u64,
    /// `file:line: field: message` for each file that failed to parse.
    pub errors: Vec<String>,
    /// The newest `modified` time seen: the next incremental sync starts after it.
    pub high_water: Option<Timestamp>,
}

/// Progress through an import, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// One unit of work: a file, or one entry of a zip archive.
enum Unit {
    File(PathBuf),
    Zip(PathBuf),
}

/// Files under `path` (or `path` itself), sorted so imports are repeatable.
fn scan_files(path: &Path) -> Result<Vec<PathBuf>, DbError> {
    let io = |source: std::io::Error| DbError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(path)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git");
    for entry in walk {
        let entry = entry.map_err(|e| DbError::Io {
            path: path.display().to_string(),
            source: e.into(),
        })?;
        if entry.file_type().is_file() {
            out.push(entry.into_path());
        }
    }
    out.sort();
    Ok(out)
}

/// The last `n` components of `path`, joined by `/`: how RustSec and FriendsOfPHP records are
/// named (`crates/<name>/<id>.md`, `<vendor>/<package>/<file>.yaml`) wherever the folder sits.
fn tail(path: &Path, n: usize) -> String {
    let parts: Vec<_> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts[parts.len().saturating_sub(n)..].join("/")
}

struct Importer<'a> {
    db: &'a mut VulnDb,
    since: Option<Timestamp>,
    batch: Vec<Advisory>,
    stats: ImportStats,
}

impl Importer<'_> {
    fn add(&mut self, advisories: Vec<Advisory>) -> Result<(), DbError> {
        for adv in advisories {
            self.stats.records += 1;
            if let Some(m) = adv.modified {
                if self.stats.high_water.is_none_or(|h| m > h) {
                    self.stats.high_water = Some(m);
                }
                if self.since.is_some_and(|s| m <= s) {
                    self.stats.skipped_unmodified += 1;
                    continue;
                }
            }
            if adv.is_withdrawn() {
                self.stats.withdrawn += 1;
            }
            self.batch.push(adv);
            if self.batch.len() >= BATCH {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DbError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.db.train_dictionary(&self.batch)?;
        let s = self.db.upsert(&self.batch)?;
        self.stats.inserted += s.inserted;
        self.stats.updated += s.updated;
        self.stats.unchanged += s.unchanged;
        self.batch.clear();
        Ok(())
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.stats.errors.push(e.to_string());
    }

    /// Parses one file's bytes by its detected format and stores what it holds. `name` is how
    /// errors name the file (its full path, or `archive!entry`); `path` is what detection and
    /// record ids look at (the file's own path, or the entry's path inside the archive).
    fn bytes(&mut self, name: &str, path: &Path, content: &[u8]) -> Result<(), DbError> {
        // Compressed files are recognised by the name they have once decompressed.
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let detect_name = file_name.strip_suffix(".gz").unwrap_or(&file_name);
        let Some(format) = detect(detect_name, content) else {
            self.stats.ignored_files += 1;
            return Ok(());
        };
        self.stats.files += 1;
        let text = || std::str::from_utf8(content).map_err(|e| format!("{name}: not UTF-8: {e}"));
        match format {
            FeedFormat::Osv => match palisade_feeds::osv::parse(name, content) {
                Ok(list) => self.add(list)?,
                Err(e) => self.error(e),
            },
            FeedFormat::Rustsec => match text() {
                Ok(t) => match palisade_feeds::rustsec::parse(&tail(path, 3), t) {
                    Ok(a) => self.add(vec![a])?,
                    Err(e) => self.error(e),
                },
                Err(e) => self.error(e),
            },
            FeedFormat::FriendsOfPhp => match text() {
                Ok(t) => match palisade_feeds::friendsofphp::parse(&tail(path, 3), t) {
                    Ok(a) => self.add(vec![a])?,
                    Err(e) => self.error(e),
                },
                Err(e) => self.error(e),
            },
            FeedFormat::DebianTracker => match palisade_feeds::debian::parse(name, content) {
                Ok(list) => self.add(list)?,
                Err(e) => self.error(e),
            },
            FeedFormat::Kev => match palisade_feeds::kev::parse(name, content) {
                Ok(list) => {
                    self.db.replace_kev(&list)?;
                    self.stats.kev += list.len() as u64;
                }
                Err(e) => self.error(e),
            },
            FeedFormat::Epss => match text() {
                Ok(t) => match palisade_feeds::epss::parse(name, t) {
                    Ok(file) => {
                        let date = file.score_date.map(|d| d.to_string());
                        self.db.replace_epss(date.as_deref(), &file.scores)?;
                        self.stats.epss += file.scores.len() as u64;
                    }
                    Err(e) => self.error(e),
                },
                Err(e) => self.error(e),
            },
        }
        Ok(())
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = Vec::new();
    file.take(MAX_FEED_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if buf.len() > MAX_FEED_BYTES {
        return Err(format!(
            "{}: larger than the {MAX_FEED_BYTES}-byte limit for one feed file",
            path.display()
        ));
    }
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&buf[..])
            .take(MAX_FEED_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("{}: not valid gzip: {e}", path.display()))?;
        if out.len() > MAX_FEED_BYTES {
            return Err(format!(
                "{}: decompresses past the size limit",
                path.display()
            ));
        }
        return Ok(out);
    }
    Ok(buf)
}

/// Imports everything under `path` into `db`. Records whose `modified` time is not after
/// `since` are skipped (incremental sync). `progress` is called after each file or archive entry.
pub fn import_path(
    db: &mut VulnDb,
    path: &Path,
    since: Option<Timestamp>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportStats, DbError> {
    let files = scan_files(path)?;
    let mut units = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for f in files {
        if f.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) {
            total += zip_len(&f).unwrap_or(1);
            units.push(Unit::Zip(f));
        } else {
            total += 1;
            units.push(Unit::File(f));
        }
    }
    let mut imp = Importer {
        db,
        since,
        batch: Vec::new(),
        stats: ImportStats::default(),
    };
    let mut done = 0u64;
    for unit in units {
        match unit {
            Unit::File(f) => {
                match read_limited(&f) {
                    Ok(content) => imp.bytes(&f.display().to_string(), &f, &content)?,
                    Err(e) => imp.error(e),
                }
                done += 1;
                progress(Progress { done, total });
            }
            Unit::Zip(f) => {
                import_zip(&mut imp, &f, &mut done, total, progress)?;
            }
        }
    }
    imp.flush()?;
    Ok(imp.stats)
}

fn zip_len(path: &Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    zip::ZipArchive::new(file).ok().map(|z| z.len() as u64)
}

fn import_zip(
    imp: &mut Importer<'_>,
    path: &Path,
    done: &mut u64,
    total: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), DbError> {
    let opened = std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()));
    let mut archive = match opened {
        Ok(a) => a,
        Err(e) => {
            imp.error(format!(
                "{}: not a readable zip archive: {e}",
                path.display()
            ));
            *done += 1;
            progress(Progress { done: *done, total });
            return Ok(());
        }
    };
    let mut buf = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i);
        match entry {
            Ok(mut entry) if entry.is_file() => {
                let name = format!("{}!{}", path.display(), entry.name());
                let inner = PathBuf::from(entry.name());
                buf.clear();
                let limit = palisade_feeds::MAX_RECORD_BYTES as u64;
                match (&mut entry).take(limit + 1).read_to_end(&mut buf) {
                    Ok(_) if buf.len() as u64 > limit => imp.error(format!(
                        "{name}: larger than the {limit}-byte limit for one record"
                    )),
                    Ok(_) => imp.bytes(&name, &inner, &buf)?,
                    Err(e) => imp.error(format!("{name}: {e}")),
                }
            }
            Ok(_) => {}
            Err(e) => imp.error(format!("{}: entry {i}: {e}", path.display())),
        }
        *done += 1;
        progress(Progress { done: *done, total });
    }
    Ok(())
}
