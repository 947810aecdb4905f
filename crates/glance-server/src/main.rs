//! The `glance-server` binary: parses the command line, starts [`glance_server::Server`],
//! prints the ready line as the first line of stdout and runs until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use glance_server::{Cli, Server};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .init();
    let cli = Cli::parse();
    let opts = match cli.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("glance-server: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("glance-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let server = match Server::start(opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("glance-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{}", server.ready().to_line())
            .and_then(|()| out.flush())
            .is_err()
        {
            eprintln!("glance-server: cannot write the ready line to stdout");
            return ExitCode::FAILURE;
        }
        drop(out);
        wait_for_signal().await;
        log::info!("shutting down");
        server.shutdown();
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
