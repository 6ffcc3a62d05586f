//! Builds the tree of a Go template from its pieces.

use serde_json::Number;

use super::lex::{Piece, Tok};

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Output(Pipeline),
    /// `if`/`else if` branches, then the `else` body.
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Variables declared (`$x :=`) or assigned (`$x =`) by this pipeline.
    pub vars: Vec<String>,
    pub declare: bool,
    pub cmds: Vec<Vec<Operand>>,
}

#[derive(Debug, Clone)]
pub enum Operand {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    /// A parenthesized pipeline, with a field chain applied to its result.
    Sub(Box<Pipeline>, Vec<String>),
}

pub fn parse(pieces: Vec<Piece>) -> Result<Vec<Node>, String> {
    let mut it = pieces.into_iter().peekable();
    let (nodes, end) = parse_list(&mut it)?;
    match end {
        None => Ok(nodes),
        Some(End::End) => Err("unexpected {{end}}".into()),
        Some(End::Else(_)) => Err("unexpected {{else}}".into()),
    }
}

enum End {
    End,
    /// `{{else}}` (empty) or `{{else if ...}}` / `{{else with ...}}` (the tokens after else).
    Else(Vec<Tok>),
}

type Pieces = std::iter::Peekable<std::vec::IntoIter<Piece>>;

fn parse_list(it: &mut Pieces) -> Result<(Vec<Node>, Option<End>), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = it.next() {
        let toks = match piece {
            Piece::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Piece::Action(toks) => toks,
        };
        let keyword = match toks.first() {
            Some(Tok::Ident(k)) => k.as_str(),
            _ => "",
        };
        match keyword {
            "end" => return Ok((nodes, Some(End::End))),
            "else" => return Ok((nodes, Some(End::Else(toks[1..].to_vec())))),
            "if" | "with" => {
                let is_if = keyword == "if";
                let (branches, otherwise) = parse_branches(it, pipeline(&toks[1..])?, keyword)?;
                nodes.push(if is_if {
                    Node::If(branches, otherwise)
                } else {
                    Node::With(branches, otherwise)
                });
            }
            "range" => {
                let pipe = pipeline(&toks[1..])?;
                let (body, end) = parse_list(it)?;
                let otherwise = match end {
                    Some(End::End) => Vec::new(),
                    Some(End::Else(rest)) if rest.is_empty() => match parse_list(it)? {
                        (nodes, Some(End::End)) => nodes,
                        _ => return Err("missing {{end}} for range".into()),
                    },
                    _ => return Err("missing {{end}} for range".into()),
                };
                nodes.push(Node::Range(pipe, body, otherwise));
            }
            "define" | "template" | "block" => {
                return Err(format!("{{{{{keyword}}}}} is not supported in formats"))
            }
            _ => {
                if toks.is_empty() {
                    return Err("missing value for command".into());
                }
                nodes.push(Node::Output(pipeline(&toks)?));
            }
        }
    }
    Ok((nodes, None))
}

/// The branches of an `if`/`with` and its `else` body, following `else if` chains.
#[allow(clippy::type_complexity)]
fn parse_branches(
    it: &mut Pieces,
    first: Pipeline,
    keyword: &str,
) -> Result<(Vec<(Pipeline, Vec<Node>)>, Vec<Node>), String> {
    let mut branches = Vec::new();
    let mut cond = first;
    loop {
        let (body, end) = parse_list(it)?;
        branches.push((cond, body));
        match end {
            Some(End::End) => return Ok((branches, Vec::new())),
            Some(End::Else(rest)) if rest.is_empty() => {
                return match parse_list(it)? {
                    (nodes, Some(End::End)) => Ok((branches, nodes)),
                    _ => Err(format!("missing {{{{end}}}} for {keyword}")),
                }
            }
            Some(End::Else(rest)) if rest.first() == Some(&Tok::Ident(keyword.to_string())) => {
                cond = pipeline(&rest[1..])?;
            }
            Some(End::Else(_)) => return Err("unexpected tokens after {{else".into()),
            None => return Err(format!("missing {{{{end}}}} for {keyword}")),
        }
    }
}

fn pipeline(toks: &[Tok]) -> Result<Pipeline, String> {
    let (pipe, used) = pipeline_at(toks, false)?;
    if used != toks.len() {
        return Err(format!("unexpected {:?} in command", toks[used]));
    }
    Ok(pipe)
}

/// Parses a pipeline from the start of `toks`; stops at the end or, when `nested`, at `)`.
fn pipeline_at(toks: &[Tok], nested: bool) -> Result<(Pipeline, usize), String> {
    let mut i = 0;
    let mut vars = Vec::new();
    let mut declare = false;
    // `$x :=`, `$x =`, `$i, $e :=`
    let decl_end = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(d) = decl_end {
        let head = &toks[..d];
        let all_vars = head.iter().enumerate().all(|(k, t)| {
            if k % 2 == 0 {
                matches!(t, Tok::Var(_, c) if c.is_empty())
            } else {
                *t == Tok::Comma
            }
        });
        if !head.is_empty() && all_vars && head.len() % 2 == 1 {
            for t in head.iter().step_by(2) {
                if let Tok::Var(name, _) = t {
                    vars.push(name.clone());
                }
            }
            declare = toks[d] == Tok::Declare;
            i = d + 1;
        }
    }
    let mut cmds = Vec::new();
    let mut cmd = Vec::new();
    while i < toks.len() {
        match &toks[i] {
            Tok::Pipe => {
                if cmd.is_empty() {
                    return Err("missing command before |".into());
                }
                cmds.push(std::mem::take(&mut cmd));
                i += 1;
            }
            Tok::RParen(_) if nested => break,
            Tok::RParen(_) => return Err("unexpected right paren".into()),
            Tok::LParen => {
                let (sub, used) = pipeline_at(&toks[i + 1..], true)?;
                let close = i + 1 + used;
                let chain = match toks.get(close) {
                    Some(Tok::RParen(chain)) => chain.clone(),
                    _ => return Err("unclosed left paren".into()),
                };
                cmd.push(Operand::Sub(Box::new(sub), chain));
                i = close + 1;
            }
            tok => {
                cmd.push(operand(tok)?);
                i += 1;
            }
        }
    }
    if cmd.is_empty() {
        return Err(if cmds.is_empty() {
            "missing value for command".into()
        } else {
            "missing command after |".into()
        });
    }
    cmds.push(cmd);
    Ok((
        Pipeline {
            vars,
            declare,
            cmds,
        },
        i,
    ))
}

fn operand(tok: &Tok) -> Result<Operand, String> {
    Ok(match tok {
        Tok::Field(chain) => Operand::Field(chain.clone()),
        Tok::Var(name, chain) => Operand::Var(name.clone(), chain.clone()),
        Tok::Str(s) => Operand::Str(s.clone()),
        Tok::Num(n) => Operand::Num(n.clone()),
        Tok::Ident(id) => match id.as_str() {
            "true" => Operand::Bool(true),
            "false" => Operand::Bool(false),
            "nil" => Operand::Nil,
            "if" | "else" | "end" | "range" | "with" => {
                return Err(format!("unexpected {{{{{id}}}}} inside an action"))
            }
            _ => Operand::Func(id.clone()),
        },
        other => return Err(format!("unexpected {other:?} in operand")),
    })
}
