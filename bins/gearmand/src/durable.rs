//! `-q`: where background jobs are kept. `builtin` is memory only, as in
//! gearmand; `libsqlite3` and `mysql` store them (danga-gearman's
//! `persist`). gearmand's other queue plugins are refused at start-up.

use std::io;
use std::path::PathBuf;

use danga_gearman::persist::{DbError, MySqlSettings, Persist, Store};
use danga_gearman::proto::SubmitJob;

use crate::cli::Cli;

/// The chosen queue.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Memory only.
    Builtin,
    /// `-q libsqlite3 --libsqlite3-db PATH [--libsqlite3-table T]`
    Sqlite { path: PathBuf, table: String },
    /// `-q mysql --mysql-*`
    MySql {
        settings: MySqlSettings,
        table: String,
    },
}

impl Backend {
    /// Reads `-q` and its options.
    pub fn from_cli(cli: &Cli) -> Result<Backend, String> {
        match cli.queue_type.to_ascii_lowercase().as_str() {
            "builtin" => Ok(Backend::Builtin),
            "libsqlite3" | "sqlite" | "sqlite3" => {
                let path = cli
                    .libsqlite3_db
                    .clone()
                    .ok_or("-q libsqlite3 needs --libsqlite3-db PATH")?;
                Ok(Backend::Sqlite {
                    path,
                    table: cli.libsqlite3_table.clone(),
                })
            }
            "mysql" => Ok(Backend::MySql {
                settings: MySqlSettings {
                    host: cli.mysql_host.clone(),
                    port: cli.mysql_port,
                    user: cli.mysql_user.clone(),
                    password: cli.mysql_password.clone(),
                    db: cli.mysql_db.clone(),
                },
                table: cli.mysql_table.clone(),
            }),
            other => Err(format!(
                "queue type {other:?} is not supported by this build (builtin, libsqlite3, mysql)"
            )),
        }
    }

    /// Opens the store and reads the jobs to replay (`None` for builtin).
    pub async fn open(&self) -> io::Result<Option<(Persist, Vec<(u64, SubmitJob)>)>> {
        let store = match self {
            Backend::Builtin => return Ok(None),
            Backend::Sqlite { path, table } => Store::sqlite(path, table)
                .await
                .map_err(|e| ctx(e, &format!("opening the queue {}", path.display())))?,
            Backend::MySql { settings, table } => {
                Store::mysql(settings, table).await.map_err(|e| {
                    ctx(
                        e,
                        &format!("connecting to MySQL {}:{}", settings.host, settings.port),
                    )
                })?
            }
        };
        let jobs = store
            .load()
            .await
            .map_err(|e| ctx(e, "reading the persistent queue"))?;
        Ok(Some((Persist::start(store), jobs)))
    }
}

fn ctx(e: DbError, what: &str) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}
