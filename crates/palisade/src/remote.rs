//! Commands that talk to a running server through its API with a token: `inventory push` (from a
//! CI job or a host) and `affected` (who is affected by an advisory). The token comes from
//! `PALISADE_TOKEN` or a file, never from a flag, so it does not show in process lists or shell
//! history. Certificates are verified (rustls with the web PKI roots, plus `--ca-file` or the
//! `ca_file` setting for a server whose certificate a private CA issued).

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::Value;

/// Where the server is and how to sign in.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The server's base address.
    #[arg(long, env = "PALISADE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// A file whose first line is the API token (default: the PALISADE_TOKEN variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust beside the built-in roots, for a server whose
    /// certificate a private CA issued (default: the `ca_file` setting).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

impl Remote {
    fn token(&self) -> anyhow::Result<String> {
        let token = match &self.token_file {
            Some(f) => std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the token file {}", f.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
            None => std::env::var("PALISADE_TOKEN").unwrap_or_default(),
        };
        if token.is_empty() {
            bail!(
                "no API token: set PALISADE_TOKEN or pass --token-file (create one with `palisade admin create-token`)"
            );
        }
        Ok(token)
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        let base = url::Url::parse(&self.server)
            .with_context(|| format!("--server {:?} is not a URL", self.server))?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!("--server must be an http:// or https:// address");
        }
        Ok(base.join(path)?)
    }

    fn client(&self) -> anyhow::Result<reqwest::Client> {
        crate::outbound::client(self.ca_file.as_deref())
    }

    /// The error for a request that got no answer, with what to do when the cause is a
    /// certificate the client does not trust.
    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        let hint = if crate::outbound::is_certificate_error(&e) {
            " (its TLS certificate is not trusted: pass --ca-file with the certificate of the CA \
             that issued it)"
        } else {
            ""
        };
        anyhow::Error::new(e).context(format!("cannot reach {}{hint}", self.server))
    }
}

/// Sends `req` with the token, naming the server when it cannot be reached; an answer other than
/// 2xx is an error that says what the server said (see [`check`]).
async fn send(remote: &Remote, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
    let resp = req
        .bearer_auth(remote.token()?)
        .send()
        .await
        .map_err(|e| remote.unreachable(e))?;
    check(resp).await
}

/// Turns an API error response into a message with the server's code and text.
async fn check(resp: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or("error");
    let message = body["message"].as_str().unwrap_or("");
    bail!("the server refused: {status} {code}: {message}")
}

/// The inventory files to send for `paths`: named files as they are, folders searched by the
/// scanner's rules; each named by its path relative to the folder (its format follows the name).
fn files_to_push(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let (found, errors) = palisade_scan::discover::discover(paths);
    if let Some(e) = errors.first() {
        bail!("{e}");
    }
    let mut out = Vec::new();
    for f in found {
        let root = paths
            .iter()
            .find(|p| p.is_dir() && f.starts_with(p))
            .map(PathBuf::as_path);
        let name = match root {
            Some(r) => f.strip_prefix(r).unwrap_or(&f).to_path_buf(),
            None => f
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| f.clone()),
        };
        out.push((name.to_string_lossy().replace('\\', "/"), f));
    }
    if out.is_empty() {
        bail!("no inventory files under the given paths");
    }
    Ok(out)
}

/// Where pushed inventories go.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// An environment, replacing everything (`true`) or only the uploaded ecosystems.
    Environment(palisade_core::EnvironmentId, bool),
    /// A host: every environment it serves.
    Host(palisade_core::HostId),
}

/// `palisade inventory push`.
pub async fn push(remote: &Remote, target: Target, paths: &[PathBuf]) -> anyhow::Result<()> {
    let files = files_to_push(paths)?;
    let mut form = reqwest::multipart::Form::new();
    for (name, path) in &files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.clone()),
        );
    }
    let url = match target {
        Target::Environment(env, all) => {
            let mut u = remote.url(&format!("/api/v1/environments/{env}/inventories"))?;
            if all {
                u.query_pairs_mut().append_pair("replace", "all");
            }
            u
        }
        Target::Host(host) => remote.url(&format!("/api/v1/hosts/{host}/inventories"))?,
    };
    let body: Value = send(remote, remote.client()?.post(url).multipart(form))
        .await?
        .json()
        .await?;
    // An environment answers with one outcome, a host with the snapshot of each environment.
    let snapshots: Vec<&Value> = match body.as_array() {
        Some(list) => list.iter().collect(),
        None => vec![&body["snapshot"]],
    };
    for snap in snapshots {
        outln!(
            "snapshot {} of environment {}: {} packages from {} files ({} added, {} removed, {} changed)",
            snap["id"].as_str().unwrap_or("?"),
            snap["environment_id"].as_str().unwrap_or("?"),
            snap["packages"],
            files.len(),
            snap["added"],
            snap["removed"],
            snap["changed"],
        );
    }
    if body.is_object() {
        outln!(
            "findings: {} new, {} changed",
            body["findings_created"],
            body["findings_changed"]
        );
    }
    Ok(())
}

/// Output of `palisade affected`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AffectedFormat {
    Table,
    Json,
    Csv,
}

/// `palisade affected ID`.
pub async fn affected(remote: &Remote, id: &str, format: AffectedFormat) -> anyhow::Result<()> {
    let mut url = remote.url("/api/v1/advisories/")?;
    url.path_segments_mut()
        .map_err(|_| anyhow::anyhow!("--server cannot take a path"))?
        .pop_if_empty()
        .extend([id, "affected"]);
    if matches!(format, AffectedFormat::Csv) {
        url.query_pairs_mut().append_pair("format", "csv");
    }
    let resp = send(remote, remote.client()?.get(url)).await?;
    match format {
        AffectedFormat::Csv => out!("{}", resp.text().await?),
        AffectedFormat::Json => outln!("{}", resp.text().await?),
        AffectedFormat::Table => print_table(&resp.json().await?),
    }
    Ok(())
}

fn print_table(r: &Value) {
    let ids: Vec<&str> = r["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    outln!(
        "{} (alias group: {})",
        r["query"].as_str().unwrap_or(""),
        ids.join(", ")
    );
    for a in r["advisories"].as_array().into_iter().flatten() {
        outln!(
            "  {} [{}]{} {}",
            a["id"].as_str().unwrap_or(""),
            a["severity"].as_str().unwrap_or(""),
            if a["withdrawn"].as_bool() == Some(true) {
                " (withdrawn)"
            } else {
                ""
            },
            a["summary"].as_str().unwrap_or("")
        );
    }
    outln!(
        "{} findings{} in {} environments of {} clients",
        r["findings"],
        match r["pending"].as_u64() {
            Some(n) if n > 0 => format!(" (and {n} being recorded)"),
            _ => String::new(),
        },
        r["environments"],
        r["clients"].as_array().map_or(0, Vec::len)
    );
    for c in r["clients"].as_array().into_iter().flatten() {
        outln!("{}", c["name"].as_str().unwrap_or(""));
        for s in c["sites"].as_array().into_iter().flatten() {
            outln!("  {}", s["name"].as_str().unwrap_or(""));
            for e in s["environments"].as_array().into_iter().flatten() {
                for i in e["installs"].as_array().into_iter().flatten() {
                    let fixed: Vec<&str> = i["fixed"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    outln!(
                        "    {:<8} {:<24} {} {} → {}  [{}, priority {}]",
                        e["kind"].as_str().unwrap_or(""),
                        e["name"].as_str().unwrap_or(""),
                        i["package"].as_str().unwrap_or(""),
                        i["installed"].as_str().unwrap_or(""),
                        if fixed.is_empty() {
                            "no fix yet".to_owned()
                        } else {
                            fixed.join(" or ")
                        },
                        if i["pending"].as_bool() == Some(true) {
                            "pending"
                        } else {
                            i["state"].as_str().unwrap_or("")
                        },
                        i["priority"]
                    );
                }
            }
        }
    }
}

/// `palisade campaign …`: patch campaigns on the server.
#[derive(Debug, clap::Subcommand)]
pub enum Campaign {
    /// Plan a campaign over every environment with an open finding of the advisory (any id of
    /// its alias group); prints its ID. Nobody is told anything until it starts.
    Plan {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        title: Option<String>,
        advisory: String,
    },
    /// Start a planned campaign: one ticket (and e-mail) per affected client.
    Start {
        #[command(flatten)]
        remote: Remote,
        id: palisade_core::CampaignId,
    },
    /// A campaign's state, progress and each environment's step.
    Show {
        #[command(flatten)]
        remote: Remote,
        id: palisade_core::CampaignId,
    },
    /// The evidence report: JSON, or CSV with `--csv`.
    Report {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        csv: bool,
        id: palisade_core::CampaignId,
    },
}

impl Campaign {
    pub fn remote_mut(&mut self) -> &mut Remote {
        match self {
            Campaign::Plan { remote, .. }
            | Campaign::Start { remote, .. }
            | Campaign::Show { remote, .. }
            | Campaign::Report { remote, .. } => remote,
        }
    }
}

/// Runs a `palisade campaign` command.
pub async fn campaign(cmd: &Campaign) -> anyhow::Result<()> {
    match cmd {
        Campaign::Plan {
            remote,
            title,
            advisory,
        } => {
            let req = remote
                .client()?
                .post(remote.url("/api/v1/campaigns")?)
                .json(&serde_json::json!({"advisory": advisory, "title": title}));
            let c: Value = send(remote, req).await?.json().await?;
            outln!(
                "planned campaign {} ({}): start it with `palisade campaign start {}`",
                c["id"].as_str().unwrap_or("?"),
                c["title"].as_str().unwrap_or(""),
                c["id"].as_str().unwrap_or("?")
            );
        }
        Campaign::Start { remote, id } => {
            let client = remote.client()?;
            let detail: Value = send(
                remote,
                client.get(remote.url(&format!("/api/v1/campaigns/{id}"))?),
            )
            .await?
            .json()
            .await?;
            let req = client
                .post(remote.url(&format!("/api/v1/campaigns/{id}/start"))?)
                .json(&serde_json::json!({"version": detail["campaign"]["version"]}));
            send(remote, req).await?;
            outln!(
                "started: {} client(s) told in a ticket each",
                detail["clients"].as_array().map_or(0, Vec::len)
            );
        }
        Campaign::Show { remote, id } => {
            let req = remote
                .client()?
                .get(remote.url(&format!("/api/v1/campaigns/{id}"))?);
            let d: Value = send(remote, req).await?.json().await?;
            let c = &d["campaign"];
            outln!(
                "{} [{}] {} ({} severity)",
                c["title"].as_str().unwrap_or(""),
                c["state"].as_str().unwrap_or(""),
                c["advisory"].as_str().unwrap_or(""),
                c["severity"].as_str().unwrap_or("")
            );
            let p = &d["progress"];
            outln!(
                "{} environments: {} pending, {} patched, {} tests failed, {} tests passed, {} verified, {} excluded",
                p["total"],
                p["pending"],
                p["patched"],
                p["test_failed"],
                p["test_passed"],
                p["verified"],
                p["excluded"]
            );
            for e in d["environments"].as_array().into_iter().flatten() {
                outln!(
                    "  {:<12} {:<24} {:<8} {}",
                    e["step"].as_str().unwrap_or(""),
                    e["site_name"].as_str().unwrap_or(""),
                    e["kind"].as_str().unwrap_or(""),
                    e["environment_id"].as_str().unwrap_or("")
                );
            }
        }
        Campaign::Report { remote, csv, id } => {
            let mut url = remote.url(&format!("/api/v1/campaigns/{id}/report"))?;
            if *csv {
                url.query_pairs_mut().append_pair("format", "csv");
            }
            let text = send(remote, remote.client()?.get(url))
                .await?
                .text()
                .await?;
            outln!("{text}");
        }
    }
    Ok(())
}
