//! The security descriptor pushinst gives its staging directory (MS-DTYP 2.4.6,
//! self-relative form), sent in the SMB2 `SecD` create context (MS-SMB2 2.2.13.2.2)
//! so the directory is born locked: only SYSTEM and the Administrators group may
//! touch it, and nothing it inherits from `C:\Windows` loosens that. A local user
//! who could otherwise plant a DLL beside the installer cannot even list it.

/// A SID in its binary form (MS-DTYP 2.4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sid {
    pub authority: u64,
    pub sub_authorities: &'static [u32],
}

/// S-1-5-18, LocalSystem: the account the installer runs as.
pub const LOCAL_SYSTEM: Sid = Sid {
    authority: 5,
    sub_authorities: &[18],
};

/// S-1-5-32-544, BUILTIN\Administrators: the admins pushinst logs on as.
pub const ADMINISTRATORS: Sid = Sid {
    authority: 5,
    sub_authorities: &[32, 544],
};

impl Sid {
    fn write(&self, out: &mut Vec<u8>) {
        out.push(1);
        out.push(self.sub_authorities.len() as u8);
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for sub in self.sub_authorities {
            out.extend_from_slice(&sub.to_le_bytes());
        }
    }

    fn len(&self) -> usize {
        8 + 4 * self.sub_authorities.len()
    }
}

/// SECURITY_DESCRIPTOR Control bits.
const SE_DACL_PRESENT: u16 = 0x0004;
const SE_DACL_PROTECTED: u16 = 0x1000;
const SE_SELF_RELATIVE: u16 = 0x8000;
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0x00;
const OBJECT_INHERIT_ACE: u8 = 0x01;
const CONTAINER_INHERIT_ACE: u8 = 0x02;
/// FILE_ALL_ACCESS.
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
const ACL_REVISION: u8 = 2;

/// Owned by the Administrators group (not by whichever admin account ran pushinst,
/// who would keep an owner's rights over it), full control for SYSTEM and
/// Administrators, inherited by every file and folder created inside, and
/// protected: no ACE from the parent is inherited.
pub fn staging_descriptor() -> Vec<u8> {
    let trustees = [LOCAL_SYSTEM, ADMINISTRATORS];
    let aces_len: usize = trustees.iter().map(|s| 8 + s.len()).sum();
    let acl_len = 8 + aces_len;
    let owner_at = 20;
    let dacl_at = owner_at + ADMINISTRATORS.len();
    let mut out = Vec::with_capacity(dacl_at + acl_len);
    // Revision, Sbz1, Control, OffsetOwner, OffsetGroup, OffsetSacl, OffsetDacl.
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_DACL_PROTECTED).to_le_bytes());
    out.extend_from_slice(&(owner_at as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(dacl_at as u32).to_le_bytes());
    ADMINISTRATORS.write(&mut out);
    // ACL: AclRevision, Sbz1, AclSize, AceCount, Sbz2.
    out.extend_from_slice(&[ACL_REVISION, 0]);
    out.extend_from_slice(&(acl_len as u16).to_le_bytes());
    out.extend_from_slice(&(trustees.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    for sid in trustees {
        // ACCESS_ALLOWED_ACE: AceType, AceFlags, AceSize, Mask, Sid.
        out.push(ACCESS_ALLOWED_ACE_TYPE);
        out.push(OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE);
        out.extend_from_slice(&((8 + sid.len()) as u16).to_le_bytes());
        out.extend_from_slice(&FILE_ALL_ACCESS.to_le_bytes());
        sid.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)` laid out by hand from MS-DTYP 2.4.6,
    /// 2.4.5 and 2.4.4.2, independently of the builder above.
    #[test]
    fn the_descriptor_is_the_one_windows_builds_from_its_sddl() {
        let expected: Vec<u8> = [
            &[0x01, 0x00, 0x04, 0x90][..],
            &[0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0x24, 0, 0, 0],
            &[0x01, 0x02, 0, 0, 0, 0, 0, 0x05, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0],
            &[0x02, 0x00, 0x34, 0x00, 0x02, 0x00, 0x00, 0x00],
            &[0x00, 0x03, 0x14, 0x00, 0xff, 0x01, 0x1f, 0x00],
            &[0x01, 0x01, 0, 0, 0, 0, 0, 0x05, 0x12, 0, 0, 0],
            &[0x00, 0x03, 0x18, 0x00, 0xff, 0x01, 0x1f, 0x00],
            &[0x01, 0x02, 0, 0, 0, 0, 0, 0x05, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0],
        ]
        .concat();
        assert_eq!(staging_descriptor(), expected);
    }
}
