//! CISA's Known Exploited Vulnerabilities catalogue (`known_exploited_vulnerabilities.json`):
//! which CVEs are exploited in the wild, since when, and whether ransomware campaigns use them.
//! It prioritises findings; it never creates one, so entries attach to CVE ids only.

use jiff::civil::Date;
use palisade_vulns::KevEntry;
use serde::Deserialize;

use crate::MAX_FEED_BYTES;
use crate::error::{FeedError, check_size, strip_bom_bytes};
use crate::util::{null_default, read_json};

/// Parses the catalogue into its entries, in file order.
pub fn parse(file: &str, content: &[u8]) -> Result<Vec<KevEntry>, FeedError> {
    check_size(file, content.len(), MAX_FEED_BYTES, "the KEV catalogue")?;
    let content = strip_bom_bytes(content);
    let catalog: Catalog = read_json(file, content)?;
    let mut out = Vec::with_capacity(catalog.vulnerabilities.len());
    for (i, v) in catalog.vulnerabilities.into_iter().enumerate() {
        let cve = v.cve.trim();
        if cve.is_empty() {
            return Err(FeedError::new(file, "the CVE id is empty")
                .with_field(format!("vulnerabilities[{i}].cveID")));
        }
        out.push(KevEntry {
            cve: cve.to_owned(),
            vendor: v.vendor.trim().to_owned(),
            product: v.product.trim().to_owned(),
            name: v.name.trim().to_owned(),
            date_added: v.date_added,
            due_date: v.due_date,
            // CISA writes "Known" or "Unknown"; anything else is not a claim of use.
            ransomware: v.ransomware.trim().eq_ignore_ascii_case("known"),
            required_action: v.required_action.trim().to_owned(),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Catalog {
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(rename = "cveID")]
    cve: String,
    #[serde(rename = "vendorProject", default, deserialize_with = "null_default")]
    vendor: String,
    #[serde(default, deserialize_with = "null_default")]
    product: String,
    #[serde(
        rename = "vulnerabilityName",
        default,
        deserialize_with = "null_default"
    )]
    name: String,
    #[serde(rename = "dateAdded")]
    date_added: Date,
    #[serde(rename = "dueDate", default)]
    due_date: Option<Date>,
    #[serde(
        rename = "knownRansomwareCampaignUse",
        default,
        deserialize_with = "null_default"
    )]
    ransomware: String,
    #[serde(rename = "requiredAction", default, deserialize_with = "null_default")]
    required_action: String,
}
