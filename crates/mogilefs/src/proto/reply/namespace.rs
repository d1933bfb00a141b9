//! Domains and classes: create_domain, delete_domain, get_domains,
//! create_class, update_class, delete_class.

use super::{Out, Pairs, Reply};
use crate::proto::HashType;

/// create_domain, delete_domain: `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainDone {
    pub domain: String,
}

impl Reply for DomainDone {
    fn pairs(self) -> Pairs {
        vec![("domain".into(), self.domain)]
    }
}

/// get_domains: `domains`, then per domain N `domainN`, `domainNclasses`
/// and per class M `domainNclassM{name,mindevcount,replpolicy,hashtype}`
/// (and `durable` when set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainList {
    pub domains: Vec<DomainEntry>,
}

impl Reply for DomainList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("domains", self.domains.len());
        for (i, d) in self.domains.into_iter().enumerate() {
            let n = i + 1;
            out.put(format!("domain{n}"), d.name);
            out.put(format!("domain{n}classes"), d.classes.len());
            for (j, c) in d.classes.into_iter().enumerate() {
                let p = format!("domain{n}class{}", j + 1);
                out.put(format!("{p}name"), c.name)
                    .put(format!("{p}mindevcount"), c.mindevcount)
                    .put(
                        format!("{p}replpolicy"),
                        c.replpolicy.as_deref().unwrap_or("MultipleHosts()"),
                    )
                    .put(format!("{p}hashtype"), HashType::show(c.hashtype));
                if c.durable > 0 {
                    out.put(format!("{p}durable"), c.durable);
                }
            }
        }
        out.0
    }
}

/// One domain of [`DomainList`], its default class first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEntry {
    pub name: String,
    pub classes: Vec<ClassEntry>,
}

/// One class of a [`DomainEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassEntry {
    pub name: String,
    pub mindevcount: i64,
    /// `None`: shown `MultipleHosts()`.
    pub replpolicy: Option<String>,
    /// The stored number (`NONE` when absent or unknown).
    pub hashtype: Option<i64>,
    /// Extension: copies create_close waits for (shown when above 0).
    pub durable: i64,
}

/// create_class, update_class: `class`, `mindevcount`, `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassDone {
    pub class: String,
    pub mindevcount: i64,
    pub domain: String,
}

impl Reply for ClassDone {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("class", self.class)
            .put("mindevcount", self.mindevcount)
            .put("domain", self.domain);
        out.0
    }
}

/// delete_class: `domain`, `class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassDeleted {
    pub domain: String,
    pub class: String,
}

impl Reply for ClassDeleted {
    fn pairs(self) -> Pairs {
        vec![("domain".into(), self.domain), ("class".into(), self.class)]
    }
}
