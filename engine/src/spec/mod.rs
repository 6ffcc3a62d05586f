//! The OCI runtime spec of a container, as dockerd would generate it: the shared base spec
//! of `berth-spec` (mounts, default capabilities, masked and read-only paths, device
//! rules), then everything the create request asks for, docker's way. The spec is typed
//! (`oci_spec::runtime::Spec`) throughout; it becomes JSON only in the request to shimd.

pub mod caps;
pub mod devices;
pub mod linux;
pub mod mounts;
pub mod plan;
pub mod process;
pub mod resources;
#[cfg(test)]
mod samples;
pub mod security;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use berth_api::container::{Config, HostConfig};
use oci_spec::runtime::{LinuxSeccomp, Mount, Spec};

use crate::error::{Error, Result};
pub use plan::Plan;
pub use process::{command_line, process_user};

/// The shimd namespace the engine's containers live in.
const NAMESPACE: &str = "berth";

/// Makes docker's default seccomp profile for a capability set.
pub type SeccompProfileFn = dyn Fn(&[String]) -> LinuxSeccomp + Sync;

/// The files the engine writes for each container and binds into it.
pub struct EtcFiles<'a> {
    pub hostname: &'a Path,
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
}

/// Everything the spec is made from.
pub struct Input<'a> {
    pub id: &'a str,
    /// The merged config (image defaults under the request).
    pub config: &'a Config,
    pub host: &'a HostConfig,
    /// The host config, checked.
    pub plan: &'a Plan,
    pub hostname: &'a str,
    /// The network namespace to join; `None` shares the host's.
    pub netns: Option<PathBuf>,
    pub etc: EtcFiles<'a>,
    pub default_ulimits: &'a [crate::config::UlimitSpec],
    pub default_shm_size: i64,
    /// Docker's default seccomp profile for a capability set (containers get it unless
    /// unconfined or privileged).
    pub default_seccomp: Option<&'a SeccompProfileFn>,
    /// The user's mounts, resolved (binds, volumes, tmpfs).
    pub mounts: &'a [mounts::ContainerMount],
    /// With `--init`: the init on the host, bound read-only at
    /// [`crate::init_binary::IN_CONTAINER`] and run in front of the command.
    pub init: Option<&'a Path>,
}

/// A bind of `source` at `destination`, as the engine's own binds are made.
fn bind(destination: &str, source: &str) -> Mount {
    mounts::oci_mount(
        destination,
        "bind",
        source,
        &["rbind".to_string(), "rprivate".to_string()],
    )
}

/// The mounts: the base spec's (docker has no /run tmpfs), adjusted for privilege, shm and
/// IPC mode; then the engine's etc files and the user's mounts, parents before children as
/// dockerd orders them (so `/etc/hosts` lands on a volume mounted at `/etc`, not under
/// it). A user mount replaces a default one on the same path.
fn mounts(base: &[Mount], input: &Input) -> Vec<Mount> {
    let h = input.host;
    let shm = if h.shm_size > 0 {
        h.shm_size
    } else {
        input.default_shm_size
    };
    let mut out: Vec<Mount> = Vec::new();
    for m in base {
        let mut m = m.clone();
        let dest = m.destination().to_string_lossy().into_owned();
        match dest.as_str() {
            "/run" => continue,
            "/sys" | "/sys/fs/cgroup" if h.privileged => {
                let rw = m.options().as_ref().map(|o| {
                    o.iter()
                        .filter(|x| x.as_str() != "ro")
                        .cloned()
                        .collect::<Vec<_>>()
                });
                m.set_options(rw);
            }
            "/dev/shm" if h.ipc_mode == "host" => m = bind("/dev/shm", "/dev/shm"),
            "/dev/shm" => {
                let options = ["nosuid", "noexec", "nodev", "mode=1777"]
                    .iter()
                    .map(|o| o.to_string())
                    .chain([format!("size={shm}")])
                    .collect();
                m.set_options(Some(options));
            }
            _ => {}
        }
        out.push(m);
    }
    let mut container: Vec<Mount> = [
        ("/etc/resolv.conf", input.etc.resolv_conf),
        ("/etc/hostname", input.etc.hostname),
        ("/etc/hosts", input.etc.hosts),
    ]
    .into_iter()
    .map(|(dest, src)| bind(dest, &src.to_string_lossy()))
    .collect();
    let user = input.mounts;
    let overridden = |m: &Mount| {
        user.iter()
            .any(|u| m.destination().as_os_str() == OsStr::new(&u.point.destination))
    };
    out.retain(|m| !overridden(m));
    container.retain(|m| !overridden(m));
    container.extend(user.iter().map(mounts::ContainerMount::oci));
    if let Some(init) = input.init {
        container.push(mounts::oci_mount(
            crate::init_binary::IN_CONTAINER,
            "bind",
            &init.to_string_lossy(),
            &["bind".to_string(), "ro".to_string(), "rprivate".to_string()],
        ));
    }
    let depth = |m: &Mount| {
        m.destination()
            .to_string_lossy()
            .split('/')
            .filter(|c| !c.is_empty())
            .count()
    };
    container.sort_by_key(depth);
    out.extend(container);
    out
}

/// The `linux` section: namespaces, resources and devices, cgroup, masked paths,
/// sysctls and seccomp.
fn linux(base: oci_spec::runtime::Linux, input: &Input) -> Result<oci_spec::runtime::Linux> {
    let (h, plan) = (input.host, input.plan);
    let mut linux = base;
    linux.set_namespaces(Some(linux::namespaces(h, input.netns.as_ref())?));
    let base_rules = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let (res, mut devices) = resources::build(h, base_rules)?;
    linux.set_resources(Some(res));
    linux.set_cgroups_path(Some(linux::cgroups_path(h, input.id)));
    if h.privileged {
        devices.extend(devices::host_devices());
    }
    if !devices.is_empty() {
        linux.set_devices(Some(devices));
    }
    let unmasked = plan.unmasked(h);
    if let Some(p) = &h.masked_paths {
        linux.set_masked_paths(Some(p.clone()));
    } else if unmasked {
        linux.set_masked_paths(None);
    }
    if let Some(p) = &h.readonly_paths {
        linux.set_readonly_paths(Some(p.clone()));
    } else if unmasked {
        linux.set_readonly_paths(None);
    }
    let mut sysctls = if input.netns.is_some() {
        linux::private_network_sysctls()
    } else {
        Default::default()
    };
    for (k, v) in h.sysctls.iter().flatten() {
        linux::check_sysctl(k, input.netns.is_none(), h.ipc_mode == "host")?;
        sysctls.insert(k.clone(), v.clone());
    }
    if !sysctls.is_empty() {
        linux.set_sysctl(Some(sysctls));
    }
    if !h.privileged {
        match &plan.security.seccomp {
            security::Seccomp::Unconfined => {}
            security::Seccomp::Profile(p) => {
                linux.set_seccomp(Some(security::oci_profile(p, &plan.caps)?));
            }
            security::Seccomp::Default => {
                if let Some(f) = input.default_seccomp {
                    linux.set_seccomp(Some(f(&plan.caps)));
                }
            }
        }
    }
    Ok(linux)
}

/// The whole spec. `root.path` is left for shimd to fill in.
pub fn generate(input: &Input) -> Result<Spec> {
    let h = input.host;
    let c = input.config;
    let mut args = command_line(c);
    if args.is_empty() {
        return Err(Error::invalid("No command specified"));
    }
    if input.init.is_some() {
        let init = [crate::init_binary::IN_CONTAINER, "--"].map(String::from);
        args.splice(0..0, init);
    }
    let mut spec = berth_spec::default_spec(NAMESPACE, input.id);
    let missing = |what: &str| Error::internal(format!("the base OCI spec has no {what}"));
    let base = spec.process().clone().ok_or_else(|| missing("process"))?;
    spec.set_process(Some(process::build(base, input, args)?));
    if let Some(root) = spec.root_mut() {
        root.set_readonly(Some(h.readonly_rootfs));
    }
    if h.uts_mode == "host" {
        if !c.hostname.is_empty() && c.hostname != input.hostname {
            return Err(Error::invalid(
                "conflicting options: hostname and the host UTS namespace",
            ));
        }
        spec.set_hostname(None);
    } else {
        spec.set_hostname(Some(input.hostname.to_string()));
        if !c.domainname.is_empty() {
            spec.set_domainname(Some(c.domainname.clone()));
        }
    }
    let all_mounts = mounts(spec.mounts().as_deref().unwrap_or(&[]), input);
    spec.set_mounts(Some(all_mounts));
    let base = spec
        .linux()
        .clone()
        .ok_or_else(|| missing("linux section"))?;
    spec.set_linux(Some(linux(base, input)?));
    if let Some(a) = h.annotations.as_ref().filter(|a| !a.is_empty()) {
        let mut all = spec.annotations().clone().unwrap_or_default();
        all.extend(a.iter().map(|(k, v)| (k.clone(), v.clone())));
        spec.set_annotations(Some(all));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::strslice::StrSlice;
    use oci_spec::runtime::{LinuxNamespaceType, Process};

    fn input<'a>(config: &'a Config, host: &'a HostConfig, plan: &'a Plan) -> Input<'a> {
        Input {
            id: "abc",
            config,
            host,
            plan,
            hostname: "abc",
            netns: Some("/run/berth/netns/abc".into()),
            etc: EtcFiles {
                hostname: Path::new("/c/hostname"),
                hosts: Path::new("/c/hosts"),
                resolv_conf: Path::new("/c/resolv.conf"),
            },
            default_ulimits: &[],
            default_shm_size: 64 << 20,
            default_seccomp: None,
            mounts: &[],
            init: None,
        }
    }

    /// The spec for a request, its host config checked first as the create does.
    fn gen_with<'a>(
        config: &'a Config,
        host: &'a HostConfig,
        f: impl FnOnce(&mut Input<'a>),
    ) -> Result<Spec> {
        let plan: &'a Plan = Box::leak(Box::new(Plan::of(host)?));
        let mut i = input(config, host, plan);
        f(&mut i);
        generate(&i)
    }

    fn gen(config: &Config, host: &HostConfig) -> Result<Spec> {
        gen_with(config, host, |_| {})
    }

    fn sh() -> Config {
        Config {
            cmd: Some(StrSlice(vec!["sh".into()])),
            ..Default::default()
        }
    }

    fn process(s: &Spec) -> &Process {
        s.process().as_ref().unwrap()
    }

    fn dests_of(s: &Spec) -> Vec<String> {
        s.mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().to_string_lossy().into_owned())
            .collect()
    }

    fn namespaces_of(s: &Spec) -> Vec<LinuxNamespaceType> {
        s.linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .iter()
            .flatten()
            .map(|n| n.typ())
            .collect()
    }

    fn bounding_len(s: &Spec) -> usize {
        let caps = process(s).capabilities().as_ref().unwrap();
        caps.bounding().as_ref().unwrap().len()
    }

    #[test]
    fn the_user_and_groups_go_to_shimd_unresolved() {
        let config = Config {
            user: "app:wheel".into(),
            ..sh()
        };
        let host = HostConfig {
            group_add: Some(vec!["audio".into(), "10".into()]),
            ..Default::default()
        };
        let s = gen(&config, &host).unwrap();
        // The spec keeps the base's root: shimd replaces it with the resolved identity.
        let u = process(&s).user();
        assert_eq!((u.uid(), u.gid(), u.additional_gids()), (0, 0, &None));
        assert!(s.annotations().is_none(), "{:?}", s.annotations());
        assert_eq!(
            process_user(&config, &host),
            berth_proto::v1::ProcessUser {
                user: "app:wheel".into(),
                additional_groups: vec!["audio".into(), "10".into()],
            }
        );
        assert_eq!(
            process_user(&Config::default(), &HostConfig::default()),
            berth_proto::v1::ProcessUser::default()
        );
        for bad in ["", "a:b", "x\ny"] {
            let host = HostConfig {
                group_add: Some(vec![bad.into()]),
                ..Default::default()
            };
            let e = gen(&config, &host).unwrap_err();
            assert!(e.message.contains("GroupAdd"), "{bad:?}: {}", e.message);
        }
    }

    #[test]
    fn default_spec_matches_docker() {
        let config = Config {
            env: Some(vec!["A=1".into()]),
            ..sh()
        };
        let s = gen(&config, &HostConfig::default()).unwrap();
        assert_eq!(s.hostname().as_deref(), Some("abc"));
        let p = process(&s);
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(
            p.env().as_deref().unwrap(),
            ["HOSTNAME=abc", "A=1", berth_spec::DEFAULT_PATH]
        );
        assert_eq!(p.cwd(), Path::new("/"));
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(p.no_new_privileges(), Some(false));
        assert_eq!(p.oom_score_adj(), None);
        assert_eq!(bounding_len(&s), 14);
        let caps = p.capabilities().as_ref().unwrap();
        assert_eq!((caps.inheritable(), caps.ambient()), (&None, &None));
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/berth/abc"))
        );
        assert!(linux.seccomp().is_none(), "no profile maker given");
        let dests = dests_of(&s);
        assert!(!dests.iter().any(|d| d == "/run"));
        for d in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
        ] {
            assert!(dests.iter().any(|x| x == d), "{d}");
        }
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .iter()
            .any(|p| p == "/proc/kcore"));
        use LinuxNamespaceType::*;
        assert_eq!(namespaces_of(&s), [Mount, Pid, Ipc, Uts, Network]);
    }

    #[test]
    fn user_mounts_and_etc_files_mount_parents_first() {
        let m = |d: &str| mounts::ContainerMount {
            point: berth_api::mount::MountPoint {
                kind: "volume".into(),
                source: "/v".into(),
                destination: d.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let user = [m("/etc/app/conf"), m("/etc"), m("/dev/shm")];
        let s = gen_with(&sh(), &HostConfig::default(), |i| i.mounts = &user).unwrap();
        let d = dests_of(&s);
        let pos = |x: &str| d.iter().position(|y| y == x).unwrap();
        assert!(pos("/etc") < pos("/etc/hosts") && pos("/etc/hosts") < pos("/etc/app/conf"));
        assert!(pos("/dev") < pos("/dev/shm"));
        assert_eq!(
            d.iter().filter(|x| *x == "/dev/shm").count(),
            1,
            "the user's replaces it"
        );
    }

    #[test]
    fn privileged_and_host_modes() {
        let host = HostConfig {
            privileged: true,
            pid_mode: "host".into(),
            ..Default::default()
        };
        let s = gen_with(&sh(), &host, |i| i.netns = None).unwrap();
        let linux = s.linux().as_ref().unwrap();
        assert!(linux.masked_paths().is_none());
        assert!(bounding_len(&s) > 30);
        use LinuxNamespaceType::*;
        assert_eq!(namespaces_of(&s), [Mount, Ipc, Uts]);
        assert_eq!(
            linux.resources().as_ref().unwrap().devices().as_deref(),
            Some(&[devices::allow(None, None, None, "rwm")][..])
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        assert_eq!(
            gen(&Config::default(), &HostConfig::default())
                .unwrap_err()
                .message,
            "No command specified"
        );
        let host = HostConfig {
            sysctls: Some([("kernel.hostname".to_string(), "x".to_string())].into()),
            ..Default::default()
        };
        assert!(gen(&sh(), &host).is_err());
        let host = HostConfig {
            ulimits: Some(vec![berth_api::container::Ulimit {
                name: "bogus".into(),
                soft: 1,
                hard: 1,
            }]),
            ..Default::default()
        };
        assert!(gen(&sh(), &host)
            .unwrap_err()
            .message
            .contains("invalid ulimit"));
    }

    /// The sample specs, as JSON.
    fn sample_specs() -> serde_json::Map<String, serde_json::Value> {
        fn docker(caps: &[String]) -> LinuxSeccomp {
            berth_seccomp::docker_default(caps)
        }
        samples::all()
            .into_iter()
            .map(|smp| {
                let s = gen_with(&smp.config, &smp.host, |i| {
                    if !smp.netns {
                        i.netns = None;
                    }
                    i.mounts = &smp.mounts;
                    i.default_ulimits = &smp.default_ulimits;
                    i.default_seccomp = Some(&docker);
                })
                .unwrap_or_else(|e| panic!("{}: {}", smp.name, e.message));
                (smp.name.to_string(), serde_json::to_value(&s).unwrap())
            })
            .collect()
    }

    #[test]
    fn sample_specs_are_what_the_runtime_reads() {
        for (name, v) in sample_specs() {
            let back: Spec = serde_json::from_value(v.clone()).unwrap();
            let again = serde_json::to_value(&back).unwrap();
            assert_eq!(normalized(again), normalized(v.clone()), "{name}");
            let caps = &v["process"]["capabilities"];
            assert!(caps.get("inheritable").is_none() && caps.get("ambient").is_none());
            assert!(v["root"].get("path").is_some(), "{name}");
        }
    }

    /// Arrays whose order means nothing (capability sets; device nodes) sorted.
    fn normalized(mut v: serde_json::Value) -> serde_json::Value {
        for set in ["bounding", "effective", "permitted"] {
            if let Some(a) = v["process"]["capabilities"][set].as_array_mut() {
                a.sort_by_key(|c| c.to_string());
            }
        }
        if let Some(a) = v["linux"]["devices"].as_array_mut() {
            a.sort_by_key(|d| d.to_string());
        }
        v
    }

    #[test]
    fn init_is_bound_read_only_and_runs_in_front_of_the_command() {
        let config = Config {
            cmd: Some(StrSlice(vec!["sleep".into(), "1".into()])),
            ..Default::default()
        };
        let host = HostConfig {
            init: Some(true),
            ..Default::default()
        };
        let spec = gen_with(&config, &host, |i| {
            i.init = Some(Path::new("/x/berth-init"))
        })
        .unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_deref().unwrap(),
            ["/sbin/docker-init", "--", "sleep", "1"]
        );
        let m = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/sbin/docker-init"))
            .expect("the init mount");
        assert_eq!(m.source().as_deref(), Some(Path::new("/x/berth-init")));
        assert!(m.options().as_ref().unwrap().contains(&"ro".to_string()));
    }
}
