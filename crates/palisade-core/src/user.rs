//! Accounts: staff and client users, as seen by everything outside the credential store.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::validate::{self, FieldError, Validate};
use crate::{ClientId, Role, TokenId, UserId};

/// A person who can sign in. Credentials (password hash, TOTP secret) never leave the store crate
/// in this type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Set exactly when `role` is `client-user`.
    pub client_id: Option<ClientId>,
    pub mfa_enabled: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Fields a user is created with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default)]
    pub client_id: Option<ClientId>,
    /// At least 12 characters; long passphrases welcome, no composition rules.
    pub password: String,
}

/// Shortest accepted password, per OWASP ASVS (with MFA in front of staff accounts).
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest accepted password: bounds the cost of hashing attacker-supplied input.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Checks a new password's length; composition rules are deliberately absent.
pub fn validate_password(field: &str, password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(FieldError::new(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

impl Validate for NewUser {
    fn validate(&self) -> Result<(), FieldError> {
        validate::email("email", &self.email)?;
        validate::name("display_name", &self.display_name)?;
        match (self.role, self.client_id) {
            (Role::ClientUser, None) => {
                return Err(FieldError::new(
                    "client_id",
                    "a client user must belong to a client",
                ));
            }
            (r, Some(_)) if r.is_staff() => {
                return Err(FieldError::new(
                    "client_id",
                    "staff do not belong to a client",
                ));
            }
            _ => {}
        }
        validate_password("password", &self.password)
    }
}

/// An API token as listed to its owner (never the secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    /// The role the token acts with: its owner's own role, or `auditor` for a read-only staff token.
    pub role: Role,
    /// The first characters of the secret, to recognise it in a list.
    pub prefix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl ApiToken {
    /// A new token record for `secret` (whose hash is stored beside it, never the secret itself).
    pub fn issue(
        user_id: UserId,
        name: String,
        role: Role,
        secret: &str,
        now: Timestamp,
        lifetime: jiff::SignedDuration,
    ) -> Self {
        Self {
            id: TokenId::new(),
            user_id,
            name,
            role,
            prefix: secret.chars().take(10).collect(),
            created_at: now,
            expires_at: now + lifetime,
            last_used_at: None,
            revoked_at: None,
        }
    }

    /// Usable now: neither revoked nor expired.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// Which role a token of `owner` may carry: the owner's own, or read-only `auditor` for staff.
pub fn token_role_allowed(owner: Role, requested: Role) -> bool {
    requested == owner || (owner.is_staff() && requested == Role::Auditor)
}
