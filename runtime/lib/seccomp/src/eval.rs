//! A classic-BPF evaluator for the instructions the compiler and the gate emit: what a
//! program returns for a call, without installing it. The stack uses it to order its
//! programs (see `stack::install_order`); tests use it to check verdicts.

use seccompiler::sock_filter;

/// The program's return value for a call, or None for an instruction this evaluator does
/// not know, a jump out of the program or a load outside `struct seccomp_data`.
pub(crate) fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> Option<u32> {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + i * 8..24 + i * 8].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = prog.get(pc)?;
        pc += 1;
        match i.code {
            // BPF_LD | BPF_W | BPF_ABS
            0x20 => {
                let o = i.k as usize;
                acc = u32::from_ne_bytes(data.get(o..o + 4)?.try_into().ok()?);
            }
            // BPF_ALU | BPF_AND | BPF_K
            0x54 => acc &= i.k,
            // BPF_JMP | BPF_JA
            0x05 => pc += i.k as usize,
            // BPF_JMP | BPF_JEQ, JGT, JGE, JSET with BPF_K
            0x15 | 0x25 | 0x35 | 0x45 => {
                let hit = match i.code {
                    0x15 => acc == i.k,
                    0x25 => acc > i.k,
                    0x35 => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                pc += if hit { i.jt } else { i.jf } as usize;
            }
            // BPF_RET | BPF_K
            0x06 => return Some(i.k),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_instructions_and_runaway_jumps_give_no_verdict() {
        let ld_x = sock_filter {
            code: 0x01,
            jt: 0,
            jf: 0,
            k: 0,
        };
        assert_eq!(run(&[ld_x], 0, 0, [0; 6]), None);
        let ja_out = sock_filter {
            code: 0x05,
            jt: 0,
            jf: 0,
            k: 9,
        };
        assert_eq!(run(&[ja_out], 0, 0, [0; 6]), None);
        let ld_far = sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 200,
        };
        assert_eq!(run(&[ld_far], 0, 0, [0; 6]), None);
    }
}
