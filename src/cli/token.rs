//! `relance token create | list | revoke`: the API tokens, from the command
//! line. A new token's secret is printed once and never stored; lists show
//! everything but the secret. Each creation and revocation is audited.

use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;

use super::runtime::ConfigArg;
use crate::api::auth::{ROLES, Role, Scope, create_token};
use crate::runtime::service::open_store;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates a token and prints its secret, once: it is not stored and
    /// cannot be shown again.
    Create {
        /// admin, author, operator, viewer or partner.
        #[arg(long)]
        role: String,
        /// A client the token reaches; repeat for several.
        #[arg(long = "client", value_name = "ID")]
        clients: Vec<String>,
        /// The token reaches every client, present and future.
        #[arg(long)]
        all_clients: bool,
        /// What the token is for (shown by `token list`).
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Lists the tokens: id, role, clients, label, created, revoked.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revokes a token: from now on it is refused with 401.
    Revoke {
        /// The token's id (`tok_…`), as `token create` and `token list` show it.
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// The role `--role` names, or an error listing the roles.
fn parse_role(name: &str) -> anyhow::Result<Role> {
    match Role::parse(name) {
        Some(role) => Ok(role),
        None => {
            let names: Vec<&str> = ROLES.iter().map(|r| r.name()).collect();
            let (last, rest) = names.split_last().unwrap_or((&"", &[]));
            bail!("--role {name}: use {} or {last}", rest.join(", "))
        }
    }
}

/// The clients `--client` and `--all-clients` name, or an error naming the flag.
fn parse_scope(clients: &[String], all_clients: bool) -> anyhow::Result<Scope> {
    if all_clients && !clients.is_empty() {
        bail!("--all-clients: give either --all-clients or --client ID, not both");
    }
    if all_clients {
        return Ok(Scope::All);
    }
    if clients.is_empty() {
        bail!("--client: give at least one --client ID, or --all-clients");
    }
    let mut ids = Vec::new();
    for id in clients {
        let id = id.trim();
        if id.is_empty() || id == "*" {
            bail!("--client `{id}`: give a client id (use --all-clients for every client)");
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(Scope::Clients(ids))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

fn clients_text(scope: Option<Scope>) -> String {
    match scope {
        Some(Scope::All) => "*".to_string(),
        Some(Scope::Clients(ids)) => ids.join(","),
        None => "?".to_string(),
    }
}

pub fn token_cmd(cmd: TokenCommand) -> anyhow::Result<i32> {
    match cmd {
        TokenCommand::Create {
            role,
            clients,
            all_clients,
            label,
            config,
        } => {
            let role = parse_role(&role)?;
            let scope = parse_scope(&clients, all_clients)?;
            let config = config.load()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                let now = Utc::now().timestamp_millis();
                let token = create_token(&store, role, &scope, &label, now).await?;
                store
                    .audit(
                        &super::runtime::cli_actor(),
                        "token.create",
                        &format!("token:{}", token.id),
                        &format!("{} for {}", role.name(), clients_text(Some(scope))),
                        now,
                    )
                    .await?;
                println!("id:    {}", token.id);
                println!("token: {}", token.secret);
                eprintln!(
                    "Keep the token now: it is shown this once and relance does not store it. \
                     Send it as `Authorization: Bearer <token>`."
                );
                anyhow::Ok(0)
            })
        }
        TokenCommand::List { config } => {
            let config = config.load()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                let tokens = store.tokens().await?;
                if tokens.is_empty() {
                    println!("no token (create one with `relance token create`)");
                    return anyhow::Ok(0);
                }
                println!(
                    "{:<17} {:<9} {:<24} {:<21} {:<21} label",
                    "id", "role", "clients", "created", "revoked"
                );
                for t in tokens {
                    println!(
                        "{:<17} {:<9} {:<24} {:<21} {:<21} {}",
                        t.id,
                        t.role,
                        clients_text(Scope::from_json(&t.clients)),
                        time(t.created_at),
                        t.revoked_at.map(time).unwrap_or_else(|| "-".into()),
                        t.label
                    );
                }
                Ok(0)
            })
        }
        TokenCommand::Revoke { id, config } => {
            let config = config.load()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                let now = Utc::now().timestamp_millis();
                if !store.revoke_token(&id, now).await? {
                    eprintln!(
                        "error: no live token {id} (unknown or revoked already; see `relance token list`)"
                    );
                    return anyhow::Ok(1);
                }
                store
                    .audit(&super::runtime::cli_actor(), "token.revoke", &format!("token:{id}"), "", now)
                    .await?;
                println!("token {id} revoked");
                Ok(0)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_role_is_refused_naming_the_flag_and_the_roles() {
        let err = parse_role("root").unwrap_err().to_string();
        assert_eq!(
            err,
            "--role root: use admin, author, operator, viewer or partner"
        );
        assert_eq!(parse_role("partner").unwrap(), Role::Partner);
    }

    #[test]
    fn a_scope_needs_clients_or_all_clients_but_not_both() {
        assert_eq!(parse_scope(&[], true).unwrap(), Scope::All);
        let two = vec!["acme".to_string(), "globex".into(), "acme".into()];
        assert_eq!(
            parse_scope(&two, false).unwrap(),
            Scope::Clients(vec!["acme".into(), "globex".into()])
        );
        let err = parse_scope(&[], false).unwrap_err().to_string();
        assert!(err.starts_with("--client:"), "{err}");
        let err = parse_scope(&two, true).unwrap_err().to_string();
        assert!(err.starts_with("--all-clients:"), "{err}");
        let err = parse_scope(&["*".to_string()], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--all-clients"), "{err}");
    }
}
