//! The metadata store in MySQL/MariaDB (the original's production engine).
//! Integer columns may be UNSIGNED (the original's schema): [`int`] reads
//! either signedness.

mod admin;
mod files;
mod repl;
mod rows;
mod stats;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use super::{Class, Device, Domain, Host, Namespaces, Result, Topology};
use rows::{class, device, host, int, text};

const SCHEMA: &str = include_str!("../../../migrations/mysql/v17.sql");

/// The metadata in a MySQL/MariaDB database.
#[derive(Debug, Clone)]
pub struct MysqlStore {
    pub(super) pool: MySqlPool,
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct MysqlSettings {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
}

impl MysqlStore {
    /// Connects and creates the v17 tables that are missing.
    pub async fn open(s: &MysqlSettings) -> Result<MysqlStore> {
        let store = MysqlStore::connect(s).await?;
        let sql: String = SCHEMA
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(stmt).execute(&store.pool).await?;
        }
        Ok(store)
    }

    /// Connects to tables that exist already, creating nothing (for the
    /// read-only tools, whose account may lack CREATE).
    pub async fn connect(s: &MysqlSettings) -> Result<MysqlStore> {
        let mut opts = MySqlConnectOptions::new()
            .host(&s.host)
            .port(s.port)
            .database(&s.database)
            .username(&s.user);
        if !s.password.is_empty() {
            opts = opts.password(&s.password);
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        Ok(MysqlStore { pool })
    }
}

/// Runs a transaction again (up to 3 times) when InnoDB picked it as a
/// deadlock victim (1213) or its lock wait timed out (1205).
pub(super) async fn retry<T, F, Fut>(mut tx: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match tx().await {
            Err(e) if tries < 3 && e.is_retryable() => {
                tries += 1;
                tracing::debug!(error = %e, tries, "retrying a transaction");
                tokio::time::sleep(std::time::Duration::from_millis(10 * tries)).await;
            }
            other => return other,
        }
    }
}

/// `create_host`'s statements, inside its transaction.
async fn insert_host(tx: &mut sqlx::Transaction<'_, sqlx::MySql>, h: &Host) -> Result<i64> {
    let hostid: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(hostid), 0) + 1 AS SIGNED) FROM host")
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query(
        "INSERT INTO host (hostid, status, http_port, http_get_port, hostname, hostip, \
             altip, altmask) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(hostid)
    .bind(&h.status)
    .bind(h.http_port)
    .bind(h.http_get_port)
    .bind(&h.hostname)
    .bind(&h.hostip)
    .bind(&h.altip)
    .bind(&h.altmask)
    .execute(&mut **tx)
    .await?;
    Ok(hostid)
}

pub(super) fn now() -> i64 {
    danga_common::clock::unix_now_i64()
}

impl Namespaces for MysqlStore {
    async fn domains(&self) -> Result<Vec<Domain>> {
        let rows = sqlx::query("SELECT dmid, namespace FROM domain ORDER BY dmid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Domain {
                    dmid: int(r, "dmid")?,
                    namespace: text(r, "namespace")?,
                })
            })
            .collect()
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let row = sqlx::query("SELECT dmid FROM domain WHERE namespace = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Domain {
                dmid: int(&r, "dmid")?,
                namespace: name.to_owned(),
            })
        })
        .transpose()
    }

    async fn create_domain(&self, name: &str) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM domain WHERE namespace = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let dmid: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(dmid), 0) + 1 AS SIGNED) FROM domain")
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("INSERT INTO domain (dmid, namespace) VALUES (?, ?)")
            .bind(dmid)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(dmid))
    }

    async fn delete_domain(&self, dmid: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM class WHERE dmid = ?")
            .bind(dmid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM domain WHERE dmid = ?")
            .bind(dmid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn count_files(&self, dmid: i64, classid: Option<i64>) -> Result<i64> {
        let q = match classid {
            Some(c) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM file WHERE dmid = ? AND classid = ?")
                    .bind(dmid)
                    .bind(c)
            }
            None => sqlx::query_scalar("SELECT COUNT(*) FROM file WHERE dmid = ?").bind(dmid),
        };
        Ok(q.fetch_one(&self.pool).await?)
    }

    async fn classes(&self, dmid: Option<i64>) -> Result<Vec<Class>> {
        let sql = "SELECT dmid, classid, classname, mindevcount, replpolicy, hashtype FROM class";
        let rows = match dmid {
            Some(d) => {
                sqlx::query(&format!("{sql} WHERE dmid = ? ORDER BY classid"))
                    .bind(d)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("{sql} ORDER BY dmid, classid"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(class).collect()
    }

    async fn create_class(&self, c: &Class) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM class WHERE dmid = ? AND classname = ?")
            .bind(c.dmid)
            .bind(&c.classname)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let classid: i64 = if c.classname == super::DEFAULT_CLASS {
            0
        } else {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(MAX(classid), 0) + 1 AS SIGNED) FROM class WHERE dmid = ?",
            )
            .bind(c.dmid)
            .fetch_one(&mut *tx)
            .await?
        };
        sqlx::query(
            "INSERT INTO class (dmid, classid, classname, mindevcount, replpolicy, hashtype) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(c.dmid)
        .bind(classid)
        .bind(&c.classname)
        .bind(c.mindevcount)
        .bind(&c.replpolicy)
        .bind(c.hashtype)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(classid))
    }

    async fn update_class(&self, c: &Class) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE class SET mindevcount = ?, replpolicy = ?, hashtype = ? \
             WHERE dmid = ? AND classname = ?",
        )
        .bind(c.mindevcount)
        .bind(&c.replpolicy)
        .bind(c.hashtype)
        .bind(c.dmid)
        .bind(&c.classname)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_class(&self, dmid: i64, classid: i64) -> Result<()> {
        sqlx::query("DELETE FROM class WHERE dmid = ? AND classid = ?")
            .bind(dmid)
            .bind(classid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Topology for MysqlStore {
    async fn hosts(&self) -> Result<Vec<Host>> {
        let rows = sqlx::query("SELECT * FROM host ORDER BY hostid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(host).collect()
    }

    async fn create_host(&self, h: &Host) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        match insert_host(&mut tx, h).await {
            Ok(hostid) => {
                tx.commit().await?;
                Ok(hostid)
            }
            Err(e) => {
                // At once, not when the pool next uses the connection: a
                // failed insert (a duplicate name) keeps its locks until then.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn update_host(&self, h: &Host) -> Result<()> {
        sqlx::query(
            "UPDATE host SET status = ?, http_port = ?, http_get_port = ?, hostname = ?, \
             hostip = ?, altip = ?, altmask = ? WHERE hostid = ?",
        )
        .bind(&h.status)
        .bind(h.http_port)
        .bind(h.http_get_port)
        .bind(&h.hostname)
        .bind(&h.hostip)
        .bind(&h.altip)
        .bind(&h.altmask)
        .bind(h.hostid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_host(&self, hostid: i64) -> Result<()> {
        sqlx::query("DELETE FROM host WHERE hostid = ?")
            .bind(hostid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn devices(&self) -> Result<Vec<Device>> {
        let rows = sqlx::query("SELECT * FROM device ORDER BY devid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(device).collect()
    }

    async fn create_device(&self, d: &Device) -> Result<bool> {
        let r = sqlx::query(
            "INSERT IGNORE INTO device (devid, hostid, status, weight) VALUES (?, ?, ?, ?)",
        )
        .bind(d.devid)
        .bind(d.hostid)
        .bind(&d.status)
        .bind(d.weight)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_device(
        &self,
        devid: i64,
        status: Option<&str>,
        weight: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE device SET status = COALESCE(?, status), weight = COALESCE(?, weight) \
             WHERE devid = ?",
        )
        .bind(status)
        .bind(weight)
        .bind(devid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
