//! `version` and `info`.

use serde_json::{json, Value};

use crate::cli::{FormatArgs, VersionArgs};
use crate::client::Client;
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::print;
use crate::template::Template;
use berth_gocompat::units::bytes_size;

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The client's side: its version and the API version it is built for (or the one pinned
/// with BERTH_API_VERSION).
fn client_info(client: Option<&Client>) -> Value {
    let api = client
        .and_then(Client::pinned_version)
        .unwrap_or(berth_api::version::API_VERSION);
    json!({
        "Platform": {"Name": "Berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "GitCommit": berth_buildinfo::GIT_COMMIT,
        "BuildTime": berth_buildinfo::BUILD_TIME,
        "Os": std::env::consts::OS,
        "Arch": arch(),
    })
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// An RFC 3339 build time as docker shows it (`Thu May  7 21:09:36 2026`).
fn ansic_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn client_section(c: &Value) -> String {
    format!(
        "Client:\n Version:           {}\n API version:       {}\n Git commit:        {}\n Built:             {}\n OS/Arch:           {}/{}\n",
        text(c, "Version"),
        text(c, "ApiVersion"),
        text(c, "GitCommit"),
        ansic_time(&text(c, "BuildTime")),
        text(c, "Os"),
        text(c, "Arch"),
    )
}

fn server_section(s: &Value) -> String {
    let name = s
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut out = format!("\nServer: {name}\n").replace(": \n", ":\n");
    let components: Vec<Value> = s
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let engine_only = components.is_empty();
    if engine_only
        || components
            .iter()
            .any(|c| c.get("Name").and_then(Value::as_str) == Some("Engine"))
    {
        let min = text(s, "MinAPIVersion");
        let api = if min.is_empty() {
            text(s, "ApiVersion")
        } else {
            format!("{} (minimum version {min})", text(s, "ApiVersion"))
        };
        out.push_str(" Engine:\n");
        let mut rows = vec![("Version", text(s, "Version")), ("API version", api)];
        if !text(s, "GoVersion").is_empty() {
            rows.push(("Go version", text(s, "GoVersion")));
        }
        rows.push(("Git commit", text(s, "GitCommit")));
        rows.push(("Built", ansic_time(&text(s, "BuildTime"))));
        rows.push(("OS/Arch", format!("{}/{}", text(s, "Os"), text(s, "Arch"))));
        rows.push((
            "Experimental",
            s.get("Experimental")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        ));
        for (k, v) in rows {
            out.push_str(&format!("  {:<18}{v}\n", format!("{k}:")));
        }
    }
    for c in &components {
        let name = text(c, "Name");
        if name == "Engine" {
            continue;
        }
        out.push_str(&format!(
            " {name}:\n  {:<18}{}\n",
            "Version:",
            text(c, "Version")
        ));
        if let Some(d) = c.get("Details").and_then(Value::as_object) {
            for (k, v) in d {
                out.push_str(&format!(
                    "  {:<18}{}\n",
                    format!("{k}:"),
                    v.as_str().unwrap_or("")
                ));
            }
        }
    }
    out
}

/// Templates name the fields as docker's Go structs do: `.Server.APIVersion` is the
/// API's `ApiVersion`.
fn with_go_names(mut model: Value) -> Value {
    for side in ["Client", "Server"] {
        if let Some(o) = model.get_mut(side).and_then(Value::as_object_mut) {
            if let Some(v) = o.get("ApiVersion").cloned() {
                o.insert("APIVersion".into(), v);
            }
        }
    }
    model
}

pub fn version(ctx: &Ctx, a: &VersionArgs) -> CmdResult {
    // The client section is printed even when the daemon cannot be reached, like docker.
    let client = ctx.client();
    let server = match &client {
        Ok(c) => c.get("/version").map_err(CliError::from),
        Err(e) => Err(CliError::new(e.message.clone()).code(e.code)),
    };
    let model = json!({
        "Client": client_info(client.as_ref().ok().copied()),
        "Server": server.as_ref().ok().cloned().unwrap_or(Value::Null),
    });
    match a.format.as_deref() {
        Some(f) => {
            if f == "json" {
                let t = Template::parse("{{json .}}")?;
                print(&format!("{}\n", t.render(&model)?));
            } else {
                let t = Template::parse(f)?;
                print(&format!("{}\n", t.render(&with_go_names(model))?));
            }
        }
        None => {
            let mut out = client_section(&model["Client"]);
            if let Ok(s) = &server {
                out.push_str(&server_section(s));
            }
            print(&out);
        }
    }
    server.map(|_| 0)
}

fn strings<'a>(v: &'a Value, pointer: &str) -> Vec<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// docker's `info` layout for the fields people look at.
fn info_text(i: &Value) -> String {
    let n = |k: &str| i.get(k).and_then(Value::as_i64).unwrap_or(0);
    let flag = |k: &str| i.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut out = String::from("Server:\n");
    let mut line = |k: &str, v: String| out.push_str(&format!(" {k}: {v}\n"));
    line("Containers", n("Containers").to_string());
    line(" Running", n("ContainersRunning").to_string());
    line(" Paused", n("ContainersPaused").to_string());
    line(" Stopped", n("ContainersStopped").to_string());
    line("Images", n("Images").to_string());
    line("Server Version", text(i, "ServerVersion"));
    line("Storage Driver", text(i, "Driver"));
    line("Logging Driver", text(i, "LoggingDriver"));
    line("Cgroup Driver", text(i, "CgroupDriver"));
    line("Cgroup Version", text(i, "CgroupVersion"));
    let mut runtimes: Vec<String> = i
        .get("Runtimes")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    line("Runtimes", runtimes.join(" "));
    line("Default Runtime", text(i, "DefaultRuntime"));
    // "name=seccomp,profile=default" is shown as docker nests it.
    let security = strings(i, "/SecurityOptions");
    if !security.is_empty() {
        out.push_str(" Security Options:\n");
        for opt in security {
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", v)) => out.push_str(&format!("  {v}\n")),
                    Some((k, v)) => out.push_str(&format!("   {}: {v}\n", capitalized(k))),
                    None => out.push_str(&format!("  {kv}\n")),
                }
            }
        }
    }
    let mut line = |k: &str, v: String| out.push_str(&format!(" {k}: {v}\n"));
    line("Kernel Version", text(i, "KernelVersion"));
    line("Operating System", text(i, "OperatingSystem"));
    line("OSType", text(i, "OSType"));
    line("Architecture", text(i, "Architecture"));
    line("CPUs", n("NCPU").to_string());
    line("Total Memory", bytes_size(n("MemTotal") as f64));
    line("Name", text(i, "Name"));
    line("ID", text(i, "ID"));
    line("Root Dir", text(i, "DockerRootDir"));
    line("Debug Mode", flag("Debug").to_string());
    line("Experimental", flag("ExperimentalBuild").to_string());
    for (title, pointer) in [
        (
            "Insecure Registries",
            "/RegistryConfig/InsecureRegistryCIDRs",
        ),
        ("Registry Mirrors", "/RegistryConfig/Mirrors"),
    ] {
        let items = strings(i, pointer);
        if !items.is_empty() {
            out.push_str(&format!(" {title}:\n"));
            for r in items {
                out.push_str(&format!("  {r}\n"));
            }
        }
    }
    out.push_str(&format!(
        " Live Restore Enabled: {}\n",
        flag("LiveRestoreEnabled")
    ));
    out
}

pub fn info(ctx: &Ctx, a: &FormatArgs) -> CmdResult {
    let client = ctx.client()?;
    let mut i = client.get("/info")?;
    if let Some(m) = i.as_object_mut() {
        m.insert("ClientInfo".into(), client_info(Some(client)));
    }
    if let Some(f) = a.format.as_deref() {
        let t = if f == "json" {
            Template::parse("{{json .}}")?
        } else {
            Template::parse(f)?
        };
        print(&format!("{}\n", t.render(&i)?));
        return Ok(0);
    }
    let head = format!("Client:\n Version:    {}\n\n", env!("CARGO_PKG_VERSION"));
    print(&format!("{head}{}", info_text(&i)));
    for w in i
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(w) = w.as_str() {
            eprintln!("{w}");
        }
    }
    Ok(0)
}
