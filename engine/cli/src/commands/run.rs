//! `create` and `run`: build the container from flags, pull the image when it is missing,
//! then (run) start it attached or detached.

use serde_json::Value;

use super::attach::{self, start_failure_code, AttachPlan};
use super::create_body::{self, Attach};
use super::pull::{pull_image, PullOutput};
use crate::cli::{ContainerOpts, CreateArgs, RunArgs};
use crate::client::endpoint::Endpoint;
use crate::client::http::{Body, Query};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult, EXIT_DAEMON};
use crate::output::print;
use crate::refs::ImageRef;
use crate::term;

/// Creates the container, pulling its image first when the policy asks for it.
/// Returns the new container's id. Errors carry exit status 125, like docker's.
fn create_container(
    ctx: &Ctx,
    o: &ContainerOpts,
    image: &str,
    cmd: &[String],
    attach: Attach,
    console: Option<(u16, u16)>,
) -> Result<String, CliError> {
    let daemon_err = |e: CliError| e.code(EXIT_DAEMON);
    let mut body = create_body::build_json(o, image, cmd, attach, console)?;
    let reference = ImageRef::parse(image).map_err(|e| CliError::new(e).code(EXIT_DAEMON))?;
    let client = ctx.client().map_err(daemon_err)?;
    if o.use_api_socket {
        mount_api_socket(&mut body, client.endpoint())?;
    }
    if o.pull == "always" {
        pull_image(
            ctx,
            &reference,
            o.platform.as_deref(),
            PullOutput::Stderr { quiet: o.quiet },
        )
        .map_err(daemon_err)?;
    }
    let target = Query::new()
        .opt("name", o.name.clone())
        .opt("platform", o.platform.clone())
        .to_target("/containers/create");
    let created = match client.post(&target, Some(&body)) {
        Err(e)
            if e.is_not_found()
                && o.pull == "missing"
                && e.to_string().to_lowercase().contains("image") =>
        {
            eprintln!("Unable to find image '{}' locally", reference.familiar());
            pull_image(
                ctx,
                &reference,
                o.platform.as_deref(),
                PullOutput::Stderr { quiet: o.quiet },
            )
            .map_err(daemon_err)?;
            client.post(&target, Some(&body))
        }
        other => other,
    }
    .map_err(|e| CliError::from(e).code(EXIT_DAEMON))?;
    for w in created
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(w) = w.as_str().filter(|w| !w.is_empty()) {
            eprintln!("WARNING: {w}");
        }
    }
    let id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::new("the daemon's create answer has no Id").code(EXIT_DAEMON))?
        .to_string();
    if let Some(path) = &o.cidfile {
        std::fs::write(path, &id).map_err(|e| {
            CliError::new(format!(
                "writing the container ID file {}: {e}",
                path.display()
            ))
            .code(EXIT_DAEMON)
        })?;
    }
    Ok(id)
}

/// `--use-api-socket`: the daemon's socket bound at /var/run/docker.sock, as docker
/// mounts it (registry credentials are not copied into the container).
fn mount_api_socket(body: &mut Value, endpoint: &Endpoint) -> Result<(), CliError> {
    let Endpoint::Unix(path) = endpoint else {
        return Err(CliError::new(format!(
            "--use-api-socket needs a daemon reached on a unix socket, not {endpoint}: \
use -H unix:///PATH or drop the flag"
        ))
        .code(EXIT_DAEMON));
    };
    let mount = serde_json::json!({
        "Type": "bind",
        "Source": path,
        "Target": "/var/run/docker.sock",
        "BindOptions": {},
    });
    let host = body
        .get_mut("HostConfig")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| CliError::new("the create request has no HostConfig").code(EXIT_DAEMON))?;
    match host.get_mut("Mounts").and_then(Value::as_array_mut) {
        Some(mounts) => mounts.push(mount),
        None => {
            host.insert("Mounts".into(), Value::Array(vec![mount]));
        }
    }
    Ok(())
}

fn refuse_existing_cidfile(o: &ContainerOpts) -> Result<(), CliError> {
    match &o.cidfile {
        Some(p) if p.exists() => Err(CliError::new(format!(
            "container ID file found, make sure the other container isn't running or delete {}",
            p.display()
        ))
        .code(EXIT_DAEMON)),
        _ => Ok(()),
    }
}

pub fn create(ctx: &Ctx, a: &CreateArgs) -> CmdResult {
    let (image, cmd) = a
        .image_and_command
        .split_first()
        .expect("clap requires IMAGE");
    refuse_existing_cidfile(&a.opts)?;
    let attach = Attach {
        stdin: a.opts.interactive,
        stdout: true,
        stderr: true,
    };
    let console = if a.opts.tty { term::local_size() } else { None };
    let id = create_container(ctx, &a.opts, image, cmd, attach, console)?;
    print(&format!("{id}\n"));
    Ok(0)
}

pub fn run(ctx: &Ctx, a: &RunArgs) -> CmdResult {
    let o = &a.opts;
    let (image, cmd) = a
        .image_and_command
        .split_first()
        .expect("clap requires IMAGE");
    let usage = |m: &str| Err(CliError::new(m.to_string()).code(EXIT_DAEMON));
    if a.detach && !a.attach.is_empty() {
        return usage("Conflicting options: -a and -d");
    }
    if a.detach && o.rm && o.restart != "no" {
        return usage("Conflicting options: --restart and --rm");
    }
    for s in &a.attach {
        if !matches!(
            s.to_ascii_lowercase().as_str(),
            "stdin" | "stdout" | "stderr"
        ) {
            return usage(&format!("invalid argument \"{s}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"));
        }
    }
    let wants = |s: &str| a.attach.iter().any(|x| x.eq_ignore_ascii_case(s));
    let (stdin, stdout, stderr) = if a.detach {
        (false, false, false)
    } else if a.attach.is_empty() {
        (o.interactive, true, true)
    } else {
        (wants("stdin"), wants("stdout"), wants("stderr"))
    };
    if stdin && o.tty && !term::is_tty(libc::STDIN_FILENO) {
        return Err(CliError::new("the input device is not a TTY"));
    }
    let detach_keys = match &a.detach_keys {
        Some(k) => term::parse_detach_keys(k).map_err(|e| CliError::new(e).code(EXIT_DAEMON))?,
        None => vec![16, 17],
    };
    refuse_existing_cidfile(o)?;
    let console = if o.tty { term::local_size() } else { None };
    let id = create_container(
        ctx,
        o,
        image,
        cmd,
        Attach {
            stdin,
            stdout,
            stderr,
        },
        console,
    )?;
    let client = ctx.client()?;

    if a.detach {
        let started = client
            .call("POST", &super::cpath(&id, "start"), &[], Body::Empty)
            .and_then(|r| {
                r.bytes()
                    .map_err(|e| crate::client::ApiError::Transport(e.to_string()))
            });
        if let Err(e) = started {
            let msg = e.to_string();
            return Err(CliError::new(msg.clone()).code(start_failure_code(&msg)));
        }
        print(&format!("{id}\n"));
        return Ok(0);
    }

    let plan = AttachPlan {
        id: &id,
        tty: o.tty,
        stdin,
        stdout,
        stderr,
        detach_keys,
        detach_keys_flag: a.detach_keys.clone(),
        sig_proxy: a.sig_proxy,
        wait_condition: if o.rm { "removed" } else { "next-exit" },
        start: true,
    };
    let result = attach::attached(client, plan);
    if result.is_err() && o.rm {
        // A container that never ran must not stay behind.
        let _ = client.delete(&format!("{}?force=1", super::cpath(&id, "")));
    }
    result
}
