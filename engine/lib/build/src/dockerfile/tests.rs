//! Tests of the whole parser: the typed instructions, line numbers, history texts and
//! triggers. The file-level accept/refuse answers live in the corpus (tests/corpus).

use super::*;
use crate::buildargs::BuildArgs;
use std::collections::BTreeMap;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn commands(text: &str) -> Vec<Command> {
    parse(text)
        .unwrap()
        .instructions()
        .map(|i| i.command.clone())
        .collect()
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

#[test]
fn instructions_are_typed_with_arguments_as_written() {
    let file = parse(
        "ARG TAG=1\nFROM --platform=$P busybox:$TAG AS Build\n\
         RUN echo \"$x\"\nRUN [\"echo\", \"a\"]\nCMD [\"sh\"]\nENTRYPOINT top -b\n\
         SHELL [\"/bin/bash\", \"-c\"]\nENV a=1 b=\"x y\"\nLABEL k=v\nARG q=1 r\n\
         COPY --from=build --chown=1:1 --chmod= a b /d/\nADD --chown=2 x.tar /\n\
         WORKDIR /w\nUSER u:g\nVOLUME [\"/v\"]\nEXPOSE 8080 443/tcp 80\nSTOPSIGNAL SIGINT\n\
         MAINTAINER me\nHEALTHCHECK --interval=5s --timeout=1s --retries=2 CMD [\"true\"]\n\
         ONBUILD run echo hi\n",
    )
    .unwrap();
    assert_eq!(file.meta_args.len(), 1);
    assert_eq!(file.stages.len(), 1);
    assert_eq!(
        file.stages[0].from(),
        &FromSpec {
            image: "busybox:$TAG".into(),
            name: Some("build".into()),
            platform: Some("$P".into()),
        }
    );
    let got: Vec<Command> = file.stages[0]
        .instructions
        .iter()
        .map(|i| i.command.clone())
        .collect();
    assert_eq!(
        got,
        [
            Command::Run(Run {
                cmd: CmdLine {
                    args: s(&["echo \"$x\""]),
                    json: false
                },
                mounts: vec![]
            }),
            Command::Run(Run {
                cmd: CmdLine {
                    args: s(&["echo", "a"]),
                    json: true
                },
                mounts: vec![]
            }),
            Command::Cmd(CmdLine {
                args: s(&["sh"]),
                json: true
            }),
            Command::Entrypoint(CmdLine {
                args: s(&["top -b"]),
                json: false
            }),
            Command::Shell(s(&["/bin/bash", "-c"])),
            Command::Env(vec![kv("a", "1"), kv("b", "\"x y\"")]),
            Command::Label(vec![kv("k", "v")]),
            Command::Arg(vec![
                ArgDef {
                    key: "q".into(),
                    value: Some("1".into())
                },
                ArgDef {
                    key: "r".into(),
                    value: None
                }
            ]),
            Command::Copy(Copy {
                sources: s(&["a", "b"]),
                dest: "/d/".into(),
                from: Some("build".into()),
                chown: Some("1:1".into()),
                chmod: None,
            }),
            Command::Add(Add {
                sources: s(&["x.tar"]),
                dest: "/".into(),
                chown: Some("2".into()),
                chmod: None,
            }),
            Command::Workdir("/w".into()),
            Command::User("u:g".into()),
            Command::Volume(s(&["/v"])),
            Command::Expose(s(&["443/tcp", "80", "8080"])),
            Command::StopSignal("SIGINT".into()),
            Command::Maintainer("me".into()),
            Command::Healthcheck(HealthConfig {
                test: s(&["CMD", "true"]),
                interval: 5_000_000_000,
                timeout: 1_000_000_000,
                start_period: 0,
                start_interval: 0,
                retries: 2,
            }),
            Command::Onbuild(Onbuild {
                trigger: "RUN".into(),
                expression: "run echo hi".into(),
            }),
        ]
    );
    assert_eq!(file.step_count(), 20);
    assert_eq!(file.stage_index("BUILD"), Some(0));
    assert_eq!(file.stage_index("other"), None);
}

#[test]
fn instructions_keep_their_lines_and_text() {
    let file = parse("# c\n\nFROM a\n  RUN x \\\n  y \\\n\n  z   \nCMD c\n").unwrap();
    let lines: Vec<(usize, usize, &str)> = file
        .instructions()
        .map(|i| (i.start_line, i.end_line, i.text.as_str()))
        .collect();
    assert_eq!(
        lines,
        [(3, 3, "FROM a"), (4, 7, "RUN x   y   z"), (8, 8, "CMD c")]
    );
    assert_eq!(file.instructions().nth(1).unwrap().name(), "RUN");
    assert_eq!(file.warnings.len(), 2);
}

#[test]
fn healthcheck_forms() {
    let hc = |t: &str| match &commands(&format!("FROM a\n{t}\n"))[1] {
        Command::Healthcheck(h) => h.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(hc("HEALTHCHECK none").test, ["NONE"]);
    assert_eq!(hc("HEALTHCHECK --bogus=1 NONE").test, ["NONE"]);
    assert_eq!(
        hc("HEALTHCHECK cmd curl -f x").test,
        ["CMD-SHELL", "curl -f x"]
    );
    assert_eq!(hc("HEALTHCHECK CMD [\"a\", \"b\"]").test, ["CMD", "a", "b"]);
    // Docker 25+ knows --start-interval; dockerd 20.10 answers "Unknown flag: start-interval".
    let h = hc("HEALTHCHECK --start-period=1m --start-interval=2s --retries=+3 CMD x");
    assert_eq!(
        (h.start_period, h.start_interval, h.retries),
        (60_000_000_000, 2_000_000_000, 3)
    );
    assert_eq!(hc("HEALTHCHECK --interval= CMD x").interval, 0);
}

#[test]
fn run_mounts_are_read_then_refused_by_the_classic_builder() {
    let cmds =
        commands("FROM a\nRUN --mount=type=cache,target=/c --mount=type=tmpfs,dst=/t make\n");
    let Command::Run(run) = &cmds[1] else {
        panic!()
    };
    assert_eq!(run.mounts.len(), 2);
    assert_eq!(run.mounts[1].kind, "tmpfs");
    assert!(cmds[1]
        .classic_refusal()
        .unwrap()
        .starts_with("the --mount option requires BuildKit."));
    assert_eq!(commands("FROM a\nRUN make\n")[1].classic_refusal(), None);
    assert_eq!(
        commands("FROM a\nCOPY --chmod= a b\n")[1].classic_refusal(),
        None
    );
}

#[test]
fn commands_resolve_with_the_shell() {
    let sh = default_shell();
    let shell_form = CmdLine {
        args: s(&["echo hi"]),
        json: false,
    };
    assert_eq!(shell_form.resolve(&sh), ["/bin/sh", "-c", "echo hi"]);
    let exec_form = CmdLine {
        args: s(&["echo", "hi"]),
        json: true,
    };
    assert_eq!(exec_form.resolve(&s(&["bash", "-c"])), ["echo", "hi"]);
    // As dockerd 20.10 records `CMD` alone, `ENTRYPOINT []` and bare `RUN`.
    let empty = CmdLine {
        args: vec![],
        json: false,
    };
    assert_eq!(empty.resolve(&sh), ["/bin/sh", "-c"]);
    assert_eq!(empty.resolve_entrypoint(&sh), None);
    let empty_json = CmdLine {
        args: vec![],
        json: true,
    };
    assert_eq!(empty_json.resolve(&sh), Vec::<String>::new());
    assert_eq!(empty_json.resolve_entrypoint(&sh), None);
}

// Every text below is what dockerd 20.10 recorded in `docker history --no-trunc` for the
// corpus file all-instructions.Dockerfile and a COPY/WORKDIR/HEALTHCHECK NONE build.
#[test]
fn history_texts_match_dockerd() {
    let sh = default_shell();
    let xc = s(&["/bin/sh", "-xc"]);
    assert_eq!(
        history::nop(&sh, &history::cmd(&s(&["sh"]))),
        r#"/bin/sh -c #(nop)  CMD ["sh"]"#
    );
    assert_eq!(
        history::nop(
            &sh,
            &history::env(&[kv("a", "1"), kv("b", "x y"), kv("c", "3")])
        ),
        "/bin/sh -c #(nop)  ENV a=1 b=x y c=3"
    );
    assert_eq!(
        history::nop(&sh, &history::label(&[kv("k 1", "v"), kv("x", "y")])),
        "/bin/sh -c #(nop)  LABEL k 1=v x=y"
    );
    let hc = HealthConfig {
        test: s(&["CMD-SHELL", "curl -f http://x || exit 1"]),
        interval: 30_000_000_000,
        timeout: 0,
        start_period: 0,
        start_interval: 0,
        retries: 3,
    };
    assert_eq!(
        history::nop(&sh, &history::healthcheck(&hc)),
        r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "curl -f http://x || exit 1"] "30s" "0s" "0s" '\x03'}"#
    );
    let none = HealthConfig {
        test: s(&["NONE"]),
        retries: 0,
        interval: 0,
        ..hc
    };
    assert_eq!(
        history::healthcheck(&none),
        r#"HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\x00'}"#
    );
    assert_eq!(
        history::nop(&sh, &history::expose(&s(&["1/udp", "443", "80"]))),
        "/bin/sh -c #(nop)  EXPOSE 1/udp 443 80"
    );
    assert_eq!(
        history::nop(&sh, &history::volume(&s(&["/a", "/b"]))),
        "/bin/sh -c #(nop)  VOLUME [/a /b]"
    );
    assert_eq!(
        history::nop(&sh, &history::stop_signal("SIGKILL")),
        "/bin/sh -c #(nop)  STOPSIGNAL SIGKILL"
    );
    let args = [
        ArgDef {
            key: "q".into(),
            value: Some("1".into()),
        },
        ArgDef {
            key: "r".into(),
            value: None,
        },
    ];
    assert_eq!(
        history::nop(&sh, &history::arg(&args)),
        "/bin/sh -c #(nop)  ARG q=1 r"
    );
    assert_eq!(
        history::nop(&xc, &history::shell(&xc)),
        "/bin/sh -xc #(nop)  SHELL [/bin/sh -xc]"
    );
    let ep = CmdLine {
        args: s(&["echo"]),
        json: false,
    };
    assert_eq!(
        history::nop(
            &xc,
            &history::entrypoint(ep.resolve_entrypoint(&xc).as_deref())
        ),
        r#"/bin/sh -xc #(nop)  ENTRYPOINT ["/bin/sh" "-xc" "echo"]"#
    );
    assert_eq!(
        history::nop(&xc, &history::entrypoint(None)),
        "/bin/sh -xc #(nop)  ENTRYPOINT []"
    );
    assert_eq!(
        history::nop(&xc, &history::user("1:1")),
        "/bin/sh -xc #(nop)  USER 1:1"
    );
    assert_eq!(
        history::nop(&xc, &history::maintainer("me <m@x>")),
        "/bin/sh -xc #(nop)  MAINTAINER me <m@x>"
    );
    assert_eq!(
        history::nop(&xc, &history::onbuild("RUN echo hi")),
        "/bin/sh -xc #(nop)  ONBUILD RUN echo hi"
    );
    assert_eq!(
        history::nop_single(&xc, &history::workdir(&super::normalize_workdir("", "x"))),
        "/bin/sh -xc #(nop) WORKDIR /x"
    );
    assert_eq!(
        history::nop_single(
            &sh,
            &history::workdir(&super::normalize_workdir("", "/b/../c/"))
        ),
        "/bin/sh -c #(nop) WORKDIR /b/../c/"
    );
    let hash = "file:19344a23c47a0cfb636c5e341790712bb097ef595f80a6995e7ef05d2213726b";
    assert_eq!(
        history::nop_single(&sh, &history::copy("COPY", Some("1:1"), hash, "/x")),
        format!("/bin/sh -c #(nop) COPY --chown=1:1{hash} in /x ")
    );
    // `ARG q=1 r` then `RUN echo  "$a"     && true` under SHELL ["/bin/sh", "-xc"].
    let mut b = BuildArgs::new(BTreeMap::new()).for_stage();
    args.iter().for_each(|a| b.add_arg(a));
    let run = CmdLine {
        args: s(&["echo  \"$a\"     && true"]),
        json: false,
    };
    assert_eq!(
        history::run(&b.run_prefix(&[]), &run.resolve(&xc)),
        "|1 q=1 /bin/sh -xc echo  \"$a\"     && true"
    );
    assert_eq!(
        history::step_line(2, 17, "cmd   [\"sh\"]"),
        "Step 2/17 : cmd   [\"sh\"]"
    );
}

// As dockerd 20.10 builds `FROM` of an image whose config has OnBuild ["FOO x",
// "RUN echo trig   "]: the first trigger fails with the bare reason.
#[test]
fn triggers_parse_like_dockerd() {
    let t = parse_trigger("RUN echo trig   ").unwrap();
    assert_eq!(t.text, "RUN echo trig");
    assert_eq!(
        parse_trigger("FOO x").unwrap_err().to_string(),
        "unknown instruction: FOO"
    );
    assert_eq!(
        parse_trigger("RUN --mount=type=foo x")
            .unwrap_err()
            .to_string(),
        r#"unsupported mount type "foo""#
    );
    assert_eq!(
        parse_trigger("ENV a").unwrap_err().to_string(),
        "ENV must have two arguments"
    );
    assert_eq!(
        parse_trigger("RUN a\nRUN b").unwrap_err().to_string(),
        "onbuild trigger should be a single expression"
    );
    assert_eq!(
        parse_trigger("").unwrap_err().to_string(),
        "file with no instructions"
    );
    assert_eq!(
        parse_trigger("FROM x").unwrap_err().to_string(),
        "*instructions.Stage is not a command type"
    );
    // An expansion error in a trigger surfaces when it is dispatched.
    let t = parse_trigger("LABEL a=${b").unwrap();
    assert_eq!(
        t.command
            .expanded(&crate::expand::Lexer::new('\\'), &Default::default())
            .unwrap_err()
            .to_string(),
        r#"failed to process "${b": missing ':' in substitution"#
    );
    let file = parse("FROM a\nONBUILD RUN echo trig   \n").unwrap();
    let Command::Onbuild(o) = &file.stages[0].instructions[0].command else {
        panic!()
    };
    assert_eq!(
        o.expression, "RUN echo trig   ",
        "dockerd keeps trailing blanks in OnBuild"
    );
}

#[test]
fn expansion_covers_the_parts_dockerd_expands() {
    let lexer = crate::expand::Lexer::new('\\');
    let env = crate::expand::env_map(["B=1", "P=80 81/udp", "U=app"]);
    let exp = |t: &str| {
        commands(&format!("FROM a\n{t}\n"))[1]
            .expanded(&lexer, &env)
            .unwrap()
    };
    assert_eq!(exp("ENV k$B=\"v $B\""), Command::Env(vec![kv("k1", "v 1")]));
    assert_eq!(
        exp("EXPOSE $P 9"),
        Command::Expose(s(&["80", "81/udp", "9"]))
    );
    assert_eq!(exp("USER $U:${B}"), Command::User("app:1".into()));
    let Command::Copy(c) = exp("COPY --from=$U --chown=$U --chmod=$B src$B /d$B") else {
        panic!()
    };
    assert_eq!(
        (c.sources, c.dest, c.from, c.chown, c.chmod),
        (
            s(&["src1"]),
            "/d1".into(),
            Some("$U".into()),
            Some("app".into()),
            Some("$B".into())
        )
    );
    assert_eq!(exp("RUN echo $B"), commands("FROM a\nRUN echo $B\n")[1]);
    assert_eq!(exp("CMD echo $B"), commands("FROM a\nCMD echo $B\n")[1]);
    let from = parse("ARG V=2\nFROM busybox:$V\n").unwrap();
    let mut global = BuildArgs::new(BTreeMap::new());
    global.add_meta_arg(&ArgDef {
        key: "V".into(),
        value: Some("2".into()),
    });
    assert_eq!(
        from.stages[0]
            .from()
            .expanded(&lexer, &global.meta_env())
            .unwrap(),
        ("busybox:2".into(), None)
    );
}

#[test]
fn errors_name_line_and_instruction() {
    let e = parse("FROM a\n\nCOPY \\\n  x\n").unwrap_err();
    assert_eq!((e.kind, e.line, e.end_line), (ErrorKind::Instruction, 3, 4));
    assert_eq!(e.instruction.as_deref(), Some("COPY"));
    assert_eq!(
        e.message_for("build/Dockerfile.dev"),
        "dockerfile parse error line 3: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    let e = parse("FROM a\nENV x\n").unwrap_err();
    assert_eq!((e.kind, e.line), (ErrorKind::Syntax, 2));
    assert_eq!(
        e.message_for("Dockerfile.dev"),
        "failed to parse Dockerfile.dev: ENV must have two arguments"
    );
    assert_eq!(
        parse("").unwrap_err().message_for("x.df"),
        "the Dockerfile (x.df) cannot be empty"
    );
    let e = parse("RUN x\n").unwrap_err();
    assert_eq!(
        (e.kind, e.instruction.as_deref()),
        (ErrorKind::NoStage, Some("RUN"))
    );
}

#[test]
fn syntax_directive_is_kept_and_noticed() {
    let file = parse("# syntax=docker/dockerfile:1.4\nFROM a\n").unwrap();
    assert_eq!(file.syntax.as_deref(), Some("docker/dockerfile:1.4"));
    assert_eq!(
        file.notices(),
        ["[WARNING]: the syntax directive (docker/dockerfile:1.4) is ignored by the classic builder"]
    );
    assert!(parse("FROM a\n").unwrap().notices().is_empty());
}

#[test]
fn bytes_that_are_not_utf8_are_replaced() {
    let file = parse_bytes(b"FROM a\nLABEL k=\xff\n").unwrap();
    assert_eq!(
        file.stages[0].instructions[0].command,
        Command::Label(vec![kv("k", "\u{fffd}")])
    );
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "(?s).{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_dockerfile_like_text(
        lines in proptest::collection::vec(
            "(FROM|RUN|CMD|ENV|ARG|COPY|ADD|LABEL|EXPOSE|VOLUME|SHELL|HEALTHCHECK|ONBUILD|WORKDIR|USER|# escape=)[ a-z0-9=\"'\\[\\],$\\\\`{}:-]{0,20}",
            0..8,
        )
    ) {
        let text = lines.join("\n");
        if let Ok(file) = parse(&text) {
            let lexer = crate::expand::Lexer::new(file.escape);
            let env = crate::expand::env_map(["A=1"]);
            for i in file.instructions() {
                proptest::prop_assert!(!i.text.is_empty());
                proptest::prop_assert!(i.start_line <= i.end_line);
                let _ = i.command.expanded(&lexer, &env);
            }
            proptest::prop_assert_eq!(file.instructions().count(), file.step_count());
        }
    }
}

// As dockerd 20.10 records WorkingDir for `WORKDIR x` after `WORKDIR /a`, etc.
#[test]
fn normalizes_workdir_like_dockerd() {
    assert_eq!(super::normalize_workdir("", "x"), "/x");
    assert_eq!(super::normalize_workdir("/a", "b/../c"), "/a/c");
    assert_eq!(super::normalize_workdir("/a", "/b/../c/"), "/b/../c/");
    assert_eq!(super::normalize_workdir("/a", ".."), "/");
}
