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

codes! {
    UnknownCommand => "unknown_command", "Unknown server command";
    Db => "db", "Database error";
    NoDomain => "no_domain", "No domain provided";
    UnregDomain => "unreg_domain", "Domain name invalid/not found";
    UnregClass => "unreg_class", "Invalid class";
    NoDevices => "no_devices", "No devices found to store file";
    FidInUse => "fid_in_use", "The provided fid is currently in use";
    NoFid => "no_fid", "No fid provided";
    NoDevid => "no_devid", "No devid provided";
    NoPath => "no_path", "No path provided";
    BogusArgs => "bogus_args", "Invalid characters in path or path mismatch";
    NoTempFile => "no_temp_file", "No tempfile or file already closed";
    InvalidDestdev => "invalid_destdev", "Destination device is not valid";
    SizeVerifyError => "size_verify_error", "Could not verify the size of the uploaded file";
    SizeMismatch => "size_mismatch", "Uploaded file size does not match the given size";
    FidExists => "fid_exists", "This fid is already a file";
    NoKey => "no_key", "No key provided";
    UnknownKey => "unknown_key", "Unknown key";
    InvalidKey => "invalid_key", "Key not found";
    KeyExists => "key_exists", "Target key name already exists; can't overwrite.";
    NoneMatch => "none_match", "No keys match that pattern and after-value (if any).";
    AfterMismatch => "after_mismatch", "Pattern does not match the after-value";
    DomainExists => "domain_exists", "That domain already exists";
    DomainNotFound => "domain_not_found", "Domain not found";
    DomainHasFiles => "domain_has_files", "Domain has files";
    DomainHasClasses => "domain_has_classes", "Domain has classes";
    NoClass => "no_class", "No class provided";
    InvalidMindevcount => "invalid_mindevcount", "The mindevcount must be at least 1";
    InvalidReplpolicy => "invalid_replpolicy", "Invalid replication policy";
    InvalidHashtype => "invalid_hashtype", "Invalid hash type";
    ClassExists => "class_exists", "That domain/class combination already exists";
    ClassNotFound => "class_not_found", "Class not found";
    NodelDefaultClass => "nodel_default_class", "Cannot delete the default class";
    ClassHasFiles => "class_has_files", "Class still has files";
    NoHost => "no_host", "No host name provided";
    HostExists => "host_exists", "That host already exists";
    NoIp => "no_ip", "IP required to create host";
    NoPort => "no_port", "Port required to create host";
    UnknownState => "unknown_state", "Invalid/unknown state";
    HostNotFound => "host_not_found", "Host not found";
    UnknownHost => "unknown_host", "Host not found";
    UnknownHostid => "unknown_hostid", "Host ID not found";
    HostNotEmpty => "host_not_empty", "Unable to delete host; it contains devices still";
    InvalidDevid => "invalid_devid", "Devid must be a positive integer";
    ExistingDevid => "existing_devid", "That devid already exists";
    InvalidState => "invalid_state", "Invalid state";
    BadParams => "bad_params", "Invalid parameters";
    NoDevice => "no_device", "Device not found";
    HostMismatch => "host_mismatch", "Device does not belong to that host";
    StateTooHigh => "state_too_high", "Can't move a dead device back to life";
}
