//! Credentials in order: a refusal moves on, a network failure stops.
//!
//! A password is offered as `password` and, when the server refuses it or does not
//! take that method but lists `keyboard-interactive` (FreeBSD's default, many PAM
//! setups), again through keyboard-interactive, as OpenSSH's client does. There the
//! password answers only prompts that are password prompts: see [`classify`].

use std::path::Path;
use std::sync::Arc;

use russh::client::{AuthResult, KeyboardInteractiveAuthResponse, Prompt};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Algorithm, Certificate, PrivateKey, PrivateKeyWithHashAlg};

use super::{SshConnection, SshError};
use crate::secrets::Secret;
use crate::transport::{AuthMethod, AuthOutcome, Credential, Rejection, TransportError};

/// A server that keeps asking is not going to let us in: OpenSSH's PAM conversation
/// takes one or two rounds, a password change three or four.
const MAX_ROUNDS: usize = 8;

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
        let mut attempt = Attempt::default();
        match try_credential(conn, credential, &mut attempt).await? {
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
                server_accepts: attempt.server_accepts,
                tried: attempt.tried,
            }),
        }
    }
    Err(TransportError::AuthRejected(rejected))
}

/// What one credential's attempt learned: the methods the server said it still
/// accepts, and the methods pushinst offered, by their protocol names.
#[derive(Default)]
struct Attempt {
    server_accepts: Vec<String>,
    tried: Vec<String>,
}

impl Attempt {
    fn tried(&mut self, method: &str) {
        if !self.tried.iter().any(|m| m == method) {
            self.tried.push(method.to_string());
        }
    }

    fn accepts(&self, method: &str) -> bool {
        self.server_accepts.iter().any(|m| m == method)
    }

    /// `None` on success; the refusal's words (and what the server still accepts)
    /// otherwise.
    fn refused(&mut self, result: AuthResult, reason: &str) -> Option<String> {
        match result {
            AuthResult::Success => None,
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                self.server_accepts = methods(&remaining_methods);
                Some(reason.to_string())
            }
        }
    }
}

/// `Ok(None)` when logged in; `Ok(Some(reason))` when this credential was refused.
async fn try_credential(
    conn: &mut SshConnection,
    credential: &Credential,
    attempt: &mut Attempt,
) -> Result<Option<String>, TransportError> {
    let mut reasons = Vec::new();
    for method in &credential.methods {
        let outcome = match method {
            AuthMethod::Password(secret) => password(conn, &credential.user, secret, attempt).await?,
            AuthMethod::Key {
                path,
                passphrase,
                certificate,
            } => {
                let passphrase = passphrase.as_ref().map(|p| p.expose());
                key(
                    conn,
                    &credential.user,
                    path,
                    passphrase,
                    certificate.as_deref(),
                    attempt,
                )
                .await?
            }
            AuthMethod::Agent => agent(conn, &credential.user, attempt).await?,
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

/// The key's certificate when there is one, then (as OpenSSH does) the key alone,
/// which may be authorized on its own.
async fn key(
    conn: &mut SshConnection,
    user: &str,
    path: &Path,
    passphrase: Option<&str>,
    certificate: Option<&Path>,
    attempt: &mut Attempt,
) -> Result<Option<String>, TransportError> {
    let key = match russh::keys::load_secret_key(path, passphrase) {
        Ok(key) => Arc::new(key),
        Err(e) => return Ok(Some(format!("cannot load key {}: {e}", path.display()))),
    };
    let mut reasons = Vec::new();
    if let Some(certificate) = certificate {
        match with_certificate(conn, user, &key, certificate, attempt).await? {
            None => return Ok(None),
            Some(reason) => reasons.push(reason),
        }
        if conn.handle.is_closed() {
            return Ok(Some(reasons.join(", ")));
        }
    }
    let hash = match signature(conn, key.algorithm()).await? {
        Ok(hash) => hash,
        Err(reason) => {
            reasons.push(reason);
            return Ok(Some(reasons.join(", ")));
        }
    };
    attempt.tried("publickey");
    let result = conn
        .handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
        .await
        .map_err(lost)?;
    match attempt.refused(result, "key refused") {
        None => Ok(None),
        Some(reason) => {
            reasons.push(reason);
            Ok(Some(reasons.join(", ")))
        }
    }
}

/// `password`, then keyboard-interactive with the same password when the server
/// lists it.
async fn password(
    conn: &mut SshConnection,
    user: &str,
    secret: &Secret,
    attempt: &mut Attempt,
) -> Result<Option<String>, TransportError> {
    attempt.tried("password");
    let result = conn
        .handle
        .authenticate_password(user, secret.expose())
        .await
        .map_err(lost)?;
    let Some(reason) = attempt.refused(result, "password refused") else {
        return Ok(None);
    };
    if conn.handle.is_closed() || !attempt.accepts("keyboard-interactive") {
        return Ok(Some(reason));
    }
    attempt.tried("keyboard-interactive");
    keyboard_interactive(conn, user, secret, attempt).await
}

async fn keyboard_interactive(
    conn: &mut SshConnection,
    user: &str,
    secret: &Secret,
    attempt: &mut Attempt,
) -> Result<Option<String>, TransportError> {
    let mut reply = conn
        .handle
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await
        .map_err(lost)?;
    for _ in 0..MAX_ROUNDS {
        let (instructions, prompts) = match reply {
            KeyboardInteractiveAuthResponse::Success => return Ok(None),
            KeyboardInteractiveAuthResponse::Failure {
                remaining_methods, ..
            } => {
                attempt.server_accepts = methods(&remaining_methods);
                return Ok(Some("password refused (keyboard-interactive)".to_string()));
            }
            KeyboardInteractiveAuthResponse::InfoRequest {
                name,
                instructions,
                prompts,
            } => (format!("{name}\n{instructions}"), prompts),
        };
        let responses = match classify(&instructions, &prompts) {
            Round::Passwords(n) => vec![secret.expose().to_string(); n],
            Round::PasswordChange => {
                return Err(SshError::PasswordExpired {
                    user: user.to_string(),
                }
                .into());
            }
            Round::NotPassword(prompt) => {
                return Ok(Some(format!(
                    "the server asks \"{prompt}\", which is not a password; pushinst answers only password prompts"
                )));
            }
        };
        reply = conn
            .handle
            .authenticate_keyboard_interactive_respond(responses)
            .await
            .map_err(lost)?;
    }
    Ok(Some(format!(
        "the server asked more than {MAX_ROUNDS} rounds of keyboard-interactive questions"
    )))
}

/// How pushinst answers one keyboard-interactive round.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Round {
    /// Every prompt is a password prompt: answer each with the password (a round
    /// with no prompts gets no answers).
    Passwords(usize),
    /// The host wants the password changed (PAM's expired-password conversation):
    /// never answered, a "New password" least of all.
    PasswordChange,
    /// A prompt that is not a password prompt (a one-time code, a question): the
    /// password is not given to it, and nothing is guessed.
    NotPassword(String),
}

/// The rule: a password prompt has "password" in its text (any case) and does not
/// echo. A prompt for a "new" or the "current" password, or words about changing an
/// expired password in the instructions, is a password change.
pub(super) fn classify(instructions: &str, prompts: &[Prompt]) -> Round {
    let instructions = instructions.to_lowercase();
    let change_said = [
        "change your password",
        "password has expired",
        "password expired",
        "password change",
    ]
    .iter()
    .any(|w| instructions.contains(w));
    let mut passwords = 0;
    for prompt in prompts {
        let text = prompt.prompt.to_lowercase();
        let is_password = text.contains("password");
        if is_password && (text.contains("new") || text.contains("current") || change_said) {
            return Round::PasswordChange;
        }
        if !is_password || prompt.echo {
            return Round::NotPassword(prompt.prompt.trim().to_string());
        }
        passwords += 1;
    }
    if prompts.is_empty() && change_said {
        return Round::PasswordChange;
    }
    Round::Passwords(passwords)
}

/// `None` when the certificate logged in; the refusal's words otherwise.
async fn with_certificate(
    conn: &mut SshConnection,
    user: &str,
    key: &Arc<PrivateKey>,
    path: &Path,
    attempt: &mut Attempt,
) -> Result<Option<String>, TransportError> {
    let cert = match Certificate::read_file(path) {
        Ok(cert) => cert,
        Err(_) => {
            return Ok(Some(format!(
                "{} is not an OpenSSH certificate (make one with ssh-keygen -s CA -I ID -n USER KEY.pub)",
                path.display()
            )));
        }
    };
    if cert.public_key() != key.public_key().key_data() {
        return Ok(Some(format!(
            "certificate {} is for another key than the credential's `key`",
            path.display()
        )));
    }
    // A certificate signs as its key does, so `pubkey_algorithms` rules it as it
    // rules the key: a list that drops ed25519 keeps ed25519 certificates away too.
    if let Err(reason) = signature(conn, key.algorithm()).await? {
        return Ok(Some(format!("certificate not offered: {reason}")));
    }
    attempt.tried("publickey");
    let result = conn
        .handle
        .authenticate_openssh_cert(user, key.clone(), cert)
        .await
        .map_err(lost)?;
    Ok(attempt.refused(result, "certificate refused"))
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
    attempt: &mut Attempt,
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
        attempt.tried("publickey");
        match conn
            .handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(AuthResult::Success) => return Ok(None),
            Ok(AuthResult::Failure {
                remaining_methods, ..
            }) => attempt.server_accepts = methods(&remaining_methods),
            Err(source) if conn.handle.is_closed() => {
                return Err(SshError::LostDuringAgentAuth { source }.into());
            }
            Err(_) => {}
        }
    }
    Ok(Some("agent keys refused".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str, echo: bool) -> Prompt {
        Prompt {
            prompt: text.to_string(),
            echo,
        }
    }

    #[test]
    fn password_prompts_are_answered_and_nothing_else() {
        assert_eq!(
            classify("\n", &[prompt("Password: ", false)]),
            Round::Passwords(1)
        );
        assert_eq!(
            classify("\n", &[prompt("pushinst@host's PASSWORD:", false)]),
            Round::Passwords(1)
        );
        assert_eq!(classify("\n", &[]), Round::Passwords(0));
        assert_eq!(
            classify(
                "\n",
                &[prompt("Password:", false), prompt("Password for LDAP:", false)]
            ),
            Round::Passwords(2)
        );
        // An OTP, a question, and a "password" prompt that would show what is typed.
        assert_eq!(
            classify("\n", &[prompt("Verification code: ", false)]),
            Round::NotPassword("Verification code:".into())
        );
        assert_eq!(
            classify(
                "\n",
                &[prompt("Password:", false), prompt("One-time code:", false)]
            ),
            Round::NotPassword("One-time code:".into())
        );
        assert_eq!(
            classify("\n", &[prompt("Password:", true)]),
            Round::NotPassword("Password:".into())
        );
    }

    #[test]
    fn a_password_change_is_never_answered() {
        // Linux PAM (pam_unix) after `chage -d 0`, as sshd relays it.
        let pam = "\nYou are required to change your password immediately (administrator enforced).\n";
        assert_eq!(
            classify(pam, &[prompt("Current password: ", false)]),
            Round::PasswordChange
        );
        assert_eq!(
            classify("\n", &[prompt("New password: ", false)]),
            Round::PasswordChange
        );
        assert_eq!(
            classify("\n", &[prompt("(current) UNIX password: ", false)]),
            Round::PasswordChange
        );
        assert_eq!(
            classify("\nYour password has expired.", &[]),
            Round::PasswordChange
        );
    }
}
