//! Device rules on cgroup v2: v2 has no devices controller; access is decided by an eBPF
//! program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. This module compiles
//! the rules into such a program, loads it with bpf(2) and attaches it (replacing the one
//! attached before, on update).
//!
//! Semantics, as on v1: rules apply in order, a later rule overrides an earlier one for the
//! devices it matches; an allow rule matches when it grants every requested access, a deny
//! rule when it refuses any of them; a device no rule matches is allowed (the inherited
//! v1 default). Container configs start with "deny all", so in practice everything not
//! listed is refused.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::devices::{Access, Kind, Rule};
use crate::error::{FResult, Fault};

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high one
    off: i16,
    imm: i32,
}

const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// bpf_cgroup_dev_ctx: { u32 access_type (access << 16 | type); u32 major; u32 minor; }
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// Compiles the rules. Registers: r2 type, r3 requested access, r4 major, r5 minor.
pub(crate) fn compile(rules: &[Rule]) -> FResult<Vec<Insn>> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_MOV_X, 3, 2, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    // The last rule decides first: walk backwards, the first match returns.
    for rule in rules.iter().rev() {
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new(); // indexes of "skip this rule" jumps
        let mut check = |block: &mut Vec<Insn>, reg: u8, value: u32| -> FResult<()> {
            let imm = i32::try_from(value)
                .map_err(|_| Fault::invalid(format!("device number {value} is out of range")))?;
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, reg, 0, 0, imm));
            Ok(())
        };
        match rule.kind {
            Some(Kind::Block) => check(&mut block, 2, DEV_BLOCK as u32)?,
            Some(Kind::Char) => check(&mut block, 2, DEV_CHAR as u32)?,
            None => {}
        }
        if let Some(major) = rule.major {
            check(&mut block, 4, major)?;
        }
        if let Some(minor) = rule.minor {
            check(&mut block, 5, minor)?;
        }
        if rule.access != Access::ALL {
            block.push(insn(ALU64_MOV_X, 6, 3, 0, 0));
            if rule.allow {
                // matches when nothing outside the granted bits is requested
                block.push(insn(
                    ALU64_AND_K,
                    6,
                    0,
                    0,
                    i32::from(!rule.access & Access::ALL),
                ));
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 6, 0, 0, 0));
            } else {
                // matches when any refused bit is requested
                block.push(insn(ALU64_AND_K, 6, 0, 0, i32::from(rule.access)));
                jumps.push(block.len());
                block.push(insn(JMP_JEQ_K, 6, 0, 0, 0));
            }
        }
        block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in &jumps {
            block[*j].off = (len - j - 1) as i16;
        }
        prog.extend(block);
        if jumps.is_empty() {
            // matches everything: nothing after it could run (the verifier refuses dead code)
            return Ok(prog);
        }
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    Ok(prog)
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: attr is a properly laid out bpf_attr prefix of the given size, alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn]) -> FResult<OwnedFd> {
    let license = b"Apache-2.0\0";
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: the kernel returned a new file descriptor we now own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            // load again with the verifier log, for the error message
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            Err(Fault::invalid(format!(
                "loading the device-access eBPF program failed: {e}{}{}",
                if text.is_empty() { "" } else { ": " },
                text.lines().last().unwrap_or("")
            )))
        }
    }
}

/// The ids of the device programs attached to the cgroup.
pub(crate) fn attached(cgroup: &OwnedFd) -> FResult<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)
        .map_err(|e| Fault::invalid(format!("listing the device programs of the cgroup: {e}")))?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// Loads the program for `rules` and makes it the cgroup's only device program.
pub(crate) fn apply(dir: &Path, rules: &[Rule]) -> FResult<()> {
    let prog = compile(rules)?;
    let cgroup: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| Fault::io("opening cgroup directory", dir, e))?
        .into();
    let old = attached(&cgroup)?;
    let fd = load(&prog)?;
    // Attach the new program before detaching the old ones: while both are attached the
    // stricter of the two applies, so no access is ever granted by mistake.
    let mut attach = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| {
        Fault::invalid(format!(
            "attaching the device-access eBPF program to {}: {e}",
            dir.display()
        ))
    })?;
    for id in old {
        let mut get = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let Ok(old_fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut get) else {
            continue; // already gone
        };
        // SAFETY: a new descriptor returned by the kernel.
        let old_fd = unsafe { OwnedFd::from_raw_fd(old_fd as i32) };
        let mut detach = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach).map_err(|e| {
            Fault::invalid(format!(
                "detaching the previous device-access program from {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the compiled program on one request in a tiny interpreter of the instructions
    /// it uses.
    fn run(prog: &[Insn], kind: i32, access: u8, major: u32, minor: u32) -> bool {
        let mut r = [0u64; 11];
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                ALU64_MOV_X => r[dst] = r[src],
                ALU64_MOV_K => r[dst] = imm,
                ALU64_AND_K => r[dst] &= imm,
                ALU64_RSH_K => r[dst] >>= imm,
                JMP_JNE_K if r[dst] != imm => pc += i.off as usize,
                JMP_JEQ_K if r[dst] == imm => pc += i.off as usize,
                JMP_JNE_K | JMP_JEQ_K => {}
                JMP_EXIT => return r[0] == 1,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        kind: Option<Kind>,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    const R: u8 = Access::READ;
    const W: u8 = Access::WRITE;
    const M: u8 = Access::MKNOD;

    #[test]
    fn deny_all_then_allow_some() {
        let rules = [
            rule(false, None, None, None, Access::ALL),
            rule(true, Some(Kind::Char), Some(1), Some(3), R | W),
            rule(true, Some(Kind::Char), None, None, M),
            rule(false, Some(Kind::Char), Some(1), Some(3), W),
        ];
        let p = compile(&rules).unwrap();
        assert!(run(&p, DEV_CHAR, R, 1, 3), "read /dev/null");
        assert!(!run(&p, DEV_CHAR, W, 1, 3), "write denied by the last rule");
        assert!(!run(&p, DEV_CHAR, R | W, 1, 3), "any denied bit denies");
        assert!(run(&p, DEV_CHAR, M, 5, 5), "mknod of any char device");
        assert!(!run(&p, DEV_CHAR, R, 5, 5));
        assert!(!run(&p, DEV_BLOCK, R, 1, 3), "type matters");
        // the catch-all deny ends the program: no unreachable default after it
        assert_eq!(p.last().unwrap().code, JMP_EXIT);
        assert_eq!(p[p.len() - 2].imm, 0);
    }

    #[test]
    fn partial_grant_does_not_match() {
        let rules = [
            rule(false, None, None, None, Access::ALL),
            rule(true, Some(Kind::Block), Some(8), None, R),
        ];
        let p = compile(&rules).unwrap();
        assert!(run(&p, DEV_BLOCK, R, 8, 16));
        assert!(!run(&p, DEV_BLOCK, R | W, 8, 16));
    }

    #[test]
    fn no_catch_all_defaults_to_allow() {
        let p = compile(&[rule(
            false,
            Some(Kind::Char),
            Some(10),
            Some(200),
            Access::ALL,
        )])
        .unwrap();
        assert!(!run(&p, DEV_CHAR, R, 10, 200));
        assert!(run(&p, DEV_CHAR, R, 1, 3));
    }
}
