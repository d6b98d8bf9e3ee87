//! Windows targets: SMB2/3 for files (the ADMIN$ share) and named pipes, DCE/RPC
//! over those pipes for the Service Control Manager and the Task Scheduler.

#![allow(dead_code)]

mod pipe;
pub mod rpc;
pub mod smb;
