//! The command line: `serve`, `demo`, `migrate`, `admin create-user`, `admin create-token`,
//! `advisories import|sync|status|show`, `keys status|rotate|reencrypt|retire`,
//! `audit verify|prove|public-key`, `billing export`, `mail ingest|status`, `scan`,
//! `inventory push`, `affected`, `campaign plan|start|show|report`, `version`.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use palisade_core::user::{ApiToken, NewUser};
use palisade_core::{ClientId, Role, Validate};
use palisade_store::{NewUserRecord, Store};

use crate::config::{self, Config, Overrides};
use crate::{demo, serve};

/// Palisade: security operations for web-hosting providers.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about)]
pub struct Cli {
    /// Configuration file (default: ./palisade.toml if it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web UI, the API and background work.
    Serve {
        #[command(flatten)]
        place: Place,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Seed demo data into an empty database and relax staff MFA.
        #[arg(long)]
        demo: bool,
    },
    /// Same as `serve --demo`: a demo provider to explore.
    Demo {
        #[command(flatten)]
        place: Place,
        #[arg(long)]
        listen: Option<String>,
        /// Add this many extra sites when seeding (benchmarks use 10000).
        #[arg(long, default_value_t = 0, hide = true)]
        extra_sites: usize,
        /// Seed and exit without serving.
        #[arg(long)]
        seed_only: bool,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        place: Place,
    },
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(Admin),
    /// The local advisory store: import, sync, status, show.
    #[command(subcommand)]
    Advisories(Advisories),
    /// The keyring that encrypts sensitive fields at rest: status, rotate, reencrypt, retire.
    #[command(subcommand)]
    Keys(Keys),
    /// The tamper-evident audit log: verify, prove, public-key.
    #[command(subcommand)]
    Audit(Audit),
    /// Support-desk billing: the monthly export of a client's work logs.
    #[command(subcommand)]
    Billing(Billing),
    /// Support desk e-mail: ingest messages, outbox status.
    #[command(subcommand)]
    Mail(Mail),
    /// Scan lockfiles, dpkg status files and SBOMs offline against the local advisory store.
    Scan {
        #[command(flatten)]
        db: DbPlace,
        #[command(flatten)]
        scan: palisade_scan_cli::ScanArgs,
    },
    /// Send inventories to the server (from a CI job or a host, with an API token).
    #[command(subcommand)]
    Inventory(Inventory),
    /// Who is affected by an advisory or alias (CVE, GHSA, RUSTSEC, DSA…): clients, sites,
    /// environments, installed and fixed versions, asked of the server.
    Affected {
        #[command(flatten)]
        remote: crate::remote::Remote,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::remote::AffectedFormat,
        id: String,
    },
    /// Patch campaigns on the server: plan, start, show, report.
    #[command(subcommand)]
    Campaign(crate::remote::Campaign),
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum Inventory {
    /// Upload an environment's lockfiles, dpkg status or SBOMs as its new inventory snapshot.
    Push {
        #[command(flatten)]
        remote: crate::remote::Remote,
        /// The environment's ID.
        #[arg(long, required_unless_present = "host", conflicts_with = "host")]
        environment: Option<palisade_core::EnvironmentId>,
        /// A host's ID instead: its upload (a dpkg status) goes to every environment it serves.
        #[arg(long)]
        host: Option<palisade_core::HostId>,
        /// Replace every package of the environment, not only those of the ecosystems uploaded.
        #[arg(long, conflicts_with = "host")]
        replace_all: bool,
        /// Files, or folders searched for inventories as `palisade scan` searches them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct Place {
    /// Folder for the SQLite database and local objects (default ./palisade-data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://FILE or postgres://USER@HOST/DB (default: SQLite in the data folder).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// Where the advisory store lives.
#[derive(Debug, Clone, Args)]
pub struct DbPlace {
    /// Folder of the advisory store (default: `advisories` in the data folder).
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Data folder (default ./palisade-data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Advisories {
    /// Load advisories from files, folders, OSV zip archives or URLs: OSV JSON, the RustSec
    /// database, FriendsOfPHP YAML, the Debian security tracker JSON, CISA KEV, EPSS CSV.
    Import {
        #[command(flatten)]
        db: DbPlace,
        #[arg(required = true, value_name = "PATH|URL")]
        locations: Vec<String>,
    },
    /// Refresh the configured sources, importing only records modified since the last run.
    Sync {
        #[command(flatten)]
        db: DbPlace,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// What the store holds and when each source was last synced.
    Status {
        #[command(flatten)]
        db: DbPlace,
    },
    /// The stored records for an advisory id or alias, and its alias group.
    Show {
        #[command(flatten)]
        db: DbPlace,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Keys {
    /// The keyring's versions and how many records and values are under each.
    Status {
        #[command(flatten)]
        place: Place,
    },
    /// Add a new key, which encrypts from now on, and re-encrypt everything under it. Values
    /// under older keys stay readable throughout; an interrupted run resumes with `reencrypt`.
    Rotate {
        #[command(flatten)]
        place: Place,
        /// Only add the key: a running or next `palisade serve` re-encrypts in the background.
        #[arg(long)]
        later: bool,
    },
    /// Re-encrypt every value not yet under the newest key (resumes an interrupted rotation).
    Reencrypt {
        #[command(flatten)]
        place: Place,
    },
    /// Remove an old key from the keyring file; refused while any value is still under it.
    Retire {
        #[command(flatten)]
        place: Place,
        version: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Check the log offline with the public key: every deleted, altered, reordered or inserted
    /// event, every missing or forged digest and every gap in time, with where it is. Exits 1 when
    /// anything is wrong.
    Verify {
        #[command(flatten)]
        place: Place,
        /// What to check.
        #[arg(long, value_enum, default_value = "both")]
        source: crate::audit::Source,
        /// A folder of shipped objects (default: the configured audit_bucket).
        #[arg(long, value_name = "DIR")]
        bucket: Option<String>,
        /// Public key PEM file(s) (default: this installation's own key). Repeat after a rotation.
        #[arg(long, value_name = "FILE")]
        public_key: Vec<PathBuf>,
        /// Longest allowed time between two digests, in minutes (default: three seal intervals).
        #[arg(long, value_name = "MINUTES")]
        max_gap_minutes: Option<u64>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the inclusion proof of one event (JSON) and check it.
    Prove {
        #[command(flatten)]
        place: Place,
        #[arg(long, value_name = "FILE")]
        public_key: Vec<PathBuf>,
        event_id: palisade_core::AuditEventId,
    },
    /// Print the public key that verifies the digests (PEM).
    PublicKey {
        #[command(flatten)]
        place: Place,
    },
}

#[derive(Debug, Subcommand)]
pub enum Billing {
    /// A client's work logs of one month (by start, in the client's time zone) as CSV, split and
    /// priced in and out of support hours at the rates of its contract tier (`[billing.TIER]`);
    /// amounts in integer minor units. The same as GET /api/v1/clients/{id}/billing.
    Export {
        #[command(flatten)]
        place: Place,
        #[arg(long, value_name = "ID")]
        client: ClientId,
        /// YYYY-MM.
        #[arg(long, value_name = "YYYY-MM")]
        month: String,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Mail {
    /// Take messages in as tickets or replies: .eml files, folders of them, Maildirs, or `-` for
    /// one message on standard input. Prints each message's outcome and a summary; exits 0 when
    /// all were accepted, 1 when any was refused, 2 when any could not be processed.
    Ingest {
        #[command(flatten)]
        place: Place,
        #[arg(required = true, value_name = "FILE|DIR|-")]
        paths: Vec<PathBuf>,
    },
    /// The outbox: e-mails queued, sent and failed.
    Status {
        #[command(flatten)]
        place: Place,
    },
}

#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Create a user. The password is read from standard input, or generated and printed once.
    CreateUser {
        #[command(flatten)]
        place: Place,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// support-l1, support-l2, security, operations, manager, super-admin, auditor or client-user.
        #[arg(long)]
        role: Role,
        /// The client a client user belongs to.
        #[arg(long)]
        client_id: Option<ClientId>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issue an API token for a user and print it once.
    CreateToken {
        #[command(flatten)]
        place: Place,
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// The role it acts with: the user's own (default) or auditor.
        #[arg(long)]
        role: Option<Role>,
        /// Lifetime in days.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
}

fn load(
    cli_config: Option<&std::path::Path>,
    place: &Place,
    listen: Option<String>,
) -> anyhow::Result<Config> {
    let o = Overrides {
        listen,
        data_dir: place.data_dir.clone(),
        database_url: place.database_url.clone(),
    };
    config::load(cli_config, config::environment(), &o)
}

fn init_logging(json: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour codes only for a person at a terminal, not in journald or a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The configuration with the advisory store folder resolved: `--db`, else the configured one.
fn load_db(
    cli_config: Option<&std::path::Path>,
    db: &DbPlace,
) -> anyhow::Result<(Config, PathBuf)> {
    let place = Place {
        data_dir: db.data_dir.clone(),
        database_url: None,
    };
    let cfg = load(cli_config, &place, None)?;
    let dir = db.db.clone().unwrap_or_else(|| cfg.advisory_db.clone());
    Ok((cfg, dir))
}

/// The CA file the remote commands trust: `--ca-file`, else the configured `ca_file`.
fn remote_ca_file(
    cli_config: Option<&std::path::Path>,
    flag: Option<PathBuf>,
) -> anyhow::Result<Option<PathBuf>> {
    if flag.is_some() {
        return Ok(flag);
    }
    let place = Place {
        data_dir: None,
        database_url: None,
    };
    Ok(load(cli_config, &place, None)?.ca_file)
}

impl Command {
    /// Whether the command needs the async runtime. The offline commands run without one: a scan
    /// in CI is started once per lockfile, and the runtime's start-up would be most of its time.
    pub fn needs_runtime(&self) -> bool {
        !matches!(
            self,
            Command::Scan { .. }
                | Command::Version
                | Command::Advisories(Advisories::Status { .. } | Advisories::Show { .. })
        )
    }
}

/// Runs a command that needs no async runtime (see [`Command::needs_runtime`]).
pub fn run_offline(cli: Cli) -> anyhow::Result<u8> {
    let cfg_file = cli.config.as_deref();
    match cli.command {
        Command::Scan { db, scan } => {
            // A scan that cannot run exits 2, so CI can tell it from "vulnerabilities found" (1).
            let result = load_db(cfg_file, &db)
                .and_then(|(_, dir)| Ok(palisade_scan_cli::run(&dir, &scan)?));
            match result {
                Ok(code) => Ok(code),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(2)
                }
            }
        }
        Command::Advisories(Advisories::Status { db }) => {
            let (_, dir) = load_db(cfg_file, &db)?;
            crate::advisories::status(&dir)?;
            Ok(0)
        }
        Command::Advisories(Advisories::Show { db, id }) => {
            let (_, dir) = load_db(cfg_file, &db)?;
            crate::advisories::show(&dir, &id)?;
            Ok(0)
        }
        Command::Version => {
            outln!("palisade {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        other => bail!("{other:?} needs the async runtime"),
    }
}

/// Runs one command and returns the process exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    if !cli.command.needs_runtime() {
        return run_offline(cli);
    }
    let cfg_file = cli.config.as_deref();
    match cli.command {
        Command::Advisories(cmd) => {
            match cmd {
                Advisories::Import { db, locations } => {
                    let (cfg, dir) = load_db(cfg_file, &db)?;
                    let http = crate::outbound::client(cfg.ca_file.as_deref())?;
                    crate::advisories::import(&dir, &locations, &http).await?;
                }
                Advisories::Sync { db, source } => {
                    let (cfg, dir) = load_db(cfg_file, &db)?;
                    let http = crate::outbound::client(cfg.ca_file.as_deref())?;
                    crate::advisories::sync(&dir, &cfg.advisory_sources, source.as_deref(), &http)
                        .await?;
                }
                Advisories::Status { .. } | Advisories::Show { .. } => {
                    return run_offline(Cli {
                        config: cli.config,
                        command: Command::Advisories(cmd),
                    });
                }
            }
            Ok(0)
        }
        Command::Scan { .. } | Command::Version => run_offline(cli),
        Command::Serve {
            place,
            listen,
            demo,
        } => {
            let cfg = load(cfg_file, &place, listen)?;
            init_logging(cfg.json_logs);
            let store = serve::open_store(&cfg).await?;
            if demo {
                seed_demo(&store, &cfg, 0).await?;
            }
            serve::serve(&cfg, store, demo).await?;
            Ok(0)
        }
        Command::Demo {
            place,
            listen,
            extra_sites,
            seed_only,
        } => {
            let cfg = load(cfg_file, &place, listen)?;
            init_logging(cfg.json_logs);
            let store = serve::open_store(&cfg).await?;
            seed_demo(&store, &cfg, extra_sites).await?;
            if seed_only {
                store.close().await;
                return Ok(0);
            }
            serve::serve(&cfg, store, true).await?;
            Ok(0)
        }
        Command::Migrate { place } => {
            let cfg = load(cfg_file, &place, None)?;
            init_logging(cfg.json_logs);
            let store = serve::open_store(&cfg).await?;
            outln!("migrations applied ({})", store.backend_name());
            store.close().await;
            Ok(0)
        }
        Command::Admin(admin) => {
            run_admin(cfg_file, admin).await?;
            Ok(0)
        }
        Command::Keys(cmd) => {
            let place = match &cmd {
                Keys::Status { place }
                | Keys::Rotate { place, .. }
                | Keys::Reencrypt { place }
                | Keys::Retire { place, .. } => place.clone(),
            };
            let cfg = load(cfg_file, &place, None)?;
            init_logging(cfg.json_logs);
            match cmd {
                Keys::Status { .. } => crate::keys::status(&cfg).await?,
                Keys::Rotate { later, .. } => crate::keys::rotate(&cfg, later).await?,
                Keys::Reencrypt { .. } => crate::keys::reencrypt(&cfg).await?,
                Keys::Retire { version, .. } => crate::keys::retire(&cfg, version).await?,
            }
            Ok(0)
        }
        Command::Billing(Billing::Export {
            place,
            client,
            month,
            out,
        }) => {
            let cfg = load(cfg_file, &place, None)?;
            init_logging(cfg.json_logs);
            let month: palisade_desk::billing::Month = month
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--month: {e}"))?;
            let store = serve::open_store(&cfg).await?;
            let csv = palisade_web::deskops::billing_csv(&store, &cfg.desk, client, month)
                .await
                .with_context(|| {
                    format!("cannot export the billing of client {client} for {month}")
                })?;
            store.close().await;
            match out {
                Some(path) => std::fs::write(&path, csv)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => out!("{csv}"),
            }
            Ok(0)
        }
        Command::Audit(cmd) => match cmd {
            Audit::Verify {
                place,
                source,
                bucket,
                public_key,
                max_gap_minutes,
                json,
            } => {
                let cfg = load(cfg_file, &place, None)?;
                let gap = max_gap_minutes.map(|m| std::time::Duration::from_secs(m * 60));
                crate::audit::verify(&cfg, source, bucket, &public_key, gap, json).await
            }
            Audit::Prove {
                place,
                public_key,
                event_id,
            } => {
                let cfg = load(cfg_file, &place, None)?;
                crate::audit::prove(&cfg, event_id, &public_key).await
            }
            Audit::PublicKey { place } => {
                let cfg = load(cfg_file, &place, None)?;
                crate::audit::public_key(&cfg)?;
                Ok(0)
            }
        },
        Command::Mail(cmd) => match cmd {
            Mail::Ingest { place, paths } => {
                crate::mail::check_paths(&paths)?;
                let cfg = load(cfg_file, &place, None)?;
                init_logging(cfg.json_logs);
                let store = serve::open_store(&cfg).await?;
                let code = crate::mail::ingest(&store, &cfg, &paths).await;
                store.close().await;
                code
            }
            Mail::Status { place } => {
                let cfg = load(cfg_file, &place, None)?;
                init_logging(cfg.json_logs);
                let store = serve::open_store(&cfg).await?;
                let c = palisade_store::MailStore::outbox_counts(&store).await?;
                outln!(
                    "queued {}\nsent   {}\nfailed {}",
                    c.queued,
                    c.sent,
                    c.failed
                );
                store.close().await;
                Ok(0)
            }
        },
        Command::Inventory(Inventory::Push {
            mut remote,
            environment,
            host,
            replace_all,
            paths,
        }) => {
            let target = match (environment, host) {
                (Some(e), _) => crate::remote::Target::Environment(e, replace_all),
                (None, Some(h)) => crate::remote::Target::Host(h),
                (None, None) => bail!("name --environment or --host"),
            };
            remote.ca_file = remote_ca_file(cfg_file, remote.ca_file)?;
            crate::remote::push(&remote, target, &paths).await?;
            Ok(0)
        }
        Command::Campaign(mut cmd) => {
            let remote = cmd.remote_mut();
            remote.ca_file = remote_ca_file(cfg_file, remote.ca_file.take())?;
            crate::remote::campaign(&cmd).await?;
            Ok(0)
        }
        Command::Affected {
            mut remote,
            format,
            id,
        } => {
            remote.ca_file = remote_ca_file(cfg_file, remote.ca_file)?;
            crate::remote::affected(&remote, &id, format).await?;
            Ok(0)
        }
    }
}

async fn seed_demo(
    store: &palisade_store_sql::SqlStore,
    cfg: &Config,
    extra_sites: usize,
) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now();
    match demo::seed(store, now, extra_sites).await? {
        Some(s) => {
            outln!(
                "Seeded a demo provider: {} clients, {} sites.",
                s.clients,
                s.sites
            );
            let envs =
                crate::demo_vulns::seed(std::sync::Arc::new(store.clone()), &cfg.advisory_db, now)
                    .await?;
            outln!(
                "Seeded demo advisories and six weeks of inventories for {envs} environments \
                 (advisory store: {}).",
                cfg.advisory_db.display()
            );
            outln!(
                "Sign in as any of these, password {:?}:",
                demo::DEMO_PASSWORD
            );
            for (email, role) in &s.users {
                outln!("  {email:<40} {role}");
            }
            outln!(
                "API token for admin@demo.palisade.test (shown once): {}",
                s.admin_token
            );
        }
        None => outln!(
            "Demo data already present; sign in with the demo accounts (password {:?}).",
            demo::DEMO_PASSWORD
        ),
    }
    outln!(
        "DEMO MODE: two-factor authentication is not required for staff. A real installation requires it."
    );
    Ok(())
}

async fn run_admin(cfg_file: Option<&std::path::Path>, admin: Admin) -> anyhow::Result<()> {
    match admin {
        Admin::CreateUser {
            place,
            email,
            name,
            role,
            client_id,
            password_stdin,
        } => {
            let cfg = load(cfg_file, &place, None)?;
            init_logging(cfg.json_logs);
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (palisade_auth::new_session_token(), true)
            };
            let input = NewUser {
                email,
                display_name: name,
                role,
                client_id,
                password,
            };
            if let Err(e) = input.validate() {
                bail!("invalid --{}: {}", e.field.replace('_', "-"), e.message);
            }
            let store = serve::open_store(&cfg).await?;
            let rec = NewUserRecord {
                email: input.email.clone(),
                display_name: input.display_name,
                role,
                client_id,
                password_hash: palisade_auth::hash_password(&input.password)?,
            };
            let user = store
                .create_user(&rec, jiff::Timestamp::now())
                .await
                .context("creating the user")?;
            crate::audit::record_cli(
                &store,
                &cfg,
                "admin.create-user",
                Some(format!("user:{}", user.id)),
                serde_json::json!({"email": user.email, "role": user.role.as_str()}),
            )
            .await?;
            outln!(
                "created user {} ({}) with id {}",
                user.email,
                user.role,
                user.id
            );
            if generated {
                outln!("password (shown once): {}", input.password);
            }
            store.close().await;
            Ok(())
        }
        Admin::CreateToken {
            place,
            email,
            name,
            role,
            days,
        } => {
            let cfg = load(cfg_file, &place, None)?;
            init_logging(cfg.json_logs);
            if !(1..=365).contains(&days) {
                bail!("invalid --days: must be between 1 and 365");
            }
            let store = serve::open_store(&cfg).await?;
            let user = store
                .user_auth_by_email(&email)
                .await?
                .with_context(|| format!("no user with e-mail {email}"))?
                .user;
            let role = role.unwrap_or(user.role);
            if !palisade_core::user::token_role_allowed(user.role, role) {
                bail!(
                    "invalid --role: a token of {} may act as {} or auditor",
                    user.email,
                    user.role
                );
            }
            let now = jiff::Timestamp::now();
            let secret = palisade_auth::new_api_token();
            let token = ApiToken::issue(
                user.id,
                name,
                role,
                &secret,
                now,
                jiff::SignedDuration::from_hours(24 * i64::from(days)),
            );
            store
                .create_token(&token, &palisade_auth::token_hash(&secret))
                .await?;
            outln!("{secret}");
            store.close().await;
            Ok(())
        }
    }
}
