//! The tenant-isolation matrix: every API route, called as every role, as a client user of the
//! owning client and of another client, and anonymously, must allow or deny exactly as this table
//! says. The route list comes from the served OpenAPI document, which is generated from the router:
//! a route missing from the table (or a table row without a route) fails the test, so every new
//! route must be added here with its intended access.
//!
//! "Allowed" means the request got past authentication and authorisation (any status but 401, 403
//! and 404: a write may still be refused as invalid because an earlier row archived its parent).
//! On top, no response to a client user may mention the other client's records.

mod common;

use std::collections::BTreeSet;

use common::*;
use palisade_core::Role;
use palisade_core::tenant::*;
use palisade_store::{CampaignStore, DeskStore, FleetStore, Store};
use palisade_web::WebConfig;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    L1,
    L2,
    Sec,
    Ops,
    Mgr,
    Admin,
    Aud,
    /// Client user of client A, which owns every record the paths name.
    OwnClient,
    /// Client user of client B.
    OtherClient,
    Anon,
}
use Who::*;

const EVERYONE: &[Who] = &[
    L1,
    L2,
    Sec,
    Ops,
    Mgr,
    Admin,
    Aud,
    OwnClient,
    OtherClient,
    Anon,
];
const SIGNED_IN: &[Who] = &[L1, L2, Sec, Ops, Mgr, Admin, Aud, OwnClient, OtherClient];
const STAFF_AND_OWNER: &[Who] = &[L1, L2, Sec, Ops, Mgr, Admin, Aud, OwnClient];
const CLIENT_WRITERS: &[Who] = &[Mgr, Admin];
const CONTACT_WRITERS: &[Who] = &[L1, L2, Mgr, Admin];
const OPS_WRITERS: &[Who] = &[Ops, Admin];
const USER_READERS: &[Who] = &[Mgr, Admin, Aud];
const ADMIN: &[Who] = &[Admin];
const STAFF: &[Who] = &[L1, L2, Sec, Ops, Mgr, Admin, Aud];
const INVENTORY_WRITERS: &[Who] = &[Sec, Ops, Admin];
const FINDING_WRITERS: &[Who] = &[Sec, Mgr, Admin];
const AUDIT_READERS: &[Who] = &[Sec, Mgr, Admin, Aud];
/// Client users search too, and see only what concerns their own organisation.
const AUDIT_SEARCHERS: &[Who] = &[Sec, Mgr, Admin, Aud, OwnClient, OtherClient];
const AUDIT_OWNERS: &[Who] = &[Sec, Mgr, Admin, Aud, OwnClient];
const MATCH_RUNNERS: &[Who] = &[Sec, Admin];
/// Support roles and managers answer and handle tickets; every member of staff reads them.
const TICKET_WRITERS: &[Who] = &[L1, L2, Mgr, Admin];
/// Client users open tickets and reply on their own organisation's (public replies only).
const TICKET_WRITERS_AND_OWNER: &[Who] = &[L1, L2, Mgr, Admin, OwnClient];
/// The security team plans, starts and cancels patch campaigns, with managers.
const CAMPAIGN_WRITERS: &[Who] = &[Sec, Mgr, Admin];
/// Those who patch record the steps.
const CAMPAIGN_STEPPERS: &[Who] = &[Sec, Ops, Admin];

struct Fixture {
    client_a: String,
    contact_a: String,
    site_a: String,
    env_a: String,
    host_a: String,
    victim_user: String,
    victim_token: String,
    snapshot_a: String,
    finding_a: String,
    ticket_a: String,
    campaign_a: String,
    /// Ticket A's opening message and a file on it.
    event_a: String,
    attachment_a: String,
    audit_event_a: String,
    a_ids: Vec<String>,
    b_ids: Vec<String>,
}

type Body = fn(&Fixture) -> Option<Value>;

fn none(_: &Fixture) -> Option<Value> {
    None
}

/// (method, path template, who may call it, request body)
fn table() -> Vec<(&'static str, &'static str, &'static [Who], Body)> {
    vec![
        ("get", "/api/v1/openapi.json", EVERYONE, none),
        ("get", "/api/v1/me", SIGNED_IN, none),
        ("get", "/api/v1/clients", SIGNED_IN, none),
        ("post", "/api/v1/clients", CLIENT_WRITERS, |_| {
            Some(client_body("New client", "Europe/Paris"))
        }),
        ("get", "/api/v1/clients/{id}", STAFF_AND_OWNER, none),
        ("put", "/api/v1/clients/{id}", CLIENT_WRITERS, |_| {
            Some(client_body("Client A renamed", "Europe/London"))
        }),
        ("post", "/api/v1/clients/{id}/archive", CLIENT_WRITERS, none),
        ("post", "/api/v1/clients/{id}/restore", CLIENT_WRITERS, none),
        (
            "get",
            "/api/v1/clients/{id}/contacts",
            STAFF_AND_OWNER,
            none,
        ),
        (
            "post",
            "/api/v1/clients/{id}/contacts",
            CONTACT_WRITERS,
            |_| Some(json!({"name": "New", "email": "new@a.example"})),
        ),
        ("get", "/api/v1/contacts/{id}", STAFF_AND_OWNER, none),
        ("put", "/api/v1/contacts/{id}", CONTACT_WRITERS, |_| {
            Some(json!({"name": "Renamed", "email": "c@a.example"}))
        }),
        (
            "post",
            "/api/v1/contacts/{id}/archive",
            CONTACT_WRITERS,
            none,
        ),
        ("get", "/api/v1/sites", SIGNED_IN, none),
        ("post", "/api/v1/sites", OPS_WRITERS, |f| {
            Some(json!({"client_id": f.client_a, "name": "new", "url": "https://new.a.example"}))
        }),
        ("get", "/api/v1/sites/{id}", STAFF_AND_OWNER, none),
        ("put", "/api/v1/sites/{id}", OPS_WRITERS, |_| {
            Some(json!({"name": "renamed", "url": "https://renamed.a.example"}))
        }),
        ("post", "/api/v1/sites/{id}/archive", OPS_WRITERS, none),
        ("post", "/api/v1/sites/{id}/restore", OPS_WRITERS, none),
        (
            "get",
            "/api/v1/sites/{id}/environments",
            STAFF_AND_OWNER,
            none,
        ),
        ("get", "/api/v1/environments", SIGNED_IN, none),
        ("post", "/api/v1/environments", OPS_WRITERS, |f| {
            Some(
                json!({"site_id": f.site_a, "kind": "dev", "name": format!("dev-{}", uuid::Uuid::now_v7())}),
            )
        }),
        ("get", "/api/v1/environments/{id}", STAFF_AND_OWNER, none),
        ("put", "/api/v1/environments/{id}", OPS_WRITERS, |_| {
            Some(json!({"kind": "live", "name": "live", "position": 30}))
        }),
        (
            "post",
            "/api/v1/environments/{id}/archive",
            OPS_WRITERS,
            none,
        ),
        ("get", "/api/v1/hosts", SIGNED_IN, none),
        ("post", "/api/v1/hosts", OPS_WRITERS, |_| {
            Some(json!({"name": "new-host", "os": "Debian 12"}))
        }),
        ("get", "/api/v1/hosts/{id}", STAFF_AND_OWNER, none),
        ("put", "/api/v1/hosts/{id}", OPS_WRITERS, |f| {
            Some(json!({"client_id": f.client_a, "name": "web-a", "os": "Debian 13"}))
        }),
        ("post", "/api/v1/hosts/{id}/archive", OPS_WRITERS, none),
        ("get", "/api/v1/users", USER_READERS, none),
        ("post", "/api/v1/users", ADMIN, |_| {
            Some(
                json!({"email": "made@example.com", "display_name": "Made", "role": "auditor", "password": "a long enough passphrase"}),
            )
        }),
        ("get", "/api/v1/users/{id}", USER_READERS, none),
        ("post", "/api/v1/users/{id}/disable", ADMIN, none),
        ("post", "/api/v1/users/{id}/enable", ADMIN, none),
        ("post", "/api/v1/users/{id}/sessions/revoke", ADMIN, none),
        ("get", "/api/v1/tokens", SIGNED_IN, none),
        ("post", "/api/v1/tokens", SIGNED_IN, |_| {
            Some(json!({"name": "matrix"}))
        }),
        ("post", "/api/v1/tokens/{id}/revoke", ADMIN, none),
        ("get", "/api/v1/audit/events", AUDIT_SEARCHERS, none),
        ("get", "/api/v1/audit/events/{id}", AUDIT_OWNERS, none),
        ("get", "/api/v1/audit/events/{id}/proof", AUDIT_OWNERS, none),
        ("get", "/api/v1/audit/digests", AUDIT_READERS, none),
        ("get", "/api/v1/audit/status", AUDIT_READERS, none),
        ("get", "/api/v1/audit/public-key", EVERYONE, none),
        (
            "post",
            "/api/v1/environments/{id}/inventories",
            INVENTORY_WRITERS,
            none,
        ),
        (
            "post",
            "/api/v1/hosts/{id}/inventories",
            INVENTORY_WRITERS,
            none,
        ),
        (
            "get",
            "/api/v1/environments/{id}/inventories",
            STAFF_AND_OWNER,
            none,
        ),
        ("get", "/api/v1/inventories/{id}", STAFF_AND_OWNER, none),
        ("get", "/api/v1/findings", SIGNED_IN, none),
        ("get", "/api/v1/findings/summary", SIGNED_IN, none),
        ("get", "/api/v1/findings/{id}", STAFF_AND_OWNER, none),
        (
            "post",
            "/api/v1/findings/{id}/triage",
            FINDING_WRITERS,
            |_| Some(json!({"decision": "affected", "reason": "matrix"})),
        ),
        ("get", "/api/v1/advisories/{id}/affected", SIGNED_IN, none),
        ("get", "/api/v1/fleet/status", STAFF, none),
        ("post", "/api/v1/fleet/rematch", MATCH_RUNNERS, none),
        // Listing is for everyone signed in: client users get their own client's tickets.
        ("get", "/api/v1/tickets", SIGNED_IN, none),
        ("post", "/api/v1/tickets", TICKET_WRITERS_AND_OWNER, |f| {
            Some(
                json!({"client_id": f.client_a, "subject": "Matrix", "category": "question", "body": "hello"}),
            )
        }),
        ("get", "/api/v1/tickets/{id}", STAFF_AND_OWNER, none),
        (
            "post",
            "/api/v1/tickets/{id}/messages",
            TICKET_WRITERS_AND_OWNER,
            |_| Some(json!({"body": "a public reply"})),
        ),
        ("post", "/api/v1/tickets/{id}/state", TICKET_WRITERS, |_| {
            Some(json!({"state": "waiting-on-customer", "reason": "matrix"}))
        }),
        (
            "post",
            "/api/v1/tickets/{id}/priority",
            TICKET_WRITERS,
            |_| Some(json!({"priority": "high", "reason": "matrix"})),
        ),
        (
            "post",
            "/api/v1/tickets/{id}/escalate",
            TICKET_WRITERS,
            |_| Some(json!({"reason": "matrix"})),
        ),
        // The queue: staff see every client's, a client user their own open tickets.
        ("get", "/api/v1/tickets/queue", SIGNED_IN, none),
        // Work logs are staff business: everyone on staff reads them, the desk writes them.
        ("get", "/api/v1/tickets/{id}/work", STAFF, none),
        ("post", "/api/v1/tickets/{id}/work", TICKET_WRITERS, |_| {
            Some(
                json!({"start": "2026-11-23T08:00:00Z", "end": "2026-11-23T09:00:00Z", "note": "matrix"}),
            )
        }),
        // The out-of-hours line: as opening a ticket (client A's contract lacks the line, so
        // every allowed caller is answered 422 out_of_hours_not_included).
        (
            "post",
            "/api/v1/out-of-hours/tickets",
            TICKET_WRITERS_AND_OWNER,
            |f| Some(json!({"client_id": f.client_a, "subject": "Down", "body": "all of it"})),
        ),
        // Billing is for staff; a client user of the owner is refused, of another client 404.
        ("get", "/api/v1/clients/{id}/billing", STAFF, none),
        // Client users list and read the campaigns they are part of, their own part only.
        ("get", "/api/v1/campaigns", SIGNED_IN, none),
        ("post", "/api/v1/campaigns", CAMPAIGN_WRITERS, |_| {
            Some(json!({"advisory": "CVE-2022-39261"}))
        }),
        ("get", "/api/v1/campaigns/{id}", STAFF_AND_OWNER, none),
        // The evidence names every client in the campaign: staff only.
        ("get", "/api/v1/campaigns/{id}/report", STAFF, none),
        (
            "post",
            "/api/v1/campaigns/{id}/plan",
            CAMPAIGN_WRITERS,
            |_| Some(json!({"version": 1, "title": "matrix"})),
        ),
        (
            "post",
            "/api/v1/campaigns/{id}/start",
            CAMPAIGN_WRITERS,
            |_| Some(json!({"version": 1})),
        ),
        (
            "post",
            "/api/v1/campaigns/{id}/cancel",
            CAMPAIGN_WRITERS,
            |_| Some(json!({"version": 1, "reason": "matrix"})),
        ),
        (
            "post",
            "/api/v1/campaigns/{id}/environments/{environment_id}/steps",
            CAMPAIGN_STEPPERS,
            |_| Some(json!({"action": "patched"})),
        ),
        // Attachments are authorised like their ticket; client users may add files only to
        // messages they wrote (ticket A was opened by the system, so they are refused).
        (
            "get",
            "/api/v1/tickets/{id}/attachments",
            STAFF_AND_OWNER,
            none,
        ),
        (
            "get",
            "/api/v1/tickets/{id}/attachments/{aid}",
            STAFF_AND_OWNER,
            none,
        ),
        (
            "post",
            "/api/v1/tickets/{id}/messages/{event_id}/attachments",
            TICKET_WRITERS,
            |_| Some(json!({"file": "contents"})),
        ),
    ]
}

fn fill(path: &str, f: &Fixture) -> String {
    let id = if path.starts_with("/api/v1/clients/") {
        &f.client_a
    } else if path.starts_with("/api/v1/contacts/") {
        &f.contact_a
    } else if path.starts_with("/api/v1/sites/") {
        &f.site_a
    } else if path.starts_with("/api/v1/environments/") {
        &f.env_a
    } else if path.starts_with("/api/v1/hosts/") {
        &f.host_a
    } else if path.starts_with("/api/v1/users/") {
        &f.victim_user
    } else if path.starts_with("/api/v1/tokens/") {
        &f.victim_token
    } else if path.starts_with("/api/v1/inventories/") {
        &f.snapshot_a
    } else if path.starts_with("/api/v1/findings/") {
        &f.finding_a
    } else if path.starts_with("/api/v1/tickets/") {
        let path = path
            .replace("{aid}", &f.attachment_a)
            .replace("{event_id}", &f.event_a);
        let path = if path.ends_with("/attachments") && path.contains("/messages/") {
            format!("{path}?name=matrix.txt")
        } else {
            path
        };
        return path.replace("{id}", &f.ticket_a);
    } else if path.starts_with("/api/v1/tickets/") {
        &f.ticket_a
    } else if path.starts_with("/api/v1/campaigns/") {
        return path
            .replace("{id}", &f.campaign_a)
            .replace("{environment_id}", &f.env_a);
    } else if path.starts_with("/api/v1/audit/events/") {
        &f.audit_event_a
    } else if path.starts_with("/api/v1/advisories/") {
        return path.replace("{id}", "CVE-2022-39261");
    } else {
        return path.to_owned();
    };
    path.replace("{id}", id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_allows_or_denies_every_caller_as_the_table_says() {
    let app = TestApp::start(WebConfig::default()).await;
    let now = start_time();
    let s = &app.store;
    let contract = |zone: &str| Contract {
        sla_tier: SlaTier::Standard,
        support_hours: SupportHours::office_hours(zone),
        holiday_calendar: None,
        out_of_hours: false,
    };
    let a = s
        .create_client(
            &ClientInput {
                name: "Client A".into(),
                contract: contract("Europe/London"),
            },
            now,
        )
        .await
        .expect("a");
    let b = s
        .create_client(
            &ClientInput {
                name: "Client B".into(),
                contract: contract("Europe/Berlin"),
            },
            now,
        )
        .await
        .expect("b");
    let ids = |client: &Client| {
        let client = client.clone();
        async move {
            let contact = s
                .create_contact(
                    client.id,
                    &ContactInput {
                        name: "C".into(),
                        email: "c@x.example".into(),
                        phone: None,
                        title: None,
                    },
                    now,
                )
                .await
                .expect("contact");
            let site = s
                .create_site(
                    &NewSite {
                        client_id: client.id,
                        name: "www".into(),
                        url: "https://www.x.example".into(),
                    },
                    now,
                )
                .await
                .expect("site");
            let env = s
                .create_environment(
                    &NewEnvironment {
                        site_id: site.id,
                        kind: EnvironmentKind::Live,
                        name: "live".into(),
                        url: None,
                        position: None,
                    },
                    now,
                )
                .await
                .expect("env");
            let host = s
                .create_host(
                    &HostInput {
                        client_id: Some(client.id),
                        name: "web".into(),
                        addresses: vec![],
                        os: "Debian 12".into(),
                        environment_ids: vec![env.id],
                    },
                    now,
                )
                .await
                .expect("host");
            [
                client.id.to_string(),
                contact.id.to_string(),
                site.id.to_string(),
                env.id.to_string(),
                host.id.to_string(),
            ]
        }
    };
    let [client_a, contact_a, site_a, env_a, host_a] = ids(&a).await;
    let mut b_ids = ids(&b).await.to_vec();
    // Both clients run a vulnerable Twig; each has a snapshot and a finding.
    let advisory = app.advisories.parent().expect("dir").join("twig.json");
    std::fs::write(
        &advisory,
        json!({"id": "GHSA-52m2-vc4m-jj33", "aliases": ["CVE-2022-39261"], "summary": "Twig",
               "affected": [{"package": {"ecosystem": "Packagist", "name": "twig/twig"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.4.3"}]}]}]})
        .to_string(),
    )
    .expect("advisory");
    let mut db = palisade_vulndb::VulnDb::open(&app.advisories).expect("advisory store");
    palisade_vulndb::import_path(&mut db, &advisory, None, &mut |_| {}).expect("import");
    let mut fleet_ids = Vec::new();
    for env in [&env_a, &b_ids[3]] {
        let lock = json!({"packages": [{"name": "twig/twig", "version": "v3.4.0"}]}).to_string();
        let outcome = app
            .state
            .matcher
            .intake(
                env.parse().expect("env id"),
                vec![palisade_web::Upload {
                    name: "composer.lock".into(),
                    bytes: lock.into_bytes(),
                }],
                Default::default(),
                None,
                now,
            )
            .await
            .expect("intake");
        fleet_ids.push(outcome.snapshot.id.to_string());
    }
    app.state.matcher.catch_up(now).await.expect("match");
    let all = s
        .list_findings(&palisade_store::FindingQuery::default())
        .await
        .expect("findings")
        .items;
    let finding_of = |client: &str| {
        all.iter()
            .find(|f| f.client_id.to_string() == client)
            .expect("finding")
            .id
            .to_string()
    };
    let (finding_a, finding_b) = (finding_of(&client_a), finding_of(&b_ids[0]));
    b_ids.extend([fleet_ids[1].clone(), finding_b]);
    // Each client has a ticket.
    let mut ticket_ids = Vec::new();
    for client in [a.id, b.id] {
        let new = palisade_desk::ticket::NewTicket {
            id: palisade_core::TicketId::new(),
            client_id: client,
            site_id: None,
            subject: "Help".into(),
            category: palisade_desk::ticket::Category::Question,
            priority: palisade_desk::sla::Priority::Normal,
            body: "please".into(),
            created_by: palisade_desk::ticket::Actor::System,
            at: now,
        };
        let created = new.created_event().expect("ticket");
        ticket_ids.push(
            s.create_ticket(&new, &created)
                .await
                .expect("ticket")
                .id
                .to_string(),
        );
    }
    b_ids.push(ticket_ids[1].clone());
    // A campaign client A is part of and client B is not.
    let campaign_a = {
        let id = palisade_core::CampaignId::new();
        let campaign = palisade_campaign::Campaign {
            id,
            title: "Patch Twig".into(),
            advisory: "CVE-2022-39261".into(),
            aliases: vec!["CVE-2022-39261".into()],
            summary: "Twig".into(),
            severity: "high".into(),
            state: palisade_campaign::CampaignState::Planned,
            source_ticket: None,
            created_by: palisade_core::UserId::new(),
            created_at: now,
            started_at: None,
            finished_at: None,
            version: 1,
        };
        let client = palisade_campaign::CampaignClient {
            campaign_id: id,
            client_id: a.id,
            client_name: a.name.clone(),
            rank: 1,
            planned_for: None,
            ticket_id: None,
            done_at: None,
        };
        let env = palisade_campaign::CampaignEnv {
            campaign_id: id,
            environment_id: env_a.parse().expect("env"),
            client_id: a.id,
            site_id: site_a.parse().expect("site"),
            site_name: "www".into(),
            environment_name: "live".into(),
            kind: EnvironmentKind::Live,
            position: 0,
            step: palisade_campaign::Step::Pending,
            tests_passed: false,
            packages: vec![],
            priority: 0,
            exception: None,
            updated_at: now,
            version: 1,
        };
        let planned = palisade_campaign::CampaignEvent {
            id: palisade_core::CampaignEventId::new(),
            campaign_id: id,
            client_id: None,
            environment_id: None,
            at: now,
            actor: None,
            kind: palisade_campaign::EventKind::Planned,
            detail: json!({}),
        };
        s.create_campaign(&campaign, &[client], &[env], &planned)
            .await
            .expect("campaign");
        id.to_string()
    };
    // Attachments: a public one on each ticket, and one on an internal note of ticket A that
    // client user A must never see either (listed with B's records for the leak check).
    use palisade_store::{MailStore, NewAttachment};
    let file = |name: &str| NewAttachment {
        id: palisade_core::AttachmentId::new(),
        filename: name.into(),
        content_type: "text/plain".into(),
        data: b"log lines".to_vec(),
    };
    let mut attachment_ids = Vec::new();
    let mut event_a = String::new();
    for ticket in &ticket_ids {
        let id: palisade_core::TicketId = ticket.parse().expect("ticket id");
        let opening = s.ticket_events(id).await.expect("events").remove(0);
        let a = file("public.log");
        s.add_attachments(&opening, std::slice::from_ref(&a), now)
            .await
            .expect("attachment");
        attachment_ids.push(a.id.to_string());
        if event_a.is_empty() {
            event_a = opening.id.to_string();
        }
    }
    b_ids.push(attachment_ids[1].clone());
    let ticket_a_now = s
        .get_ticket(ticket_ids[0].parse().expect("id"))
        .await
        .expect("ticket a");
    let (after_note, note) = ticket_a_now
        .apply(
            palisade_desk::ticket::TimelineKind::Reply {
                visibility: palisade_desk::ticket::Visibility::Internal,
                body: "staff only".into(),
            },
            palisade_desk::ticket::Actor::System,
            now,
        )
        .expect("note");
    s.append_ticket_event(&after_note, &note)
        .await
        .expect("note");
    let hidden = file("internal.log");
    s.add_attachments(&note, std::slice::from_ref(&hidden), now)
        .await
        .expect("internal attachment");
    b_ids.push(hidden.id.to_string());
    // A shared host: visible to staff only.
    s.create_host(
        &HostInput {
            client_id: None,
            name: "shared".into(),
            addresses: vec![],
            os: "Debian 12".into(),
            environment_ids: vec![],
        },
        now,
    )
    .await
    .expect("shared");

    let mut tokens = Vec::new();
    for (who, role, client) in [
        (L1, Role::SupportL1, None),
        (L2, Role::SupportL2, None),
        (Sec, Role::Security, None),
        (Ops, Role::Operations, None),
        (Mgr, Role::Manager, None),
        (Admin, Role::SuperAdmin, None),
        (Aud, Role::Auditor, None),
        (OwnClient, Role::ClientUser, Some(a.id)),
        (OtherClient, Role::ClientUser, Some(b.id)),
    ] {
        let user = app
            .user(&format!("{who:?}@example.com").to_lowercase(), role, client)
            .await;
        tokens.push((who, Some(app.token(&user, role).await)));
    }
    tokens.push((Anon, None));
    let victim = app.user("victim@example.com", Role::SupportL1, None).await;
    let victim_token_secret = app.token(&victim, Role::SupportL1).await;
    let victim_token = s
        .token_by_hash(&palisade_auth::token_hash(&victim_token_secret))
        .await
        .expect("t")
        .expect("t")
        .id;

    // An audit event concerning client A (a staff read of its site).
    let event = palisade_audit::Event::new(
        0,
        palisade_audit::EventKind::Request,
        "GET /api/v1/sites/{id}",
    )
    .client(Some(client_a.clone()))
    .object(format!("site:{site_a}"));
    let audit_event_a = event.id.to_string();
    app.state.audit.record(event).await.expect("audit event");
    let f = Fixture {
        audit_event_a,
        a_ids: vec![
            client_a.clone(),
            contact_a.clone(),
            site_a.clone(),
            env_a.clone(),
            host_a.clone(),
            fleet_ids[0].clone(),
            finding_a.clone(),
            ticket_ids[0].clone(),
        ],
        ticket_a: ticket_ids[0].clone(),
        campaign_a,
        event_a,
        attachment_a: attachment_ids[0].clone(),
        snapshot_a: fleet_ids[0].clone(),
        finding_a,
        client_a,
        contact_a,
        site_a,
        env_a,
        host_a,
        victim_user: victim.id.to_string(),
        victim_token: victim_token.to_string(),
        b_ids,
    };

    // The routes that exist, from the generated OpenAPI document.
    let doc = serde_json::to_value(palisade_web::openapi()).expect("openapi json");
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let table = table();
    let listed: BTreeSet<_> = table
        .iter()
        .map(|(m, p, _, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let unlisted: Vec<_> = routes.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&routes).collect();
    assert!(
        unlisted.is_empty(),
        "routes without an isolation rule (add them to the table): {unlisted:?}"
    );
    assert!(
        stale.is_empty(),
        "table rows for routes that do not exist: {stale:?}"
    );

    let mut failures = Vec::new();
    let mut checks = 0;
    for (method, path, allowed, body) in &table {
        for (who, token) in &tokens {
            let url = app.url(&fill(path, &f));
            let mut req = match *method {
                "get" => app.http.get(&url),
                "post" => app.http.post(&url),
                "put" => app.http.put(&url),
                other => panic!("method {other}"),
            };
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body(&f) {
                req = req.json(&b);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            checks += 1;
            let was_allowed = !matches!(status, 401 | 403 | 404);
            let should = allowed.contains(who);
            if was_allowed != should || status >= 500 {
                let excerpt: String = text.chars().take(200).collect();
                failures.push(format!(
                    "{method} {path} as {who:?}: status {status}, expected {}: {excerpt}",
                    if should { "allowed" } else { "denied" }
                ));
            }
            let foreign = match who {
                OwnClient => &f.b_ids,
                OtherClient => &f.a_ids,
                _ => continue,
            };
            if let Some(leak) = foreign.iter().find(|id| text.contains(id.as_str())) {
                failures.push(format!(
                    "{method} {path} as {who:?} leaked another client's record {leak}"
                ));
            }
        }
    }
    println!(
        "isolation matrix: {} routes x {} callers = {checks} checks, {} failures",
        table.len(),
        tokens.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "isolation failures:\n{}",
        failures.join("\n")
    );
}
