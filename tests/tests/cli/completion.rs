//! Shell completion and manual pages, generated from the command-line definition: each
//! shell loads its script and completes commands, subcommands and flags; every command has
//! a page that man renders.

use std::process::Command;

use berth_tests::cli::Berth;
use berth_tests::require;

/// The CLI with no daemon: none of this talks to one.
fn berth() -> Berth {
    Berth::new("unix:///nonexistent/berth.sock")
}

/// `berth completion SHELL`, written to a file in `dir`.
fn script(dir: &std::path::Path, shell: &str) -> std::path::PathBuf {
    let out = berth().run(&["completion", shell]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let path = dir.join(format!("berth.{shell}"));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

fn shell(prog: &str, args: &[&str]) -> String {
    let out = Command::new(prog)
        .args(args)
        .output()
        .expect("run the shell");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{prog} {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The words bash's completion function offers for the command line `words` (the last
/// word is the one being completed).
fn bash_complete(file: &std::path::Path, words: &str) -> Vec<String> {
    let program = format!(
        r#"source "$1"
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}
cur="${{COMP_WORDS[COMP_CWORD]}}"; prev="${{COMP_WORDS[COMP_CWORD-1]}}"
_berth berth "$cur" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    let path = file.to_str().unwrap();
    shell("bash", &["-c", &program, "bash", path])
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn bash_completes_commands_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = script(dir.path(), "bash");
    let words = bash_complete(&file, "berth ru");
    assert_eq!(words, ["run"], "{words:?}");
    let words = bash_complete(&file, "berth container l");
    assert!(
        words.contains(&"logs".to_string()) && words.contains(&"ls".to_string()),
        "{words:?}"
    );
    let words = bash_complete(&file, "berth run --detach-");
    assert_eq!(words, ["--detach-keys"], "{words:?}");
    let words = bash_complete(&file, "berth network c");
    for w in ["connect", "create"] {
        assert!(words.contains(&w.to_string()), "{words:?}");
    }
}

#[test]
fn fish_and_zsh_load_their_scripts() {
    require!(shells);
    let dir = tempfile::tempdir().unwrap();
    // fish completes from the script itself: `complete -C` prints the candidates
    let fish = script(dir.path(), "fish");
    let fish = fish.to_str().unwrap();
    let out = shell(
        "fish",
        &["-c", &format!("source {fish}; complete -C 'berth ima'")],
    );
    let words: Vec<&str> = out.lines().filter_map(|l| l.split('\t').next()).collect();
    assert!(
        words.contains(&"image") && words.contains(&"images"),
        "{out}"
    );
    let out = shell(
        "fish",
        &["-c", &format!("source {fish}; complete -C 'berth volume '")],
    );
    assert!(out.lines().any(|l| l.starts_with("prune")), "{out}");
    // zsh: a completion function for `berth` that parses
    let zsh = script(dir.path(), "zsh");
    let text = std::fs::read_to_string(&zsh).unwrap();
    assert!(text.starts_with("#compdef berth"), "{text:.200}");
    shell("zsh", &["-n", zsh.to_str().unwrap()]);
    // powershell is generated too (no shell here to load it)
    let ps = berth().run(&["completion", "powershell"]);
    assert!(
        ps.code == 0 && ps.stdout.contains("Register-ArgumentCompleter"),
        "{ps:?}"
    );
}

#[test]
fn completion_refuses_unknown_shells_like_a_flag_error() {
    let out = berth().run(&["completion", "tcsh"]);
    assert_eq!(out.code, 125, "{out:?}");
    assert!(out.stderr.contains("\"tcsh\""), "{out:?}");
    let out = berth().run(&["completion"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("Usage:  berth completion <SHELL>"),
        "{out:?}"
    );
}

#[test]
fn every_command_has_a_manual_page() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = berth().run(&["man-pages", pages.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    // every command `berth --help` lists, and the subcommands of a group
    let help = berth().run(&["--help"]).stdout;
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 40, "{help}");
    for c in commands
        .iter()
        .chain(&["container-ls", "image-prune", "network-connect"])
    {
        assert!(
            pages.join(format!("berth-{c}.1")).is_file(),
            "no page for {c}"
        );
    }
    assert!(!pages.join("berth-man-pages.1").exists());
    // man renders a page: name, synopsis, and the flags with their help
    let page = pages.join("berth-run.1");
    let out = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("run man");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for want in [
        "berth-run - Create and run a new container",
        "berth run",
        "--detach",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
}
