//! `platform-mock receive [--listen 127.0.0.1:PORT] [--max N]`: prints one line per notification
//! a bank pushes (method, target, body) until Ctrl-C, or until the `--max`th.

use clap::Args;
use platform_mock::receive::Receiver;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Args)]
pub struct ReceiveArgs {
    /// Address to listen on (loopback only); port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Stop after this many notifications (any sent after them are answered 503).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max: Option<u64>,
}

pub fn main(args: ReceiveArgs) -> ExitCode {
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "error: --listen: {} is not on loopback; the receiver listens on 127.0.0.0/8 or [::1] only",
            args.listen
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut receiver = match Receiver::start(args.listen, args.max).await {
            Ok(receiver) => receiver,
            Err(e) => {
                eprintln!("error: --listen: cannot bind {}: {e}", args.listen);
                return ExitCode::from(2);
            }
        };
        println!("platform-mock receiving on {}", receiver.base());
        let mut received = 0u64;
        let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
        while args.max.is_none_or(|max| received < max) {
            tokio::select! {
                _ = &mut interrupted => break,
                notification = receiver.next() => match notification {
                    Some(n) => {
                        println!("{}", n.line());
                        received += 1;
                    }
                    None => break,
                },
            }
        }
        receiver.shutdown().await;
        eprintln!("received {received} notifications");
        ExitCode::SUCCESS
    })
}
