//! `login` and `logout`: credentials checked by the daemon (`POST /auth`) and kept in the
//! client's config file. Passwords are never printed.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsFd;

use berth_api::auth::{AuthConfig, AuthResponse};
use nix::sys::termios::{self, LocalFlags, SetArg};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::config::{Config, Credentials};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::print;
use crate::refs::{auth_key, HUB_AUTH_KEY};
use crate::term::is_tty;

fn prompt(label: &str) -> Result<String, CliError> {
    eprint!("{label}");
    let _ = io::stderr().flush();
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a password from the terminal with echo turned off (and back on, whatever happens).
fn prompt_password() -> Result<String, CliError> {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let saved = termios::tcgetattr(fd)
        .map_err(|e| CliError::new(format!("reading the terminal settings: {e}")))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(fd, SetArg::TCSANOW, &quiet).map_err(|e| CliError::new(e.to_string()))?;
    let read = prompt("Password: ");
    let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &saved);
    eprintln!();
    read
}

pub fn login(ctx: &Ctx, a: &LoginArgs) -> CmdResult {
    if a.password.is_some() && a.password_stdin {
        return Err(CliError::new(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    if a.password_stdin && a.username.is_none() {
        return Err(CliError::new(
            "Must provide --username with --password-stdin",
        ));
    }
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let server = a.server.clone().unwrap_or_else(|| HUB_AUTH_KEY.to_string());
    let key = auth_key(&server);
    let mut config = Config::load(&ctx.config_dir()).map_err(CliError::new)?;

    let creds = match (&a.username, &a.password, a.password_stdin) {
        (Some(u), _, true) => {
            let mut p = String::new();
            io::stdin().read_to_string(&mut p)?;
            Credentials {
                username: u.clone(),
                password: p.trim_end_matches(['\n', '\r']).to_string(),
            }
        }
        (Some(u), Some(p), false) => Credentials {
            username: u.clone(),
            password: p.clone(),
        },
        (None, None, false) if config.credentials(&key).is_some() => {
            eprintln!("Authenticating with existing credentials...");
            config.credentials(&key).expect("checked above")
        }
        (user, pass, _) => {
            if !is_tty(libc::STDIN_FILENO) {
                return Err(CliError::new(
                    "Cannot perform an interactive login from a non TTY device (use --username and --password-stdin)",
                ));
            }
            let username = match user {
                Some(u) => u.clone(),
                None => prompt("Username: ")?,
            };
            if username.trim().is_empty() {
                return Err(CliError::new("Username is required"));
            }
            let password = match pass {
                Some(p) => p.clone(),
                None => prompt_password()?,
            };
            Credentials { username, password }
        }
    };
    if creds.password.is_empty() {
        return Err(CliError::new("Error: Password Required"));
    }
    let body = serde_json::to_value(AuthConfig {
        username: creds.username.clone(),
        password: creds.password.clone(),
        server_address: server,
        ..Default::default()
    })
    .map_err(|e| CliError::new(e.to_string()))?;
    let answer: AuthResponse = serde_json::from_value(ctx.client()?.post("/auth", Some(&body))?)
        .map_err(|e| CliError::new(format!("the daemon's login answer: {e}")))?;
    config.store(&key, &creds);
    config.save().map_err(CliError::new)?;
    let status = if answer.status.is_empty() {
        "Login Succeeded"
    } else {
        answer.status.as_str()
    };
    print(&format!("{status}\n"));
    Ok(0)
}

pub fn logout(ctx: &Ctx, a: &LogoutArgs) -> CmdResult {
    let key = auth_key(a.server.as_deref().unwrap_or(HUB_AUTH_KEY));
    let mut config = Config::load(&ctx.config_dir()).map_err(CliError::new)?;
    if !config.remove(&key) {
        print(&format!("Not logged in to {key}\n"));
        return Ok(0);
    }
    config.save().map_err(CliError::new)?;
    print(&format!("Removing login credentials for {key}\n"));
    Ok(0)
}
