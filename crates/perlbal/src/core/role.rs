//! A service's role (`SET role = ...`): the five 1.80 knows, and `echo`,
//! the role the EchoService plugin adds (accepted only once it is loaded).

use std::fmt;
use std::str::FromStr;

/// What a service is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `reverse_proxy`: requests go to a pool's nodes. The default only
    /// for code that needs some role for a service without a handler of
    /// its own (the request pipeline's settings).
    #[default]
    ReverseProxy,
    /// `web_server`: files from the docroot.
    WebServer,
    /// `management`: the console.
    Management,
    /// `selector`: each request handed to another service.
    Selector,
    /// `upload_tracker`: UDP upload-progress packets.
    UploadTracker,
    /// `echo`: the EchoService plugin's role.
    Echo,
}

impl Role {
    /// Every role, 1.80's five first.
    pub const ALL: [Role; 6] = [
        Role::ReverseProxy,
        Role::WebServer,
        Role::Management,
        Role::Selector,
        Role::UploadTracker,
        Role::Echo,
    ];

    /// Its name as 1.80 spells it.
    pub fn name(self) -> &'static str {
        match self {
            Role::ReverseProxy => "reverse_proxy",
            Role::WebServer => "web_server",
            Role::Management => "management",
            Role::Selector => "selector",
            Role::UploadTracker => "upload_tracker",
            Role::Echo => "echo",
        }
    }

    /// Whether a plugin adds it (it exists only once that plugin is loaded).
    pub fn is_plugin_role(self) -> bool {
        self == Role::Echo
    }
}

/// A name that is no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}'")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.name().parse::<Role>(), Ok(r));
            assert_eq!(r.to_string(), r.name());
        }
        assert_eq!(
            "Web_Server".parse::<Role>(),
            Err(UnknownRole("Web_Server".into()))
        );
    }
}
