//! OCI seccomp profiles compiled to BPF and installed with seccomp(2).
//!
//! API contract (used by berth-runtime); the bodies are being written.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp: {0}")]
    Invalid(String),
    #[error("seccomp: {0} is not supported")]
    Unsupported(String),
    #[error("seccomp: installing the filter: {0}")]
    Install(std::io::Error),
}

/// A compiled profile: a stack of BPF programs, installed in order.
pub struct Filter {
    _private: (),
}

/// Compiles a profile for the host architecture. Everything the profile asks for is either
/// honoured exactly or refused with an error: never a silently weaker filter.
pub fn compile(_profile: &oci_spec::runtime::LinuxSeccomp) -> Result<Filter, Error> {
    unimplemented!("berth-seccomp: compile")
}

impl Filter {
    /// Installs the filter on the calling thread (after fork, right before exec, or while
    /// CAP_SYS_ADMIN is still held when `no_new_privileges` is false).
    pub fn install(&self) -> Result<(), Error> {
        unimplemented!("berth-seccomp: install")
    }
}
