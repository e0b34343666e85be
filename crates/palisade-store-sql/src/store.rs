//! The `Store` implementation. Every method is one piece of SQL text run on either backend through
//! `on_pool!`; multi-statement writes run in one transaction so a failure leaves nothing half-written.

use std::collections::HashMap;
use std::fmt::Write as _;

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::tenant::{
    Client, ClientInput, Contact, ContactInput, Environment, EnvironmentUpdate, Host, HostInput,
    NewEnvironment, NewSite, Site, SiteUpdate,
};
use palisade_core::user::{ApiToken, User};
use palisade_core::{
    ClientId, ContactId, EnvironmentId, FieldError, HostId, SessionId, SiteId, TokenId, UserId,
};
use palisade_store::{
    Archivable, ListQuery, NewUserRecord, Page, Session, Store, StoreError, StoreResult, UserAuth,
};

use crate::reader::{Arg, FromSqliteRow, Stmt, args, placeholders_in_order};
use crate::rows::*;
use crate::sealed::seal;
use crate::{SqlStore, db_err, on_pool, rows_on_pool};

const CLIENT_COLS: &str = "id, name, contract, archived_at, created_at, updated_at";
const CONTACT_COLS: &str =
    "id, client_id, name, email, phone, title, archived_at, created_at, updated_at, key_version";
const SITE_COLS: &str = "id, client_id, name, url, archived_at, created_at, updated_at";
const ENV_COLS: &str =
    "id, site_id, client_id, kind, name, url, position, archived_at, created_at, updated_at";
const HOST_COLS: &str = "id, client_id, name, addresses, os, archived_at, created_at, updated_at";
const USER_COLS: &str = "id, email, display_name, role, client_id, password_hash, totp_secret, totp_last_step, \
     failed_logins, locked_until, disabled_at, created_at, key_version";
const SESSION_COLS: &str =
    "id, user_id, token_hash, created_at, last_seen_at, expires_at, mfa_passed";
const TOKEN_COLS: &str =
    "id, user_id, name, role, prefix, created_at, expires_at, last_used_at, revoked_at";

/// The shared list filter (optional client, keyset position, archived or not, page size) as a
/// page query and its arguments. Each shape (client filter or not, cursor or not) gets its own
/// text: a condition such as `($1 IS NULL OR id > $1)` cannot be planned as an index seek, so a
/// deep page had read every row before its cursor, and a client's page every other client's
/// rows. Written out, each page is a range of the `(client_id, id)` or primary-key index, bounded
/// by the LIMIT (and the archived rows it skips).
fn list_sql(cols: &str, table: &str, client_col: &str, q: &ListQuery) -> (String, Vec<Arg>) {
    let mut conds = Vec::with_capacity(3);
    let mut args = Vec::with_capacity(4);
    if let Some(c) = q.client {
        args.push(Arg::from(c.to_string()));
        conds.push(format!("{client_col} = ${}", args.len()));
    }
    if let Some(after) = &q.after {
        args.push(Arg::from(after.as_str()));
        conds.push(format!("id > ${}", args.len()));
    }
    args.push(Arg::from(q.include_archived));
    conds.push(format!("(${} OR archived_at IS NULL)", args.len()));
    args.push(Arg::from(i64::from(q.page_size()) + 1));
    let sql = format!(
        "SELECT {cols} FROM {table} WHERE {} ORDER BY id LIMIT ${}",
        conds.join(" AND "),
        args.len()
    );
    (sql, args)
}

/// Turns `limit + 1` fetched rows into a page: the extra row only says there is more.
fn page<R, T>(rows: Vec<R>, q: &ListQuery, id_of: impl Fn(&T) -> String) -> StoreResult<Page<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    let size = q.page_size() as usize;
    let more = rows.len() > size;
    let items = rows
        .into_iter()
        .take(size)
        .map(T::try_from)
        .collect::<StoreResult<Vec<T>>>()?;
    let next_after = if more { items.last().map(id_of) } else { None };
    Ok(Page { items, next_after })
}

fn contract_json(input: &ClientInput) -> StoreResult<String> {
    serde_json::to_string(&input.contract).map_err(|e| StoreError::Backend(e.to_string()))
}

/// `INSERT INTO table (cols) VALUES ($1, …), (…), …` for `rows` rows of `width` columns.
pub(crate) fn multi_row_insert(table: &str, cols: &str, width: usize, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({cols}) VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..width {
            if col > 0 {
                sql.push_str(", ");
            }
            // Writing into a `String` cannot fail.
            let _ = write!(sql, "${}", row * width + col + 1);
        }
        sql.push(')');
    }
    sql
}

/// A row type both backends can read (what `row!` declares): one name for the bound every
/// generic read repeats.
pub(crate) trait AnyRow:
    FromSqliteRow
    + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
    + 'static
{
}

impl<T> AnyRow for T where
    T: FromSqliteRow
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
        + 'static
{
}

impl SqlStore {
    /// One page of an archivable table's rows (`limit + 1` of them; see `page`), filtered by
    /// the list query's client, position and archived flag.
    async fn list_rows<T>(
        &self,
        cols: &str,
        table: &str,
        client_col: &str,
        q: &ListQuery,
    ) -> StoreResult<Vec<T>>
    where
        T: AnyRow,
    {
        let (sql, args) = list_sql(cols, table, client_col, q);
        match &self.reader {
            Some(reader) => reader.page(&sql, &args),
            None => self.read_all(&sql, args).await,
        }
    }

    /// Reads every row of a query: through the rusqlite reader for an SQLite file, through sqlx
    /// otherwise.
    pub(crate) async fn read_all<T>(&self, sql: &str, args: Vec<Arg>) -> StoreResult<Vec<T>>
    where
        T: AnyRow,
    {
        debug_assert!(placeholders_in_order(sql), "placeholder order in {sql}");
        if let Some(reader) = &self.reader {
            return reader.all(sql.to_owned(), args).await;
        }
        on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, T>(sql);
            for a in args {
                q = match a {
                    Arg::Text(v) => q.bind(v),
                    Arg::Int(v) => q.bind(v),
                    Arg::Bool(b) => q.bind(b),
                    Arg::Bytes(v) => q.bind(v),
                };
            }
            q.fetch_all(p).await
        })
        .map_err(db_err)
    }

    pub(crate) async fn read_opt<T>(&self, sql: &str, args: Vec<Arg>) -> StoreResult<Option<T>>
    where
        T: AnyRow,
    {
        Ok(self.read_all(sql, args).await?.into_iter().next())
    }

    pub(crate) async fn read_one<T>(&self, sql: &str, args: Vec<Arg>) -> StoreResult<T>
    where
        T: AnyRow,
    {
        self.read_opt(sql, args).await?.ok_or(StoreError::NotFound)
    }

    /// Runs `statements` in one transaction: through the rusqlite writer for an SQLite file,
    /// through sqlx otherwise. A statement's `if_none` error rolls everything back.
    pub(crate) async fn write_tx(&self, statements: Vec<Stmt>) -> StoreResult<()> {
        if statements.is_empty() {
            return Ok(());
        }
        debug_assert!(
            statements.iter().all(|s| placeholders_in_order(&s.sql)),
            "placeholder order"
        );
        if let Some(direct) = &self.reader {
            return direct.write_batch(statements).await;
        }
        on_pool!(self, p => async {
            let mut tx = p.begin().await.map_err(db_err)?;
            for Stmt { sql, args, if_none } in statements {
                let mut q = sqlx::query(&sql);
                for a in args {
                    q = match a {
                        Arg::Text(v) => q.bind(v),
                        Arg::Int(v) => q.bind(v),
                        Arg::Bool(b) => q.bind(b),
                        Arg::Bytes(v) => q.bind(v),
                    };
                }
                let n = q.execute(&mut *tx).await.map_err(db_err)?.rows_affected();
                if n == 0 && let Some(e) = if_none {
                    // Dropping the transaction rolls it back.
                    return Err(e);
                }
            }
            tx.commit().await.map_err(db_err)
        }.await)
    }

    /// A contact's sealed e-mail and phone and the key version they are under.
    fn seal_contact(&self, id: &str, input: &ContactInput) -> (String, Option<String>, i64) {
        let ring = self.keys.current();
        let email = seal(&ring, "contacts", "email", id, input.email.as_bytes());
        let phone = input
            .phone
            .as_ref()
            .map(|p| seal(&ring, "contacts", "phone", id, p.as_bytes()));
        (email, phone, i64::from(ring.newest()))
    }

    /// The client a new record will hang off, which must exist and not be archived.
    async fn live_client(&self, id: ClientId, field: &str) -> StoreResult<Client> {
        match self.get_client(id).await {
            Ok(c) if c.archived_at.is_none() => Ok(c),
            Ok(_) => Err(FieldError::new(field, "that client is archived").into()),
            Err(StoreError::NotFound) => Err(FieldError::new(field, "no such client").into()),
            Err(e) => Err(e),
        }
    }

    /// The environments each of `hosts` serves, in one query (a list page must not cost a query per host).
    async fn host_environment_ids(
        &self,
        hosts: &[&str],
    ) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut by_host: HashMap<String, Vec<String>> = hosts
            .iter()
            .map(|h| ((*h).to_owned(), Vec::new()))
            .collect();
        if hosts.is_empty() {
            return Ok(by_host);
        }
        let placeholders: Vec<String> = (1..=hosts.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT host_id, environment_id FROM host_environments WHERE host_id IN ({}) ORDER BY environment_id",
            placeholders.join(", ")
        );
        let rows: Vec<HostEnvironmentRow> = self
            .read_all(&sql, hosts.iter().map(|h| Arg::from(*h)).collect())
            .await?;
        for r in rows {
            by_host.entry(r.host_id).or_default().push(r.environment_id);
        }
        Ok(by_host)
    }

    /// Checks every environment a host claims to serve exists, is live, and (for a dedicated host)
    /// belongs to the host's client.
    async fn check_host_environments(&self, input: &HostInput) -> StoreResult<()> {
        for (i, env_id) in input.environment_ids.iter().enumerate() {
            let field = format!("environment_ids[{i}]");
            match self.get_environment(*env_id).await {
                Ok(env) if env.archived_at.is_some() => {
                    return Err(FieldError::new(field, "that environment is archived").into());
                }
                Ok(env) if input.client_id.is_some_and(|c| c != env.client_id) => {
                    return Err(FieldError::new(
                        field,
                        "that environment belongs to another client",
                    )
                    .into());
                }
                Ok(_) => {}
                Err(StoreError::NotFound) => {
                    return Err(FieldError::new(field, "no such environment").into());
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(c) = input.client_id {
            self.live_client(c, "client_id").await?;
        }
        Ok(())
    }

    async fn write_host(
        &self,
        id: HostId,
        input: &HostInput,
        now: Timestamp,
        create: bool,
    ) -> StoreResult<Host> {
        self.check_host_environments(input).await?;
        let id_s = id.to_string();
        let addresses = serde_json::to_string(&input.addresses)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let client = input.client_id.map(|c| c.to_string());
        let mut envs: Vec<String> = input
            .environment_ids
            .iter()
            .map(|e| e.to_string())
            .collect();
        envs.sort();
        envs.dedup();
        let now = micros(now);
        let write_sql = if create {
            "INSERT INTO hosts (id, client_id, name, addresses, os, archived_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6, $6)"
        } else {
            "UPDATE hosts SET client_id = $2, name = $3, addresses = $4, os = $5, updated_at = $6 WHERE id = $1"
        };
        let affected = on_pool!(self, p => async {
            let mut tx = p.begin().await?;
            let n = sqlx::query(write_sql)
                .bind(&id_s).bind(&client).bind(&input.name).bind(&addresses).bind(&input.os).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM host_environments WHERE host_id = $1").bind(&id_s).execute(&mut *tx).await?;
            for env in &envs {
                sqlx::query("INSERT INTO host_environments (host_id, environment_id) VALUES ($1, $2)")
                    .bind(&id_s).bind(env).execute(&mut *tx).await?;
            }
            if n == 1 { tx.commit().await?; } else { tx.rollback().await?; }
            Ok::<u64, sqlx::Error>(n)
        }.await)
        .map_err(db_err)?;
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_host(id).await
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, p => sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(p).await)
            .map_err(db_err)?;
        Ok(())
    }

    fn change_counter(&self) -> Option<u64> {
        self.reader.as_ref()?.data_version()
    }

    async fn create_client(&self, input: &ClientInput, now: Timestamp) -> StoreResult<Client> {
        let id = ClientId::new();
        let sql = "INSERT INTO clients (id, name, contract, archived_at, created_at, updated_at) \
                   VALUES ($1, $2, $3, NULL, $4, $4)";
        let contract = contract_json(input)?;
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(&input.name).bind(&contract)
            .bind(micros(now)).execute(p).await)
        .map_err(db_err)?;
        self.get_client(id).await
    }

    async fn get_client(&self, id: ClientId) -> StoreResult<Client> {
        let sql = format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1");
        let row: ClientRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn list_clients(&self, q: &ListQuery) -> StoreResult<Page<Client>> {
        let rows: Vec<ClientRow> = self.list_rows(CLIENT_COLS, "clients", "id", q).await?;
        page(rows, q, |c: &Client| c.id.to_string())
    }

    async fn update_client(
        &self,
        id: ClientId,
        input: &ClientInput,
        now: Timestamp,
    ) -> StoreResult<Client> {
        let before = self.get_client(id).await?;
        let sql = "UPDATE clients SET name = $2, contract = $3, updated_at = $4 WHERE id = $1";
        let contract = contract_json(input)?;
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(&input.name).bind(&contract)
            .bind(micros(now)).execute(p).await)
        .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        // The open tickets' SLA stamps follow the contract's calendar; a new name changes none.
        if before.contract != input.contract {
            let restamped = self.restamp_client(id).await?;
            if restamped > 0 {
                tracing::info!(client = %id, tickets = restamped, "Re-stamped open tickets' SLA after a contract change.");
            }
        }
        self.get_client(id).await
    }

    async fn create_contact(
        &self,
        client: ClientId,
        input: &ContactInput,
        now: Timestamp,
    ) -> StoreResult<Contact> {
        self.live_client(client, "client_id").await?;
        let id = ContactId::new();
        let (email, phone, key_version) = self.seal_contact(&id.to_string(), input);
        let sql = "INSERT INTO contacts (id, client_id, name, email, phone, title, archived_at, created_at, updated_at, \
                   key_version, email_bidx) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7, $8, $9)";
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(client.to_string()).bind(&input.name)
            .bind(&email).bind(&phone).bind(&input.title).bind(micros(now)).bind(key_version)
            .bind(self.email_bidx(&input.email)).execute(p).await)
        .map_err(db_err)?;
        self.get_contact(id).await
    }

    async fn get_contact(&self, id: ContactId) -> StoreResult<Contact> {
        let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE id = $1");
        let row: ContactRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.unseal(&self.keys)?.try_into()
    }

    async fn list_contacts(&self, q: &ListQuery) -> StoreResult<Page<Contact>> {
        let rows: Vec<ContactRow> = self
            .list_rows(CONTACT_COLS, "contacts", "client_id", q)
            .await?;
        let rows = rows
            .into_iter()
            .map(|r| r.unseal(&self.keys))
            .collect::<StoreResult<Vec<_>>>()?;
        page(rows, q, |c: &Contact| c.id.to_string())
    }

    async fn update_contact(
        &self,
        id: ContactId,
        input: &ContactInput,
        now: Timestamp,
    ) -> StoreResult<Contact> {
        let (email, phone, key_version) = self.seal_contact(&id.to_string(), input);
        let sql = "UPDATE contacts SET name = $2, email = $3, phone = $4, title = $5, updated_at = $6, key_version = $7, \
                   email_bidx = $8 WHERE id = $1";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(&input.name).bind(&email)
            .bind(&phone).bind(&input.title).bind(micros(now)).bind(key_version)
            .bind(self.email_bidx(&input.email)).execute(p).await)
        .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_contact(id).await
    }

    async fn create_site(&self, input: &NewSite, now: Timestamp) -> StoreResult<Site> {
        self.live_client(input.client_id, "client_id").await?;
        let id = SiteId::new();
        let sql = "INSERT INTO sites (id, client_id, name, url, archived_at, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, NULL, $5, $5)";
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(input.client_id.to_string())
            .bind(&input.name).bind(&input.url).bind(micros(now)).execute(p).await)
        .map_err(db_err)?;
        self.get_site(id).await
    }

    async fn get_site(&self, id: SiteId) -> StoreResult<Site> {
        let sql = format!("SELECT {SITE_COLS} FROM sites WHERE id = $1");
        let row: SiteRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn list_sites(&self, q: &ListQuery) -> StoreResult<Page<Site>> {
        let rows: Vec<SiteRow> = self.list_rows(SITE_COLS, "sites", "client_id", q).await?;
        page(rows, q, |s: &Site| s.id.to_string())
    }

    async fn update_site(
        &self,
        id: SiteId,
        input: &SiteUpdate,
        now: Timestamp,
    ) -> StoreResult<Site> {
        let sql = "UPDATE sites SET name = $2, url = $3, updated_at = $4 WHERE id = $1";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(&input.name).bind(&input.url)
            .bind(micros(now)).execute(p).await)
        .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_site(id).await
    }

    async fn create_environment(
        &self,
        input: &NewEnvironment,
        now: Timestamp,
    ) -> StoreResult<Environment> {
        let site = match self.get_site(input.site_id).await {
            Ok(s) if s.archived_at.is_none() => s,
            Ok(_) => return Err(FieldError::new("site_id", "that site is archived").into()),
            Err(StoreError::NotFound) => {
                return Err(FieldError::new("site_id", "no such site").into());
            }
            Err(e) => return Err(e),
        };
        let id = EnvironmentId::new();
        let position = input
            .position
            .unwrap_or_else(|| input.kind.default_position());
        let sql = "INSERT INTO environments (id, site_id, client_id, kind, name, url, position, archived_at, \
                   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8)";
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(site.id.to_string())
            .bind(site.client_id.to_string()).bind(input.kind.as_str()).bind(&input.name).bind(&input.url)
            .bind(position).bind(micros(now)).execute(p).await)
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => FieldError::new("name", "this site already has an environment of that name").into(),
            other => other,
        })?;
        self.get_environment(id).await
    }

    async fn get_environment(&self, id: EnvironmentId) -> StoreResult<Environment> {
        let sql = format!("SELECT {ENV_COLS} FROM environments WHERE id = $1");
        let row: EnvironmentRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn site_environments(
        &self,
        site: SiteId,
        include_archived: bool,
    ) -> StoreResult<Vec<Environment>> {
        let sql = format!(
            "SELECT {ENV_COLS} FROM environments WHERE site_id = $1 AND ($2 OR archived_at IS NULL) \
             ORDER BY position, name"
        );
        let rows: Vec<EnvironmentRow> = self
            .read_all(&sql, args![site.to_string(), include_archived])
            .await?;
        rows.into_iter().map(Environment::try_from).collect()
    }

    async fn list_environments(&self, q: &ListQuery) -> StoreResult<Page<Environment>> {
        let rows: Vec<EnvironmentRow> = self
            .list_rows(ENV_COLS, "environments", "client_id", q)
            .await?;
        page(rows, q, |e: &Environment| e.id.to_string())
    }

    async fn update_environment(
        &self,
        id: EnvironmentId,
        input: &EnvironmentUpdate,
        now: Timestamp,
    ) -> StoreResult<Environment> {
        let sql = "UPDATE environments SET kind = $2, name = $3, url = $4, position = $5, updated_at = $6 WHERE id = $1";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(input.kind.as_str())
            .bind(&input.name).bind(&input.url).bind(input.position).bind(micros(now)).execute(p).await)
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => FieldError::new("name", "this site already has an environment of that name").into(),
            other => other,
        })?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_environment(id).await
    }

    async fn create_host(&self, input: &HostInput, now: Timestamp) -> StoreResult<Host> {
        self.write_host(HostId::new(), input, now, true).await
    }

    async fn get_host(&self, id: HostId) -> StoreResult<Host> {
        let sql = format!("SELECT {HOST_COLS} FROM hosts WHERE id = $1");
        let row: HostRow = self.read_one(&sql, args![id.to_string()]).await?;
        let served = self
            .host_environment_ids(&[&row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        row.into_host(served)
    }

    async fn list_hosts(&self, q: &ListQuery) -> StoreResult<Page<Host>> {
        let rows: Vec<HostRow> = self.list_rows(HOST_COLS, "hosts", "client_id", q).await?;
        let size = q.page_size() as usize;
        let more = rows.len() > size;
        let rows: Vec<HostRow> = rows.into_iter().take(size).collect();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut envs = self.host_environment_ids(&ids).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let served = envs.remove(&row.id).unwrap_or_default();
                row.into_host(served)
            })
            .collect::<StoreResult<Vec<Host>>>()?;
        let next_after = if more {
            items.last().map(|h: &Host| h.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_after })
    }

    async fn update_host(
        &self,
        id: HostId,
        input: &HostInput,
        now: Timestamp,
    ) -> StoreResult<Host> {
        self.write_host(id, input, now, false).await
    }

    async fn set_archived(
        &self,
        what: Archivable,
        at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (table, id) = match what {
            Archivable::Client(id) => ("clients", id.to_string()),
            Archivable::Contact(id) => ("contacts", id.to_string()),
            Archivable::Site(id) => ("sites", id.to_string()),
            Archivable::Environment(id) => ("environments", id.to_string()),
            Archivable::Host(id) => ("hosts", id.to_string()),
        };
        let sql = format!("UPDATE {table} SET archived_at = $2, updated_at = $3 WHERE id = $1");
        let n = rows_on_pool!(self, p => sqlx::query(&sql).bind(&id).bind(at.map(micros)).bind(micros(now))
            .execute(p).await)
        .map_err(db_err)?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn create_user(&self, input: &NewUserRecord, now: Timestamp) -> StoreResult<User> {
        if let Some(c) = input.client_id {
            self.live_client(c, "client_id").await?;
        }
        let id = UserId::new();
        // Nothing sealed yet, but the row says which key its (absent) sealed values are under, so
        // the re-encryption pass has no reason to visit it.
        let key_version = i64::from(self.keys.current().newest());
        let sql = "INSERT INTO users (id, email, email_key, display_name, role, client_id, password_hash, \
                   failed_logins, created_at, key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)";
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(&input.email)
            .bind(input.email.to_lowercase()).bind(&input.display_name).bind(input.role.as_str())
            .bind(input.client_id.map(|c| c.to_string())).bind(&input.password_hash).bind(micros(now))
            .bind(key_version).execute(p).await)
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => FieldError::new("email", "a user with this e-mail address already exists").into(),
            other => other,
        })?;
        self.get_user(id).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        Ok(self.user_auth(id).await?.user)
    }

    async fn list_users(&self, q: &ListQuery) -> StoreResult<Page<User>> {
        // Users have no archived_at; `disabled_at` plays that part and disabled users stay listed.
        let sql = format!(
            "SELECT {USER_COLS} FROM users WHERE ($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        );
        let rows: Vec<UserRow> = self
            .read_all(
                &sql,
                args![
                    q.client.map(|c| c.to_string()),
                    &q.after,
                    i64::from(q.page_size()) + 1
                ],
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|r| r.unseal(&self.keys))
            .collect::<StoreResult<Vec<_>>>()?;
        let auth: Page<UserAuth> = page(rows, q, |u: &UserAuth| u.user.id.to_string())?;
        Ok(Page {
            items: auth.items.into_iter().map(|a| a.user).collect(),
            next_after: auth.next_after,
        })
    }

    async fn user_auth_by_email(&self, email: &str) -> StoreResult<Option<UserAuth>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE email_key = $1");
        let row: Option<UserRow> = self.read_opt(&sql, args![email.to_lowercase()]).await?;
        row.map(|r| r.unseal(&self.keys)?.try_into()).transpose()
    }

    async fn user_auth(&self, id: UserId) -> StoreResult<UserAuth> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let row: UserRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.unseal(&self.keys)?.try_into()
    }

    async fn set_login_state(
        &self,
        id: UserId,
        failed_logins: i32,
        locked_until: Option<Timestamp>,
    ) -> StoreResult<()> {
        let sql = "UPDATE users SET failed_logins = $2, locked_until = $3 WHERE id = $1";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(failed_logins)
            .bind(locked_until.map(micros)).execute(p).await)
        .map_err(db_err)?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn set_totp(
        &self,
        id: UserId,
        secret: Option<&[u8]>,
        last_step: Option<i64>,
    ) -> StoreResult<()> {
        let ring = self.keys.current();
        let id_s = id.to_string();
        let sealed = secret.map(|s| seal(&ring, "users", "totp_secret", &id_s, s));
        let sql = "UPDATE users SET totp_secret = $2, totp_last_step = $3, key_version = $4 WHERE id = $1";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(&id_s).bind(&sealed)
            .bind(last_step).bind(i64::from(ring.newest())).execute(p).await)
        .map_err(db_err)?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn claim_totp_step(&self, id: UserId, step: i64) -> StoreResult<bool> {
        // A conditional update, so two nodes racing with the same code cannot both succeed.
        let sql = "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(step).execute(p).await)
            .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        let sql = "UPDATE users SET password_hash = $2 WHERE id = $1";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(password_hash).execute(p).await)
            .map_err(db_err)?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn set_user_disabled(&self, id: UserId, at: Option<Timestamp>) -> StoreResult<()> {
        let sql = "UPDATE users SET disabled_at = $2 WHERE id = $1";
        let n = rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(at.map(micros)).execute(p).await)
            .map_err(db_err)?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        let sql =
            format!("INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        rows_on_pool!(self, p => sqlx::query(&sql).bind(s.id.to_string()).bind(s.user_id.to_string())
            .bind(&s.token_hash).bind(micros(s.created_at)).bind(micros(s.last_seen_at))
            .bind(micros(s.expires_at)).bind(s.mfa_passed).execute(p).await)
        .map_err(db_err)?;
        Ok(())
    }

    async fn session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE token_hash = $1");
        let row: Option<SessionRow> = self.read_opt(&sql, args![token_hash]).await?;
        row.map(Session::try_from).transpose()
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: Timestamp,
        mfa_passed: bool,
    ) -> StoreResult<()> {
        let sql = "UPDATE sessions SET last_seen_at = $2, mfa_passed = $3 WHERE id = $1";
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(micros(last_seen_at)).bind(mfa_passed)
            .execute(p).await)
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_session(&self, id: SessionId) -> StoreResult<()> {
        // Sessions are credentials, not records: ending one removes it (the request log keeps the history).
        rows_on_pool!(self, p => sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id.to_string()).execute(p).await)
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user: UserId) -> StoreResult<u64> {
        let n = rows_on_pool!(self, p => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.to_string())
            .execute(p).await)
        .map_err(db_err)?;
        Ok(n)
    }

    async fn create_token(&self, t: &ApiToken, token_hash: &str) -> StoreResult<()> {
        let sql = "INSERT INTO api_tokens (id, user_id, name, role, prefix, token_hash, created_at, expires_at, \
                   last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)";
        rows_on_pool!(self, p => sqlx::query(sql).bind(t.id.to_string()).bind(t.user_id.to_string()).bind(&t.name)
            .bind(t.role.as_str()).bind(&t.prefix).bind(token_hash).bind(micros(t.created_at))
            .bind(micros(t.expires_at)).execute(p).await)
        .map_err(db_err)?;
        Ok(())
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1");
        let row: Option<TokenRow> = self.read_opt(&sql, args![token_hash]).await?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id = $1 ORDER BY id");
        let rows: Vec<TokenRow> = self.read_all(&sql, args![user.to_string()]).await?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    async fn get_token(&self, id: TokenId) -> StoreResult<ApiToken> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1");
        let row: TokenRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn revoke_token(&self, id: TokenId, now: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(micros(now)).execute(p).await)
            .map_err(db_err)?;
        Ok(())
    }

    async fn touch_token(&self, id: TokenId, now: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1";
        rows_on_pool!(self, p => sqlx::query(sql).bind(id.to_string()).bind(micros(now)).execute(p).await)
            .map_err(db_err)?;
        Ok(())
    }
}
