//! berthctl snapshots (being written).

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {}

pub async fn run(_ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {}
}
