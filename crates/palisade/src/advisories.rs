//! `palisade advisories import|sync|status|show`: filling and refreshing the local advisory store
//! from files, folders, archives and URLs, with progress bars for the long parts.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use palisade_vulndb::{ImportStats, Progress, SourceState, VulnDb};
use tokio::io::AsyncWriteExt;

use crate::config::AdvisorySource;

/// Largest download accepted for one source (an OSV `all.zip` for npm is about 1 GB).
pub const MAX_DOWNLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;

pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// Imports `path` with a progress bar; prints what happened.
fn import_with_progress(
    db: &mut VulnDb,
    path: &Path,
    since: Option<jiff::Timestamp>,
    label: &str,
) -> anyhow::Result<ImportStats> {
    let pb = bar(0, label);
    let stats = palisade_vulndb::import_path(db, path, since, &mut |p: Progress| {
        pb.set_length(p.total);
        pb.set_position(p.done);
    })?;
    pb.finish_and_clear();
    report(label, &stats);
    Ok(stats)
}

fn report(label: &str, s: &ImportStats) {
    outln!(
        "{label}: {} files, {} records: {} new, {} updated, {} unchanged, {} not modified since last sync, {} withdrawn; {} KEV, {} EPSS; {} errors",
        s.files,
        s.records,
        s.inserted,
        s.updated,
        s.unchanged,
        s.skipped_unmodified,
        s.withdrawn,
        s.kev,
        s.epss,
        s.errors.len()
    );
    for e in s.errors.iter().take(20) {
        eprintln!("  error: {e}");
    }
    if s.errors.len() > 20 {
        eprintln!("  … and {} more errors", s.errors.len() - 20);
    }
}

/// What a download did.
enum Download {
    NotModified,
    Saved { path: PathBuf, etag: Option<String> },
}

/// Fetches `url` into `dir`, skipping the transfer when the server says the entity tag is
/// unchanged. `client` comes from [`crate::outbound::client`], which verifies certificates.
async fn download(
    client: &reqwest::Client,
    url: &str,
    dir: &Path,
    etag: Option<&str>,
) -> anyhow::Result<Download> {
    let mut req = client.get(url);
    if let Some(tag) = etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, tag);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Download::NotModified);
    }
    if !resp.status().is_success() {
        bail!("fetching {url}: HTTP {}", resp.status());
    }
    let new_etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let name = url
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("download");
    // Keep only characters that are safe in a file name.
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::fs::create_dir_all(dir)?;
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}.part"));
    let pb = bar(resp.content_length().unwrap_or(0), "download");
    let mut file = tokio::fs::File::create(&tmp).await?;
    let mut stream = resp.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("reading {url}"))?;
        total += chunk.len() as u64;
        if total > MAX_DOWNLOAD_BYTES {
            bail!("{url}: larger than the {MAX_DOWNLOAD_BYTES}-byte download limit");
        }
        file.write_all(&chunk).await?;
        pb.set_position(total);
    }
    file.flush().await?;
    drop(file);
    pb.finish_and_clear();
    tokio::fs::rename(&tmp, &path).await?;
    Ok(Download::Saved {
        path,
        etag: new_etag,
    })
}

/// Largest `modified_id.csv` accepted (osv.dev's npm list is about 20 MB).
const MAX_LIST_BYTES: usize = 256 * 1024 * 1024;

/// Reads osv.dev's `modified_id.csv` (`2024-05-01T12:00:00Z,GHSA-…` per line): the ids modified
/// after `since`. Ids become file names, so anything but letters, digits, `.`, `-`, `_` and `:`
/// is refused.
fn modified_since(csv: &str, since: jiff::Timestamp) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for (n, line) in csv.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (ts, id) = line
            .split_once(',')
            .with_context(|| format!("modified_id.csv:{}: expected `time,id`", n + 1))?;
        let ts: jiff::Timestamp = ts
            .trim()
            .parse()
            .with_context(|| format!("modified_id.csv:{}: bad time {ts:?}", n + 1))?;
        let id = id.trim();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
        {
            bail!("modified_id.csv:{}: unexpected id {id:?}", n + 1);
        }
        if ts > since {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// An osv.dev-style folder (`https://…/npm/`): the first sync takes `all.zip`; later ones read
/// `modified_id.csv` and fetch only the records modified since the last run, so a daily sync
/// moves kilobytes, not the whole archive. Returns what to import.
async fn sync_osv_folder(
    base: &str,
    dir: &Path,
    since: Option<jiff::Timestamp>,
    client: &reqwest::Client,
) -> anyhow::Result<PathBuf> {
    let Some(since) = since else {
        return match download(client, &format!("{base}all.zip"), dir, None).await? {
            Download::Saved { path, .. } => Ok(path),
            Download::NotModified => bail!("{base}all.zip: the server answered 304 unasked"),
        };
    };
    let list_url = format!("{base}modified_id.csv");
    let resp = client
        .get(&list_url)
        .send()
        .await
        .with_context(|| format!("fetching {list_url}"))?;
    if !resp.status().is_success() {
        bail!("fetching {list_url}: HTTP {}", resp.status());
    }
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_LIST_BYTES as u64)
    {
        bail!("{list_url}: larger than the {MAX_LIST_BYTES}-byte limit");
    }
    let list = resp
        .text()
        .await
        .with_context(|| format!("reading {list_url}"))?;
    let ids = modified_since(&list, since)?;
    let records = dir.join("records");
    if records.exists() {
        std::fs::remove_dir_all(&records)?;
    }
    std::fs::create_dir_all(&records)?;
    let pb = bar(ids.len() as u64, "fetch");
    for id in &ids {
        download(client, &format!("{base}{id}.json"), &records, None).await?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    outln!("{base}: {} records modified since {since}", ids.len());
    Ok(records)
}

/// `palisade advisories import`: each location is a file, a folder, an archive or a URL.
pub async fn import(
    db_dir: &Path,
    locations: &[String],
    client: &reqwest::Client,
) -> anyhow::Result<()> {
    let mut db = VulnDb::open(db_dir)?;
    for loc in locations {
        let path = if is_url(loc) {
            match download(client, loc, &db_dir.join("downloads"), None).await? {
                Download::Saved { path, .. } => path,
                Download::NotModified => continue,
            }
        } else {
            PathBuf::from(loc)
        };
        if !path.exists() {
            bail!("{} does not exist", path.display());
        }
        import_with_progress(&mut db, &path, None, loc)?;
    }
    refresh_scan_index(&mut db);
    outln!("advisory store: {}", db.path().display());
    Ok(())
}

/// Rebuilds the scan index if an import changed the store. Scans read the store itself until it
/// is back, so a failure costs speed, not correctness: it is a warning, not a failed import.
fn refresh_scan_index(db: &mut VulnDb) {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("indexing for scans");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let built = db.refresh_scan_index();
    spinner.finish_and_clear();
    if let Err(e) = built {
        eprintln!("warning: building the scan index: {e} (scans will read the store directly)");
    }
}

/// `palisade advisories sync`: refreshes every configured source (or one), importing only
/// records modified since that source's last run.
pub async fn sync(
    db_dir: &Path,
    sources: &[AdvisorySource],
    only: Option<&str>,
    client: &reqwest::Client,
) -> anyhow::Result<()> {
    if sources.is_empty() {
        bail!(
            "no advisory sources are configured: add [[advisory_sources]] tables (name, location) to palisade.toml"
        );
    }
    let mut db = VulnDb::open(db_dir)?;
    let mut matched = false;
    for src in sources.iter().filter(|s| only.is_none_or(|o| o == s.name)) {
        matched = true;
        let prev = db
            .source_state(&src.name)?
            .filter(|s| s.location == src.location);
        let since = prev.as_ref().and_then(|s| s.high_water);
        let mut etag = prev.as_ref().and_then(|s| s.etag.clone());
        let dir = db_dir.join("downloads").join(&src.name);
        let path = if is_url(&src.location) && src.location.ends_with('/') {
            Some(sync_osv_folder(&src.location, &dir, since, client).await?)
        } else if is_url(&src.location) {
            match download(client, &src.location, &dir, etag.as_deref()).await? {
                Download::NotModified => {
                    outln!("{}: unchanged since the last sync", src.name);
                    None
                }
                Download::Saved { path, etag: tag } => {
                    etag = tag;
                    Some(path)
                }
            }
        } else {
            Some(PathBuf::from(&src.location))
        };
        let mut high_water = since;
        if let Some(path) = path {
            let stats = import_with_progress(&mut db, &path, since, &src.name)?;
            if stats.high_water > high_water {
                high_water = stats.high_water;
            }
        }
        db.set_source_state(&SourceState {
            name: src.name.clone(),
            location: src.location.clone(),
            high_water,
            etag,
            last_run: Some(jiff::Timestamp::now()),
        })?;
    }
    refresh_scan_index(&mut db);
    if !matched {
        bail!(
            "no configured advisory source is named {:?}",
            only.unwrap_or("")
        );
    }
    Ok(())
}

/// `palisade advisories status`.
pub fn status(db_dir: &Path) -> anyhow::Result<()> {
    let db = VulnDb::open_existing(db_dir)?;
    let s = db.stats()?;
    outln!("advisory store: {}", db.path().display());
    for (source, n) in &s.advisories {
        outln!("  {source:<16} {n} advisories");
    }
    outln!("  withdrawn        {}", s.withdrawn);
    match std::fs::metadata(db_dir.join(palisade_vulndb::INDEX_FILE)) {
        Ok(m) if palisade_vulndb::usable_scan_index(db_dir).is_some() => {
            outln!("  scan index       {:.1} MB", m.len() as f64 / 1e6)
        }
        Ok(_) => outln!(
            "  scan index       unusable (damaged, or from another release): scans read the \
             store; the next import or sync rebuilds it"
        ),
        Err(_) => outln!(
            "  scan index       none: scans read the store; the next import or sync builds it"
        ),
    }
    outln!("  affected entries {}", s.affected_entries);
    outln!("  KEV entries      {}", s.kev);
    outln!(
        "  EPSS scores      {}{}",
        s.epss,
        s.epss_date.map(|d| format!(" ({d})")).unwrap_or_default()
    );
    for src in &s.sources {
        outln!(
            "  source {}: {} (last sync {}, newest record {})",
            src.name,
            src.location,
            src.last_run
                .map(|t| t.to_string())
                .unwrap_or_else(|| "never".into()),
            src.high_water
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}

/// `palisade advisories show ID`: the stored records for an id or alias, as JSON.
pub fn show(db_dir: &Path, id: &str) -> anyhow::Result<()> {
    let db = VulnDb::open_existing(db_dir)?;
    let found = db.find(id)?;
    if found.is_empty() {
        bail!(
            "no advisory with id or alias {id:?} in {}",
            db.path().display()
        );
    }
    outln!("{}", serde_json::to_string_pretty(&found)?);
    outln!("alias group: {}", db.alias_group(id)?.join(", "));
    Ok(())
}
