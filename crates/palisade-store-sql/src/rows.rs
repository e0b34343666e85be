//! Row shapes as both backends return them, and their conversion into domain types. Conversion
//! failures become `StoreError::Corrupt`, never a panic: a bad row must not take the server down.

use jiff::Timestamp;
use palisade_core::tenant::{Client, Contact, Environment, EnvironmentKind, Host, Site};
use palisade_core::user::{ApiToken, User};
use palisade_core::{Role, UserId};
use palisade_keyring::LiveKeyring;
use palisade_store::{Session, StoreError, UserAuth};

use crate::sealed;

/// Defines a row struct readable by both drivers: sqlx (`FromRow`, by column name, for PostgreSQL)
/// and rusqlite (the SQLite read path). rusqlite reads by position, because looking columns up by
/// name showed up as 8 % of a list request's CPU; the fields must therefore be declared in the order
/// of the query's columns, which debug builds (and so every test) assert.
macro_rules! row {
    ($name:ident { $($fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        #[derive(sqlx::FromRow)]
        pub(crate) struct $name { $($fvis $field: $ty),* }

        impl crate::reader::FromSqliteRow for $name {
            // The counter's last increment is never read; that is the shape of the macro.
            #[allow(unused_assignments)]
            fn from_sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut i = 0usize;
                Ok(Self {
                    $($field: {
                        debug_assert_eq!(r.as_ref().column_name(i).ok(), Some(stringify!($field)));
                        let v = r.get(i)?;
                        i += 1;
                        v
                    }),*
                })
            }
        }
    };
}

pub(crate) use row;

pub(crate) fn ts(micros: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(micros)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {micros}: {e}")))
}

pub(crate) fn opt_ts(micros: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    micros.map(ts).transpose()
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    // Microseconds since 1970 fit i64 for ±292,000 years; jiff's range is far inside that.
    t.as_microsecond()
}

pub(crate) fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} {s:?}: {e}")))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(
    what: &str,
    v: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encoding {what}: {e}")))
}

row!(ClientRow {
    id: String,
    name: String,
    contract: String,
    archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,});

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: parse("client id", &r.id)?,
            name: r.name,
            contract: json("client contract", &r.contract)?,
            archived_at: opt_ts(r.archived_at)?,
            created_at: ts(r.created_at)?,
            updated_at: ts(r.updated_at)?,
        })
    }
}

row!(ContactRow {
    id: String,
    client_id: String,
    name: String,
    email: String,
    phone: Option<String>,
    title: Option<String>,
    archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    key_version: i64,});

impl ContactRow {
    /// The row with its sealed fields opened (see `sealed.rs`).
    pub(crate) fn unseal(mut self, keys: &LiveKeyring) -> Result<Self, StoreError> {
        let (id, v) = (&self.id, self.key_version);
        self.email = sealed::open_text(keys, "contacts", "email", id, v, &self.email)?;
        self.phone = match &self.phone {
            Some(p) => Some(sealed::open_text(keys, "contacts", "phone", id, v, p)?),
            None => None,
        };
        Ok(self)
    }
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(r: ContactRow) -> Result<Self, StoreError> {
        Ok(Contact {
            id: parse("contact id", &r.id)?,
            client_id: parse("client id", &r.client_id)?,
            name: r.name,
            email: r.email,
            phone: r.phone,
            title: r.title,
            archived_at: opt_ts(r.archived_at)?,
            created_at: ts(r.created_at)?,
            updated_at: ts(r.updated_at)?,
        })
    }
}

row!(SiteRow {
    id: String,
    client_id: String,
    name: String,
    url: String,
    archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,});

impl TryFrom<SiteRow> for Site {
    type Error = StoreError;
    fn try_from(r: SiteRow) -> Result<Self, StoreError> {
        Ok(Site {
            id: parse("site id", &r.id)?,
            client_id: parse("client id", &r.client_id)?,
            name: r.name,
            url: r.url,
            archived_at: opt_ts(r.archived_at)?,
            created_at: ts(r.created_at)?,
            updated_at: ts(r.updated_at)?,
        })
    }
}

row!(EnvironmentRow {
    id: String,
    site_id: String,
    client_id: String,
    kind: String,
    name: String,
    url: Option<String>,
    position: i32,
    archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,});

impl TryFrom<EnvironmentRow> for Environment {
    type Error = StoreError;
    fn try_from(r: EnvironmentRow) -> Result<Self, StoreError> {
        Ok(Environment {
            id: parse("environment id", &r.id)?,
            site_id: parse("site id", &r.site_id)?,
            client_id: parse("client id", &r.client_id)?,
            kind: parse::<EnvironmentKind>("environment kind", &r.kind)?,
            name: r.name,
            url: r.url,
            position: r.position,
            archived_at: opt_ts(r.archived_at)?,
            created_at: ts(r.created_at)?,
            updated_at: ts(r.updated_at)?,
        })
    }
}

row!(HostRow {
    pub(crate) id: String,
    client_id: Option<String>,
    name: String,
    addresses: String,
    os: String,
    archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,});

impl HostRow {
    pub(crate) fn into_host(self, environment_ids: Vec<String>) -> Result<Host, StoreError> {
        Ok(Host {
            id: parse("host id", &self.id)?,
            client_id: self
                .client_id
                .as_deref()
                .map(|c| parse("client id", c))
                .transpose()?,
            name: self.name,
            addresses: json("host addresses", &self.addresses)?,
            os: self.os,
            environment_ids: environment_ids
                .iter()
                .map(|e| parse("environment id", e))
                .collect::<Result<_, _>>()?,
            archived_at: opt_ts(self.archived_at)?,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
        })
    }
}

row!(UserRow {
    id: String,
    email: String,
    display_name: String,
    role: String,
    client_id: Option<String>,
    password_hash: String,
    totp_secret: Option<String>,
    totp_last_step: Option<i64>,
    failed_logins: i32,
    locked_until: Option<i64>,
    disabled_at: Option<i64>,
    created_at: i64,
    key_version: i64,});

impl UserRow {
    /// The row with its sealed TOTP secret opened, in the hex form the column had before sealing.
    pub(crate) fn unseal(mut self, keys: &LiveKeyring) -> Result<Self, StoreError> {
        if let Some(stored) = &self.totp_secret {
            let secret = sealed::open(
                keys,
                ("users", "totp_secret", sealed::Legacy::Hex),
                &self.id,
                self.key_version,
                stored,
            )?;
            self.totp_secret = Some(hex::encode(secret));
        }
        Ok(self)
    }
}

impl TryFrom<UserRow> for UserAuth {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let totp_secret = match &r.totp_secret {
            Some(hex) => {
                Some(hex::decode(hex).map_err(|_| StoreError::Corrupt("totp secret".into()))?)
            }
            None => None,
        };
        Ok(UserAuth {
            user: User {
                id: parse::<UserId>("user id", &r.id)?,
                email: r.email,
                display_name: r.display_name,
                role: parse::<Role>("role", &r.role)?,
                client_id: r
                    .client_id
                    .as_deref()
                    .map(|c| parse("client id", c))
                    .transpose()?,
                mfa_enabled: totp_secret.is_some(),
                disabled_at: opt_ts(r.disabled_at)?,
                created_at: ts(r.created_at)?,
            },
            password_hash: r.password_hash,
            totp_secret,
            totp_last_step: r.totp_last_step,
            failed_logins: r.failed_logins,
            locked_until: opt_ts(r.locked_until)?,
        })
    }
}

row!(SessionRow {
    id: String,
    user_id: String,
    token_hash: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    mfa_passed: bool,
});

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: parse("session id", &r.id)?,
            user_id: parse("user id", &r.user_id)?,
            token_hash: r.token_hash,
            created_at: ts(r.created_at)?,
            last_seen_at: ts(r.last_seen_at)?,
            expires_at: ts(r.expires_at)?,
            mfa_passed: r.mfa_passed,
        })
    }
}

row!(TokenRow {
    id: String,
    user_id: String,
    name: String,
    role: String,
    prefix: String,
    created_at: i64,
    expires_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,});

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(ApiToken {
            id: parse("token id", &r.id)?,
            user_id: parse("user id", &r.user_id)?,
            name: r.name,
            role: parse("role", &r.role)?,
            prefix: r.prefix,
            created_at: ts(r.created_at)?,
            expires_at: ts(r.expires_at)?,
            last_used_at: opt_ts(r.last_used_at)?,
            revoked_at: opt_ts(r.revoked_at)?,
        })
    }
}

row!(HostEnvironmentRow {
    pub(crate) host_id: String,
    pub(crate) environment_id: String,
});

// Fleet rows. Their conversions live in `fleet.rs`, next to the SQL that selects them.

row!(SnapshotRow {
    pub(crate) id: String,
    pub(crate) environment_id: String,
    pub(crate) site_id: String,
    pub(crate) client_id: String,
    pub(crate) taken_at: i64,
    pub(crate) actor: Option<String>,
    pub(crate) previous: Option<String>,
    pub(crate) sources: String,
    pub(crate) packages: i64,
    pub(crate) dev_packages: i64,
    pub(crate) added: i64,
    pub(crate) removed: i64,
    pub(crate) changed: i64,
    pub(crate) unevaluable: i64,
});

row!(SnapshotDetailRow {
    pub(crate) id: String,
    pub(crate) environment_id: String,
    pub(crate) site_id: String,
    pub(crate) client_id: String,
    pub(crate) taken_at: i64,
    pub(crate) actor: Option<String>,
    pub(crate) previous: Option<String>,
    pub(crate) sources: String,
    pub(crate) packages: i64,
    pub(crate) dev_packages: i64,
    pub(crate) added: i64,
    pub(crate) removed: i64,
    pub(crate) changed: i64,
    pub(crate) unevaluable: i64,
    pub(crate) changes: String,
    pub(crate) unevaluable_lines: String,
    pub(crate) packages_blob: Option<Vec<u8>>,
});

row!(InstallationRow {
    pub(crate) environment_id: String,
    pub(crate) ecosystem: String,
    pub(crate) qualifier: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) dev: bool,
});

row!(PackageVersionRow {
    pub(crate) ecosystem: String,
    pub(crate) qualifier: String,
    pub(crate) name: String,
    pub(crate) version: String,
});

row!(PackageRow {
    pub(crate) ecosystem: String,
    pub(crate) qualifier: String,
    pub(crate) name: String,
});

row!(EnvFactsRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) site_id: String,
    pub(crate) kind: String,
    pub(crate) environment_name: String,
    pub(crate) site_name: String,
    pub(crate) client_name: String,
    pub(crate) contract: String,
    pub(crate) inventory_at: Option<i64>,
});

row!(OpenCountsRow {
    pub(crate) open: i64,
    pub(crate) kev: i64,
    pub(crate) breached: i64,
});

row!(VersionRow {
    pub(crate) n: i64,
});

row!(PriorityCountRow {
    pub(crate) priority: i32,
    pub(crate) n: i64,
});

row!(StateCountRow {
    pub(crate) state: String,
    pub(crate) n: i64,
});

row!(ClientFindingsRow {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) open: i64,
    pub(crate) kev: i64,
    pub(crate) breached: i64,
    pub(crate) top_priority: i32,
});

row!(DailyRow {
    pub(crate) day: String,
    pub(crate) opened: i64,
    pub(crate) closed: i64,
});

row!(ValueRow {
    pub(crate) value: String,
});

row!(IndexDefRow {
    pub(crate) name: String,
    pub(crate) sql: String,
});

// Encryption at rest (`sealed.rs`): a row to re-encrypt, and key usage counts.

row!(SealedRow {
    pub(crate) id: String,
    pub(crate) key_version: i64,
    pub(crate) v0: Option<String>,
    pub(crate) v1: Option<String>,
});

row!(KeyVersionRow {
    pub(crate) key_version: i64,
});

row!(KeyUsageRow {
    pub(crate) key_version: i64,
    pub(crate) records: i64,
    pub(crate) sealed: i64,
});
