//! Container commands: arguments shared by `berth X` and `berth container X`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Create a new container
    Create(Box<CreateArgs>),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(TypedInspectArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Pause all processes within one or more containers
    Pause(super::ContainersArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(super::ContainersArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(super::ContainersArgs),
}

/// Everything that shapes a new container: shared by `create` and `run`.
#[derive(Args, Debug, Default)]
pub struct ContainerOpts {
    /// Add a custom host-to-IP mapping (host:ip) to /etc/hosts
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,

    /// Add an annotation to the container, passed through to the OCI runtime (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,

    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "UINT16", default_value_t = 0)]
    pub blkio_weight: u16,

    /// Block IO weight (relative device weight, DEVICE:WEIGHT)
    #[arg(long = "blkio-weight-device", value_name = "DEVICE:WEIGHT")]
    pub blkio_weight_device: Vec<String>,

    /// Add Linux capabilities (e.g. NET_ADMIN, or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// Drop Linux capabilities (e.g. NET_RAW, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "CGROUP")]
    pub cgroup_parent: Option<String>,

    /// Cgroup namespace to use: "host" (the host's) or "private" (its own); the
    /// daemon's default when unset
    #[arg(long, value_name = "MODE")]
    pub cgroupns: Option<String>,

    /// Write the container ID to this file
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,

    /// CPU count (Windows only)
    #[arg(long = "cpu-count", value_name = "INT", default_value_t = 0)]
    pub cpu_count: i64,

    /// CPU percent (Windows only)
    #[arg(long = "cpu-percent", value_name = "INT", default_value_t = 0)]
    pub cpu_percent: i64,

    /// Limit CPU CFS (Completely Fair Scheduler) period, in microseconds
    #[arg(
        long = "cpu-period",
        value_name = "INT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub cpu_period: i64,

    /// Limit CPU CFS (Completely Fair Scheduler) quota, in microseconds
    #[arg(
        long = "cpu-quota",
        value_name = "INT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub cpu_quota: i64,

    /// Limit CPU real-time period in microseconds
    #[arg(
        long = "cpu-rt-period",
        value_name = "INT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub cpu_rt_period: i64,

    /// Limit CPU real-time runtime in microseconds
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "INT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub cpu_rt_runtime: i64,

    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "INT")]
    pub cpu_shares: Option<i64>,

    /// Number of CPUs the container may use (e.g. 1.5)
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,

    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,

    /// Memory nodes (MEMs) in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,

    /// Add a host device to the container (HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]])
    #[arg(long, value_name = "DEVICE")]
    pub device: Vec<String>,

    /// Add a rule to the cgroup allowed devices list (e.g. 'c 1:3 mr')
    #[arg(long = "device-cgroup-rule", value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,

    /// Limit read rate (bytes per second) from a device (DEVICE:RATE, e.g. /dev/sda:1mb)
    #[arg(long = "device-read-bps", value_name = "DEVICE:RATE")]
    pub device_read_bps: Vec<String>,

    /// Limit read rate (IO per second) from a device (DEVICE:RATE)
    #[arg(long = "device-read-iops", value_name = "DEVICE:RATE")]
    pub device_read_iops: Vec<String>,

    /// Limit write rate (bytes per second) to a device (DEVICE:RATE, e.g. /dev/sda:1mb)
    #[arg(long = "device-write-bps", value_name = "DEVICE:RATE")]
    pub device_write_bps: Vec<String>,

    /// Limit write rate (IO per second) to a device (DEVICE:RATE)
    #[arg(long = "device-write-iops", value_name = "DEVICE:RATE")]
    pub device_write_iops: Vec<String>,

    /// Skip image verification (accepted for docker compatibility: berth does not verify
    /// image signatures)
    #[arg(long = "disable-content-trust", value_name = "BOOL", default_missing_value = "true",
          num_args = 0..=1, require_equals = true, default_value_t = true, action = ArgAction::Set)]
    pub disable_content_trust: bool,

    /// Set custom DNS servers
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,

    /// Set DNS options (resolv.conf "options")
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "OPTION")]
    pub dns_option: Vec<String>,

    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// Overwrite the image's default ENTRYPOINT ("" clears it)
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,

    /// Set environment variables (KEY=VALUE, or KEY to pass the local value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Read environment variables from a file (one KEY=VALUE per line)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Expose a port or a range of ports without publishing it
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,

    /// GPU devices to add to the container ("all", a count, or
    /// count=N,device=IDS,driver=NAME,capabilities=CAPS,options=K=V)
    #[arg(long, value_name = "GPU-REQUEST")]
    pub gpus: Vec<String>,

    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,

    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    pub health_cmd: Option<String>,

    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "DURATION")]
    pub health_interval: Option<String>,

    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "INT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub health_retries: i64,

    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_name = "DURATION")]
    pub health_start_interval: Option<String>,

    /// Start period for the container to initialize before starting health-retries
    /// countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "DURATION")]
    pub health_start_period: Option<String>,

    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "DURATION")]
    pub health_timeout: Option<String>,

    /// Container host name
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Container NIS domain name
    #[arg(long, value_name = "NAME")]
    pub domainname: Option<String>,

    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,

    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// IPv4 address on the container's network (a user-defined network with a subnet)
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<String>,

    /// IPv6 address on the container's network (e.g. 2001:db8::33)
    #[arg(long, value_name = "IPV6")]
    pub ip6: Option<String>,

    /// Maximum IO bandwidth limit for the system drive (Windows only)
    #[arg(long = "io-maxbandwidth", value_name = "BYTES")]
    pub io_maxbandwidth: Option<String>,

    /// Maximum IOps limit for the system drive (Windows only)
    #[arg(long = "io-maxiops", value_name = "UINT", default_value_t = 0)]
    pub io_maxiops: u64,

    /// Container isolation technology
    #[arg(long, value_name = "ISOLATION")]
    pub isolation: Option<String>,

    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "BYTES")]
    pub kernel_memory: Option<String>,

    /// IPC mode to use
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,

    /// Container MAC address on its network (e.g. 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "MAC")]
    pub mac_address: Option<String>,

    /// Set metadata on the container (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,

    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,

    /// Add link to another container (NAME[:ALIAS])
    #[arg(long, value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,

    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_name = "IP")]
    pub link_local_ip: Vec<String>,

    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub log_driver: Option<String>,

    /// Log driver options (KEY=VALUE)
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,

    /// Memory limit (e.g. 512m, 1g)
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,

    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "BYTES")]
    pub memory_reservation: Option<String>,

    /// Swap limit equal to memory plus swap: -1 for unlimited swap
    #[arg(long = "memory-swap", value_name = "BYTES")]
    pub memory_swap: Option<String>,

    /// Tune container memory swappiness (0 to 100, -1 for the default)
    #[arg(long = "memory-swappiness", value_name = "INT", default_value_t = -1, allow_negative_numbers = true)]
    pub memory_swappiness: i64,

    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=,target=,readonly,...)
    #[arg(long, value_name = "MOUNT")]
    pub mount: Vec<String>,

    /// Assign a name to the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Connect the container to a network ("none", "host", or a network name)
    #[arg(long, visible_alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,

    /// Add a network-scoped alias for the container
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "ALIAS"
    )]
    pub network_alias: Vec<String>,

    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,

    /// Disable the OOM killer for the container
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,

    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(
        long = "oom-score-adj",
        value_name = "INT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub oom_score_adj: i64,

    /// PID namespace to use ("host" to share the host's)
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,

    /// Limit the number of processes (-1 for unlimited)
    #[arg(long = "pids-limit", value_name = "INT", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,

    /// Set the platform if the image is multi-platform (e.g. linux/amd64)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,

    /// Publish a container's port(s) to the host ([IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])
    #[arg(short = 'p', long, value_name = "PORTS")]
    pub publish: Vec<String>,

    /// Publish all exposed ports to random host ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,

    /// Pull the image before creating ("always", "missing", "never")
    #[arg(long, value_name = "POLICY", default_value = "missing")]
    pub pull: String,

    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,

    /// Restart policy when the container exits ("no", "always", "unless-stopped", "on-failure[:N]")
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub restart: String,

    /// Automatically remove the container and its anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,

    /// Runtime to use for this container
    #[arg(long, value_name = "RUNTIME")]
    pub runtime: Option<String>,

    /// Security options (no-new-privileges, seccomp=PROFILE.json|unconfined, ...)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "BYTES")]
    pub shm_size: Option<String>,

    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// Seconds to wait before killing the container on stop
    #[arg(long = "stop-timeout", value_name = "SECONDS")]
    pub stop_timeout: Option<i64>,

    /// Storage driver options for the container (KEY=VALUE)
    #[arg(long = "storage-opt", value_name = "KEY=VALUE")]
    pub storage_opt: Vec<String>,

    /// Kernel parameters to set (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,

    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,

    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,

    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long, value_name = "ULIMIT")]
    pub ulimit: Vec<String>,

    /// Bind mount the daemon's API socket into the container at /var/run/docker.sock
    #[arg(long = "use-api-socket")]
    pub use_api_socket: bool,

    /// User name or UID, with optional group (USER[:GROUP])
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,

    /// User namespace to use ("host" to share the host's)
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,

    /// UTS namespace to use
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,

    /// Bind mount a host path or a named volume (SOURCE:CONTAINER_PATH[:OPTIONS]), or
    /// make an anonymous volume (CONTAINER_PATH)
    #[arg(short = 'v', long, value_name = "VOLUME")]
    pub volume: Vec<String>,

    /// Volume driver for the container's new volumes
    #[arg(long = "volume-driver", value_name = "DRIVER")]
    pub volume_driver: Option<String>,

    /// Mount the volumes of the given container (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,

    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
}

#[derive(Args, Debug)]
#[command(
    disable_help_flag = true,
    override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]"
)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,

    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,

    /// The image, then the command and its arguments
    #[arg(value_name = "IMAGE", required = true, trailing_var_arg = true, num_args = 1..)]
    pub image_and_command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    disable_help_flag = true,
    override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    after_help = "Examples:
  berth run --rm busybox echo hello         run a command, print its output, remove the container
  berth run -it --rm busybox sh             an interactive shell (detach with ctrl-p ctrl-q)
  berth run -d --name web -m 64m busybox sleep 1000
                                            in the background, named, with a memory limit
  echo data | berth run -i --rm busybox cat
                                            stdin goes to the container until it ends

Everything after IMAGE is the container's command, even words that look like flags.
The exit status is the container's; 125 means the daemon or berth failed, 126 that the
command could not be invoked, 127 that it was not found."
)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,

    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long, value_name = "STREAM")]
    pub attach: Vec<String>,

    /// Run the container in the background and print its ID
    #[arg(short = 'd', long)]
    pub detach: bool,

    /// Key sequence for detaching from the container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,

    /// Forward the signals berth receives to the container (only without a TTY)
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,

    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,

    /// The image, then the command and its arguments
    #[arg(value_name = "IMAGE", required = true, trailing_var_arg = true, num_args = 1..)]
    pub image_and_command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,

    /// Attach the container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Key sequence for detaching from the container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "SIGNAL")]
    pub signal: Option<String>,

    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub timeout: Option<i64>,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "SIGNAL")]
    pub signal: Option<String>,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Remove the anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,

    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  berth ps -a --filter status=exited -q     ids of the stopped containers
  berth ps --format '{{.Names}}\\t{{.Status}}'
  berth ps --format 'table {{.ID}}\\t{{.Label \"team\"}}'
  berth ps --format json                    one JSON object per container")]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Filter output based on conditions provided (e.g. status=exited, name=web, label=k=v)
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "INT", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,

    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,

    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  berth logs -f --tail 10 web               the last 10 lines, then follow
  berth logs --since 10m -t web             the last ten minutes, with timestamps")]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,

    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,

    /// Show logs since a timestamp (2013-01-02T13:23:37Z) or a relative time (42m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,

    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,

    /// Show logs before a timestamp or a relative time
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
#[command(
    override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    after_help = "Examples:
  berth exec web cat /etc/hostname
  berth exec -it web sh                     an interactive shell in a running container
  berth exec -u nobody -w /tmp -e A=1 web env"
)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,

    /// Key sequence for detaching from the process
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,

    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Read environment variables from a file
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,

    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,

    /// User name or UID (USER[:GROUP])
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,

    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// The container, then the command and its arguments
    #[arg(value_name = "CONTAINER", required = true, trailing_var_arg = true, num_args = 2..)]
    pub container_and_command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Key sequence for detaching from the container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,

    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,

    /// Forward received signals to the process (only without a TTY)
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Options passed to ps (e.g. aux)
    #[arg(
        value_name = "PS OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,

    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Args, Debug)]
#[command(
    override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    after_help = "Examples:
  berth cp web:/etc/hosts .                 a file into the current directory
  berth cp ./conf web:/etc/app              a directory, named /etc/app if that does not exist
  berth cp ./conf/. web:/etc/app            the directory's contents
  berth cp web:/var/log - | tar t           the tar stream on stdout"
)]
pub struct CpArgs {
    /// Archive mode: copy all uid/gid information
    #[arg(short = 'a', long)]
    pub archive: bool,

    /// Always follow symbol links in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,

    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,

    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Provide filter values (e.g. until=24h, label=k=v)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  berth inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
  berth inspect -f '{{json .Config.Env}}' web
  berth inspect -f '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}' web")]
pub struct InspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,

    /// Only inspect objects of this type ("container", "image" or "volume")
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,

    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

/// `container inspect` / `image inspect`: the type is known.
#[derive(Args, Debug)]
pub struct TypedInspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Display total file sizes (containers)
    #[arg(short = 's', long)]
    pub size: bool,

    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
#[command(override_usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]")]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// The container port to look up (e.g. 80 or 53/udp); all published ports without it
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub private_port: Option<String>,
}
