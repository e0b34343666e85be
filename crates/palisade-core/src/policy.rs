//! The authorisation policy: the one place that decides whether a principal may perform an action on
//! a record owned by a scope. Every API handler and every page calls [`authorize`]; the isolation
//! matrix test exercises it through every route for every role.
//!
//! Deny by default: a combination not granted below is refused.

use crate::{ClientId, Role, UserId};

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// The role in force: the user's own, or a token's narrower one.
    pub role: Role,
    /// The client a client user belongs to; `None` for staff.
    pub client_id: Option<ClientId>,
}

/// The kinds of record the policy knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Client,
    Contact,
    Site,
    Environment,
    Host,
    User,
    /// The audit log: every request and state change. Client users read what concerns their own
    /// organisation, staff access to their data included.
    AuditLog,
    /// Inventory snapshots of environments (what is installed).
    Inventory,
    /// Vulnerability findings and their triage.
    Finding,
    /// Advisories, who they affect, and the matcher's state.
    Advisory,
    /// Support tickets and their client-visible messages. Client users open tickets and reply on
    /// their own organisation's; writing as staff is for the support roles and managers.
    Ticket,
    /// Internal notes on tickets: staff talking to staff. Never shown to client users, so they
    /// are a resource of their own rather than a flag a handler might forget to check.
    TicketNote,
    /// Handling a ticket: its state (with the SLA pauses and resolution it implies), priority and
    /// escalation. The desk's decision, so client users never do it.
    TicketWorkflow,
    /// Patch campaigns: planning, starting and cancelling them is the security team's call
    /// (with managers). Client users read their own part: their environments' progress.
    Campaign,
    /// Recording a campaign's steps on environments (patched, tested, excluded): the people who
    /// patch (operations) and the security team.
    CampaignStep,
}

/// What the principal wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read(Resource),
    /// Create, update, archive or restore.
    Write(Resource),
}

/// Who owns the record acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Provider-wide records (users, shared hosts, request records, lists across clients).
    Provider,
    /// A record belonging to one client.
    Client(ClientId),
}

/// Why a request was refused. `NotVisible` is answered like a missing record so that a client user
/// cannot probe for other clients' IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("your role may not do this")]
    Forbidden,
    #[error("not found")]
    NotVisible,
}

/// Decides one request.
pub fn authorize(who: &Principal, action: Action, scope: Scope) -> Result<(), Denied> {
    use Resource::*;
    use Role::*;

    if who.role == ClientUser {
        // Client users read their own organisation's spine and nothing else. A spine record outside
        // their organisation is invisible to them, not merely forbidden.
        // They also read their own findings, inventories, and which advisories affect them;
        // uploading inventories stays with the provider, whose verification of fixes relies on
        // them.
        let own = matches!((scope, who.client_id), (Scope::Client(c), Some(mine)) if c == mine);
        return match action {
            Action::Read(
                Client | Contact | Site | Environment | Host | Inventory | Finding | Advisory
                | AuditLog | Ticket | Campaign,
            ) if own => Ok(()),
            // Opening a ticket and replying on it is what the portal is for.
            Action::Write(Ticket) if own => Ok(()),
            Action::Read(Ticket | Campaign) => Err(Denied::NotVisible),
            Action::Read(
                Client | Contact | Site | Environment | Host | Inventory | Finding | Advisory,
            ) => Err(Denied::NotVisible),
            Action::Write(_) if !own && scope != Scope::Provider => Err(Denied::NotVisible),
            _ => Err(Denied::Forbidden),
        };
    }

    let allowed = match action {
        Action::Read(Client | Contact | Site | Environment | Host) => true,
        Action::Read(Inventory | Finding | Advisory) => true,
        // Every staff member may look at the desk (security and operations are pulled into
        // tickets); answering and handling them is the support roles' and managers' job.
        Action::Read(Ticket | TicketNote | TicketWorkflow) => true,
        Action::Write(Ticket | TicketNote | TicketWorkflow) => {
            matches!(who.role, SupportL1 | SupportL2 | Manager | SuperAdmin)
        }
        Action::Read(Campaign | CampaignStep) => true,
        Action::Write(Campaign) => matches!(who.role, Security | Manager | SuperAdmin),
        Action::Write(CampaignStep) => matches!(who.role, Security | Operations | SuperAdmin),
        Action::Write(Inventory) => matches!(who.role, Operations | Security | SuperAdmin),
        // Triage, including approving another person's risk acceptance (managers sign off risk).
        Action::Write(Finding) => matches!(who.role, Security | Manager | SuperAdmin),
        // Starting a re-match or a sync.
        Action::Write(Advisory) => matches!(who.role, Security | SuperAdmin),
        Action::Read(User) => matches!(who.role, Manager | SuperAdmin | Auditor),
        Action::Read(AuditLog) => matches!(who.role, Security | Manager | SuperAdmin | Auditor),
        Action::Write(Client) => matches!(who.role, Manager | SuperAdmin),
        Action::Write(Contact) => matches!(who.role, SupportL1 | SupportL2 | Manager | SuperAdmin),
        Action::Write(Site | Environment | Host) => matches!(who.role, Operations | SuperAdmin),
        Action::Write(User) => who.role == SuperAdmin,
        // The log is written by the server itself, never through a request.
        Action::Write(AuditLog) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, client: Option<ClientId>) -> Principal {
        Principal {
            user_id: UserId::new(),
            role,
            client_id: client,
        }
    }

    #[test]
    fn client_users_see_only_their_own_client_and_never_write() {
        let mine = ClientId::new();
        let other = ClientId::new();
        let p = who(Role::ClientUser, Some(mine));
        assert_eq!(
            authorize(&p, Action::Read(Resource::Site), Scope::Client(mine)),
            Ok(())
        );
        assert_eq!(
            authorize(&p, Action::Read(Resource::Site), Scope::Client(other)),
            Err(Denied::NotVisible)
        );
        assert_eq!(
            authorize(&p, Action::Write(Resource::Site), Scope::Client(mine)),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            authorize(&p, Action::Read(Resource::Host), Scope::Provider),
            Err(Denied::NotVisible),
            "a shared host is invisible to client users"
        );
        assert_eq!(
            authorize(&p, Action::Write(Resource::Site), Scope::Client(other)),
            Err(Denied::NotVisible)
        );
        assert_eq!(
            authorize(&p, Action::Read(Resource::AuditLog), Scope::Provider),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            authorize(&p, Action::Read(Resource::User), Scope::Client(mine)),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn findings_are_triaged_by_security_and_managers_and_read_by_their_client() {
        let mine = ClientId::new();
        let p = who(Role::ClientUser, Some(mine));
        for res in [Resource::Finding, Resource::Inventory, Resource::Advisory] {
            assert_eq!(
                authorize(&p, Action::Read(res), Scope::Client(mine)),
                Ok(())
            );
            assert_eq!(
                authorize(&p, Action::Read(res), Scope::Client(ClientId::new())),
                Err(Denied::NotVisible)
            );
            assert_eq!(
                authorize(&p, Action::Write(res), Scope::Client(mine)),
                Err(Denied::Forbidden)
            );
        }
        for role in Role::ALL {
            if role == Role::ClientUser {
                continue;
            }
            let can =
                |res| authorize(&who(role, None), Action::Write(res), Scope::Client(mine)).is_ok();
            assert_eq!(
                can(Resource::Finding),
                matches!(role, Role::Security | Role::Manager | Role::SuperAdmin),
                "{role}"
            );
            assert_eq!(
                can(Resource::Inventory),
                matches!(role, Role::Operations | Role::Security | Role::SuperAdmin),
                "{role}"
            );
        }
    }

    #[test]
    fn client_users_open_and_answer_their_own_tickets_but_never_see_notes_or_handle_them() {
        let mine = ClientId::new();
        let other = ClientId::new();
        let p = who(Role::ClientUser, Some(mine));
        let own = Scope::Client(mine);
        assert_eq!(authorize(&p, Action::Read(Resource::Ticket), own), Ok(()));
        assert_eq!(authorize(&p, Action::Write(Resource::Ticket), own), Ok(()));
        for action in [
            Action::Read(Resource::TicketNote),
            Action::Write(Resource::TicketNote),
            Action::Read(Resource::TicketWorkflow),
            Action::Write(Resource::TicketWorkflow),
        ] {
            assert_eq!(
                authorize(&p, action, own),
                Err(Denied::Forbidden),
                "{action:?}"
            );
        }
        for action in [
            Action::Read(Resource::Ticket),
            Action::Write(Resource::Ticket),
            Action::Write(Resource::TicketNote),
        ] {
            assert_eq!(
                authorize(&p, action, Scope::Client(other)),
                Err(Denied::NotVisible),
                "{action:?} on another client's ticket"
            );
        }
        assert!(authorize(&p, Action::Read(Resource::Ticket), Scope::Provider).is_err());
    }

    #[test]
    fn all_staff_read_tickets_and_support_and_managers_handle_them() {
        let c = Scope::Client(ClientId::new());
        for role in Role::ALL.into_iter().filter(|r| r.is_staff()) {
            let p = who(role, None);
            for res in [
                Resource::Ticket,
                Resource::TicketNote,
                Resource::TicketWorkflow,
            ] {
                assert_eq!(authorize(&p, Action::Read(res), c), Ok(()), "{role}");
                assert_eq!(
                    authorize(&p, Action::Write(res), c).is_ok(),
                    matches!(
                        role,
                        Role::SupportL1 | Role::SupportL2 | Role::Manager | Role::SuperAdmin
                    ),
                    "{role} {res:?}"
                );
            }
        }
    }

    #[test]
    fn auditors_never_write_and_only_super_admins_manage_users() {
        let c = Scope::Client(ClientId::new());
        for res in [
            Resource::Client,
            Resource::Contact,
            Resource::Site,
            Resource::Environment,
            Resource::Host,
            Resource::Inventory,
            Resource::Finding,
            Resource::Advisory,
        ] {
            assert!(authorize(&who(Role::Auditor, None), Action::Read(res), c).is_ok());
            assert!(authorize(&who(Role::Auditor, None), Action::Write(res), c).is_err());
        }
        for role in Role::ALL {
            let ok = authorize(
                &who(role, None),
                Action::Write(Resource::User),
                Scope::Provider,
            )
            .is_ok();
            assert_eq!(ok, role == Role::SuperAdmin, "{role}");
        }
    }
}
