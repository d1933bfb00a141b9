//! The command dispatcher: runs `perlbal.conf` and applies each config
//! command to the [`Config`], with 1.80's checks and messages. `SET` and
//! `SERVER` are in `set`, the plugins' commands in `plugin_cmds`.

use std::net::SocketAddrV4;

use super::config::{Config, Context, Effect, PoolConf, ServiceConf};
use super::error::{ConfigError, LoadError};
use super::plugins::Plugin;
use crate::proto::command::{Action, Command, Kind, MimeCommand};
use crate::proto::usage::Usage;

/// How deep INCLUDEs may nest (a file including itself stops here).
const MAX_INCLUDE_DEPTH: usize = 8;

impl Config {
    /// Runs `perlbal.conf`; the first failing line stops it, named with its
    /// number and text.
    pub fn load(
        text: &str,
        lookup: &dyn crate::proto::expand::Lookup,
    ) -> Result<Config, LoadError> {
        let mut cfg = Config::default();
        let mut ctx = Context::default();
        cfg.run_lines(text, lookup, &mut ctx, &mut Vec::new())?;
        Ok(cfg)
    }

    /// Runs the lines of a config file, collecting their effects; the
    /// first failing line stops it, named with its number and text.
    pub(super) fn run_lines(
        &mut self,
        text: &str,
        lookup: &dyn crate::proto::expand::Lookup,
        ctx: &mut Context,
        effects: &mut Vec<Effect>,
    ) -> Result<(), LoadError> {
        for (n, line) in text.lines().enumerate() {
            let mut run = || -> Result<(), ConfigError> {
                if let Some(cmd) = crate::proto::command::parse(line, lookup)? {
                    match self.apply(&cmd, ctx)? {
                        Effect::None | Effect::Quiet => {}
                        e => effects.push(e),
                    }
                }
                Ok(())
            };
            run().map_err(|error| LoadError {
                line: n + 1,
                text: line.trim().to_owned(),
                error,
            })?;
        }
        Ok(())
    }

    /// Applies one config command. Query commands are not config commands
    /// and are refused here (the console answers them).
    pub fn apply(&mut self, cmd: &Command, ctx: &mut Context) -> Result<Effect, ConfigError> {
        match cmd {
            Command::Create { kind, name } => {
                if self.services.contains_key(name) {
                    return Err(ConfigError::ServiceExists(name.clone()));
                }
                if self.pools.contains_key(name) {
                    return Err(ConfigError::PoolExists(name.clone()));
                }
                match kind {
                    Kind::Service => {
                        let svc = ServiceConf {
                            name: name.clone(),
                            ..ServiceConf::default()
                        };
                        self.services.insert(name.clone(), svc);
                    }
                    Kind::Pool => {
                        self.pools_by_hand = true;
                        self.pools.insert(
                            name.clone(),
                            PoolConf {
                                name: name.clone(),
                                ..PoolConf::default()
                            },
                        );
                    }
                }
                ctx.last_created = Some(name.clone());
                Ok(Effect::None)
            }
            Command::Use { name } => {
                if !self.services.contains_key(name) && !self.pools.contains_key(name) {
                    return Err(ConfigError::NoPoolOrService(name.clone()));
                }
                ctx.last_created = Some(name.clone());
                Ok(Effect::None)
            }
            Command::Set { target, key, value } => {
                let name = target
                    .clone()
                    .or_else(|| ctx.last_created.clone())
                    .ok_or(ConfigError::NoContext)?;
                if self.services.contains_key(&name) {
                    self.set_service(&name, key, value)
                } else if self.pools.contains_key(&name) {
                    self.set_pool(&name, key, value).map(|()| Effect::None)
                } else {
                    Err(ConfigError::NoServiceOrPool(name))
                }
            }
            Command::Default { key, value } => {
                let tun = self
                    .tunable(key)
                    .ok_or_else(|| ConfigError::UnknownParameter(key.clone()))?;
                if !tun.supported {
                    return Err(ConfigError::Unsupported(key.clone()));
                }
                let value = tun.normalise(value)?;
                self.defaults.insert(key.clone(), value);
                Ok(Effect::None)
            }
            Command::Enable { name, on } => {
                let svc = self.service_mut(name)?;
                match (on, svc.enabled) {
                    (true, true) => Err(ConfigError::AlreadyEnabled(name.clone())),
                    (false, false) => Err(ConfigError::AlreadyDisabled(name.clone())),
                    (false, true) if svc.is_management() => Err(ConfigError::DisableManagement),
                    (true, false) => {
                        if svc.role.is_none() {
                            return Err(ConfigError::NoRole(name.clone()));
                        }
                        svc.enabled = true;
                        Ok(Effect::Enable(name.clone()))
                    }
                    (false, true) => {
                        svc.enabled = false;
                        Ok(Effect::Disable(name.clone()))
                    }
                }
            }
            Command::Pool {
                action,
                pool,
                ip,
                port,
            } => {
                let pl = self
                    .pools
                    .get_mut(pool)
                    .ok_or_else(|| ConfigError::NoPool(pool.clone()))?;
                let node = SocketAddrV4::new(*ip, *port);
                match action {
                    Action::Add => {
                        if !pl.nodes.contains(&node) {
                            pl.nodes.push(node);
                        }
                    }
                    Action::Remove => pl.nodes.retain(|n| *n != node),
                }
                Ok(Effect::None)
            }
            Command::Header {
                service,
                action,
                name,
                value,
            } => {
                let svc = self.service_mut(service)?;
                match (action, value) {
                    (Action::Add, Some(v)) => svc.insert.push((name.clone(), v.clone())),
                    (Action::Add, None) => return Err(ConfigError::NoHeaderValue),
                    (Action::Remove, _) => svc.remove.push(name.clone()),
                }
                Ok(Effect::None)
            }
            Command::Server { key, value } => self.set_server(key, value).map(|()| Effect::None),
            Command::Load { plugin } => self.load_plugin(plugin),
            Command::Unload { plugin } => Ok(self.unload_plugin(plugin)),
            Command::Access(args) => self.access(args, ctx),
            Command::Vhost(args) => self.vhost(args, ctx),
            Command::Vpath(args) => self.vpath(args, ctx),
            Command::Redirect(args) => self.redirect(args, ctx),
            Command::Include(args) => self.include(args, ctx),
            Command::Mime(m) => self.mime_command(m).map(|_| Effect::None),
            Command::Verbose { on } => {
                ctx.verbose = *on;
                Ok(Effect::None)
            }
            Command::Perl { command } => Err(if self.loaded(Plugin::Cgilike) {
                ConfigError::Perl(command.to_ascii_uppercase())
            } else {
                ConfigError::UnknownCommand(command.clone())
            }),
            Command::Unsupported { command } => {
                Err(ConfigError::UnsupportedCommand(command.clone()))
            }
            _ => Err(ConfigError::NotConfig),
        }
    }

    /// `MIME [list|set ext type|remove ext]`: the lines to print (a list
    /// ends with `.`), or 1.80's error.
    pub fn mime_command(&mut self, cmd: &MimeCommand) -> Result<Vec<String>, ConfigError> {
        match cmd {
            MimeCommand::List => {
                let mut out: Vec<String> = self
                    .mime
                    .0
                    .iter()
                    .map(|(e, m)| format!("{e} {m}"))
                    .collect();
                out.push(".".into());
                Ok(out)
            }
            MimeCommand::Set { ext, mime } => {
                self.mime.0.insert(ext.clone(), mime.clone());
                Ok(vec![format!("{ext} set to {mime}.")])
            }
            MimeCommand::Remove { ext } => match self.mime.0.remove(ext) {
                Some(_) => Ok(vec![format!("{ext} removed.")]),
                None => Err(ConfigError::NoExtension(ext.clone())),
            },
            MimeCommand::SetUsage => Err(ConfigError::MimeSetUsage),
            MimeCommand::Usage => Err(ConfigError::MimeUsage),
        }
    }

    /// `INCLUDE = glob...`: every file each glob names (sorted), each run
    /// with a context of its own. A failing line fails the INCLUDE,
    /// naming the file and line (1.80 printed it and went on); at start-up
    /// with the line and the error, on the console (once running) without
    /// anything read from the file.
    pub(super) fn include(
        &mut self,
        args: &Result<String, Usage>,
        _ctx: &Context,
    ) -> Result<Effect, ConfigError> {
        if !self.loaded(Plugin::Include) {
            return Err(ConfigError::UnknownCommand("include".into()));
        }
        let globs = args.as_ref().map_err(|u| *u)?;
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeDepth);
        }
        let mut files = Vec::new();
        for pattern in globs.split(' ').filter(|p| !p.is_empty()) {
            if !pattern.contains(['*', '?', '[', '{']) {
                files.push(std::path::PathBuf::from(pattern));
                continue;
            }
            let mut found = self
                .files
                .glob(pattern)
                .map_err(|error| ConfigError::Glob {
                    pattern: pattern.to_owned(),
                    error: error.to_string(),
                })?;
            found.sort();
            files.extend(found);
        }
        let mut effects = Vec::new();
        for f in files {
            let text = self.files.read(&f).map_err(|e| ConfigError::IncludeOpen {
                file: f.clone(),
                error: e.to_string(),
            })?;
            let mut ctx = Context::default();
            self.include_depth += 1;
            let ran = self.run_lines(&text, &crate::proto::expand::System, &mut ctx, &mut effects);
            self.include_depth -= 1;
            ran.map_err(|e| {
                if self.running {
                    // On the console the file may be one its user cannot
                    // read: nothing of its content goes back.
                    ConfigError::IncludedLine {
                        file: f.clone(),
                        line: e.line,
                    }
                } else {
                    ConfigError::Included {
                        file: f.clone(),
                        error: Box::new(e),
                    }
                }
            })?;
        }
        Ok(match effects.len() {
            0 => Effect::None,
            _ => Effect::Batch(effects),
        })
    }
}
