//! DCE/RPC carried by an SMB named pipe on IPC$ (`\PIPE\svcctl`, `\PIPE\atsvc`).

use super::rpc::{RpcError, RpcPipe};
use super::smb::{FileId, Open, Session, SmbError, Tree, access, disposition};
use crate::transport::BoxFuture;

pub struct SmbPipe<'s> {
    pub session: &'s mut Session,
    tree: Tree,
    file: FileId,
}

fn carried(e: SmbError) -> RpcError {
    RpcError::Transport(e)
}

impl<'s> SmbPipe<'s> {
    /// Open `name` (e.g. `svcctl`) on the session's IPC$.
    pub async fn open(session: &'s mut Session, name: &str) -> Result<SmbPipe<'s>, SmbError> {
        let tree = session.tree_connect("IPC$").await?;
        let file = session
            .create(
                &tree,
                &Open {
                    path: name,
                    access: access::PIPE,
                    disposition: disposition::OPEN,
                    options: 0,
                    descriptor: None,
                },
            )
            .await?;
        Ok(SmbPipe { session, tree, file })
    }

    pub async fn close(self) {
        let _ = self.session.close(&self.tree, self.file).await;
    }
}

impl RpcPipe for SmbPipe<'_> {
    fn write<'a>(&'a mut self, pdu: &'a [u8]) -> BoxFuture<'a, Result<(), RpcError>> {
        Box::pin(async move {
            self.session
                .write_at(&self.tree, self.file, 0, pdu)
                .await
                .map_err(carried)
        })
    }

    fn transact<'a>(&'a mut self, pdu: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, RpcError>> {
        Box::pin(async move {
            self.session
                .transceive(&self.tree, self.file, pdu)
                .await
                .map_err(carried)
        })
    }

    fn read(&mut self) -> BoxFuture<'_, Result<Vec<u8>, RpcError>> {
        Box::pin(async move {
            self.session
                .read(&self.tree, self.file, 0, 65536)
                .await
                .map_err(carried)
        })
    }
}
