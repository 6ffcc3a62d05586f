//! berthctl run (being written).

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(_ctx: &Context, _args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("berthctl run is not built yet")
}
