//! Aligned columns the way docker prints them (Go's tabwriter with minimum width 10 and
//! padding 3): cells end at tabs; the last cell of a line is not padded.

/// Aligns tab-separated lines.
pub fn align(text: &str) -> String {
    align_with(text, 10)
}

/// Aligns with another minimum column width (`top` uses 20).
pub fn align_with(text: &str, min_width: usize) -> String {
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text
        .split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l).split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        // Every cell but the last is tab-terminated and takes part in alignment.
        for (i, cell) in cells.iter().take(cells.len().saturating_sub(1)).enumerate() {
            let w = (cell.chars().count() + PADDING).max(min_width);
            if widths.len() <= i {
                widths.push(w);
            } else if widths[i] < w {
                widths[i] = w;
            }
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    let ends_with_newline = text.ends_with('\n');
    for (n, cells) in lines.iter().enumerate() {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        if n + 1 < lines.len() || ends_with_newline {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn aligns_like_docker() {
        let got = align("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox:latest\tweb\n");
        assert_eq!(
            got,
            "CONTAINER ID   IMAGE            NAMES\nabc            busybox:latest   web\n"
        );
    }

    #[test]
    fn short_columns_get_the_minimum_width() {
        assert_eq!(align("A\tB\n"), "A         B\n");
    }
}
