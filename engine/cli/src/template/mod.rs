//! The Go-template subset people use with `--format`: `{{.Field}}`, `{{.A.B}}`,
//! `{{json .}}`, `{{index .M "k"}}`, `{{range}}`, `{{if}}`/`{{else}}`, `{{with}}`,
//! variables, pipes and docker's helper functions. Data is JSON.

mod exec;
mod funcs;
mod lex;
mod parse;

use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses a format. Like docker, the two-character sequences `\t` and `\n` typed on a
    /// command line become a tab and a newline.
    pub fn parse(src: &str) -> Result<Template, String> {
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let nodes = lex::pieces(&src)
            .and_then(parse::parse)
            .map_err(|e| format!("template parsing error: {e}"))?;
        Ok(Template { nodes })
    }

    pub fn render(&self, data: &Value) -> Result<String, String> {
        let mut ex = exec::Exec::new(data);
        ex.walk(&self.nodes, data)
            .map_err(|e| format!("template: executing: {e}"))?;
        Ok(ex.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_and_nesting() {
        let v = json!({"State": {"Status": "running", "Pid": 42, "Running": true}, "Name": "/web"});
        assert_eq!(
            r("{{.State.Status}} {{.State.Pid}} {{.Name}}", &v),
            "running 42 /web"
        );
        assert_eq!(r("{{.Missing}}", &v), "<no value>");
        assert_eq!(r("{{.State.Running}}", &v), "true");
    }

    #[test]
    fn json_index_len_and_printing() {
        let v = json!({"Labels": {"b": "2", "a": "1"}, "Args": ["x", "y"], "F": 1.5, "Big": 1e6});
        assert_eq!(r("{{json .Labels}}", &v), r#"{"b":"2","a":"1"}"#);
        assert_eq!(r(r#"{{index .Labels "a"}}"#, &v), "1");
        assert_eq!(r("{{index .Args 1}}", &v), "y");
        assert_eq!(r("{{len .Args}}", &v), "2");
        assert_eq!(r("{{.Labels}}", &v), "map[a:1 b:2]");
        assert_eq!(r("{{.Args}}", &v), "[x y]");
        assert_eq!(r("{{.F}} {{.Big}}", &v), "1.5 1000000");
    }

    #[test]
    fn range_if_with_and_vars() {
        let v = json!({"Ports": [{"P": 80}, {"P": 443}], "Env": {"A": "1", "B": "2"}, "Empty": []});
        assert_eq!(r("{{range .Ports}}{{.P}},{{end}}", &v), "80,443,");
        assert_eq!(
            r("{{range $i, $p := .Ports}}{{$i}}={{$p.P}} {{end}}", &v),
            "0=80 1=443 "
        );
        assert_eq!(r("{{range $k, $v := .Env}}{{$k}}{{$v}}{{end}}", &v), "A1B2");
        assert_eq!(r("{{range .Empty}}x{{else}}none{{end}}", &v), "none");
        assert_eq!(
            r(
                r#"{{if eq (len .Ports) 1}}one{{else if eq (len .Ports) 2}}two{{else}}many{{end}}"#,
                &v
            ),
            "two"
        );
        assert_eq!(
            r(
                "{{with .Env}}{{.A}}{{end}}{{with .Empty}}x{{else}}y{{end}}",
                &v
            ),
            "1y"
        );
        assert_eq!(r("{{$x := .Env.A}}{{$x}}{{$.Env.B}}", &v), "12");
        assert_eq!(r("{{range .Ports}}{{$.Env.A}}{{end}}", &v), "11");
    }

    #[test]
    fn docker_functions_and_pipes() {
        let v = json!({"Names": ["a", "b"], "S": "Hello world", "L": {"k": "v"}});
        assert_eq!(r(r#"{{join .Names ","}}"#, &v), "a,b");
        assert_eq!(
            r(r#"{{.S | upper}}|{{lower .S}}|{{title "ab cd"}}"#, &v),
            "HELLO WORLD|hello world|Ab Cd"
        );
        assert_eq!(r(r#"{{index (split .S " ") 1}}"#, &v), "world");
        assert_eq!(r("{{truncate .S 5}}", &v), "Hello");
        assert_eq!(
            r(r#"{{printf "%-6s|%3d|%q" "ab" 7 "x"}}"#, &v),
            r#"ab    |  7|"x""#
        );
        assert_eq!(r(r#"{{.L "k"}}"#, &v), "v");
        assert_eq!(r(r#"{{println "a" 1}}"#, &v), "a 1\n");
        assert_eq!(r(r#"{{if and .S (not .Missing)}}yes{{end}}"#, &v), "yes");
        assert_eq!(r(r#"{{"a\tb"}}"#, &v), "a\tb");
        assert_eq!(r(r"x\ty", &v), "x\ty");
    }

    #[test]
    fn errors_are_reported() {
        assert!(Template::parse("{{if .X}}open").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{.X | }}").is_err());
        let t = Template::parse("{{nosuchfunc .X}}").unwrap();
        assert!(t.render(&json!({})).unwrap_err().contains("not defined"));
        let t = Template::parse("{{.S.X}}").unwrap();
        assert!(t
            .render(&json!({"S": "str"}))
            .unwrap_err()
            .contains("can't evaluate field X"));
    }
}
