//! One module per command group; `dispatch` maps the parsed command line to them.

mod attach;
mod auth;
mod build;
mod completion;
mod contexts;
mod cp;
mod create_body;
mod df;
mod events;
mod exec;
mod filters;
mod images;
mod inspect;
mod lifecycle;
mod logs;
mod mount_flags;
mod network;
mod port;
mod prune;
mod ps;
mod pull;
mod resource_flags;
mod run;
mod save_load;
mod stats;
mod system;
mod top;
mod volume;

use crate::cli::{BuilderCommand, Command, ContainerCommand, ImageCommand, SystemCommand};
use crate::client::http::seg;
use crate::context::Ctx;
use crate::error::CmdResult;

/// `/containers/<name>` or `/containers/<name>/<action>`, the name safely encoded.
pub fn cpath(name: &str, action: &str) -> String {
    if action.is_empty() {
        format!("/containers/{}", seg(name))
    } else {
        format!("/containers/{}/{action}", seg(name))
    }
}

pub fn dispatch(ctx: &Ctx, cmd: Command) -> CmdResult {
    match cmd {
        Command::Run(a) => run::run(ctx, &a),
        Command::Create(a) => run::create(ctx, &a),
        Command::Exec(a) => exec::exec(ctx, &a),
        Command::Ps(a) => ps::ps(ctx, &a),
        Command::Pull(a) => pull::pull(ctx, &a),
        Command::Push(a) => pull::push(ctx, &a),
        Command::Images(a) => images::images(ctx, &a),
        Command::Login(a) => auth::login(ctx, &a),
        Command::Logout(a) => auth::logout(ctx, &a),
        Command::Version(a) => system::version(ctx, &a),
        Command::Info(a) => system::info(ctx, &a),
        Command::Completion(a) => completion::completion(&a),
        Command::ManPages(a) => completion::man_pages(&a),
        Command::Container(c) => container(ctx, c),
        Command::Image(c) => image(ctx, c),
        Command::Network(c) => network::dispatch(ctx, c),
        Command::Volume(c) => volume::dispatch(ctx, c),
        Command::System(c) => system_cmd(ctx, c),
        Command::Build(a) => build::build(ctx, &a),
        Command::Builder(BuilderCommand::Build(a)) => build::build(ctx, &a),
        Command::Builder(BuilderCommand::Prune(a)) => build::prune(ctx, &a),
        Command::Attach(a) => exec::attach(ctx, &a),
        Command::Cp(a) => cp::cp(ctx, &a),
        Command::Events(a) => events::events(ctx, &a),
        Command::History(a) => images::history(ctx, &a),
        Command::Inspect(a) => inspect::inspect(ctx, &a),
        Command::Kill(a) => lifecycle::kill(ctx, &a),
        Command::Load(a) => save_load::load(ctx, &a),
        Command::Logs(a) => logs::logs(ctx, &a),
        Command::Pause(a) => lifecycle::pause(ctx, &a, "pause"),
        Command::Rename(a) => lifecycle::rename(ctx, &a),
        Command::Restart(a) => lifecycle::stop(ctx, &a, "restart"),
        Command::Rm(a) => lifecycle::rm(ctx, &a),
        Command::Rmi(a) => images::rmi(ctx, &a),
        Command::Save(a) => save_load::save(ctx, &a),
        Command::Start(a) => lifecycle::start(ctx, &a),
        Command::Stats(a) => stats::stats(ctx, &a),
        Command::Stop(a) => lifecycle::stop(ctx, &a, "stop"),
        Command::Tag(a) => images::tag(ctx, &a),
        Command::Top(a) => top::top(ctx, &a),
        Command::Context(c) => contexts::dispatch(ctx, c),
        Command::Port(a) => port::port(ctx, &a),
        Command::Unpause(a) => lifecycle::pause(ctx, &a, "unpause"),
        Command::Wait(a) => lifecycle::wait(ctx, &a),
    }
}

fn container(ctx: &Ctx, cmd: ContainerCommand) -> CmdResult {
    match cmd {
        ContainerCommand::Attach(a) => exec::attach(ctx, &a),
        ContainerCommand::Cp(a) => cp::cp(ctx, &a),
        ContainerCommand::Create(a) => run::create(ctx, &a),
        ContainerCommand::Exec(a) => exec::exec(ctx, &a),
        ContainerCommand::Inspect(a) => inspect::typed(ctx, &a, inspect::Kind::Container),
        ContainerCommand::Kill(a) => lifecycle::kill(ctx, &a),
        ContainerCommand::Logs(a) => logs::logs(ctx, &a),
        ContainerCommand::Ls(a) => ps::ps(ctx, &a),
        ContainerCommand::Pause(a) => lifecycle::pause(ctx, &a, "pause"),
        ContainerCommand::Prune(a) => prune::containers(ctx, &a),
        ContainerCommand::Rename(a) => lifecycle::rename(ctx, &a),
        ContainerCommand::Restart(a) => lifecycle::stop(ctx, &a, "restart"),
        ContainerCommand::Rm(a) => lifecycle::rm(ctx, &a),
        ContainerCommand::Run(a) => run::run(ctx, &a),
        ContainerCommand::Start(a) => lifecycle::start(ctx, &a),
        ContainerCommand::Stats(a) => stats::stats(ctx, &a),
        ContainerCommand::Stop(a) => lifecycle::stop(ctx, &a, "stop"),
        ContainerCommand::Top(a) => top::top(ctx, &a),
        ContainerCommand::Port(a) => port::port(ctx, &a),
        ContainerCommand::Unpause(a) => lifecycle::pause(ctx, &a, "unpause"),
        ContainerCommand::Wait(a) => lifecycle::wait(ctx, &a),
    }
}

fn image(ctx: &Ctx, cmd: ImageCommand) -> CmdResult {
    match cmd {
        ImageCommand::History(a) => images::history(ctx, &a),
        ImageCommand::Inspect(a) => inspect::typed(ctx, &a, inspect::Kind::Image),
        ImageCommand::Load(a) => save_load::load(ctx, &a),
        ImageCommand::Ls(a) => images::images(ctx, &a),
        ImageCommand::Prune(a) => prune::images(ctx, &a),
        ImageCommand::Pull(a) => pull::pull(ctx, &a),
        ImageCommand::Push(a) => pull::push(ctx, &a),
        ImageCommand::Rm(a) => images::rmi(ctx, &a),
        ImageCommand::Save(a) => save_load::save(ctx, &a),
        ImageCommand::Tag(a) => images::tag(ctx, &a),
    }
}

fn system_cmd(ctx: &Ctx, cmd: SystemCommand) -> CmdResult {
    match cmd {
        SystemCommand::Df(a) => df::df(ctx, &a),
        SystemCommand::Events(a) => events::events(ctx, &a),
        SystemCommand::Info(a) => system::info(ctx, &a),
        SystemCommand::Prune(a) => prune::system(ctx, &a),
    }
}
