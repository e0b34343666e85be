//! The command line: `serve`, `demo`, `migrate`, `admin create-user`, `admin create-token`, `version`.

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
    /// Print the version.
    Version,
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg_file = cli.config.as_deref();
    match cli.command {
        Command::Version => {
            println!("palisade {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve {
            place,
            listen,
            demo,
        } => {
            let cfg = load(cfg_file, &place, listen)?;
            init_logging(cfg.json_logs);
            let store = serve::open_store(&cfg).await?;
            if demo {
                seed_demo(&store, 0).await?;
            }
            serve::serve(&cfg, store, demo).await
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
            seed_demo(&store, extra_sites).await?;
            if seed_only {
                store.close().await;
                return Ok(());
            }
            serve::serve(&cfg, store, true).await
        }
        Command::Migrate { place } => {
            let cfg = load(cfg_file, &place, None)?;
            init_logging(cfg.json_logs);
            let store = serve::open_store(&cfg).await?;
            println!("migrations applied ({})", store.backend_name());
            store.close().await;
            Ok(())
        }
        Command::Admin(admin) => run_admin(cfg_file, admin).await,
    }
}

async fn seed_demo(store: &dyn Store, extra_sites: usize) -> anyhow::Result<()> {
    match demo::seed(store, jiff::Timestamp::now(), extra_sites).await? {
        Some(s) => {
            println!(
                "Seeded a demo provider: {} clients, {} sites.",
                s.clients, s.sites
            );
            println!(
                "Sign in as any of these, password {:?}:",
                demo::DEMO_PASSWORD
            );
            for (email, role) in &s.users {
                println!("  {email:<40} {role}");
            }
            println!(
                "API token for admin@demo.palisade.test (shown once): {}",
                s.admin_token
            );
        }
        None => println!(
            "Demo data already present; sign in with the demo accounts (password {:?}).",
            demo::DEMO_PASSWORD
        ),
    }
    println!(
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
            println!(
                "created user {} ({}) with id {}",
                user.email, user.role, user.id
            );
            if generated {
                println!("password (shown once): {}", input.password);
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
            println!("{secret}");
            store.close().await;
            Ok(())
        }
    }
}
