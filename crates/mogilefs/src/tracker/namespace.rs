//! Domains and classes: create_domain, delete_domain, get_domains,
//! create_class, update_class, delete_class.

use super::{pair, Fail, Outcome};
use crate::meta::{Class, MetaStore, DEFAULT_CLASS};
use crate::proto::{Args, ErrCode};

/// `hashtype` names and their `class.hashtype` numbers.
fn hashtype(name: &str) -> Result<Option<i64>, ErrCode> {
    match name.to_ascii_uppercase().as_str() {
        "" | "NONE" => Ok(None),
        "MD5" => Ok(Some(1)),
        "SHA-1" | "SHA1" => Ok(Some(2)),
        _ => Err(ErrCode::InvalidHashtype),
    }
}

fn hashtype_name(h: Option<i64>) -> &'static str {
    match h {
        Some(1) => "MD5",
        Some(2) => "SHA-1",
        _ => "NONE",
    }
}

/// Accepts `MultipleHosts(N)` and `MultipleDevices(N)` (N optional).
fn valid_replpolicy(p: &str) -> bool {
    ["MultipleHosts(", "MultipleDevices("].iter().any(|pre| {
        p.strip_prefix(pre)
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    })
}

impl<M: MetaStore> super::Tracker<M> {
    pub(super) async fn create_domain(&self, a: &Args) -> Outcome {
        let name = a.nonempty("domain").ok_or(ErrCode::NoDomain)?;
        match self.meta.create_domain(name).await? {
            Some(_) => {
                self.changed();
                Ok(vec![pair("domain", name)])
            }
            None => Err(ErrCode::DomainExists.into()),
        }
    }

    pub(super) async fn delete_domain(&self, a: &Args) -> Outcome {
        let name = a.nonempty("domain").ok_or(ErrCode::NoDomain)?;
        let d = self
            .meta
            .domain(name)
            .await?
            .ok_or(ErrCode::DomainNotFound)?;
        if self.meta.count_files(d.dmid, None).await? > 0 {
            return Err(ErrCode::DomainHasFiles.into());
        }
        // The default class's row (once modified) goes with the domain.
        let classes = self.meta.classes(Some(d.dmid)).await?;
        if classes.iter().any(|c| c.classid != 0) {
            return Err(ErrCode::DomainHasClasses.into());
        }
        self.meta.delete_domain(d.dmid).await?;
        self.changed();
        Ok(vec![pair("domain", name)])
    }

    pub(super) async fn get_domains(&self) -> Outcome {
        let domains = self.meta.domains().await?;
        let classes = self.meta.classes(None).await?;
        let mut out = vec![pair("domains", domains.len())];
        for (i, d) in domains.iter().enumerate() {
            let n = i + 1;
            out.push(pair(format!("domain{n}"), &d.namespace));
            let implicit = Class {
                dmid: d.dmid,
                classid: 0,
                classname: DEFAULT_CLASS.into(),
                mindevcount: self.settings.default_mindevcount,
                replpolicy: None,
                hashtype: None,
            };
            let stored = classes.iter().find(|c| c.dmid == d.dmid && c.classid == 0);
            let mine: Vec<&Class> = std::iter::once(stored.unwrap_or(&implicit))
                .chain(
                    classes
                        .iter()
                        .filter(|c| c.dmid == d.dmid && c.classid != 0),
                )
                .collect();
            out.push(pair(format!("domain{n}classes"), mine.len()));
            for (j, c) in mine.iter().enumerate() {
                let p = format!("domain{n}class{}", j + 1);
                out.push(pair(format!("{p}name"), &c.classname));
                out.push(pair(format!("{p}mindevcount"), c.mindevcount));
                let policy = c.replpolicy.as_deref().unwrap_or("MultipleHosts()");
                out.push(pair(format!("{p}replpolicy"), policy));
                out.push(pair(format!("{p}hashtype"), hashtype_name(c.hashtype)));
                let durable = self.durable_copies(c.dmid, c.classid).await?;
                if durable > 0 {
                    out.push(pair(format!("{p}durable"), durable));
                }
            }
        }
        Ok(out)
    }

    /// create_class, or update_class when `update`.
    pub(super) async fn create_class(&self, a: &Args, update: bool) -> Outcome {
        let dname = a.nonempty("domain").ok_or(ErrCode::NoDomain)?;
        let name = a.nonempty("class").ok_or(ErrCode::NoClass)?;
        let d = self
            .meta
            .domain(dname)
            .await?
            .ok_or(ErrCode::DomainNotFound)?;
        let old = self
            .meta
            .classes(Some(d.dmid))
            .await?
            .into_iter()
            .find(|c| c.classname == name);
        // The default class gets its row when first modified.
        let implicit = update && old.is_none() && name == DEFAULT_CLASS;
        let mindevcount = match (a.nonempty("mindevcount"), &old) {
            (None, Some(o)) if update => o.mindevcount,
            (None, None) if implicit => self.settings.default_mindevcount,
            (v, _) => v
                .and_then(|v| v.parse().ok())
                .filter(|&n: &i64| n >= 1)
                .ok_or(ErrCode::InvalidMindevcount)?,
        };
        let replpolicy = match a.nonempty("replpolicy") {
            Some(p) if !valid_replpolicy(p) => return Err(ErrCode::InvalidReplpolicy.into()),
            Some(p) => Some(p.to_owned()),
            None => old.as_ref().and_then(|o| o.replpolicy.clone()),
        };
        let hashtype = match a.get("hashtype") {
            Some(h) => hashtype(h)?,
            None => old.as_ref().and_then(|o| o.hashtype),
        };
        // Extension: `durable=N` (see [`Tracker::durable_copies`]).
        let durable = match a.get("durable") {
            Some(v) => Some(
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=mindevcount).contains(n))
                    .ok_or(ErrCode::InvalidDurable)?,
            ),
            None => None,
        };
        let class = Class {
            dmid: d.dmid,
            classid: 0,
            classname: name.to_owned(),
            mindevcount,
            replpolicy,
            hashtype,
        };
        let done = if implicit {
            self.meta.create_class(&class).await?.is_some()
                || self.meta.update_class(&class).await?
        } else if update {
            self.meta.update_class(&class).await?
        } else {
            name != DEFAULT_CLASS && self.meta.create_class(&class).await?.is_some()
        };
        if done {
            self.changed();
            let classid = self
                .meta
                .classes(Some(d.dmid))
                .await?
                .into_iter()
                .find(|c| c.classname == name)
                .map(|c| c.classid);
            if let (Some(classid), Some(n)) = (classid, durable) {
                self.set_durable_copies(d.dmid, classid, n).await?;
            }
        }
        match (done, update) {
            (true, _) => Ok(vec![
                pair("class", name),
                pair("mindevcount", mindevcount),
                pair("domain", dname),
            ]),
            (false, true) => Err(ErrCode::ClassNotFound.into()),
            (false, false) => Err(ErrCode::ClassExists.into()),
        }
    }

    pub(super) async fn delete_class(&self, a: &Args) -> Outcome {
        let dname = a.nonempty("domain").ok_or(ErrCode::NoDomain)?;
        let name = a.nonempty("class").ok_or(ErrCode::NoClass)?;
        if name == "default" {
            return Err(ErrCode::NodelDefaultClass.into());
        }
        let d = self
            .meta
            .domain(dname)
            .await?
            .ok_or(ErrCode::DomainNotFound)?;
        let classes = self.meta.classes(Some(d.dmid)).await?;
        let c = classes
            .iter()
            .find(|c| c.classname == name)
            .ok_or(ErrCode::ClassNotFound)?;
        if self.meta.count_files(d.dmid, Some(c.classid)).await? > 0 {
            return Err(ErrCode::ClassHasFiles.into());
        }
        self.meta.delete_class(d.dmid, c.classid).await?;
        self.set_durable_copies(d.dmid, c.classid, 0).await?;
        self.changed();
        Ok(vec![pair("domain", dname), pair("class", name)])
    }

    /// The classid of `class=` in a domain (absent or `default`: 0).
    pub(super) async fn classid_arg(&self, dmid: i64, a: &Args) -> Result<i64, Fail> {
        match a.nonempty("class") {
            None | Some("default") => Ok(0),
            Some(name) => {
                if let Some(c) = self.cached().await?.class_named(dmid, name) {
                    return Ok(c.classid);
                }
                // Not in the copy: perhaps just created by another tracker.
                let classid = self
                    .meta
                    .classes(Some(dmid))
                    .await?
                    .iter()
                    .find(|c| c.classname == name)
                    .ok_or(ErrCode::UnregClass)?
                    .classid;
                self.changed();
                Ok(classid)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_hashes() {
        assert!(valid_replpolicy("MultipleHosts(3)"));
        assert!(valid_replpolicy("MultipleHosts()"));
        assert!(valid_replpolicy("MultipleDevices(2)"));
        assert!(!valid_replpolicy("MultipleHosts(x)"));
        assert!(!valid_replpolicy("Nope(1)"));
        assert_eq!(hashtype("md5"), Ok(Some(1)));
        assert_eq!(hashtype("SHA-1"), Ok(Some(2)));
        assert_eq!(hashtype("crc"), Err(ErrCode::InvalidHashtype));
        assert_eq!(hashtype_name(Some(2)), "SHA-1");
    }
}
