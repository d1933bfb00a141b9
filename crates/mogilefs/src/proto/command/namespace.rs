//! Domains and classes: create_domain, delete_domain, create_class,
//! update_class, delete_class.

use super::{need, Arg, Refusal};
use crate::proto::{Args, ErrCode, HashType};

/// `domain=`, required (`no_domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName {
    pub domain: String,
}

impl DomainName {
    pub(super) fn decode(a: &Args) -> Result<DomainName, Refusal> {
        Ok(DomainName {
            domain: need(a, "domain", ErrCode::NoDomain)?,
        })
    }
}

/// create_class / update_class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSpec {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_class`).
    pub class: String,
    /// At least 1 (`invalid_mindevcount`); absent: the class's own (or
    /// the default class's default) on update, refused on create.
    pub mindevcount: Option<Arg<i64>>,
    /// `MultipleHosts(N)` or `MultipleDevices(N)` (`invalid_replpolicy`).
    pub replpolicy: Option<Arg<String>>,
    /// `hashtype=` given (empty or `NONE`: none; `invalid_hashtype`).
    pub hashtype: Option<Arg<Option<HashType>>>,
    /// Extension: `durable=N`, a number (`invalid_durable`; the handler
    /// checks it is at most the mindevcount).
    pub durable: Option<Arg<i64>>,
}

impl ClassSpec {
    pub(super) fn decode(a: &Args) -> Result<ClassSpec, Refusal> {
        Ok(ClassSpec {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            class: need(a, "class", ErrCode::NoClass)?,
            mindevcount: a.nonempty("mindevcount").map(|v| {
                v.parse()
                    .ok()
                    .filter(|&n: &i64| n >= 1)
                    .ok_or(ErrCode::InvalidMindevcount)
            }),
            replpolicy: a.nonempty("replpolicy").map(|p| {
                valid_replpolicy(p)
                    .then(|| p.to_owned())
                    .ok_or(ErrCode::InvalidReplpolicy)
            }),
            hashtype: a.get("hashtype").map(HashType::parse_arg),
            durable: a
                .get("durable")
                .map(|v| v.trim().parse().map_err(|_| ErrCode::InvalidDurable)),
        })
    }
}

/// delete_class: `domain=` (`no_domain`), `class=` (`no_class`), not
/// `default` (`nodel_default_class`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassName {
    pub domain: String,
    pub class: String,
}

impl ClassName {
    pub(super) fn decode(a: &Args) -> Result<ClassName, Refusal> {
        let domain = need(a, "domain", ErrCode::NoDomain)?;
        let class = need(a, "class", ErrCode::NoClass)?;
        if class == "default" {
            return Err(ErrCode::NodelDefaultClass.into());
        }
        Ok(ClassName { domain, class })
    }
}

/// `MultipleHosts(N)` or `MultipleDevices(N)`, N digits or nothing.
pub fn valid_replpolicy(p: &str) -> bool {
    ["MultipleHosts(", "MultipleDevices("].iter().any(|pre| {
        p.strip_prefix(pre)
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    })
}
