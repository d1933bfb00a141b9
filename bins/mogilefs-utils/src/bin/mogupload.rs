//! mogupload: stores a file (or standard input) in MogileFS.
//!
//! `mogupload --trackers=host --domain=foo --class=bar --key=/hello.jpg
//! --file=./hello.jpg`; `--file=-` reads standard input (spooled to a
//! temporary file first: an upload needs its length up front).
//!
//! Beyond MogileFS-Utils 2.30: `--checksum` sends the file's MD5 on
//! create_close (`checksum=MD5:hex`, kept by a class with hashtype MD5),
//! `--checksumverify` has the tracker compare the stored copy with it
//! before it answers, as MogileFS::Client's `checksum`/`checksumverify`
//! options do.

use std::process::ExitCode;

use clap::Parser;
use danga_mogilefs::client::StoreOptions;
use mogilefs_utils::{class_of, feed, progress_bar, run, Common};
use tokio::io::AsyncSeekExt;

/// Upload data to a MogileFS installation
#[derive(Parser, Debug)]
#[command(name = "mogupload", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The class to store into (the domain's default if left out)
    #[arg(long)]
    class: Option<String>,
    /// The key to store the file under
    #[arg(long)]
    key: String,
    /// The local file to upload; '-' reads standard input
    #[arg(long)]
    file: String,
    /// Send the file's MD5 with the upload (kept by a class with hashtype
    /// MD5)
    #[arg(long)]
    checksum: bool,
    /// With --checksum: have the tracker check the stored copy against it
    #[arg(long, requires = "checksum")]
    checksumverify: bool,
}

/// The MD5 of what `file` holds from its start, as `MD5:hex`; `file` is
/// rewound afterwards.
async fn md5_of(file: &mut tokio::fs::File) -> Result<String, String> {
    use md5::Digest;
    use tokio::io::AsyncReadExt;
    let mut h = md5::Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    file.rewind().await.map_err(|e| format!("rewinding: {e}"))?;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading for the checksum: {e}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    file.rewind().await.map_err(|e| format!("rewinding: {e}"))?;
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("MD5:{hex}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let setup = cli.common.setup()?;
        let class = class_of(cli.class.as_deref(), &setup.conf);
        let (file, len) = if cli.file == "-" {
            let spool =
                tempfile::tempfile().map_err(|e| format!("Could not create a spool file: {e}"))?;
            let mut spool = tokio::fs::File::from_std(spool);
            let len = tokio::io::copy(&mut tokio::io::stdin(), &mut spool)
                .await
                .map_err(|e| format!("error reading standard input: {e}"))?;
            spool
                .rewind()
                .await
                .map_err(|e| format!("spool file: {e}"))?;
            (spool, len)
        } else {
            let f = tokio::fs::File::open(&cli.file)
                .await
                .map_err(|e| format!("Could not open {}: {e}", cli.file))?;
            let len = f
                .metadata()
                .await
                .map_err(|e| format!("Could not stat {}: {e}", cli.file))?
                .len();
            (f, len)
        };
        let (mut file, len) = (file, len);
        let extra = StoreOptions {
            checksum: if cli.checksum {
                Some(md5_of(&mut file).await?)
            } else {
                None
            },
            verify: cli.checksumverify,
        };
        let bar = progress_bar(len, &cli.key);
        let stored = setup
            .client
            .store_with(&cli.key, class.as_deref(), file, len, feed(&bar), &extra)
            .await;
        match stored {
            Ok(_) => {
                if let Some(b) = bar {
                    b.finish();
                }
                Ok(())
            }
            Err(e) => {
                if let Some(b) = bar {
                    b.abandon();
                }
                Err(format!("Error writing file: {e}"))
            }
        }
    })
}
