//! Lists (ps, images, history, stats, df): a default table, `table TEMPLATE` with headers,
//! a plain Go template per row, or `json` (one object per line).

use serde_json::Value;

use super::table::align;
use crate::template::Template;

/// How rows are printed, from `--format`.
pub enum ListFormat {
    /// Header plus one line per row, columns aligned.
    Table(Template),
    /// One rendered template per row, no header.
    Rows(Template),
    Json,
}

impl ListFormat {
    /// `None` and "table" mean the command's default table.
    pub fn parse(format: Option<&str>, default_table: &str) -> Result<ListFormat, String> {
        let f = format.unwrap_or("table");
        if f == "json" {
            return Ok(ListFormat::Json);
        }
        if f == "table" {
            return Ok(ListFormat::Table(Template::parse(default_table)?));
        }
        if let Some(rest) = f.strip_prefix("table") {
            return Ok(ListFormat::Table(Template::parse(rest.trim_start())?));
        }
        Ok(ListFormat::Rows(Template::parse(f)?))
    }

    /// Renders rows; `headers` maps each field to its column title.
    pub fn render(&self, headers: &Value, rows: &[Value]) -> Result<String, String> {
        match self {
            ListFormat::Json => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&serde_json::to_string(r).map_err(|e| e.to_string())?);
                    out.push('\n');
                }
                Ok(out)
            }
            ListFormat::Rows(t) => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&t.render(r)?);
                    out.push('\n');
                }
                Ok(out)
            }
            ListFormat::Table(t) => {
                let mut text = t.render(headers)?;
                text.push('\n');
                for r in rows {
                    text.push_str(&t.render(r)?);
                    text.push('\n');
                }
                Ok(align(&text))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_json_and_rows() {
        let headers = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        let rows = vec![json!({"ID": "abc", "Names": "web"})];
        let t = ListFormat::parse(None, "{{.ID}}\t{{.Names}}").unwrap();
        assert_eq!(
            t.render(&headers, &rows).unwrap(),
            "CONTAINER ID   NAMES\nabc            web\n"
        );
        let t = ListFormat::parse(Some("{{.Names}}"), "").unwrap();
        assert_eq!(t.render(&headers, &rows).unwrap(), "web\n");
        let t = ListFormat::parse(Some("table {{.Names}}"), "").unwrap();
        assert_eq!(t.render(&headers, &rows).unwrap(), "NAMES\nweb\n");
        let t = ListFormat::parse(Some("json"), "").unwrap();
        assert_eq!(
            t.render(&headers, &rows).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"web\"}\n"
        );
    }
}
