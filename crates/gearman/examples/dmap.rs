//! The original design's "sick Gearman demo", in Rust:
//!
//! ```perl
//! DMap->set_job_servers("sammy", "papag");
//! my @foo = dmap { "$_ = " . `hostname` } (1..10);
//! print "dmap says:\n @foo";
//! ```
//!
//! Two workers (`worker1`, `worker2`), each registered with both job
//! servers, answer `ITEM = WORKER`; the client maps over 1..10 and prints
//! the results in order:
//!
//!     cargo run -p danga-gearman --features client --example dmap -- \
//!         --servers 127.0.0.1:4730,127.0.0.1:4731

use std::process::ExitCode;

use danga_gearman::client::dmap;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let servers: Vec<String> = match args.as_slice() {
        [flag, list] if flag == "--servers" => list.split(',').map(str::to_owned).collect(),
        [] => vec!["127.0.0.1:4730".into()],
        _ => {
            eprintln!("usage: dmap [--servers host:port,host:port]");
            return ExitCode::from(64);
        }
    };
    match dmap::demo(&servers, &["worker1", "worker2"]).await {
        Ok(lines) => {
            println!("dmap says:");
            for line in lines {
                println!(" {line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dmap: {e}");
            ExitCode::FAILURE
        }
    }
}
