//! Domains and classes: create_domain, delete_domain, get_domains,
//! create_class, update_class, delete_class.

use super::{Done, Fail};
use crate::meta::{Class, MetaStore, DEFAULT_CLASS};
use crate::proto::command::{ClassName, ClassSpec, DomainName};
use crate::proto::reply::{
    ClassDeleted, ClassDone, ClassEntry, DomainDone, DomainEntry, DomainList,
};
use crate::proto::{ErrCode, HashType};

impl<M: MetaStore> super::Tracker<M> {
    pub(super) async fn create_domain(&self, c: DomainName) -> Done<DomainDone> {
        match self.meta.create_domain(&c.domain).await? {
            Some(_) => {
                self.changed();
                Ok(DomainDone { domain: c.domain })
            }
            None => Err(ErrCode::DomainExists.into()),
        }
    }

    pub(super) async fn delete_domain(&self, c: DomainName) -> Done<DomainDone> {
        let d = self
            .meta
            .domain(&c.domain)
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
        Ok(DomainDone { domain: c.domain })
    }

    pub(super) async fn get_domains(&self) -> Done<DomainList> {
        let domains = self.meta.domains().await?;
        let classes = self.meta.classes(None).await?;
        let mut list = DomainList::default();
        for d in &domains {
            let implicit = Class {
                dmid: d.dmid,
                classid: 0,
                classname: DEFAULT_CLASS.into(),
                mindevcount: self.settings.default_mindevcount,
                replpolicy: None,
                hashtype: None,
            };
            let stored = classes.iter().find(|c| c.dmid == d.dmid && c.classid == 0);
            let mine = std::iter::once(stored.unwrap_or(&implicit)).chain(
                classes
                    .iter()
                    .filter(|c| c.dmid == d.dmid && c.classid != 0),
            );
            let mut entries = Vec::new();
            for c in mine {
                entries.push(ClassEntry {
                    name: c.classname.clone(),
                    mindevcount: c.mindevcount,
                    replpolicy: c.replpolicy.clone(),
                    hashtype: c.hashtype,
                    durable: self.durable_copies(c.dmid, c.classid).await?,
                });
            }
            list.domains.push(DomainEntry {
                name: d.namespace.clone(),
                classes: entries,
            });
        }
        Ok(list)
    }

    /// create_class, or update_class when `update`.
    pub(super) async fn create_class(&self, c: ClassSpec, update: bool) -> Done<ClassDone> {
        let name = c.class.as_str();
        let d = self
            .meta
            .domain(&c.domain)
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
        let mindevcount = match (c.mindevcount, &old) {
            (None, Some(o)) if update => o.mindevcount,
            (None, None) if implicit => self.settings.default_mindevcount,
            (v, _) => v.unwrap_or(Err(ErrCode::InvalidMindevcount))?,
        };
        let replpolicy = match c.replpolicy {
            Some(p) => Some(p?),
            None => old.as_ref().and_then(|o| o.replpolicy.clone()),
        };
        let hashtype = match c.hashtype {
            Some(h) => h?.map(HashType::number),
            None => old.as_ref().and_then(|o| o.hashtype),
        };
        // Extension: `durable=N` (see [`Tracker::durable_copies`]).
        let durable = match c.durable {
            Some(n) => Some(
                Some(n?)
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
            (true, _) => Ok(ClassDone {
                class: c.class,
                mindevcount,
                domain: c.domain,
            }),
            (false, true) => Err(ErrCode::ClassNotFound.into()),
            (false, false) => Err(ErrCode::ClassExists.into()),
        }
    }

    pub(super) async fn delete_class(&self, c: ClassName) -> Done<ClassDeleted> {
        let d = self
            .meta
            .domain(&c.domain)
            .await?
            .ok_or(ErrCode::DomainNotFound)?;
        let classes = self.meta.classes(Some(d.dmid)).await?;
        let class = classes
            .iter()
            .find(|x| x.classname == c.class)
            .ok_or(ErrCode::ClassNotFound)?;
        if self.meta.count_files(d.dmid, Some(class.classid)).await? > 0 {
            return Err(ErrCode::ClassHasFiles.into());
        }
        self.meta.delete_class(d.dmid, class.classid).await?;
        self.set_durable_copies(d.dmid, class.classid, 0).await?;
        self.changed();
        Ok(ClassDeleted {
            domain: c.domain,
            class: c.class,
        })
    }

    /// The classid of a request's `class=` in a domain (absent or
    /// `default`: 0; `unreg_class` when no class has that name).
    pub(super) async fn classid_arg(&self, dmid: i64, class: Option<&str>) -> Result<i64, Fail> {
        match class {
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
