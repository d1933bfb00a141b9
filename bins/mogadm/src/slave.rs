//! `mogadm slave list|add|modify|delete`: the read slaves a tracker may
//! use, kept as MogileFS-Utils 2.30 (through MogileFS::Admin) keeps them in
//! server settings: `slave_keys` lists the keys (`key` or `key=weight`,
//! comma-separated) and `slave_<key>` holds `dsn|username|password`.

use danga_mogilefs::client::Admin;

use crate::table::Parsed;
use crate::Exit;

/// One `slave_keys` entry: the key and its weight as written (`None`: 1).
type SlaveKey = (String, Option<String>);

/// The server setting `key`'s value (empty when unset).
async fn setting(admin: &Admin, key: &str) -> Result<String, Exit> {
    let pairs = admin
        .raw("server_setting", &[("key", key)])
        .await
        .map_err(|e| Exit::Fail(e.to_string()))?;
    Ok(pairs
        .into_iter()
        .find(|(k, _)| k == "value")
        .map(|(_, v)| v)
        .unwrap_or_default())
}

/// The keys in `slave_keys`, in their order.
async fn keys(admin: &Admin) -> Result<Vec<SlaveKey>, Exit> {
    Ok(parse_keys(&setting(admin, "slave_keys").await?))
}

fn parse_keys(value: &str) -> Vec<SlaveKey> {
    value
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| match k.split_once('=') {
            Some((k, w)) if !w.is_empty() => (k.to_owned(), Some(w.to_owned())),
            Some((k, _)) => (k.to_owned(), None),
            None => (k.to_owned(), None),
        })
        .collect()
}

/// `slave_keys` as written back: a weight other than 1 is kept.
fn format_keys(keys: &[SlaveKey]) -> String {
    keys.iter()
        .map(|(k, w)| match w {
            Some(w) if w.parse::<f64>().ok() != Some(1.0) => format!("{k}={w}"),
            _ => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `dsn|username|password` split as the original does (missing parts
/// empty, parts past the third dropped).
fn split_slave(value: &str) -> [String; 3] {
    let mut parts = value.split('|').map(str::to_owned);
    [
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    ]
}

async fn set(admin: &Admin, key: &str, value: &str) -> Result<(), Exit> {
    admin
        .set_server_setting(key, value)
        .await
        .map_err(|e| Exit::Fail(e.to_string()))
}

/// Runs one `slave` verb.
pub async fn run(admin: &Admin, verb: &str, a: &Parsed) -> Exit {
    match verb_result(admin, verb, a).await {
        Ok(e) | Err(e) => e,
    }
}

async fn verb_result(admin: &Admin, verb: &str, a: &Parsed) -> Result<Exit, Exit> {
    let get = |k: &str| a.get(k).cloned();
    let name = get("slave_key").unwrap_or_default();
    let mut all = keys(admin).await?;
    let known = all.iter().any(|(k, _)| *k == name);
    Ok(match verb {
        "list" => {
            let mut sorted: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
            sorted.sort_unstable();
            for key in sorted {
                let [dsn, user, pass] =
                    split_slave(&setting(admin, &format!("slave_{key}")).await?);
                println!("{key} --dsn={dsn} --username={user} --password={pass}");
            }
            Exit::Ok(None)
        }
        "add" if known => Exit::Fail("Slave failed to be added".into()),
        "add" => {
            let value = [get("dsn"), get("username"), get("password")]
                .map(Option::unwrap_or_default)
                .join("|");
            set(admin, &format!("slave_{name}"), &value).await?;
            all.push((name, None));
            set(admin, "slave_keys", &format_keys(&all)).await?;
            Exit::Ok(Some("Slave added"))
        }
        "modify" if !known => Exit::Fail("Slave modify failure: ".into()),
        "modify" => {
            let key = format!("slave_{name}");
            let [dsn, user, pass] = split_slave(&setting(admin, &key).await?);
            let value = [
                get("dsn").unwrap_or(dsn),
                get("username").unwrap_or(user),
                get("password").unwrap_or(pass),
            ]
            .join("|");
            set(admin, &key, &value).await?;
            Exit::Ok(Some("Slave modify success"))
        }
        "delete" if !known => Exit::Fail("Slave delete failed".into()),
        "delete" => {
            set(admin, &format!("slave_{name}"), "").await?;
            all.retain(|(k, _)| *k != name);
            set(admin, "slave_keys", &format_keys(&all)).await?;
            Exit::Ok(Some("Slave deleted"))
        }
        _ => Exit::Help(crate::table::usage()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slave_keys_keep_weights_other_than_one() {
        let k = parse_keys("a,b=0,c=1,d=");
        assert_eq!(
            k,
            [
                ("a".to_owned(), None),
                ("b".to_owned(), Some("0".to_owned())),
                ("c".to_owned(), Some("1".to_owned())),
                ("d".to_owned(), None),
            ]
        );
        assert_eq!(format_keys(&k), "a,b=0,c,d");
        assert!(parse_keys("").is_empty());
    }

    #[test]
    fn slave_values_split_in_three() {
        assert_eq!(split_slave("DBI:mysql:x|u|p|q"), ["DBI:mysql:x", "u", "p"]);
        assert_eq!(split_slave("dsn"), ["dsn", "", ""]);
    }
}
