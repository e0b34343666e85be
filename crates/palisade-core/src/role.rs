//! Roles. Staff roles follow the provider's organisation (first and second line support, security,
//! operations, management, super admin, auditor); a client user belongs to exactly one client.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user is allowed to do, decided by [`crate::policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    SupportL1,
    SupportL2,
    Security,
    Operations,
    Manager,
    SuperAdmin,
    Auditor,
    ClientUser,
}

impl Role {
    /// Every role, staff first.
    pub const ALL: [Role; 8] = [
        Role::SupportL1,
        Role::SupportL2,
        Role::Security,
        Role::Operations,
        Role::Manager,
        Role::SuperAdmin,
        Role::Auditor,
        Role::ClientUser,
    ];

    /// The name used in the API, the CLI, the database and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SupportL1 => "support-l1",
            Role::SupportL2 => "support-l2",
            Role::Security => "security",
            Role::Operations => "operations",
            Role::Manager => "manager",
            Role::SuperAdmin => "super-admin",
            Role::Auditor => "auditor",
            Role::ClientUser => "client-user",
        }
    }

    /// A human label for pages.
    pub fn label(self) -> &'static str {
        match self {
            Role::SupportL1 => "First-line support",
            Role::SupportL2 => "Second-line support",
            Role::Security => "Security",
            Role::Operations => "Operations",
            Role::Manager => "Manager",
            Role::SuperAdmin => "Super admin",
            Role::Auditor => "Auditor",
            Role::ClientUser => "Client user",
        }
    }

    /// Staff work for the provider; client users for one client.
    pub fn is_staff(self) -> bool {
        self != Role::ClientUser
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the role names.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role {0:?}; expected one of support-l1, support-l2, security, operations, manager, super-admin, auditor, client-user"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip_through_text_and_json() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().expect("parse"), role);
            let json = serde_json::to_string(&role).expect("json");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
