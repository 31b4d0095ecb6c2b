//! `uyuni-cluster ca` (the cluster CA, peers' and operators' certificates) and
//! `uyuni-cluster audit` (a peer's audit log of admin changes).

use std::path::PathBuf;

use clap::Subcommand;

use super::Target;

#[derive(Debug, Subcommand)]
pub(super) enum CaCommand {
    /// Create the cluster CA: DIR/ca.pem (give it to every client) and DIR/ca.key (mode 0600;
    /// keep it safe, it makes certificates the whole cluster trusts).
    Init {
        /// Directory of the CA (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Replace an existing CA (every certificate it issued stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate for one peer's HTTP API, or with --client for an operator of the
    /// admin API: DIR/NAME.pem and DIR/NAME.key (mode 0600), replacing earlier ones.
    Issue {
        /// Directory of the CA (holds ca.pem and ca.key).
        #[arg(long)]
        dir: PathBuf,
        /// Name of the certificate (file name and common name), e.g. the node name.
        #[arg(long)]
        name: String,
        /// Host name or IP address clients use to reach the peer; repeatable.
        /// Default: NAME, localhost and 127.0.0.1.
        #[arg(long = "san")]
        sans: Vec<String>,
        /// A client certificate for the admin API (an operator, the CLI, a tool), not a
        /// peer's: it cannot serve.
        #[arg(long)]
        client: bool,
        /// With --client: may read (GET) only; changes answer 403.
        #[arg(long, requires = "client")]
        read_only: bool,
    },
}

pub(super) fn run(cmd: CaCommand) -> anyhow::Result<()> {
    match cmd {
        CaCommand::Init { dir, force } => {
            let files = cluster_core::tls::init_ca(&dir, force)?;
            println!(
                "wrote cluster CA {} and its key {} (mode 0600)",
                files.cert.display(),
                files.key.display()
            );
        }
        CaCommand::Issue {
            dir,
            name,
            client: true,
            read_only,
            sans,
        } => {
            anyhow::ensure!(
                sans.is_empty(),
                "--san is for peers' certificates, not --client"
            );
            let role = if read_only {
                cluster_core::tls::Role::Reader
            } else {
                cluster_core::tls::Role::Operator
            };
            let cert = cluster_core::tls::issue_client(&dir, &name, role)?;
            println!(
                "wrote {} and {} (mode 0600): client certificate {name} ({}); valid {} days",
                cert.cert.display(),
                cert.key.display(),
                role.as_str(),
                cluster_core::tls::NODE_VALIDITY.as_secs() / 86_400
            );
        }
        CaCommand::Issue {
            dir, name, sans, ..
        } => {
            let cert = cluster_core::tls::issue(&dir, &name, &sans)?;
            println!(
                "wrote {} and {} (mode 0600) for {}; valid {} days",
                cert.cert.display(),
                cert.key.display(),
                cert.sans.join(", "),
                cluster_core::tls::NODE_VALIDITY.as_secs() / 86_400
            );
        }
    }
    Ok(())
}

pub(super) fn audit(since_ms: u64, limit: usize, t: &Target) -> anyhow::Result<()> {
    let entries: Vec<cluster_core::audit::AuditEntry> = t
        .client()?
        .get(&format!("/audit?since_ms={since_ms}&limit={limit}"))?;
    if t.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for e in entries {
        println!(
            "{}  {:<20} {:>3}  {}  {}",
            e.at_ms,
            e.who,
            e.status,
            e.action,
            e.detail.replace(char::is_control, " ")
        );
    }
    Ok(())
}
