//! `glance-loginkey`: prints a login key for one partner user (docs/AUTH.md).
//!
//! The API key is read from `--api-key`, or from the environment variable
//! `GLANCE_API_KEY` so that it does not show in the process list.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "glance-loginkey", version, about = "Signs a Glance login key")]
struct Cli {
    /// The group's API key (default: $GLANCE_API_KEY).
    #[arg(long, env = "GLANCE_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The partner id (the group id).
    #[arg(long)]
    partner_id: u32,
    /// The partner user id of the agent.
    #[arg(long)]
    partner_user_id: String,
    /// Seconds from now until the key expires.
    #[arg(long, default_value_t = 3600)]
    expires_in: u64,
}

fn main() {
    let cli = Cli::parse();
    if cli.api_key.is_empty() || cli.partner_user_id.is_empty() {
        eprintln!("glance-loginkey: --api-key and --partner-user-id must not be empty");
        std::process::exit(2);
    }
    let expires = glance_auth::unix_now().saturating_add(cli.expires_in);
    println!(
        "{}",
        glance_auth::sign_login_key(&cli.api_key, cli.partner_id, &cli.partner_user_id, expires)
    );
}
