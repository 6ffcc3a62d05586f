//! The functions formats can call: Go's builtins people use and docker's additions
//! (json, join, split, title, lower, upper, pad, truncate).

use std::cmp::Ordering;

use serde_json::Value;

use super::exec::{number_text, to_text, truthy, type_name};

pub fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    match name {
        "json" => {
            let [v] = args else {
                return arity(name, 1, args);
            };
            Ok(Value::String(
                serde_json::to_string(v).map_err(|e| e.to_string())?,
            ))
        }
        "index" => index(args),
        "len" => {
            let [v] = args else {
                return arity(name, 1, args);
            };
            Ok(Value::from(match v {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::Null => 0,
                other => return Err(format!("len of {}", type_name(other))),
            }))
        }
        "join" => {
            let [list, sep] = args else {
                return arity(name, 2, args);
            };
            let sep = to_text(sep);
            Ok(Value::String(match list {
                Value::Array(a) => a.iter().map(to_text).collect::<Vec<_>>().join(&sep),
                Value::Null => String::new(),
                other => to_text(other),
            }))
        }
        "split" => {
            let [s, sep] = args else {
                return arity(name, 2, args);
            };
            let (s, sep) = (to_text(s), to_text(sep));
            Ok(Value::Array(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ))
        }
        "upper" => text1(name, args, |s| s.to_uppercase()),
        "lower" => text1(name, args, |s| s.to_lowercase()),
        "title" => text1(name, args, title),
        "pad" => {
            let [s, before, after] = args else {
                return arity(name, 3, args);
            };
            let n = |v: &Value| v.as_u64().unwrap_or(0) as usize;
            Ok(Value::String(format!(
                "{}{}{}",
                " ".repeat(n(before)),
                to_text(s),
                " ".repeat(n(after))
            )))
        }
        "truncate" => {
            let [s, n] = args else {
                return arity(name, 2, args);
            };
            let n = n.as_u64().ok_or("truncate needs a length")? as usize;
            Ok(Value::String(to_text(s).chars().take(n).collect()))
        }
        "print" => Ok(Value::String(sprint(args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(to_text).collect();
            Ok(Value::String(format!("{}\n", parts.join(" "))))
        }
        "printf" => {
            let (fmt, rest) = args.split_first().ok_or("printf needs a format")?;
            Ok(Value::String(printf(&to_text(fmt), rest)))
        }
        "eq" => {
            let (first, rest) = args.split_first().ok_or("eq needs two arguments")?;
            if rest.is_empty() {
                return Err("eq needs two arguments".into());
            }
            Ok(Value::Bool(rest.iter().any(|b| equal(first, b))))
        }
        "ne" => {
            let [a, b] = args else {
                return arity(name, 2, args);
            };
            Ok(Value::Bool(!equal(a, b)))
        }
        "lt" | "le" | "gt" | "ge" => {
            let [a, b] = args else {
                return arity(name, 2, args);
            };
            let ord = compare(a, b)?;
            Ok(Value::Bool(match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        "and" => {
            let last = args.last().ok_or("and needs arguments")?;
            Ok(args.iter().find(|v| !truthy(v)).unwrap_or(last).clone())
        }
        "or" => {
            let last = args.last().ok_or("or needs arguments")?;
            Ok(args.iter().find(|v| truthy(v)).unwrap_or(last).clone())
        }
        "not" => {
            let [v] = args else {
                return arity(name, 1, args);
            };
            Ok(Value::Bool(!truthy(v)))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn arity(name: &str, want: usize, got: &[Value]) -> Result<Value, String> {
    Err(format!(
        "wrong number of args for {name}: want {want} got {}",
        got.len()
    ))
}

fn text1(name: &str, args: &[Value], f: fn(&str) -> String) -> Result<Value, String> {
    let [v] = args else {
        return arity(name, 1, args);
    };
    Ok(Value::String(f(&to_text(v))))
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn index(args: &[Value]) -> Result<Value, String> {
    let (base, keys) = args.split_first().ok_or("index needs a value")?;
    let mut cur = base.clone();
    for k in keys {
        cur = match (&cur, k) {
            (Value::Object(m), key) => m.get(&to_text(key)).cloned().unwrap_or(Value::Null),
            (Value::Array(a), Value::Number(n)) => {
                let i = n.as_u64().ok_or("index out of range")? as usize;
                a.get(i)
                    .cloned()
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            (Value::Null, _) => Value::Null,
            (other, _) => return Err(format!("can't index item of type {}", type_name(other))),
        };
    }
    Ok(cur)
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .ok_or_else(|| "incomparable numbers".into()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(format!(
            "incompatible types for comparison: {} and {}",
            type_name(a),
            type_name(b)
        )),
    }
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 && !args[i - 1].is_string() && !v.is_string() {
            out.push(' ');
        }
        out.push_str(&to_text(v));
    }
    out
}

/// A subset of Go's `Printf`: %v %s %d %q %t %f %x %% with flags `-` and `0`, width
/// and precision.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = next.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let text = match verb {
            'd' => match arg {
                Value::Number(n) => n
                    .as_i64()
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| number_text(n)),
                other => format!("%!d({})", to_text(other)),
            },
            'f' | 'F' => match arg.as_f64() {
                Some(f) => format!("{f:.*}", prec.unwrap_or(6)),
                None => format!("%!f({})", to_text(arg)),
            },
            'q' => serde_json::to_string(&to_text(arg)).unwrap_or_default(),
            'x' => match arg {
                Value::Number(n) if n.as_u64().is_some() => {
                    format!("{:x}", n.as_u64().unwrap_or(0))
                }
                other => to_text(other).bytes().map(|b| format!("{b:02x}")).collect(),
            },
            _ => {
                let t = to_text(arg);
                match prec {
                    Some(p) if verb == 's' || verb == 'v' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = text.chars().count();
        if len >= w {
            out.push_str(&text);
        } else if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(w - len));
        } else {
            let fill = if zero { "0" } else { " " };
            out.push_str(&fill.repeat(w - len));
            out.push_str(&text);
        }
    }
    out
}
