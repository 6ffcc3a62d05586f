//! Image commands: arguments shared by `berth X` and `berth image X`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(super::TypedInspectArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Show digests
    #[arg(long)]
    pub digests: bool,

    /// Filter output based on conditions provided (dangling=true, reference=busybox*, label=k=v)
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Only list images matching REPOSITORY[:TAG]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,

    /// Set the platform if the image is multi-platform (e.g. linux/amd64)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,

    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,

    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,

    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,

    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from a tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,

    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,

    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Provide filter values (e.g. until=24h, label=k=v)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,

    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,

    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,

    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,

    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,

    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,

    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,

    /// Set metadata for an image (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,

    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,

    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub rm: bool,

    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,

    /// The context: a directory, "-" (a tar or a Dockerfile on STDIN), or a URL
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Provide filter values (e.g. until=24h)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}
