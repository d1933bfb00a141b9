//! The tracker's error codes: a closed set, each with the original's text.

macro_rules! codes {
    ($($variant:ident => $code:literal, $text:literal;)*) => {
        /// An `ERR` code of the tracker protocol.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrCode { $($variant,)* }

        impl ErrCode {
            /// The code as sent on the wire.
            pub fn code(self) -> &'static str {
                match self { $(ErrCode::$variant => $code,)* }
            }

            /// The default text (sent URL-encoded).
            pub fn text(self) -> &'static str {
                match self { $(ErrCode::$variant => $text,)* }
            }

            /// Every code, for tests.
            pub const ALL: &'static [ErrCode] = &[$(ErrCode::$variant,)*];
        }
    };
}

// Texts are the original's (`MogileFS::Worker::Query::err_line`): the
// codes missing from its table are sent with the code itself as the text.
codes! {
    UnknownCommand => "unknown_command", "Unknown server command";
    Failure => "failure", "Operation failed";
    Db => "db", "Database error";
    NoDomain => "no_domain", "No domain provided";
    UnregDomain => "unreg_domain", "Domain name invalid/not found";
    UnregClass => "unreg_class", "unreg_class";
    NoDevices => "no_devices", "No devices found to store file";
    FidInUse => "fid_in_use", "fid_in_use";
    NoFid => "no_fid", "no_fid";
    NoDevid => "no_devid", "no_devid";
    NoPath => "no_path", "no_path";
    BogusArgs => "bogus_args", "bogus_args";
    NoTempFile => "no_temp_file", "No tempfile or file already closed";
    InvalidDestdev => "invalid_destdev", "invalid_destdev";
    SizeVerifyError => "size_verify_error", "size_verify_error";
    SizeMismatch => "size_mismatch", "size_mismatch";
    InvalidChecksumFormat => "invalid_checksum_format", "invalid_checksum_format";
    ChecksumMismatch => "checksum_mismatch", "checksum_mismatch";
    FidExists => "fid_exists", "fid_exists";
    NoKey => "no_key", "no_key";
    UnknownKey => "unknown_key", "unknown_key";
    UnknownFid => "unknown_fid", "unknown_fid";
    InvalidKey => "invalid_key", "invalid_key";
    KeyExists => "key_exists", "Target key name already exists; can't overwrite.";
    NoneMatch => "none_match", "No keys match that pattern and after-value (if any).";
    AfterMismatch => "after_mismatch", "Pattern does not match the after-value?";
    DomainExists => "domain_exists", "That domain already exists";
    DomainNotFound => "domain_not_found", "Domain not found";
    DomainHasFiles => "domain_has_files", "Domain still has files, unable to delete";
    DomainHasClasses => "domain_has_classes", "domain_has_classes";
    NoClass => "no_class", "No class provided";
    InvalidMindevcount => "invalid_mindevcount", "The mindevcount must be at least 1";
    InvalidReplpolicy => "invalid_replpolicy", "invalid_replpolicy";
    InvalidHashtype => "invalid_hashtype", "invalid_hashtype";
    // Extensions: the `durable` class setting (not in the original).
    InvalidDurable => "invalid_durable", "durable must be a number from 0 to the class's mindevcount";
    NotDurable => "not_durable", "not_durable";
    ClassExists => "class_exists", "That class already exists in that domain";
    ClassNotFound => "class_not_found", "Class not found";
    NodelDefaultClass => "nodel_default_class", "Cannot delete the default class";
    ClassHasFiles => "class_has_files", "Class still has files, unable to delete";
    NoHost => "no_host", "No host provided";
    HostExists => "host_exists", "That host already exists";
    NoIp => "no_ip", "IP required to create host";
    NoPort => "no_port", "Port required to create host";
    UnknownState => "unknown_state", "Invalid/unknown state";
    HostNotFound => "host_not_found", "Host not found";
    UnknownHost => "unknown_host", "Host not found";
    UnknownHostid => "unknown_hostid", "unknown_hostid";
    HostNotEmpty => "host_not_empty", "Unable to delete host; it contains devices still";
    InvalidDevid => "invalid_devid", "invalid_devid";
    ExistingDevid => "existing_devid", "existing_devid";
    InvalidState => "invalid_state", "invalid_state";
    BadParams => "bad_params", "Invalid parameters to command; please see documentation";
    NotWritable => "not_writable", "not_writable";
    InvalidFormat => "invalid_format", "invalid_format";
    NoDevice => "no_device", "Device not found";
    HostMismatch => "host_mismatch", "The device specified doesn't belong to the host specified";
    StateTooHigh => "state_too_high", "Status cannot go from dead to alive; must use down";
    CopyErr => "copy_err", "copy_err";
    FsckRunning => "fsck_running", "fsck_running";
    RebalRunning => "rebal_running", "rebal_running";
    NoSetRebal => "no_set_rebal", "no_set_rebal";
    BadRebalPol => "bad_rebal_pol", "bad_rebal_pol";
    NoRebalPolicy => "no_rebal_policy", "no_rebal_policy";
    NoRebalState => "no_rebal_state", "no_rebal_state";
    RebalNotStarted => "rebal_not_started", "rebal_not_started";
}
