//! Runs a parsed template over a JSON value, with Go's printing and truth rules.

use serde_json::{Map, Value};

use super::funcs;
use super::parse::{Node, Operand, Pipeline};

pub struct Exec<'a> {
    root: &'a Value,
    vars: Vec<(String, Value)>,
    pub out: String,
}

impl<'a> Exec<'a> {
    pub fn new(root: &'a Value) -> Exec<'a> {
        Exec {
            root,
            vars: Vec::new(),
            out: String::new(),
        }
    }

    pub fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Output(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.vars.is_empty() {
                        self.out.push_str(&to_text(&v));
                    }
                }
                Node::If(branches, otherwise) => {
                    let mark = self.vars.len();
                    let mut done = false;
                    for (cond, body) in branches {
                        if truthy(&self.pipeline(cond, dot)?) {
                            self.walk(body, dot)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.walk(otherwise, dot)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::With(branches, otherwise) => {
                    let mark = self.vars.len();
                    let mut done = false;
                    for (cond, body) in branches {
                        let v = self.pipeline(cond, dot)?;
                        if truthy(&v) {
                            self.walk(body, &v)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.walk(otherwise, dot)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(p, body, otherwise) => self.range(p, body, otherwise, dot)?,
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        p: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
    ) -> Result<(), String> {
        let plain = Pipeline {
            vars: Vec::new(),
            declare: false,
            cmds: p.cmds.clone(),
        };
        let v = self.pipeline(&plain, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e.clone()))
                .collect(),
            Value::Object(m) => sorted(m)
                .into_iter()
                .map(|(k, e)| (Value::from(k.clone()), e.clone()))
                .collect(),
            Value::Null => Vec::new(),
            Value::Number(n) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            other => return Err(format!("range can't iterate over {}", to_text(other))),
        };
        if items.is_empty() {
            return self.walk(otherwise, dot);
        }
        for (key, elem) in items {
            let mark = self.vars.len();
            match p.vars.as_slice() {
                [] => {}
                [e] => self.vars.push((e.clone(), elem.clone())),
                [k, e, ..] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((e.clone(), elem.clone()));
                }
            }
            self.walk(body, &elem)?;
            self.vars.truncate(mark);
        }
        Ok(())
    }

    pub fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, String> {
        let mut piped: Option<Value> = None;
        for cmd in &p.cmds {
            piped = Some(self.command(cmd, dot, piped)?);
        }
        let v = piped.unwrap_or(Value::Null);
        for name in &p.vars {
            if p.declare {
                self.vars.push((name.clone(), v.clone()));
            } else if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v.clone();
            } else {
                return Err(format!("undefined variable: {name}"));
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        cmd: &[Operand],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, String> {
        let (first, rest) = cmd.split_first().ok_or("empty command")?;
        if let Operand::Func(name) = first {
            let mut args = Vec::with_capacity(rest.len() + 1);
            for a in rest {
                args.push(self.operand(a, dot)?);
            }
            args.extend(piped);
            return funcs::call(name, &args);
        }
        let v = self.operand(first, dot)?;
        if rest.is_empty() && piped.is_none() {
            return Ok(v);
        }
        // `.Label "key"`: a field holding a map is "called" with a key, like docker's
        // Label method; a plain string (a table header) ignores its argument.
        let mut args = Vec::new();
        for a in rest {
            args.push(self.operand(a, dot)?);
        }
        args.extend(piped);
        match (&v, args.as_slice()) {
            (Value::Object(m), [Value::String(k)]) => {
                Ok(m.get(k).cloned().unwrap_or(Value::from("")))
            }
            (Value::String(_), _) => Ok(v),
            _ => Err(format!(
                "can't give argument to non-function {}",
                describe(first)
            )),
        }
    }

    fn operand(&mut self, op: &Operand, dot: &Value) -> Result<Value, String> {
        Ok(match op {
            Operand::Field(chain) => fields(dot, chain)?,
            Operand::Var(name, chain) => {
                let base = if name == "$" {
                    self.root.clone()
                } else {
                    self.vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| format!("undefined variable: {name}"))?
                };
                fields(&base, chain)?
            }
            Operand::Func(name) => funcs::call(name, &[])?,
            Operand::Str(s) => Value::String(s.clone()),
            Operand::Num(n) => Value::Number(n.clone()),
            Operand::Bool(b) => Value::Bool(*b),
            Operand::Nil => Value::Null,
            Operand::Sub(p, chain) => {
                let v = self.pipeline(p, dot)?;
                fields(&v, chain)?
            }
        })
    }
}

fn describe(op: &Operand) -> String {
    match op {
        Operand::Field(c) => format!("<.{}>", c.join(".")),
        Operand::Var(n, c) if c.is_empty() => n.clone(),
        Operand::Var(n, c) => format!("{n}.{}", c.join(".")),
        _ => "value".into(),
    }
}

/// Follows `.A.B` through objects; a missing key gives null (printed `<no value>`).
fn fields(v: &Value, chain: &[String]) -> Result<Value, String> {
    let mut cur = v;
    for name in chain {
        cur = match cur {
            Value::Object(m) => match m.get(name) {
                Some(x) => x,
                None => return Ok(Value::Null),
            },
            Value::Null => return Ok(Value::Null),
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    type_name(other)
                ))
            }
        };
    }
    Ok(cur.clone())
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

pub fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Prints a value the way Go's `%v` does for decoded JSON.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(inner_text).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", inner_text(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn inner_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        other => to_text(other),
    }
}

pub fn number_text(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}
