//! FIRST's EPSS scores (`epss_scores-YYYY-MM-DD.csv`, served gzipped; the caller decompresses):
//! an optional `#model_version:…,score_date:…` comment line, the header `cve,epss,percentile`,
//! then one row per CVE. Read line by line so every error names its line.

use jiff::civil::Date;
use palisade_vulns::EpssScore;

use crate::MAX_FEED_BYTES;
use crate::error::{FeedError, check_size, strip_bom};

/// One EPSS file: the model that produced it, the day it scores, and the scores.
#[derive(Clone, Debug, PartialEq)]
pub struct EpssFile {
    pub model_version: Option<String>,
    pub score_date: Option<Date>,
    pub scores: Vec<EpssScore>,
}

/// Parses one EPSS CSV file.
pub fn parse(file: &str, content: &str) -> Result<EpssFile, FeedError> {
    check_size(file, content.len(), MAX_FEED_BYTES, "the EPSS file")?;
    let content = strip_bom(content);
    let mut out = EpssFile {
        model_version: None,
        score_date: None,
        scores: Vec::new(),
    };
    // Column positions, from the header; the header must come before any row.
    let mut columns: Option<([usize; 3], usize)> = None;
    for (i, raw) in content.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let err = |field: &str, message: String| {
            FeedError::new(file, message).at_line(n).with_field(field)
        };
        if let Some(comment) = line.strip_prefix('#') {
            if columns.is_none() {
                read_comment(comment, &mut out).map_err(|m| err("score_date", m))?;
            }
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let Some(cols) = columns else {
            let find = |name: &str| cells.iter().position(|c| c.eq_ignore_ascii_case(name));
            match (find("cve"), find("epss"), find("percentile")) {
                (Some(c), Some(e), Some(p)) => columns = Some(([c, e, p], cells.len())),
                _ => {
                    return Err(FeedError::new(
                        file,
                        format!("expected the header cve,epss,percentile, found {line:?}"),
                    )
                    .at_line(n));
                }
            }
            continue;
        };
        let ([c, e, p], width) = cols;
        if cells.len() != width {
            return Err(FeedError::new(
                file,
                format!("expected {width} columns, found {}", cells.len()),
            )
            .at_line(n));
        }
        let cell = |idx: usize, name: &str| {
            cells
                .get(idx)
                .copied()
                .ok_or_else(|| err(name, format!("the {name} column is missing")))
        };
        let cve = cell(c, "cve")?;
        if cve.is_empty() {
            return Err(err("cve", "the CVE id is empty".into()));
        }
        let score = probability(cell(e, "epss")?).map_err(|m| err("epss", m))?;
        let percentile = probability(cell(p, "percentile")?).map_err(|m| err("percentile", m))?;
        out.scores.push(EpssScore {
            cve: cve.to_owned(),
            score,
            percentile,
        });
    }
    if columns.is_none() {
        return Err(FeedError::new(
            file,
            "the header cve,epss,percentile is missing",
        ));
    }
    Ok(out)
}

/// A number between 0 and 1, as both EPSS columns are.
fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("{x} is outside 0..1")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// `model_version:v2025.03.14,score_date:2025-06-01T00:00:00+0000`.
fn read_comment(comment: &str, out: &mut EpssFile) -> Result<(), String> {
    for part in comment.split(',') {
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "model_version" => out.model_version = Some(value.to_owned()),
            "score_date" => {
                let day = value.get(..10).unwrap_or(value);
                out.score_date = Some(
                    day.parse::<Date>()
                        .map_err(|e| format!("score_date {value:?} is not a date: {e}"))?,
                );
            }
            _ => {}
        }
    }
    Ok(())
}
