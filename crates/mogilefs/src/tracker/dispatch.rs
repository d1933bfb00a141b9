//! A query command's way through the tracker: decoded into its typed
//! request ([`Command`], see `proto::command`), run by its handler (in
//! `namespace`, `hosts`, `files`, `debug`, `settings`, `fsck`,
//! `rebalance`, `replicate`), its typed reply encoded (see `proto::reply`).

use super::{Fail, Outcome, Tracker, MAX_SLEEP};
use crate::meta::MetaStore;
use crate::proto::{Command, ErrCode, Refusal, Reply, Request};

impl From<Refusal> for Fail {
    fn from(r: Refusal) -> Self {
        match r.text {
            Some(text) => Fail::Text(r.code, text),
            None => Fail::Code(r.code),
        }
    }
}

impl<M: MetaStore> Tracker<M> {
    /// Decodes and runs one request.
    pub(super) async fn run(&self, req: &Request) -> Outcome {
        let cmd = Command::decode(req)?;
        self.execute(cmd).await
    }

    /// Runs one decoded command: its handler, its reply's pairs.
    async fn execute(&self, cmd: Command) -> Outcome {
        use Command as C;
        Ok(match cmd {
            C::Noop => ().pairs(),
            // The original's self-test: `crash=1` makes the command fail.
            C::Test { crash: true } => {
                return Err(Fail::Text(ErrCode::Failure, "Crashed on purpose".into()))
            }
            C::Test { crash: false } => ().pairs(),
            C::ClearCache => {
                self.refresh_monitor().await;
                ().pairs()
            }
            C::Sleep(s) => {
                let secs = s.seconds.min(MAX_SLEEP);
                tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                ().pairs()
            }
            C::CreateDomain(c) => self.create_domain(c).await?.pairs(),
            C::DeleteDomain(c) => self.delete_domain(c).await?.pairs(),
            C::GetDomains => self.get_domains().await?.pairs(),
            C::CreateClass(c) => self.create_class(c, false).await?.pairs(),
            C::UpdateClass(c) => self.create_class(c, true).await?.pairs(),
            C::DeleteClass(c) => self.delete_class(c).await?.pairs(),
            C::CreateHost(c) => self.create_host(c, false).await?.pairs(),
            C::UpdateHost(c) => self.create_host(c, true).await?.pairs(),
            C::DeleteHost(c) => self.delete_host(c).await?.pairs(),
            C::GetHosts { hostid } => self.get_hosts(hostid).await?.pairs(),
            C::CreateDevice(c) => self.create_device(c).await?.pairs(),
            C::GetDevices { devid } => self.get_devices(devid).await?.pairs(),
            C::SetState(c) => self.set_state(c).await?.pairs(),
            C::SetWeight(c) => self.set_weight(c).await?.pairs(),
            C::CreateOpen(c) => self.create_open(c).await?.pairs(),
            C::CreateClose(c) => self.create_close(c).await?.pairs(),
            C::GetPaths(c) => self.get_paths(c).await?.pairs(),
            C::Delete(c) => self.delete(c).await?.pairs(),
            C::UpdateFileClass(c) => self.updateclass(c).await?.pairs(),
            C::Rename(c) => self.rename(c).await?.pairs(),
            C::ListKeys(c) => self.list_keys(c).await?.pairs(),
            C::FileInfo(c) => self.file_info(c).await?.pairs(),
            C::FileDebug(c) => self.file_debug(c).await?.pairs(),
            C::ListFids(c) => self.list_fids(c).await?.pairs(),
            C::ServerSetting { key } => self.server_setting(key).await?.pairs(),
            C::ServerSettings => self.server_settings().await?.pairs(),
            C::SetServerSetting { key, value } => {
                self.set_server_setting(&key, &value).await?.pairs()
            }
            C::ReplicateNow => self.replicate_now().await?.pairs(),
            C::HttpCopy(c) => self.httpcopy(c).await?.pairs(),
            C::FsckStart => self.fsck_start().await?.pairs(),
            C::FsckStop => self.fsck_stop().await?.pairs(),
            C::FsckReset(c) => self.fsck_reset(c).await?.pairs(),
            C::FsckClearLog => self.fsck_clearlog().await?.pairs(),
            C::FsckGetLog { after_logid } => self.fsck_getlog(after_logid).await?.pairs(),
            C::FsckStatus => self.fsck_status().await?.pairs(),
            C::RebalanceSetPolicy { policy } => self.rebalance_set_policy(&policy).await?.pairs(),
            C::RebalanceTest => self.rebalance_test().await?.pairs(),
            C::RebalanceStart => self.rebalance_start().await?.pairs(),
            C::RebalanceStop => self.rebalance_stop().await?.pairs(),
            C::RebalanceStatus => self.rebalance_status().await?.pairs(),
            C::RebalanceReset => self.rebalance_reset().await?.pairs(),
        })
    }
}
