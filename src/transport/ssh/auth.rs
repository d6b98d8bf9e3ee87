//! Credentials in order: a refusal moves on, a network failure stops.

use std::sync::Arc;

use russh::client::AuthResult;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Algorithm, PrivateKeyWithHashAlg};

use super::{SshConnection, SshError};
use crate::transport::{AuthMethod, AuthOutcome, Credential, Rejection, TransportError};

pub(super) async fn authenticate(
    conn: &mut SshConnection,
    credentials: &[Credential],
) -> Result<AuthOutcome, TransportError> {
    let mut rejected = Vec::new();
    for credential in credentials {
        // OpenSSH disconnects a client that changes user name mid-authentication, and
        // after MaxAuthTries; both need a fresh connection, nothing else does.
        let other_user = conn.user.as_ref().is_some_and(|u| *u != credential.user);
        if other_user || conn.handle.is_closed() {
            conn.reconnect().await?;
        }
        conn.user = Some(credential.user.clone());
        let mut server_accepts = Vec::new();
        match try_credential(conn, credential, &mut server_accepts).await? {
            None => {
                conn.credential = Some(credential.clone());
                return Ok(AuthOutcome {
                    accepted: credential.label.clone(),
                    rejected,
                });
            }
            Some(reason) => rejected.push(Rejection {
                credential: credential.label.clone(),
                reason,
                server_accepts,
            }),
        }
    }
    Err(TransportError::AuthRejected(rejected))
}

/// `Ok(None)` when logged in; `Ok(Some(reason))` when this credential was refused,
/// with what the server said it still accepts in `server_accepts`.
async fn try_credential(
    conn: &mut SshConnection,
    credential: &Credential,
    server_accepts: &mut Vec<String>,
) -> Result<Option<String>, TransportError> {
    let mut reasons = Vec::new();
    for method in &credential.methods {
        let outcome = match method {
            AuthMethod::Password(secret) => conn
                .handle
                .authenticate_password(&credential.user, secret.expose())
                .await
                .map(|r| refused(r, "password refused", server_accepts))
                .map_err(lost)?,
            AuthMethod::Key { path, passphrase } => {
                match russh::keys::load_secret_key(path, passphrase.as_ref().map(|p| p.expose())) {
                    Err(e) => Some(format!("cannot load key {}: {e}", path.display())),
                    Ok(key) => match signature(conn, key.algorithm()).await? {
                        Err(reason) => Some(reason),
                        Ok(hash) => {
                            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
                            conn.handle
                                .authenticate_publickey(&credential.user, key)
                                .await
                                .map(|r| refused(r, "key refused", server_accepts))
                                .map_err(lost)?
                        }
                    },
                }
            }
            AuthMethod::Agent => agent(conn, &credential.user, server_accepts).await?,
        };
        match outcome {
            None => return Ok(None),
            Some(reason) => reasons.push(reason),
        }
        if conn.handle.is_closed() {
            break;
        }
    }
    Ok(Some(reasons.join(", ")))
}

fn refused(result: AuthResult, reason: &str, server_accepts: &mut Vec<String>) -> Option<String> {
    match result {
        AuthResult::Success => None,
        AuthResult::Failure {
            remaining_methods, ..
        } => {
            *server_accepts = methods(&remaining_methods);
            Some(reason.to_string())
        }
    }
}

/// The server's list of methods, by their protocol names.
fn methods(set: &russh::MethodSet) -> Vec<String> {
    set.iter()
        .map(|kind| <&'static str>::from(kind).to_string())
        .collect()
}

fn lost(source: russh::Error) -> TransportError {
    SshError::LostDuringAuth { source }.into()
}

/// The signature a key of `algorithm` logs in with, as `pubkey_algorithms` and the
/// server allow: `Err` with the reason when none is allowed.
async fn signature(
    conn: &SshConnection,
    algorithm: Algorithm,
) -> Result<Result<Option<russh::keys::HashAlg>, String>, TransportError> {
    let server = if matches!(algorithm, Algorithm::Rsa { .. }) {
        // The server names only its best RSA signature; one that takes SHA-512
        // takes SHA-256 too.
        let best = conn.handle.best_supported_rsa_hash().await.map_err(lost)?;
        best.map(|best| match best {
            Some(russh::keys::HashAlg::Sha512) => vec![
                Algorithm::Rsa {
                    hash: Some(russh::keys::HashAlg::Sha512),
                },
                Algorithm::Rsa {
                    hash: Some(russh::keys::HashAlg::Sha256),
                },
            ],
            hash => vec![Algorithm::Rsa { hash }],
        })
    } else {
        None
    };
    Ok(
        match conn.algorithms.pubkey_signature(&algorithm, server.as_deref()) {
            Some(Algorithm::Rsa { hash }) => Ok(hash),
            Some(_) => Ok(None),
            None => Err(format!(
                "{algorithm} key not offered: pubkey_algorithms does not allow it{}",
                if matches!(algorithm, Algorithm::Rsa { .. }) {
                    " with a signature the server takes (add \"+ssh-rsa\" for an old server)"
                } else {
                    ""
                }
            )),
        },
    )
}

async fn agent(
    conn: &mut SshConnection,
    user: &str,
    server_accepts: &mut Vec<String>,
) -> Result<Option<String>, TransportError> {
    let mut agent = match AgentClient::connect_env().await {
        Ok(agent) => agent,
        Err(e) => return Ok(Some(format!("no ssh-agent ({e})"))),
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => return Ok(Some(format!("ssh-agent failed: {e}"))),
    };
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        let Ok(hash) = signature(conn, key.algorithm()).await? else {
            continue;
        };
        match conn
            .handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(AuthResult::Success) => return Ok(None),
            Ok(AuthResult::Failure {
                remaining_methods, ..
            }) => *server_accepts = methods(&remaining_methods),
            Err(source) if conn.handle.is_closed() => {
                return Err(SshError::LostDuringAgentAuth { source }.into());
            }
            Err(_) => {}
        }
    }
    Ok(Some("agent keys refused".to_string()))
}
