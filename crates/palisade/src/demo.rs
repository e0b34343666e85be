//! The demo provider: a dozen clients with contracts in several time zones, sites with staging and
//! live environments, shared and dedicated hosts, contacts, and a user of every role, so that a
//! newcomer sees a living system. Seeding only happens into an empty database.

use anyhow::Context;
use jiff::Timestamp;
use palisade_core::Role;
use palisade_core::tenant::*;
use palisade_core::user::ApiToken;
use palisade_store::{ListQuery, NewUserRecord, Store};

/// Password of every demo account. Demo only: shown at start, never used outside the demo.
pub const DEMO_PASSWORD: &str = "palisade-demo-password";

/// What the seeding created, for the start-up banner.
#[derive(Debug)]
pub struct Seeded {
    pub clients: usize,
    pub sites: usize,
    pub users: Vec<(String, Role)>,
    /// A token for the demo super admin, shown once.
    pub admin_token: String,
}

const CLIENTS: [(&str, &str, SlaTier, bool); 12] = [
    ("Harbour Bakery Ltd", "Europe/London", SlaTier::Basic, false),
    (
        "Northwind Outdoor Gear",
        "Europe/London",
        SlaTier::Premium,
        true,
    ),
    ("Kestrel Legal LLP", "Europe/London", SlaTier::Premium, true),
    (
        "Blue Fjord Travel AS",
        "Europe/Oslo",
        SlaTier::Standard,
        false,
    ),
    ("Café Lumière SARL", "Europe/Paris", SlaTier::Basic, false),
    (
        "Greenleaf Garden Centre",
        "Europe/Dublin",
        SlaTier::Standard,
        false,
    ),
    (
        "Atlas Freight GmbH",
        "Europe/Berlin",
        SlaTier::Premium,
        true,
    ),
    (
        "Saguaro Dental Group",
        "America/Phoenix",
        SlaTier::Standard,
        true,
    ),
    (
        "Maple & Main Realty",
        "America/Toronto",
        SlaTier::Standard,
        false,
    ),
    (
        "Kiwi Coffee Roasters",
        "Pacific/Auckland",
        SlaTier::Basic,
        false,
    ),
    ("Lotus Yoga Studio", "Asia/Kolkata", SlaTier::Basic, false),
    (
        "St Aldhelm's School",
        "Europe/London",
        SlaTier::Standard,
        true,
    ),
];

fn slug(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_owned()
}

/// Seeds the demo provider if the database has no clients yet; `extra_sites` adds that many more
/// sites spread over the clients (used by the benchmark). Returns `None` if data already exists.
pub async fn seed(
    store: &dyn Store,
    now: Timestamp,
    extra_sites: usize,
) -> anyhow::Result<Option<Seeded>> {
    if !store
        .list_clients(&ListQuery {
            limit: 1,
            include_archived: true,
            ..Default::default()
        })
        .await?
        .items
        .is_empty()
    {
        return Ok(None);
    }
    let password_hash = palisade_auth::hash_password(DEMO_PASSWORD)?;
    let mut users = Vec::new();
    let staff = [
        ("admin@demo.palisade.test", "Ada Admin", Role::SuperAdmin),
        ("manager@demo.palisade.test", "Mona Manager", Role::Manager),
        (
            "security@demo.palisade.test",
            "Sam Security",
            Role::Security,
        ),
        ("ops@demo.palisade.test", "Olu Operations", Role::Operations),
        ("l1@demo.palisade.test", "Lee First-Line", Role::SupportL1),
        ("l2@demo.palisade.test", "Lou Second-Line", Role::SupportL2),
        ("auditor@demo.palisade.test", "Aud Itor", Role::Auditor),
    ];
    let mut admin = None;
    for (email, name, role) in staff {
        let u = store
            .create_user(
                &NewUserRecord {
                    email: email.into(),
                    display_name: name.into(),
                    role,
                    client_id: None,
                    password_hash: password_hash.clone(),
                },
                now,
            )
            .await
            .with_context(|| format!("creating demo user {email}"))?;
        if role == Role::SuperAdmin {
            admin = Some(u.clone());
        }
        users.push((email.to_owned(), role));
    }

    let mut clients = Vec::new();
    let mut sites = 0;
    let mut shared_envs = Vec::new();
    for (i, (name, zone, tier, ooh)) in CLIENTS.iter().enumerate() {
        let mut hours = SupportHours::office_hours(zone);
        if *tier == SlaTier::Premium {
            for r in &mut hours.ranges {
                r.start = "08:00".into();
                r.end = "18:00".into();
            }
        }
        let calendar = match *zone {
            "Europe/London" => Some("gb-eng"),
            "Europe/Berlin" => Some("de"),
            "Europe/Paris" => Some("fr"),
            _ => None,
        };
        let client = store
            .create_client(
                &ClientInput {
                    name: (*name).into(),
                    contract: Contract {
                        sla_tier: *tier,
                        support_hours: hours,
                        holiday_calendar: calendar.map(Into::into),
                        out_of_hours: *ooh,
                    },
                },
                now,
            )
            .await?;
        let domain = format!("{}.example", slug(name));
        store
            .create_contact(
                client.id,
                &ContactInput {
                    name: format!("IT contact at {name}"),
                    email: format!("it@{domain}"),
                    phone: None,
                    title: Some("IT lead".into()),
                },
                now,
            )
            .await?;
        let site_names: &[&str] = if i % 3 == 0 {
            &["www", "shop"]
        } else if i % 4 == 1 {
            &["www", "intranet", "booking"]
        } else {
            &["www"]
        };
        for site_name in site_names {
            let site = store
                .create_site(
                    &NewSite {
                        client_id: client.id,
                        name: format!("{site_name}.{domain}"),
                        url: format!("https://{site_name}.{domain}"),
                    },
                    now,
                )
                .await?;
            sites += 1;
            let mut kinds = vec![EnvironmentKind::Staging, EnvironmentKind::Live];
            if i % 5 == 0 {
                kinds.insert(0, EnvironmentKind::Dev);
            }
            for kind in kinds {
                let env = store
                    .create_environment(
                        &NewEnvironment {
                            site_id: site.id,
                            kind,
                            name: kind.as_str().into(),
                            url: None,
                            position: None,
                        },
                        now,
                    )
                    .await?;
                shared_envs.push((client.id, *tier, env.id));
            }
        }
        if i < 2 {
            let email = format!("owner@{domain}");
            store
                .create_user(
                    &NewUserRecord {
                        email: email.clone(),
                        display_name: format!("Owner of {name}"),
                        role: Role::ClientUser,
                        client_id: Some(client.id),
                        password_hash: password_hash.clone(),
                    },
                    now,
                )
                .await?;
            users.push((email, Role::ClientUser));
        }
        clients.push(client);
    }

    for n in 0..6 {
        let envs = shared_envs.iter().skip(n).step_by(6).map(|e| e.2).collect();
        store
            .create_host(
                &HostInput {
                    client_id: None,
                    name: format!("shared-{:02}.hosting.example", n + 1),
                    addresses: vec![format!("192.0.2.{}", 10 + n)],
                    os: "Debian 12".into(),
                    environment_ids: envs,
                },
                now,
            )
            .await?;
    }
    for (client_id, _, env) in shared_envs
        .iter()
        .filter(|e| e.1 == SlaTier::Premium)
        .take(4)
    {
        store
            .create_host(
                &HostInput {
                    client_id: Some(*client_id),
                    name: format!("dedicated-{}.hosting.example", &env.to_string()[..8]),
                    addresses: vec!["198.51.100.7".into()],
                    os: "Ubuntu 24.04".into(),
                    environment_ids: vec![*env],
                },
                now,
            )
            .await?;
    }

    let bar = indicatif::ProgressBar::new(extra_sites as u64).with_message("seeding extra sites");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if extra_sites == 0 {
        bar.finish_and_clear();
    }
    for n in 0..extra_sites {
        let client = &clients[n % clients.len()];
        store
            .create_site(
                &NewSite {
                    client_id: client.id,
                    name: format!("site-{n:05}"),
                    url: format!("https://site-{n:05}.example"),
                },
                now,
            )
            .await?;
        sites += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();

    let admin = admin.context("demo admin missing")?;
    let secret = palisade_auth::new_api_token();
    let token = ApiToken::issue(
        admin.id,
        "demo".into(),
        Role::SuperAdmin,
        &secret,
        now,
        jiff::SignedDuration::from_hours(24 * 90),
    );
    store
        .create_token(&token, &palisade_auth::token_hash(&secret))
        .await?;
    Ok(Some(Seeded {
        clients: clients.len(),
        sites,
        users,
        admin_token: secret,
    }))
}
