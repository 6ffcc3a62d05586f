//! The command line: docker's commands, flags and help, so muscle memory works.

pub mod container;
pub mod contexts;
pub mod image;
pub mod network;
pub mod system;
pub mod volume;

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

pub use container::*;
pub use contexts::*;
pub use image::*;
pub use network::*;
pub use system::*;
pub use volume::*;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A client for the Berth container engine (and any Docker Engine API daemon)",
    long_about = "A client for the Berth container engine.\n\nberth speaks the Docker Engine REST API, so it drives berthd and dockerd alike. \
Commands and flags follow docker's: `berth run -it busybox sh` does what `docker run -it busybox sh` does.",
    after_help = "Run 'berth COMMAND --help' for more information on a command.",
    disable_version_flag = true,
    version,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Daemon socket to connect to: unix:///PATH or tcp://HOST:PORT
    /// [env: BERTH_HOST or DOCKER_HOST; default unix:///run/berth/berth.sock]
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Vec<String>,

    /// Directory holding the client configuration (config.json, credentials)
    /// [env: BERTH_CONFIG or DOCKER_CONFIG; default ~/.berth]
    #[arg(long, value_name = "DIR")]
    pub config: Option<PathBuf>,

    /// Name of the context to use to connect to the daemon (overrides BERTH_HOST,
    /// DOCKER_HOST and the default context set with "berth context use")
    /// [env: BERTH_CONTEXT or DOCKER_CONTEXT]
    #[arg(short = 'c', long, value_name = "NAME")]
    pub context: Option<String>,

    /// Use TLS (implied by --tlsverify)
    #[arg(long)]
    pub tls: bool,

    /// Use TLS and verify the daemon's certificate [env: BERTH_TLS_VERIFY]
    #[arg(long)]
    pub tlsverify: bool,

    /// Trust only certificates signed by this CA
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,

    /// Path to the client's TLS certificate
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,

    /// Path to the client's TLS key
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,

    /// Print each request to the daemon and its status on stderr
    #[arg(short = 'D', long)]
    pub debug: bool,

    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    // Common commands, as `docker --help` lists them first.
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// List containers
    Ps(PsArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// List images
    Images(ImagesArgs),
    /// Authenticate to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Show the berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(FormatArgs),

    // Management commands.
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage contexts
    #[command(subcommand)]
    Context(ContextCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage the engine
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),

    // The rest, docker's "commands" section.
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Create a new container
    Create(Box<CreateArgs>),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Return low-level information on containers and images
    Inspect(InspectArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),

    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
    /// Write a manual page for berth and each of its commands into a directory
    #[command(name = "man-pages", hide = true)]
    ManPages(ManPagesArgs),
}

/// The shells `berth completion` writes scripts for (docker's list).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum CompletionShell {
    Bash,
    Fish,
    Powershell,
    Zsh,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "To load completions:
  bash:        source <(berth completion bash)
               or, for every session: berth completion bash > /usr/share/bash-completion/completions/berth
  zsh:         berth completion zsh > \"${fpath[1]}/_berth\"
  fish:        berth completion fish > ~/.config/fish/completions/berth.fish
  powershell:  berth completion powershell | Out-String | Invoke-Expression

scripts/setup.sh installs the bash, zsh and fish scripts.")]
pub struct CompletionArgs {
    /// The shell to generate the script for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: CompletionShell,
}

#[derive(clap::Args, Debug)]
pub struct ManPagesArgs {
    /// Directory to write the pages into (berth.1, berth-run.1, berth-container-ls.1, ...)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `--format` alone (info, version-like commands).
#[derive(clap::Args, Debug)]
pub struct FormatArgs {
    /// Format the output using a Go template, or "json"
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// One or more containers (pause, unpause, wait).
#[derive(clap::Args, Debug)]
pub struct ContainersArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}
