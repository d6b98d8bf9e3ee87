//! The client against a real Samba smbd configured like current Windows (SMB3 only,
//! signing mandatory, encryption required, NTLMv2 only), started for each test by
//! `examples/fleet/smbd-fleet.sh`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};

use super::*;

static NEXT: AtomicU16 = AtomicU16::new(0);

pub struct Samba {
    pub dir: tempfile::TempDir,
    pub addr: String,
    pub port: u16,
}

impl Samba {
    pub fn start(env: &[(&str, &str)]) -> Samba {
        let dir = tempfile::tempdir().expect("temp dir");
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let addr = format!("127.{}.{}.{}", 100 + (pid % 100), (pid / 100) % 250 + 1, n + 1);
        let port = 4450 + n;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/smbd-fleet.sh");
        let status = std::process::Command::new(script)
            .arg("start")
            .arg(dir.path())
            .arg(format!("{addr}:{port}"))
            .envs(env.iter().copied())
            .status()
            .expect("run smbd-fleet.sh");
        assert!(
            status.success(),
            "smbd did not start; run `examples/fleet/smbd-fleet.sh setup` as root"
        );
        Samba { dir, addr, port }
    }

    pub fn password(&self) -> Secret {
        Secret::new(
            std::fs::read_to_string(self.dir.path().join("password"))
                .unwrap()
                .trim()
                .to_string(),
        )
    }

    pub fn admin_share(&self) -> PathBuf {
        self.dir.path().join("smb1/windows")
    }

    pub async fn connect(&self) -> Session {
        self.connect_with(Protection::default()).await
    }

    pub async fn connect_with(&self, protection: Protection) -> Session {
        let stream = TcpStream::connect((self.addr.as_str(), self.port))
            .await
            .expect("connect");
        Session::negotiate(stream, &self.addr, "win1", protection)
            .await
            .expect("negotiate")
    }
}

impl Drop for Samba {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/smbd-fleet.sh");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn admin() -> Account {
    Account::parse(r".\Administrator")
}

#[tokio::test]
async fn a_wrong_password_is_refused_then_the_right_one_logs_in_encrypted() {
    let samba = Samba::start(&[]);
    let mut session = samba.connect().await;
    assert_eq!(session.dialect(), "3.1.1");
    let refused = session
        .login(&admin(), &Secret::new("wrong".into()))
        .await
        .unwrap_err();
    assert!(
        refused.status().and_then(status::logon_refusal).is_some(),
        "{refused}"
    );
    session.login(&admin(), &samba.password()).await.expect("login");
    assert!(session.is_encrypted());
    let missing = session.tree_connect("NOPE$").await.expect_err("no such share");
    assert_eq!(missing.status(), Some(status::BAD_NETWORK_NAME), "{missing}");
}

#[tokio::test]
async fn files_go_up_come_back_intact_and_are_deleted() {
    let samba = Samba::start(&[]);
    let mut session = samba.connect().await;
    session.login(&admin(), &samba.password()).await.expect("login");
    let tree = session.tree_connect("ADMIN$").await.expect("ADMIN$");
    let dir = session
        .create(
            &tree,
            &Open {
                path: r"Temp\pushinst-test",
                access: access::READ_ATTRIBUTES,
                disposition: disposition::CREATE,
                options: options::DIRECTORY,
                descriptor: None,
            },
        )
        .await
        .expect("mkdir");
    session.close(&tree, dir).await.unwrap();
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 123)
        .map(|i: u32| (i * 7 % 251) as u8)
        .collect();
    round_trip(&mut session, &samba, r"Temp\pushinst-test\setup.exe", &data).await;
    session
        .delete(&tree, r"Temp\pushinst-test", true)
        .await
        .expect("delete dir");
    assert!(!samba.admin_share().join("Temp/pushinst-test").exists());
}

fn protection(encryption: Encryption) -> Protection {
    Protection {
        encryption,
        ..Protection::default()
    }
}

#[tokio::test]
async fn required_encryption_refuses_a_server_that_does_not_encrypt() {
    let samba = Samba::start(&[("SMBD_ENCRYPT", "off"), ("SMBD_SIGNING", "mandatory")]);
    let mut session = samba.connect_with(protection(Encryption::Required)).await;
    let refused = session.login(&admin(), &samba.password()).await.unwrap_err();
    assert!(matches!(refused, SmbError::Encryption(_)), "{refused}");
    assert!(
        refused.to_string().contains("smb_encryption is required"),
        "{refused}"
    );
    // Signed but not encrypted, when encryption is not required.
    let mut session = samba.connect().await;
    session.login(&admin(), &samba.password()).await.expect("login");
    assert!(!session.is_encrypted());
    session
        .tree_connect("ADMIN$")
        .await
        .expect("a signed tree connect");
}

/// `when-supported` encrypts a server that would settle for signing; `off` does not.
#[tokio::test]
async fn encryption_is_used_whenever_the_server_supports_it_unless_turned_off() {
    let samba = Samba::start(&[("SMBD_ENCRYPT", "if_required")]);
    let mut session = samba.connect().await;
    session.login(&admin(), &samba.password()).await.expect("login");
    assert!(session.is_encrypted());
    session
        .tree_connect("ADMIN$")
        .await
        .expect("an encrypted tree connect");
    let mut plain = samba.connect_with(protection(Encryption::Off)).await;
    plain.login(&admin(), &samba.password()).await.expect("login");
    assert!(!plain.is_encrypted());
    plain.tree_connect("ADMIN$").await.expect("a signed tree connect");
}

/// Write `data` to `path` in ADMIN$, read it back over SMB and from Samba's disk,
/// then delete it.
async fn round_trip(session: &mut Session, samba: &Samba, path: &str, data: &[u8]) {
    let tree = session.tree_connect("ADMIN$").await.expect("ADMIN$");
    let file = session
        .create(
            &tree,
            &Open {
                path,
                access: access::READ_DATA | access::WRITE_DATA,
                disposition: disposition::CREATE,
                options: options::NON_DIRECTORY,
                descriptor: None,
            },
        )
        .await
        .expect("create");
    session.write_all(&tree, file, data).await.expect("write");
    let back = session.read_all(&tree, file, 8 << 20).await.expect("read");
    session.close(&tree, file).await.unwrap();
    assert!(back == data, "read back {} bytes of {}", back.len(), data.len());
    let on_disk = samba.admin_share().join(path.replace('\\', "/"));
    assert_eq!(std::fs::read(&on_disk).unwrap().len(), data.len());
    session.delete(&tree, path, false).await.expect("delete");
}

/// A fifth of a MiB: several writes in flight, quick under every cipher.
fn sample() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 253) as u8).collect()
}

/// Servers hardened to AES-256 refused pushinst when it offered only AES-128-GCM.
#[tokio::test]
async fn a_server_limited_to_aes_256_is_reached_encrypted() {
    for cipher in ["AES-256-GCM", "AES-256-CCM"] {
        let samba = Samba::start(&[("SMBD_ENCRYPTION_ALGORITHMS", cipher)]);
        let mut session = samba.connect().await;
        session.login(&admin(), &samba.password()).await.expect("login");
        assert_eq!(session.cipher_name(), Some(cipher));
        round_trip(&mut session, &samba, r"Temp\aes256", &sample()).await;
    }
}

/// 3.0.2: AES-CMAC signing, AES-128-CCM, and the signed dialect check after the
/// first tree connect.
#[tokio::test]
async fn dialect_3_0_2_validates_the_negotiation_and_encrypts_with_aes_128_ccm() {
    let samba = Samba::start(&[("SMBD_MAX_PROTOCOL", "SMB3_02")]);
    let mut session = samba.connect().await;
    assert_eq!(session.dialect(), "3.0.2");
    session.login(&admin(), &samba.password()).await.expect("login");
    assert_eq!(session.cipher_name(), Some("AES-128-CCM"));
    round_trip(&mut session, &samba, r"Temp\smb302", &sample()).await;

    let samba = Samba::start(&[("SMBD_MAX_PROTOCOL", "SMB3_02"), ("SMBD_ENCRYPT", "off")]);
    let mut session = samba.connect_with(protection(Encryption::Off)).await;
    session.login(&admin(), &samba.password()).await.expect("login");
    assert!(!session.is_encrypted());
    round_trip(&mut session, &samba, r"Temp\smb302-signed", &sample()).await;
}

#[tokio::test]
async fn samba_binds_svcctl_opens_the_manager_and_refuses_create_service() {
    use crate::transport::windows::pipe::SmbPipe;
    use crate::transport::windows::rpc::{RpcClient, RpcError, scmr};
    let samba = Samba::start(&[]);
    let mut session = samba.connect().await;
    session.login(&admin(), &samba.password()).await.expect("login");
    let pipe = SmbPipe::open(&mut session, "svcctl").await.expect("open svcctl");
    let mut rpc = RpcClient::bind(pipe, &scmr::SVCCTL).await.expect("bind NDR 2.0");
    let manager = scmr::open_sc_manager(&mut rpc, &samba.addr)
        .await
        .expect("OpenSCManagerW");
    let refused = scmr::create_service(&mut rpc, &manager, "pushinst-test", r"C:\x.cmd")
        .await
        .unwrap_err();
    assert!(matches!(refused, RpcError::Fault(0x1c01_0002)), "{refused}");
    assert!(refused.to_string().contains("does not implement"), "{refused}");
    scmr::close(&mut rpc, &manager).await.expect("CloseServiceHandle");
}

#[tokio::test]
async fn a_share_that_demands_encryption_turns_it_on_for_the_rest_of_the_session() {
    let samba = Samba::start(&[
        ("SMBD_ENCRYPT", "if_required"),
        ("SMBD_SHARE_ENCRYPT", "required"),
    ]);
    let mut session = samba.connect_with(protection(Encryption::Off)).await;
    session.login(&admin(), &samba.password()).await.expect("login");
    assert!(!session.is_encrypted(), "the session itself does not ask for it");
    let tree = session.tree_connect("ADMIN$").await.expect("ADMIN$");
    assert!(session.is_encrypted());
    let dir = Open {
        path: r"Temp\enc",
        access: access::READ_ATTRIBUTES,
        disposition: disposition::CREATE,
        options: options::DIRECTORY,
        descriptor: None,
    };
    let handle = session.create(&tree, &dir).await.expect("an encrypted create");
    session.close(&tree, handle).await.unwrap();
    session.delete(&tree, r"Temp\enc", true).await.expect("delete");
}

/// A server that answers the first request with `answer` (after the length prefix
/// it gives), then holds the connection open.
async fn hostile(prefix: [u8; 4], answer: Vec<u8>) -> Result<Session, SmbError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 512];
        let _ = socket.read(&mut request).await;
        let _ = socket.write_all(&prefix).await;
        let _ = socket.write_all(&answer).await;
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    Session::negotiate(stream, "127.0.0.1", "hostile", Protection::default()).await
}

#[tokio::test]
async fn a_frame_longer_than_any_answer_is_refused_before_it_is_read() {
    let refused = match hostile([0, 0xFF, 0xFF, 0xFF], Vec::new()).await {
        Err(e) => e,
        Ok(_) => panic!("a 16 MiB frame was accepted"),
    };
    assert!(
        refused
            .to_string()
            .contains("more than any answer pushinst asked for"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_answer_to_a_request_never_sent_is_refused() {
    let mut answer = wire::request_header(wire::Command::Negotiate, 0, 99, 0, 0).buf;
    answer[16] |= wire::FLAG_RESPONSE as u8;
    answer.extend_from_slice(&[0u8; 64]);
    let len = (answer.len() as u32).to_be_bytes();
    let refused = match hostile(len, answer).await {
        Err(e) => e,
        Ok(_) => panic!("an answer to message 99 was accepted"),
    };
    assert!(
        refused.to_string().contains("not waiting for an answer"),
        "{refused}"
    );
}
